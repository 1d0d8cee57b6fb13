//! Key/value caches for incremental decoding (inference only; the cache is written in
//! place).
//!
//! [`KvCache`] holds, per row, a growing self-attention cache for every attention run of
//! the decoder, `[B, Hkv, capacity, hd]`, allocated with the dtype of the keys (bf16 under
//! autocast; the reference stores fp32 copies of the same bf16 values). For the
//! encoder–decoder it also holds the cross-attention keys/values of the encoder memory
//! ([`CrossKv`], computed once per prompt; the reference re-projects the memory every step,
//! with identical values). For the decoder-only model, a row starts from the keys/values
//! of its prompt ([`Prefix`], [`KvCache::write_prefix`]).

use tch::{Kind, Tensor};

use crate::layers::KeyValue;

/// Cross-attention keys/values per decoder layer, `[N, H, Lp, hd]`, and the prompt keep
/// mask `[N, 1, 1, Lp]` (bool, `true` = real prompt token).
#[derive(Debug)]
pub struct CrossKv {
    pub(crate) k: Vec<Tensor>,
    pub(crate) v: Vec<Tensor>,
    pub(crate) keep: Tensor,
}

impl CrossKv {
    /// Number of rows `N`.
    pub fn rows(&self) -> i64 {
        self.keep.size()[0]
    }

    /// Rows `index [M]` (i64, on the model device), e.g. one prompt repeated per sample.
    pub fn select(&self, index: &Tensor) -> CrossKv {
        CrossKv {
            k: self.k.iter().map(|t| t.index_select(0, index)).collect(),
            v: self.v.iter().map(|t| t.index_select(0, index)).collect(),
            keep: self.keep.index_select(0, index),
        }
    }
}

/// Keys/values of a block of prompts for the decoder-only model, one entry per attention
/// run, `[N, Hkv, L, hd]` ([`crate::DecoderOnly::prefill`]).
#[derive(Debug)]
pub struct Prefix {
    pub(crate) kv: Vec<KeyValue>,
    pub(crate) len: i64,
}

impl Prefix {
    /// Positions held, `L`.
    pub fn len(&self) -> i64 {
        self.len
    }

    /// Whether no position is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Per-row decoder cache. Row `b` is independent of every other row; its self-attention
/// entries at positions `>=` its current position are stale and never read (the step masks
/// them), so a row can be reused for a new sequence ([`KvCache::replace_rows`],
/// [`KvCache::write_prefix`]).
#[derive(Debug)]
pub struct KvCache {
    pub(crate) cross: Option<CrossKv>,
    self_kv: Vec<Option<KeyValue>>,
    capacity: i64,
    rows: i64,
}

impl KvCache {
    /// An encoder–decoder cache for `cross.rows()` rows with room for `initial_capacity`
    /// positions (grown by doubling when a step needs more).
    pub fn new(cross: CrossKv, initial_capacity: usize) -> Self {
        let layers = cross.k.len();
        let rows = cross.rows();
        KvCache {
            cross: Some(cross),
            self_kv: (0..layers).map(|_| None).collect(),
            capacity: initial_capacity.max(1) as i64,
            rows,
        }
    }

    /// A decoder-only cache: `rows` rows, `depth` attention runs.
    pub fn decoder_only(rows: usize, depth: usize, initial_capacity: usize) -> Self {
        KvCache {
            cross: None,
            self_kv: (0..depth).map(|_| None).collect(),
            capacity: initial_capacity.max(1) as i64,
            rows: rows as i64,
        }
    }

    /// Number of rows `B`.
    pub fn rows(&self) -> i64 {
        self.rows
    }

    /// Positions the self-attention cache holds without growing.
    pub fn capacity(&self) -> i64 {
        self.capacity
    }

    /// The dtype the self-attention keys are stored in (`None` before the first write).
    pub fn dtype(&self) -> Option<Kind> {
        self.self_kv.iter().flatten().next().map(|(k, _)| k.kind())
    }

    /// Grows every self-attention buffer to hold at least `needed` positions.
    pub fn ensure_capacity(&mut self, needed: i64) {
        if needed <= self.capacity {
            return;
        }
        let new_cap = needed.max(2 * self.capacity);
        for (k, v) in self.self_kv.iter_mut().flatten() {
            for t in [k, v] {
                let mut size = t.size();
                size[2] = new_cap;
                let bigger = Tensor::zeros(size.as_slice(), (t.kind(), t.device()));
                bigger.narrow(2, 0, self.capacity).copy_(t);
                *t = bigger;
            }
        }
        self.capacity = new_cap;
    }

    /// Keeps rows `index [M]` in that order (compaction after rows finish).
    pub fn select_rows(&mut self, index: &Tensor) {
        if let Some(c) = &self.cross {
            self.cross = Some(c.select(index));
        }
        for (k, v) in self.self_kv.iter_mut().flatten() {
            *k = k.index_select(0, index);
            *v = v.index_select(0, index);
        }
        self.rows = index.size()[0];
    }

    /// Encoder–decoder: points rows `slots [M]` at new prompts, whose cross-attention rows
    /// become rows `src_rows [M]` of `src`. Their self-attention entries are left stale; the
    /// caller restarts those rows at position 0.
    pub fn replace_rows(&mut self, slots: &Tensor, src: &CrossKv, src_rows: &Tensor) {
        let Some(cross) = self.cross.as_mut() else {
            return;
        };
        let picked = src.select(src_rows);
        for (dst, s) in cross
            .k
            .iter_mut()
            .zip(&picked.k)
            .chain(cross.v.iter_mut().zip(&picked.v))
        {
            let _ = dst.index_copy_(0, slots, s);
        }
        let _ = cross.keep.index_copy_(0, slots, &picked.keep);
    }

    /// Decoder-only: rows `slots [M]` start new sequences whose first `prefix.len()`
    /// positions hold rows `src_rows [M]` of `prefix`.
    pub fn write_prefix(&mut self, slots: &Tensor, prefix: &Prefix, src_rows: &Tensor) {
        self.ensure_capacity(prefix.len);
        let (rows, capacity) = (self.rows, self.capacity);
        for (slot, (pk, pv)) in self.self_kv.iter_mut().zip(&prefix.kv) {
            let (k, v) = slot.get_or_insert_with(|| {
                let mut shape = pk.size();
                shape[0] = rows;
                shape[2] = capacity;
                (
                    Tensor::zeros(shape.as_slice(), (pk.kind(), pk.device())),
                    Tensor::zeros(shape.as_slice(), (pv.kind(), pv.device())),
                )
            });
            for (dst, src) in [(k, pk), (v, pv)] {
                let _ = dst.narrow(2, 0, prefix.len).index_copy_(
                    0,
                    slots,
                    &src.index_select(0, src_rows).to_kind(dst.kind()),
                );
            }
        }
    }

    /// Self-attention buffers of attention run `depth` (`None` until the first write) and
    /// the capacity.
    pub(crate) fn self_kv_mut(&mut self, depth: usize) -> (&mut Option<KeyValue>, i64) {
        (&mut self.self_kv[depth], self.capacity)
    }
}

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
    /// Identity of the sequence in each row: a fresh id whenever a row starts a sequence,
    /// carried along by compaction (what a stateful [`crate::DecodeKernel`] keys on).
    row_ids: Vec<u64>,
}

/// Source of row identities, shared by every cache of the process, so that a kernel that
/// outlives one decode never mistakes a new sequence for an old one.
static NEXT_ROW_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// `n` fresh row identities.
fn fresh_ids(n: usize) -> Vec<u64> {
    let first = NEXT_ROW_ID.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
    (first..first + n as u64).collect()
}

/// Row indices of a 1-D index tensor (on any device).
fn indices(t: &Tensor) -> Vec<usize> {
    Vec::<i64>::try_from(
        t.to_device(tch::Device::Cpu)
            .to_kind(Kind::Int64)
            .view([-1]),
    )
    .expect("row index tensor is 1-d integer")
    .into_iter()
    .map(|i| i as usize)
    .collect()
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
            row_ids: fresh_ids(rows as usize),
        }
    }

    /// A decoder-only cache: `rows` rows, `depth` attention runs.
    pub fn decoder_only(rows: usize, depth: usize, initial_capacity: usize) -> Self {
        KvCache {
            cross: None,
            self_kv: (0..depth).map(|_| None).collect(),
            capacity: initial_capacity.max(1) as i64,
            rows: rows as i64,
            row_ids: fresh_ids(rows),
        }
    }

    /// The sequence identity of each row: unique in the process, new whenever a row
    /// starts a sequence ([`KvCache::replace_rows`], [`KvCache::write_prefix`]), kept
    /// through [`KvCache::select_rows`].
    pub fn row_ids(&self) -> &[u64] {
        &self.row_ids
    }

    /// Fresh ids for rows `slots`.
    fn renew(&mut self, slots: &Tensor) {
        let slots = indices(slots);
        for (i, id) in slots.iter().zip(fresh_ids(slots.len())) {
            self.row_ids[*i] = id;
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
        self.row_ids = indices(index).iter().map(|&i| self.row_ids[i]).collect();
    }

    /// Encoder–decoder: points rows `slots [M]` at new prompts, whose cross-attention rows
    /// become rows `src_rows [M]` of `src`. Their self-attention entries are left stale; the
    /// caller restarts those rows at position 0.
    pub fn replace_rows(&mut self, slots: &Tensor, src: &CrossKv, src_rows: &Tensor) {
        self.renew(slots);
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
        self.renew(slots);
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

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// Row identities: fresh per started sequence, carried (in order) through compaction.
    #[test]
    fn row_ids_are_renewed_on_admission_and_follow_compaction() {
        let i64s = |v: &[i64]| Tensor::from_slice(v);
        let cross = CrossKv {
            k: vec![Tensor::zeros([3, 1, 2, 4], (Kind::Float, Device::Cpu))],
            v: vec![Tensor::zeros([3, 1, 2, 4], (Kind::Float, Device::Cpu))],
            keep: Tensor::ones([3, 1, 1, 2], (Kind::Bool, Device::Cpu)),
        };
        let mut cache = KvCache::new(cross.select(&i64s(&[0, 1, 2])), 4);
        let ids = cache.row_ids().to_vec();
        let other = KvCache::decoder_only(3, 1, 4);
        let all: std::collections::HashSet<u64> =
            ids.iter().chain(other.row_ids()).copied().collect();
        assert_eq!(all.len(), 6, "unique across caches");
        cache.replace_rows(&i64s(&[2, 0]), &cross, &i64s(&[1, 1]));
        let renewed = cache.row_ids().to_vec();
        assert_eq!(renewed[1], ids[1]);
        assert!(!ids.contains(&renewed[0]) && !ids.contains(&renewed[2]));
        assert_ne!(renewed[0], renewed[2]);
        cache.select_rows(&i64s(&[2, 0]));
        assert_eq!(cache.row_ids(), &[renewed[2], renewed[0]]);
        let mut dec = KvCache::decoder_only(2, 1, 4);
        let prefix = Prefix {
            kv: vec![(
                Tensor::ones([1, 1, 3, 4], (Kind::Float, Device::Cpu)),
                Tensor::ones([1, 1, 3, 4], (Kind::Float, Device::Cpu)),
            )],
            len: 3,
        };
        let before = dec.row_ids().to_vec();
        dec.write_prefix(&i64s(&[1]), &prefix, &i64s(&[0]));
        assert_eq!(dec.row_ids()[0], before[0]);
        assert!(!before.contains(&dec.row_ids()[1]));
    }
}

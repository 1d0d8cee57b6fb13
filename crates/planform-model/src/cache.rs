//! Key/value caches for incremental decoding.
//!
//! [`CrossKv`] holds the decoder's cross-attention keys/values of the encoder
//! memory (computed once per prompt, unlike the reference which re-projects
//! the memory at every step; the values are identical). [`KvCache`] adds the
//! growing self-attention cache of every decoder layer, `[B, H, capacity, hd]`,
//! allocated on the first write with the dtype of the keys (bf16 under
//! autocast; the reference stores fp32 copies of the same bf16 values).

use tch::Tensor;

/// Cross-attention keys/values per decoder layer, `[N, H, Lp, hd]`, and the
/// prompt keep mask `[N, 1, 1, Lp]` (bool, `true` = real prompt token).
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

/// Per-row decoder cache: cross-attention keys/values plus a growing
/// self-attention cache. Row `b` is independent of every other row; its
/// self-attention entries at positions `>= its current position` are stale
/// and never read (the step masks them), so a row can be reused for a new
/// sequence by overwriting its cross-attention rows ([`KvCache::replace_rows`]).
#[derive(Debug)]
pub struct KvCache {
    pub(crate) cross: CrossKv,
    self_kv: Vec<Option<(Tensor, Tensor)>>,
    capacity: i64,
}

impl KvCache {
    /// A cache for `cross.rows()` rows with room for `initial_capacity`
    /// positions (grown by doubling when a step needs more).
    pub fn new(cross: CrossKv, initial_capacity: usize) -> Self {
        let layers = cross.k.len();
        KvCache {
            cross,
            self_kv: (0..layers).map(|_| None).collect(),
            capacity: initial_capacity.max(1) as i64,
        }
    }

    /// Number of rows `B`.
    pub fn rows(&self) -> i64 {
        self.cross.rows()
    }

    /// Positions the self-attention cache holds without growing.
    pub fn capacity(&self) -> i64 {
        self.capacity
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
        self.cross = self.cross.select(index);
        for (k, v) in self.self_kv.iter_mut().flatten() {
            *k = k.index_select(0, index);
            *v = v.index_select(0, index);
        }
    }

    /// Points rows `slots [M]` at new prompts: their cross-attention rows
    /// become rows `src_rows [M]` of `src`. Their self-attention entries are
    /// left stale; the caller restarts those rows at position 0.
    pub fn replace_rows(&mut self, slots: &Tensor, src: &CrossKv, src_rows: &Tensor) {
        let picked = src.select(src_rows);
        for (dst, s) in self
            .cross
            .k
            .iter_mut()
            .zip(&picked.k)
            .chain(self.cross.v.iter_mut().zip(&picked.v))
        {
            let _ = dst.index_copy_(0, slots, s);
        }
        let _ = self.cross.keep.index_copy_(0, slots, &picked.keep);
    }

    /// Self-attention buffers of `layer` (`None` until the first step) and the capacity.
    pub(crate) fn self_kv_mut(&mut self, layer: usize) -> (&mut Option<(Tensor, Tensor)>, i64) {
        (&mut self.self_kv[layer], self.capacity)
    }
}

//! The order in which training examples form micro-batches: a pure function of
//! `(seed, epoch, sequence lengths, batch config)`.
//!
//! An epoch visits every training example once. The examples are shuffled with a generator
//! keyed by `(seed, epoch)`; then either
//!
//! - [`BatchOrder::Random`]: consecutive runs of the shuffled list form the batches (the
//!   reference: shuffled chunks, padded to the longest sequence), or
//! - [`BatchOrder::Bucketed`]: the shuffled list is cut into pools of `pool_batches` batches
//!   worth of examples, each pool is sorted by (decoder length, encoder length), cut into
//!   batches, and the batches of the whole epoch are shuffled again.
//!
//! A batch holds at most `sequences` examples and, with `max_tokens`, at most that many
//! padded tokens (rows × (longest encoder + longest decoder sequence)). The last batch of an
//! epoch or pool may be smaller.

use serde::{Deserialize, Serialize};

use crate::config::{BatchConfig, BatchOrder};
use planform_core::rng::{derive_seed, Rng};

const TAG_SHUFFLE: u64 = 0x5348_5546; // "SHUF"
const TAG_BATCHES: u64 = 0x4241_5443; // "BATC"

/// Position of the next micro-batch in the data stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataCursor {
    /// Epoch (0-based).
    pub epoch: u64,
    /// Index of the next batch within the epoch's plan.
    pub batch: usize,
}

/// Cuts `order` (indices into `lengths`) into batches greedily.
pub(crate) fn cut(
    order: &[usize],
    lengths: &[(usize, usize)],
    cfg: &BatchConfig,
    out: &mut Vec<Vec<usize>>,
) {
    let mut cur: Vec<usize> = Vec::new();
    let (mut max_enc, mut max_dec) = (0usize, 0usize);
    for &i in order {
        let (e, d) = lengths[i];
        let (ne, nd) = (max_enc.max(e), max_dec.max(d));
        let full = cur.len() >= cfg.sequences
            || cfg
                .max_tokens
                .is_some_and(|cap| !cur.is_empty() && (cur.len() + 1) * (ne + nd) > cap);
        if full {
            out.push(std::mem::take(&mut cur));
            max_enc = e;
            max_dec = d;
        } else {
            max_enc = ne;
            max_dec = nd;
        }
        cur.push(i);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
}

/// The batches of one epoch as indices into `lengths` (`(encoder, decoder)` lengths of
/// every training example in this epoch).
pub fn plan_epoch(
    lengths: &[(usize, usize)],
    cfg: &BatchConfig,
    seed: u64,
    epoch: u64,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    Rng::new(derive_seed(seed, &[TAG_SHUFFLE, epoch])).shuffle(&mut order);
    let mut batches = Vec::with_capacity(lengths.len() / cfg.sequences.max(1) + 1);
    match cfg.order {
        BatchOrder::Random => cut(&order, lengths, cfg, &mut batches),
        BatchOrder::Bucketed { pool_batches } => {
            let pool = (pool_batches * cfg.sequences).max(1);
            for chunk in order.chunks_mut(pool) {
                chunk.sort_by_key(|&i| (lengths[i].1, lengths[i].0));
                cut(chunk, lengths, cfg, &mut batches);
            }
            Rng::new(derive_seed(seed, &[TAG_BATCHES, epoch])).shuffle(&mut batches);
        }
    }
    batches
}

/// Padding statistics of a set of batches.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PaddingStats {
    /// Real (non-padding) encoder + decoder tokens.
    pub real: u64,
    /// Allocated slots: Σ rows × (longest encoder + longest decoder sequence).
    pub padded: u64,
}

impl PaddingStats {
    /// Adds one batch.
    pub fn add(&mut self, batch: &[usize], lengths: &[(usize, usize)]) {
        let max_e = batch.iter().map(|&i| lengths[i].0).max().unwrap_or(0);
        let max_d = batch.iter().map(|&i| lengths[i].1).max().unwrap_or(0);
        self.real += batch
            .iter()
            .map(|&i| (lengths[i].0 + lengths[i].1) as u64)
            .sum::<u64>();
        self.padded += (batch.len() * (max_e + max_d)) as u64;
    }

    /// Fraction of slots that are padding.
    pub fn fraction(&self) -> f64 {
        if self.padded == 0 {
            0.0
        } else {
            1.0 - self.real as f64 / self.padded as f64
        }
    }

    /// Statistics of a whole epoch plan.
    pub fn of_plan(plan: &[Vec<usize>], lengths: &[(usize, usize)]) -> Self {
        let mut s = PaddingStats::default();
        for b in plan {
            s.add(b, lengths);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lengths(n: usize, seed: u64) -> Vec<(usize, usize)> {
        let mut r = Rng::new(seed);
        (0..n)
            .map(|_| (20 + r.below(30) as usize, 30 + r.below(800) as usize))
            .collect()
    }

    fn cfg(order: BatchOrder) -> BatchConfig {
        BatchConfig {
            sequences: 8,
            max_tokens: None,
            accumulation: 1,
            order,
        }
    }

    #[test]
    fn every_example_once_and_deterministic() {
        let l = lengths(1003, 1);
        for order in [
            BatchOrder::Random,
            BatchOrder::Bucketed { pool_batches: 10 },
        ] {
            let c = cfg(order);
            let p = plan_epoch(&l, &c, 42, 3);
            assert_eq!(p, plan_epoch(&l, &c, 42, 3));
            assert_ne!(p, plan_epoch(&l, &c, 42, 4));
            assert_ne!(p, plan_epoch(&l, &c, 43, 3));
            let mut all: Vec<usize> = p.iter().flatten().copied().collect();
            all.sort();
            assert_eq!(all, (0..1003).collect::<Vec<_>>());
            assert!(p.iter().all(|b| !b.is_empty() && b.len() <= 8));
        }
    }

    #[test]
    fn bucketing_reduces_padding() {
        let l = lengths(4000, 2);
        let random = PaddingStats::of_plan(&plan_epoch(&l, &cfg(BatchOrder::Random), 0, 0), &l);
        let bucketed = PaddingStats::of_plan(
            &plan_epoch(&l, &cfg(BatchOrder::Bucketed { pool_batches: 50 }), 0, 0),
            &l,
        );
        assert_eq!(random.real, bucketed.real);
        assert!(random.fraction() > 0.3, "{random:?}");
        assert!(bucketed.fraction() < 0.05, "{bucketed:?}");
    }

    #[test]
    fn token_budget_is_respected() {
        let l = lengths(500, 3);
        let c = BatchConfig {
            sequences: 64,
            max_tokens: Some(4000),
            accumulation: 1,
            order: BatchOrder::Bucketed { pool_batches: 4 },
        };
        for b in plan_epoch(&l, &c, 0, 0) {
            let me = b.iter().map(|&i| l[i].0).max().unwrap();
            let md = b.iter().map(|&i| l[i].1).max().unwrap();
            assert!(
                b.len() == 1 || b.len() * (me + md) <= 4000,
                "{} x {}",
                b.len(),
                me + md
            );
        }
    }

    #[test]
    fn padding_stats_by_hand() {
        // Batch {0, 1}: lengths (2,3) and (4,1): real 10, slots 2 × (4 + 3) = 14.
        let l = vec![(2, 3), (4, 1)];
        let s = PaddingStats::of_plan(&[vec![0, 1]], &l);
        assert_eq!((s.real, s.padded), (10, 14));
        assert!((s.fraction() - 4.0 / 14.0).abs() < 1e-12);
    }
}

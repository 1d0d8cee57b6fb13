//! Sequence-length statistics: exact histograms and the summary stored in the manifest.

use serde::{Deserialize, Serialize};

/// Summary of one length distribution (in tokens), as stored in `manifest.json`.
///
/// Percentiles use the *nearest-rank* definition: `pK` is the smallest observed length `v`
/// such that at least `ceil(K·n/100)` observations are `<= v`. All fields are 0 when `count`
/// is 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct LengthStats {
    /// Number of observations.
    pub count: u64,
    /// Smallest length.
    pub min: u32,
    /// Largest length.
    pub max: u32,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median (nearest rank).
    pub p50: u32,
    /// 90th percentile (nearest rank).
    pub p90: u32,
    /// 99th percentile (nearest rank).
    pub p99: u32,
}

/// Exact histogram of lengths: `counts[len]` observations of length `len`.
///
/// Memory is proportional to the largest length, not to the number of observations, so it
/// stays small for millions of sequences.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LengthHistogram {
    counts: Vec<u64>,
    total: u64,
    sum: u128,
}

impl LengthHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record one observation.
    pub fn add(&mut self, len: u32) {
        let i = len as usize;
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        self.total += 1;
        self.sum += u128::from(len);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// `(length, count)` for every length observed at least once, ascending.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(len, &c)| (len as u32, c))
    }

    /// Nearest-rank percentile `p` in `0..=100` (0 when empty).
    pub fn percentile(&self, p: u32) -> u32 {
        if self.total == 0 {
            return 0;
        }
        let rank = (u128::from(p.min(100)) * u128::from(self.total))
            .div_ceil(100)
            .max(1);
        let mut seen: u128 = 0;
        for (len, c) in self.iter() {
            seen += u128::from(c);
            if seen >= rank {
                return len;
            }
        }
        self.iter().last().map_or(0, |(len, _)| len)
    }

    /// The summary stored in the manifest.
    pub fn stats(&self) -> LengthStats {
        if self.total == 0 {
            return LengthStats::default();
        }
        LengthStats {
            count: self.total,
            min: self.iter().next().map_or(0, |(l, _)| l),
            max: self.iter().last().map_or(0, |(l, _)| l),
            mean: self.sum as f64 / self.total as f64,
            p50: self.percentile(50),
            p90: self.percentile(90),
            p99: self.percentile(99),
        }
    }

    /// Group the histogram into `bins` equal-width bins spanning `[min, max]`.
    pub fn binned(&self, bins: usize) -> Vec<HistogramBin> {
        let st = self.stats();
        if st.count == 0 || bins == 0 {
            return Vec::new();
        }
        let span = u64::from(st.max - st.min) + 1;
        let width = span.div_ceil(bins as u64).max(1);
        let n = span.div_ceil(width) as usize;
        let mut out: Vec<HistogramBin> = (0..n)
            .map(|b| {
                let lo = u64::from(st.min) + b as u64 * width;
                HistogramBin {
                    lo: lo as u32,
                    hi: (lo + width - 1).min(u64::from(st.max)) as u32,
                    count: 0,
                }
            })
            .collect();
        for (len, c) in self.iter() {
            let b = (u64::from(len - st.min) / width) as usize;
            out[b].count += c;
        }
        out
    }
}

/// One bin of a binned length histogram: `count` sequences with length in `lo..=hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistogramBin {
    /// Smallest length in the bin.
    pub lo: u32,
    /// Largest length in the bin (inclusive).
    pub hi: u32,
    /// Number of sequences.
    pub count: u64,
}

/// Histograms of the four sequence lengths of one split.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SplitHistograms {
    /// Prompt tokens (no `bos`/`eos`).
    pub prompt: LengthHistogram,
    /// Reasoning (trace) tokens.
    pub reasoning: LengthHistogram,
    /// Plan tokens.
    pub plan: LengthHistogram,
    /// Decoder sequence as the model sees it: `bos reasoning plan eos` = reasoning + plan + 2.
    pub decoder: LengthHistogram,
}

impl SplitHistograms {
    /// Record one example's lengths.
    pub fn add(&mut self, prompt: usize, reasoning: usize, plan: usize) {
        self.prompt.add(prompt as u32);
        self.reasoning.add(reasoning as u32);
        self.plan.add(plan as u32);
        self.decoder.add((reasoning + plan + 2) as u32);
    }

    /// The manifest summary.
    pub fn stats(&self) -> SplitLengthStats {
        SplitLengthStats {
            prompt: self.prompt.stats(),
            reasoning: self.reasoning.stats(),
            plan: self.plan.stats(),
            decoder: self.decoder.stats(),
        }
    }
}

/// Length statistics of one split, as stored in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct SplitLengthStats {
    /// Prompt tokens (no `bos`/`eos`).
    pub prompt: LengthStats,
    /// Reasoning (trace) tokens.
    pub reasoning: LengthStats,
    /// Plan tokens.
    pub plan: LengthStats,
    /// Decoder tokens including `bos` and `eos`: reasoning + plan + 2.
    pub decoder: LengthStats,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent nearest-rank percentile on a sorted copy.
    fn brute(values: &[u32], p: u32) -> u32 {
        let mut v = values.to_vec();
        v.sort_unstable();
        let n = v.len();
        let rank = (p as usize * n).div_ceil(100);
        v[rank.max(1) - 1]
    }

    #[test]
    fn percentiles_match_sorting() {
        let mut x: u64 = 12345;
        for n in [1usize, 2, 3, 10, 99, 100, 101, 1000] {
            let mut h = LengthHistogram::new();
            let mut vals = Vec::new();
            for _ in 0..n {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let v = ((x >> 33) % 500) as u32;
                vals.push(v);
                h.add(v);
            }
            for p in [0, 1, 50, 90, 99, 100] {
                assert_eq!(h.percentile(p), brute(&vals, p), "n={n} p={p}");
            }
            let st = h.stats();
            assert_eq!(st.min, *vals.iter().min().unwrap());
            assert_eq!(st.max, *vals.iter().max().unwrap());
            let mean = vals.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
            assert!((st.mean - mean).abs() < 1e-9);
        }
    }

    #[test]
    fn hand_worked_example() {
        let mut h = LengthHistogram::new();
        for v in [5, 1, 3, 2, 4] {
            h.add(v);
        }
        let st = h.stats();
        assert_eq!((st.min, st.max, st.p50, st.p90, st.p99), (1, 5, 3, 5, 5));
        assert_eq!(st.mean, 3.0);
        assert_eq!(LengthHistogram::new().stats(), LengthStats::default());
    }

    #[test]
    fn bins_cover_all() {
        let mut h = LengthHistogram::new();
        for v in 10..=29 {
            h.add(v);
        }
        let b = h.binned(4);
        assert_eq!(b.len(), 4);
        assert_eq!((b[0].lo, b[0].hi, b[0].count), (10, 14, 5));
        assert_eq!((b[3].lo, b[3].hi, b[3].count), (25, 29, 5));
        let b = h.binned(100);
        assert_eq!(b.len(), 20);
        assert!(b.iter().all(|x| x.count == 1));
    }
}

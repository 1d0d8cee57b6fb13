//! Deterministic pseudo-random numbers: xoshiro256** seeded through SplitMix64.
//!
//! The one generator of planform: everything random (task generation, data order, trace
//! dropping, sampling keys) takes an [`Rng`] or a seed derived with [`derive_seed`]. The generator is written
//! here (no `rand` dependency) so that its output is **stable across versions**
//! of this crate and of the toolchain: the same seed always gives the same
//! numbers, and the unit tests pin a few outputs so that any change is caught.
//!
//! Parallel work should not share one generator. [`Rng::stream`] derives an
//! independent generator for item `index` of a run seeded with `seed`, so the
//! result of generating item `i` does not depend on how many threads run or in
//! which order items are processed.

/// SplitMix64 step: advances `state` and returns the next output.
#[inline]
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Derives a seed for an independent stream from a base seed and a list of words (e.g. a
/// purpose tag, an epoch and an example id). Different word lists give unrelated seeds.
/// (The training data order is keyed this way; [`Rng::keyed`] is the datasets' scheme.)
pub fn derive_seed(seed: u64, words: &[u64]) -> u64 {
    let mut state = seed;
    let mut out = splitmix64(&mut state);
    for &w in words {
        state ^= w.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ out;
        out = splitmix64(&mut state);
    }
    out
}

/// The fixed hash that orders examples by id (SplitMix64 of the id): training's `hashed`
/// subsets and evaluation's task selection both sort by it, so they agree and are spread
/// over all wall layouts (the reference sorts its Python-hash ids the same way).
pub fn id_hash(id: u64) -> u64 {
    let mut s = id;
    splitmix64(&mut s)
}

/// A xoshiro256** generator (Blackman & Vigna) with a buffered coin.
///
/// Stability contract: for a given seed, the sequence returned by every method
/// is fixed. `coin()` consumes one bit of a buffered 64-bit word (refilled from
/// [`Rng::next_u64`] every 64 coins); the other methods draw whole words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
    coin_bits: u64,
    coin_left: u32,
}

impl Rng {
    /// A generator whose 256-bit state is four SplitMix64 outputs from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        // SplitMix64 never yields four zero words in a row, so the state is valid.
        Rng {
            s,
            coin_bits: 0,
            coin_left: 0,
        }
    }

    /// An independent generator for item `index` of a run seeded with `seed`.
    ///
    /// Defined as `Rng::new(m(seed) ^ m(index ^ 0x5851_F42D_4C95_7F2D))` where
    /// `m` is one SplitMix64 output with the argument as its state; distinct
    /// `(seed, index)` pairs give unrelated streams.
    pub fn stream(seed: u64, index: u64) -> Self {
        let mut a = seed;
        let mut b = index ^ 0x5851_F42D_4C95_7F2D;
        Rng::new(splitmix64(&mut a) ^ splitmix64(&mut b).rotate_left(17))
    }

    /// A generator keyed by several integers (e.g. `[seed, example_id, epoch]`),
    /// built by chaining [`Rng::stream`].
    pub fn keyed(parts: &[u64]) -> Self {
        let mut key = 0x243F_6A88_85A3_08D3u64;
        for &p in parts {
            let mut r = Rng::stream(key, p);
            key = r.next_u64();
        }
        Rng::new(key)
    }

    /// Next raw 64-bit output.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform integer in `0..n` without modulo bias (Lemire's method with
    /// rejection). Returns 0 when `n == 0`.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        if n <= 1 {
            return 0;
        }
        let mut m = (self.next_u64() as u128) * (n as u128);
        let mut low = m as u64;
        if low < n {
            let threshold = n.wrapping_neg() % n;
            while low < threshold {
                m = (self.next_u64() as u128) * (n as u128);
                low = m as u64;
            }
        }
        (m >> 64) as u64
    }

    /// Uniform `usize` in `0..n` (see [`Rng::below`]).
    #[inline]
    pub fn below_usize(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform integer in `lo..=hi` (Python's `random.randint(lo, hi)`).
    /// Returns `lo` when `hi < lo`.
    pub fn range_inclusive(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        let span = hi - lo;
        if span == u64::MAX {
            return self.next_u64();
        }
        lo + self.below(span + 1)
    }

    /// A fair coin (Python's `random.choice([False, True])`).
    #[inline]
    pub fn coin(&mut self) -> bool {
        if self.coin_left == 0 {
            self.coin_bits = self.next_u64();
            self.coin_left = 64;
        }
        let bit = self.coin_bits & 1 == 1;
        self.coin_bits >>= 1;
        self.coin_left -= 1;
        bit
    }

    /// Uniform `f64` in `[0, 1)` with 53 random bits (Python's `random.random()`).
    #[inline]
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// In-place Fisher–Yates shuffle with the loop structure of Python's
    /// `random.shuffle`: `for i in (1..n).rev() { j = below(i + 1); swap(i, j) }`.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below((i + 1) as u64) as usize;
            items.swap(i, j);
        }
    }

    /// `k` distinct indices from `0..n`, uniformly without replacement, in
    /// selection order (like Python's `random.sample(range(n), k)`).
    /// `k` is clamped to `n`.
    pub fn choose_k(&mut self, n: usize, k: usize) -> Vec<usize> {
        let k = k.min(n);
        let mut pool: Vec<usize> = (0..n).collect();
        for i in 0..k {
            let j = i + self.below((n - i) as u64) as usize;
            pool.swap(i, j);
        }
        pool.truncate(k);
        pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pinned outputs: changing these breaks reproducibility of every dataset.
    #[test]
    fn pinned_outputs() {
        let mut r = Rng::new(0);
        let got: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        // xoshiro256** seeded with SplitMix64(0) — matches the reference C code.
        assert_eq!(
            got,
            vec![
                0x99EC_5F36_CB75_F2B4,
                0xBF6E_1F78_4956_452A,
                0x1A5F_849D_4933_E6E0
            ]
        );
        let mut r = Rng::stream(42, 7);
        let a: Vec<u64> = (0..4).map(|_| r.below(1000)).collect();
        let mut r2 = Rng::stream(42, 7);
        let b: Vec<u64> = (0..4).map(|_| r2.below(1000)).collect();
        assert_eq!(a, b);
        assert_eq!(a, PINNED_STREAM_42_7.to_vec());
    }

    // Computed with an independent Python implementation of the same definitions.
    const PINNED_STREAM_42_7: [u64; 4] = [678, 422, 76, 428];

    #[test]
    fn splitmix_reference_values() {
        // Reference values of SplitMix64 with state 0 (Vigna's splitmix64.c).
        let mut s = 0u64;
        assert_eq!(splitmix64(&mut s), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(&mut s), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut r = Rng::new(1);
        let mut counts = [0usize; 7];
        for _ in 0..70_000 {
            let v = r.below(7) as usize;
            counts[v] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
        assert_eq!(r.below(0), 0);
        assert_eq!(r.below(1), 0);
    }

    #[test]
    fn coin_and_f64() {
        let mut r = Rng::new(3);
        let heads = (0..10_000).filter(|_| r.coin()).count();
        assert!((4_700..5_300).contains(&heads));
        for _ in 0..1000 {
            let x = r.f64();
            assert!((0.0..1.0).contains(&x));
        }
    }

    #[test]
    fn shuffle_is_permutation_and_uniform_on_three() {
        let mut r = Rng::new(9);
        let mut counts = std::collections::HashMap::new();
        for _ in 0..60_000 {
            let mut v = [0, 1, 2];
            r.shuffle(&mut v);
            *counts.entry(v).or_insert(0usize) += 1;
        }
        assert_eq!(counts.len(), 6);
        for c in counts.values() {
            assert!((9_300..10_700).contains(c), "{counts:?}");
        }
    }

    #[test]
    fn choose_k_distinct() {
        let mut r = Rng::new(5);
        let v = r.choose_k(10, 4);
        assert_eq!(v.len(), 4);
        let mut s = v.clone();
        s.sort();
        s.dedup();
        assert_eq!(s.len(), 4);
        assert!(v.iter().all(|&i| i < 10));
        assert_eq!(r.choose_k(3, 10).len(), 3);
    }

    #[test]
    fn splitmix_matches_reference_vector() {
        // Reference values of SplitMix64 seeded with 1234567 (from the original C code).
        let mut s = 1234567u64;
        let got: Vec<u64> = (0..3).map(|_| splitmix64(&mut s)).collect();
        assert_eq!(
            got,
            vec![
                6457827717110365317,
                3203168211198807973,
                9817491932198370423
            ]
        );
    }

    #[test]
    fn derived_seeds_differ() {
        let a = derive_seed(1, &[0, 5]);
        let b = derive_seed(1, &[0, 6]);
        let c = derive_seed(1, &[5, 0]);
        let d = derive_seed(2, &[0, 5]);
        assert!(a != b && a != c && a != d && b != c);
        assert_eq!(a, derive_seed(1, &[0, 5]));
    }

    #[test]
    fn streams_differ() {
        let a = Rng::stream(1, 0).next_u64();
        let b = Rng::stream(1, 1).next_u64();
        let c = Rng::stream(2, 0).next_u64();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(Rng::keyed(&[1, 2, 3]), Rng::keyed(&[1, 2, 4]));
    }
}

//! MagicPIG's LSH-sampled attention (Chen et al., 2024) for one query over one head's
//! cached keys and values, with the two estimators it is compared against.
//!
//! ```text
//! keys 0..n: sink = first 4, local = last 64 (exact); the rest ("offloaded"):
//!   centred: k ← k − mean(offloaded k)            (softmax-invariant for a fixed query)
//!   SimHash: Gaussian planes [hd, K·L]; table t's code of x = Σ_j [x·w_{tK+j} > 0]·2^j
//! query: codes of q/‖q‖; a key is sampled when it shares the query's bucket in ≥ 2 tables
//!   p = (1 − θ/π)^K   (θ: angle between q and the centred key; one table's collision chance)
//!   u = 1 − (1 − p)^(L−1)·(L·p + 1 − p)  = P[Binomial(L, p) ≥ 2]
//!   score s = q·k/√hd − ln(u + 1e-4);  ô = Σ_S e^s v / Σ_S e^s   merged with the exact part
//! ```
//!
//! Sink and local tokens are attended exactly in every estimator here; the estimators differ
//! only on the offloaded span, so "budget" means keys of that span that are read.

use planform_core::rng::Rng;
use tch::{Kind, Tensor};

use crate::error::{shape_err, QuantError, Result};

/// Key of the hyperplane streams.
pub(crate) const LSH_KEY: u64 = 0x006c_7368; // "lsh"

/// MagicPIG's settings for one head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LshConfig {
    /// Bits per table, K (reference CLI: 10).
    pub k: usize,
    /// Tables, L (reference: 150 for benchmarks, 170 for generation).
    pub l: usize,
    /// Leading keys attended exactly (reference: 4).
    pub sink: usize,
    /// Trailing keys attended exactly (reference: 64).
    pub local: usize,
    /// Centre the offloaded keys before hashing (reference: yes).
    pub center: bool,
    /// Collisions needed to sample a key (reference: 2).
    pub min_collisions: usize,
}

impl Default for LshConfig {
    fn default() -> Self {
        LshConfig {
            k: 10,
            l: 150,
            sink: 4,
            local: 64,
            center: true,
            min_collisions: 2,
        }
    }
}

/// `u = P[Binomial(l, p) ≥ 2]` in MagicPIG's closed form.
pub fn sample_probability(p: f64, l: usize) -> f64 {
    let l = l as f64;
    1.0 - (1.0 - p).powf(l - 1.0) * (l * p + (1.0 - p))
}

/// Indices of keys whose code equals the query's in at least `min` tables.
/// `key_codes[t][i]` is key `i`'s code in table `t`.
pub fn collisions(query_codes: &[u32], key_codes: &[Vec<u32>], min: usize) -> Vec<usize> {
    let n = key_codes.first().map_or(0, Vec::len);
    let mut hits = vec![0u16; n];
    for (q, table) in query_codes.iter().zip(key_codes) {
        for (h, c) in hits.iter_mut().zip(table) {
            *h += u16::from(c == q);
        }
    }
    hits.iter()
        .enumerate()
        .filter(|(_, &h)| h as usize >= min)
        .map(|(i, _)| i)
        .collect()
}

/// One head's cache, hashed: build once per prefix, query per decoding step.
#[derive(Debug)]
pub struct LshIndex {
    cfg: LshConfig,
    keys: Tensor,   // [n, hd] f64
    values: Tensor, // [n, hd] f64
    /// Offloaded span `lo..hi`.
    lo: i64,
    hi: i64,
    /// Centred offloaded keys `[hi−lo, hd]`.
    centred: Tensor,
    planes: Tensor, // [hd, K·L]
    codes: Vec<Vec<u32>>,
}

/// Per table, the bucket of every row of `x [m, hd]` under `planes [hd, K·L]`.
fn hash(x: &Tensor, planes: &Tensor, k: usize, l: usize) -> Result<Vec<Vec<u32>>> {
    let m = x.size()[0];
    let bits = x.matmul(planes).gt(0.0).to_kind(Kind::Int64); // [m, K·L]
    let bits = bits.view([m, l as i64, k as i64]);
    let weights = Tensor::from_slice(&(0..k).map(|j| 1i64 << j).collect::<Vec<_>>());
    let codes = (bits * weights).sum_dim_intlist([2i64].as_slice(), false, Kind::Int64); // [m, L]
    let flat = Vec::<i64>::try_from(codes.tr().contiguous().view([-1]))?;
    Ok(flat
        .chunks(m.max(1) as usize)
        .take(l)
        .map(|c| c.iter().map(|&v| v as u32).collect())
        .collect())
}

/// Softmax-weighted sum with log-weights `logw [m]` over `values [m, hd]`: returns the
/// maximum log-weight, the sum of `exp(logw − max)` and the weighted sum of values, so that
/// parts can be merged exactly.
fn partial(logw: &Tensor, values: &Tensor) -> (f64, f64, Tensor) {
    if logw.numel() == 0 {
        let hd = values.size()[1];
        return (
            f64::NEG_INFINITY,
            0.0,
            Tensor::zeros([hd], (Kind::Double, values.device())),
        );
    }
    let m = logw.max().double_value(&[]);
    let w = (logw - m).exp();
    let z = w.sum(Kind::Double).double_value(&[]);
    (m, z, w.unsqueeze(0).matmul(values).squeeze_dim(0))
}

/// Merges partials into the normalised output.
fn merge(parts: &[(f64, f64, Tensor)]) -> Tensor {
    let m = parts.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let mut num = parts[0].2.zeros_like();
    let mut den = 0.0;
    for (pm, z, v) in parts {
        if *z > 0.0 {
            let s = (pm - m).exp();
            num += v * s;
            den += z * s;
        }
    }
    num / den
}

impl LshIndex {
    /// Hashes `keys`/`values` `[n, hd]` with hyperplanes drawn from `seed`.
    pub fn build(keys: &Tensor, values: &Tensor, cfg: LshConfig, seed: u64) -> Result<Self> {
        let (n, hd) = keys
            .size2()
            .map_err(|_| shape_err("keys", "[n, hd]", keys))?;
        if values.size() != [n, hd] {
            return Err(shape_err("values", &format!("[{n}, {hd}]"), values));
        }
        if cfg.k == 0 || cfg.k > 30 || cfg.l == 0 || cfg.min_collisions == 0 {
            return Err(QuantError::Config(format!(
                "LSH K = {}, L = {}, collisions ≥ {}: need 1 ≤ K ≤ 30, L ≥ 1, collisions ≥ 1",
                cfg.k, cfg.l, cfg.min_collisions
            )));
        }
        let keys = keys.to_kind(Kind::Double);
        let values = values.to_kind(Kind::Double);
        let lo = (cfg.sink as i64).min(n);
        let hi = (n - cfg.local as i64).max(lo);
        let mut centred = keys.narrow(0, lo, hi - lo);
        if cfg.center && hi > lo {
            centred = &centred - centred.mean_dim([0i64].as_slice(), true, Kind::Double);
        }
        let mut rng = Rng::keyed(&[seed, LSH_KEY, hd as u64, cfg.k as u64, cfg.l as u64]);
        let normals = crate::rotation::normals(&mut rng, (hd as usize) * cfg.k * cfg.l);
        let planes = Tensor::from_slice(&normals).view([hd, (cfg.k * cfg.l) as i64]);
        let codes = hash(&centred, &planes, cfg.k, cfg.l)?;
        Ok(LshIndex {
            cfg,
            keys,
            values,
            lo,
            hi,
            centred,
            planes,
            codes,
        })
    }

    /// Keys in the offloaded span.
    pub fn offloaded(&self) -> usize {
        (self.hi - self.lo) as usize
    }

    /// The exact part (sink + local) as partials, with scores `q·k/√hd`.
    fn exact_parts(&self, q: &Tensor) -> Vec<(f64, f64, Tensor)> {
        let n = self.keys.size()[0];
        let scale = 1.0 / (q.size()[0] as f64).sqrt();
        [(0, self.lo), (self.hi, n - self.hi)]
            .iter()
            .map(|&(start, len)| {
                let k = self.keys.narrow(0, start, len);
                let v = self.values.narrow(0, start, len);
                partial(&(k.matmul(q) * scale), &v)
            })
            .collect()
    }

    /// MagicPIG's estimate of `softmax(q·Kᵀ/√hd)·V` for `q [hd]`, and the number of
    /// offloaded keys it read.
    pub fn attend(&self, q: &Tensor) -> Result<(Tensor, usize)> {
        let q = q.to_kind(Kind::Double);
        let hd = self.keys.size()[1];
        if q.size() != [hd] {
            return Err(shape_err("query", &format!("[{hd}]"), &q));
        }
        let mut parts = self.exact_parts(&q);
        if self.hi > self.lo {
            let qn = &q / q.norm().double_value(&[]).max(1e-12);
            let qcodes: Vec<u32> = hash(&qn.unsqueeze(0), &self.planes, self.cfg.k, self.cfg.l)?
                .into_iter()
                .map(|c| c[0])
                .collect();
            let picked = collisions(&qcodes, &self.codes, self.cfg.min_collisions);
            if !picked.is_empty() {
                let idx = Tensor::from_slice(&picked.iter().map(|&i| i as i64).collect::<Vec<_>>());
                let ck = self.centred.index_select(0, &idx);
                // θ between the query and the centred key; p, u in closed form.
                let cos = ck.matmul(&qn)
                    / ck.norm_scalaropt_dim(2.0, [1i64].as_slice(), false)
                        .clamp_min(1e-12);
                let theta = cos.clamp(-1.0, 1.0).acos();
                let one_minus = |t: &Tensor| t.neg() + 1.0;
                let p =
                    one_minus(&(theta / std::f64::consts::PI)).pow_tensor_scalar(self.cfg.k as f64);
                let l = self.cfg.l as f64;
                let u = one_minus(
                    &(one_minus(&p).pow_tensor_scalar(l - 1.0) * (&p * l + one_minus(&p))),
                );
                let raw = self.keys.index_select(0, &(idx.shallow_clone() + self.lo));
                let scale = 1.0 / (hd as f64).sqrt();
                let s = raw.matmul(&q) * scale - (u + 1e-4).log();
                let v = self.values.index_select(0, &(idx + self.lo));
                parts.push(partial(&s, &v));
            }
            return Ok((merge(&parts), picked.len()));
        }
        Ok((merge(&parts), 0))
    }

    /// Exact attention over all keys.
    pub fn exact(&self, q: &Tensor) -> Tensor {
        let q = q.to_kind(Kind::Double);
        let scale = 1.0 / (q.size()[0] as f64).sqrt();
        merge(&[partial(&(self.keys.matmul(&q) * scale), &self.values)])
    }

    /// Top-`budget` of the offloaded span (renormalised over the kept keys), plus the exact
    /// sink and local parts.
    pub fn top_k(&self, q: &Tensor, budget: usize) -> Tensor {
        let q = q.to_kind(Kind::Double);
        let mut parts = self.exact_parts(&q);
        let m = self.hi - self.lo;
        let b = (budget as i64).min(m);
        if b > 0 {
            let scale = 1.0 / (q.size()[0] as f64).sqrt();
            let s = self.keys.narrow(0, self.lo, m).matmul(&q) * scale;
            let (top, idx) = s.topk(b, 0, true, false);
            let v = self.values.narrow(0, self.lo, m).index_select(0, &idx);
            parts.push(partial(&top, &v));
        }
        merge(&parts)
    }

    /// Oracle sampling: `budget` draws (with replacement, seeded) from the exact softmax of
    /// the offloaded span; their mean value carries the span's exact mass.
    pub fn oracle(&self, q: &Tensor, budget: usize, seed: u64) -> Tensor {
        let q = q.to_kind(Kind::Double);
        let mut parts = self.exact_parts(&q);
        let m = self.hi - self.lo;
        if m > 0 && budget > 0 {
            let scale = 1.0 / (q.size()[0] as f64).sqrt();
            let s = self.keys.narrow(0, self.lo, m).matmul(&q) * scale;
            let mx = s.max().double_value(&[]);
            let w = Vec::<f64>::try_from((&s - mx).exp()).unwrap_or_default();
            let z: f64 = w.iter().sum();
            let mut rng = Rng::keyed(&[seed, LSH_KEY, 7]);
            let mut cdf = Vec::with_capacity(w.len());
            let mut acc = 0.0;
            for x in &w {
                acc += x / z;
                cdf.push(acc);
            }
            let draws: Vec<i64> = (0..budget)
                .map(|_| {
                    let u = rng.f64() * acc;
                    cdf.partition_point(|&c| c < u).min(w.len() - 1) as i64
                })
                .collect();
            let v = self
                .values
                .narrow(0, self.lo, m)
                .index_select(0, &Tensor::from_slice(&draws));
            let mean = v.mean_dim([0i64].as_slice(), false, Kind::Double);
            parts.push((mx, z, mean * z));
        }
        merge(&parts)
    }
}

/// `‖a − b‖ / ‖b‖`.
pub fn relative_error(estimate: &Tensor, exact: &Tensor) -> f64 {
    (estimate - exact).norm().double_value(&[]) / exact.norm().double_value(&[]).max(1e-300)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn binom_ge2(p: f64, l: usize) -> f64 {
        // 1 − P[0] − P[1]
        1.0 - (1.0 - p).powi(l as i32) - l as f64 * p * (1.0 - p).powi(l as i32 - 1)
    }

    #[test]
    fn sampling_probability_is_binomial_at_least_two() {
        for l in [2, 10, 150, 300] {
            for p in [0.0, 1e-4, 0.01, 0.3, 0.9, 1.0] {
                let a = sample_probability(p, l);
                assert!((a - binom_ge2(p, l)).abs() < 1e-12, "p {p}, L {l}: {a}");
            }
        }
    }

    #[test]
    fn collision_rule_counts_tables() {
        let q = [1, 2, 3];
        let keys = vec![vec![1, 1, 0, 1], vec![2, 0, 0, 2], vec![0, 3, 0, 3]];
        assert_eq!(collisions(&q, &keys, 2), vec![0, 1, 3]);
        assert_eq!(collisions(&q, &keys, 1), vec![0, 1, 3]);
        assert_eq!(collisions(&q, &keys, 3), vec![3]);
    }

    fn instance(n: i64, hd: i64, seed: i64) -> (Tensor, Tensor, Tensor) {
        tch::manual_seed(seed);
        let opts = (Kind::Double, Device::Cpu);
        let offset = Tensor::randn([1, hd], opts) * 2.0; // the "narrow cone"
        let k = Tensor::randn([n, hd], opts) + offset;
        let v = Tensor::randn([n, hd], opts);
        let q = Tensor::randn([hd], opts);
        (k, v, q)
    }

    #[test]
    fn exact_parts_and_estimators_agree_where_they_must() {
        let (k, v, q) = instance(300, 16, 1);
        // Everything exact when sink + local cover the cache.
        let all = LshConfig {
            sink: 200,
            local: 100,
            ..LshConfig::default()
        };
        let idx = LshIndex::build(&k, &v, all, 0).unwrap();
        assert_eq!(idx.offloaded(), 0);
        let (o, read) = idx.attend(&q).unwrap();
        assert_eq!(read, 0);
        assert!(relative_error(&o, &idx.exact(&q)) < 1e-12);
        // Top-k with the whole span is exact.
        let idx = LshIndex::build(&k, &v, LshConfig::default(), 0).unwrap();
        assert!(relative_error(&idx.top_k(&q, 10_000), &idx.exact(&q)) < 1e-12);
        // Few bits, many tables: (almost) every key is sampled with u ≈ 1, so the
        // estimate is (almost) exact.
        let coarse = LshConfig {
            k: 1,
            l: 60,
            ..LshConfig::default()
        };
        let idx = LshIndex::build(&k, &v, coarse, 0).unwrap();
        let (o, read) = idx.attend(&q).unwrap();
        assert!(read > 200, "{read} of {}", idx.offloaded());
        assert!(relative_error(&o, &idx.exact(&q)) < 0.05);
        // Oracle sampling converges with the budget.
        let e_small = relative_error(&idx.oracle(&q, 20, 1), &idx.exact(&q));
        let e_large = relative_error(&idx.oracle(&q, 20_000, 1), &idx.exact(&q));
        assert!(e_large < e_small / 5.0, "{e_small} -> {e_large}");
        // Seeded: same hyperplanes, same result.
        let a = LshIndex::build(&k, &v, LshConfig::default(), 5).unwrap();
        let b = LshIndex::build(&k, &v, LshConfig::default(), 5).unwrap();
        assert!(a.attend(&q).unwrap().0.equal(&b.attend(&q).unwrap().0));
        assert!(LshIndex::build(
            &k,
            &v,
            LshConfig {
                k: 0,
                ..LshConfig::default()
            },
            0
        )
        .is_err());
    }
}

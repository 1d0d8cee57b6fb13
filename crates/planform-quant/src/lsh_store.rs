//! MagicPIG's CPU side for one head, built for speed: keys and values appended one decoding
//! step at a time, each offloaded key hashed once into L bucket tables, and a query served
//! by bucket lookups instead of a scan of the cache.
//!
//! ```text
//! positions 0..n:  sink 0..lo (exact) | offloaded lo..hi (hashed, sampled) | local hi..n (exact)
//! append(k, v):    the key leaving the local window is centred with the current centre c,
//!                  hashed (K·L plane signs) and pushed into its bucket in each of the L tables
//! rebuild:         whenever the offloaded span has doubled since the last rebuild, c ← the
//!                  span's mean and every offloaded key is re-hashed (amortised O(1) per key)
//! query(q):        q/‖q‖ hashed; a key is read when it shares q's bucket in ≥ 2 tables
//!                  (bucket walks with a per-key counter); then the estimator of [`crate::lsh`]:
//!                  s = q·k/√hd − ln(u + 1e-4), u = P[Binomial(L, p) ≥ 2], p = (1 − θ/π)^K
//! ```
//!
//! Same hyperplanes (same seed stream and layout) and same estimator as [`LshIndex`]; right
//! after a rebuild the two agree (tested). The difference is the centre between rebuilds:
//! [`LshIndex`] centres on the current span's mean at every step, this store on the mean at
//! its last rebuild. Any fixed centre is an exact softmax shift, so the estimator stays
//! consistent; only which keys collide changes (`docs/fidelity.md`). Arithmetic is f32
//! (f64 for the per-key sampling probability).
//!
//! [`LshIndex`]: crate::lsh::LshIndex

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use planform_core::rng::Rng;

use crate::error::{QuantError, Result};
use crate::lsh::{sample_probability, LshConfig, LSH_KEY};

/// One head's cache with its LSH tables.
#[derive(Debug)]
pub struct LshStore {
    cfg: LshConfig,
    hd: usize,
    /// Hyperplanes `[hd][K·L]` (column `t·K + j` is bit `j` of table `t`), shareable
    /// between the stores of one block.
    planes: Arc<[f32]>,
    keys: Vec<f32>,   // [n][hd]
    values: Vec<f32>, // [n][hd]
    /// Centre of the hashed keys.
    centre: Vec<f32>,
    /// Keys `lo..hashed` are in the tables.
    hashed: usize,
    /// Offloaded span length at the last rebuild.
    rebuilt_at: usize,
    /// ‖k − c‖ of each hashed key, indexed from `lo`.
    norms: Vec<f32>,
    /// Per table: bucket code → keys (indices from `lo`).
    tables: Vec<Buckets>,
    /// Per-key collision counters (all zero between queries).
    hits: Vec<u16>,
    /// Keys whose counter a query touched.
    touched: Vec<u32>,
}

/// One table's buckets. Codes are uniform hash bits already, so they are their own hash.
type Buckets = HashMap<u32, Vec<u32>, BuildHasherDefault<CodeHasher>>;

/// The identity hasher for bucket codes.
#[derive(Default)]
struct CodeHasher(u64);

impl Hasher for CodeHasher {
    fn finish(&self) -> u64 {
        // Spread the K code bits over the word (hashbrown reads the top 7 bits too).
        self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u32(&mut self, i: u32) {
        self.0 = u64::from(i);
    }
}

/// What one query read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Keys in the offloaded span.
    pub offloaded: usize,
    /// Of those, keys sampled (≥ `min_collisions` collisions).
    pub read: usize,
    /// Bucket entries walked (the lookup's cost).
    pub walked: usize,
}

/// Running `(max, Σ exp(s − max), Σ exp(s − max)·v)` of a softmax-weighted sum.
struct Acc {
    max: f32,
    z: f32,
    o: Vec<f32>,
}

impl Acc {
    fn new(hd: usize) -> Self {
        Acc {
            max: f32::NEG_INFINITY,
            z: 0.0,
            o: vec![0.0; hd],
        }
    }

    fn add(&mut self, s: f32, v: &[f32]) {
        if s > self.max {
            let shrink = (self.max - s).exp();
            self.z *= shrink;
            self.o.iter_mut().for_each(|x| *x *= shrink);
            self.max = s;
        }
        let w = (s - self.max).exp();
        self.z += w;
        self.o.iter_mut().zip(v).for_each(|(x, &y)| *x += w * y);
    }

    fn finish(mut self) -> Vec<f32> {
        let inv = 1.0 / self.z;
        self.o.iter_mut().for_each(|x| *x *= inv);
        self.o
    }
}

/// Whether the CPU has AVX2 and FMA (checked once).
#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    use std::sync::OnceLock;
    static AVX2: OnceLock<bool> = OnceLock::new();
    *AVX2.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    })
}

/// `out = x·M` for `m [x.len()][out.len()]` row-major (a sum of scaled rows: every
/// output lane is independent, so it vectorises without a dependency chain): AVX2 when the
/// CPU has it, otherwise SSE.
fn project(m: &[f32], x: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports the enabled features (checked above).
        return unsafe { project_avx2(m, x, out) };
    }
    project_rows(m, x, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn project_avx2(m: &[f32], x: &[f32], out: &mut [f32]) {
    project_rows(m, x, out)
}

#[inline(always)]
fn project_rows(m: &[f32], x: &[f32], out: &mut [f32]) {
    out.fill(0.0);
    for (&xd, row) in x.iter().zip(m.chunks_exact(out.len())) {
        for (o, &w) in out.iter_mut().zip(row) {
            *o += xd * w;
        }
    }
}

/// `a·b` in two chains of eight lanes (vectorised; the order differs from a left-to-right
/// sum by rounding only).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [[0f32; 8]; 2];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        let (x, y): (&[f32; 16], &[f32; 16]) = (x.try_into().unwrap(), y.try_into().unwrap());
        for i in 0..8 {
            lanes[0][i] += x[i] * y[i];
            lanes[1][i] += x[i + 8] * y[i + 8];
        }
    }
    lanes[0]
        .iter()
        .zip(&lanes[1])
        .map(|(p, q)| p + q)
        .sum::<f32>()
        + tail
}

impl LshStore {
    /// An empty store for head dimension `hd`, hyperplanes drawn from `seed` exactly as
    /// [`crate::lsh::LshIndex::build`] draws them.
    pub fn new(hd: usize, cfg: LshConfig, seed: u64) -> Result<Self> {
        Self::with_planes(hd, cfg, Self::planes(hd, cfg, seed)?)
    }

    /// The hyperplanes `[hd][K·L]` of `seed` (to share between stores with
    /// [`LshStore::with_planes`]; drawing them costs ~K·L·hd normals).
    pub fn planes(hd: usize, cfg: LshConfig, seed: u64) -> Result<Arc<[f32]>> {
        if hd == 0 || cfg.k == 0 || cfg.k > 30 || cfg.l == 0 || cfg.min_collisions == 0 {
            return Err(QuantError::Config(format!(
                "LSH store: head dim {hd}, K = {}, L = {}, collisions ≥ {}: need hd ≥ 1, \
                 1 ≤ K ≤ 30, L ≥ 1, collisions ≥ 1",
                cfg.k, cfg.l, cfg.min_collisions
            )));
        }
        let mut rng = Rng::keyed(&[seed, LSH_KEY, hd as u64, cfg.k as u64, cfg.l as u64]);
        Ok(crate::rotation::normals(&mut rng, hd * cfg.k * cfg.l)
            .into_iter()
            .map(|x| x as f32)
            .collect())
    }

    /// An empty store hashing with `planes` (from [`LshStore::planes`] with the same `hd`
    /// and `cfg`).
    pub fn with_planes(hd: usize, cfg: LshConfig, planes: Arc<[f32]>) -> Result<Self> {
        if planes.len() != hd * cfg.k * cfg.l || cfg.min_collisions == 0 {
            return Err(QuantError::Config(format!(
                "LSH store: {} hyperplane numbers for head dim {hd}, K = {}, L = {}",
                planes.len(),
                cfg.k,
                cfg.l
            )));
        }
        Ok(LshStore {
            cfg,
            hd,
            planes,
            keys: Vec::new(),
            values: Vec::new(),
            centre: vec![0.0; hd],
            hashed: cfg.sink,
            rebuilt_at: 0,
            norms: Vec::new(),
            tables: vec![Buckets::default(); cfg.l],
            hits: Vec::new(),
            touched: Vec::new(),
        })
    }

    /// Room for `more` positions without reallocating (as a preallocated KV cache).
    pub fn reserve(&mut self, more: usize) {
        self.keys.reserve(more * self.hd);
        self.values.reserve(more * self.hd);
        self.norms.reserve(more);
        self.hits.reserve(more);
    }

    /// Keys stored.
    pub fn len(&self) -> usize {
        self.keys.len() / self.hd
    }

    /// No keys stored.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Offloaded span `lo..hi` (as [`crate::lsh::LshIndex`]).
    fn span(&self) -> (usize, usize) {
        let n = self.len();
        let lo = self.cfg.sink.min(n);
        (lo, n.saturating_sub(self.cfg.local).max(lo))
    }

    fn key(&self, i: usize) -> &[f32] {
        &self.keys[i * self.hd..(i + 1) * self.hd]
    }

    fn value(&self, i: usize) -> &[f32] {
        &self.values[i * self.hd..(i + 1) * self.hd]
    }

    /// The L bucket codes of `x` (unnormalised: only signs matter).
    fn codes(&self, x: &[f32], out: &mut Vec<u32>) {
        let mut proj = vec![0f32; self.cfg.k * self.cfg.l];
        project(&self.planes, x, &mut proj);
        out.clear();
        out.extend(proj.chunks_exact(self.cfg.k).map(|bits| {
            bits.iter()
                .enumerate()
                .fold(0u32, |c, (j, &b)| c | (u32::from(b > 0.0) << j))
        }));
    }

    /// Hashes key `i` (≥ lo) with the current centre into the tables.
    fn insert(&mut self, i: usize, lo: usize, scratch: &mut Vec<f32>, codes: &mut Vec<u32>) {
        scratch.clear();
        scratch.extend(self.key(i).iter().zip(&self.centre).map(|(k, c)| k - c));
        self.norms.push(dot(scratch, scratch).sqrt());
        self.codes(scratch, codes);
        let idx = (i - lo) as u32;
        for (table, &c) in self.tables.iter_mut().zip(codes.iter()) {
            table.entry(c).or_default().push(idx);
        }
    }

    /// Re-centres on the span's mean and re-hashes every offloaded key.
    fn rebuild(&mut self, lo: usize, hi: usize) {
        let m = hi - lo;
        let mut centre = vec![0f64; self.hd];
        for i in lo..hi {
            for (c, &k) in centre.iter_mut().zip(self.key(i)) {
                *c += f64::from(k);
            }
        }
        self.centre = centre.iter().map(|c| (c / m as f64) as f32).collect();
        self.tables.iter_mut().for_each(HashMap::clear);
        self.norms.clear();
        let (mut scratch, mut codes) = (Vec::new(), Vec::new());
        for i in lo..hi {
            self.insert(i, lo, &mut scratch, &mut codes);
        }
        self.hashed = hi;
        self.rebuilt_at = m;
    }

    /// Brings the tables up to the current span.
    fn sync(&mut self) {
        let (lo, hi) = self.span();
        if hi <= self.hashed {
            return;
        }
        if !self.cfg.center {
            // Centre fixed at zero: hash only the new keys.
            let (mut scratch, mut codes) = (Vec::new(), Vec::new());
            for i in self.hashed.max(lo)..hi {
                self.insert(i, lo, &mut scratch, &mut codes);
            }
            self.hashed = hi;
        } else if self.rebuilt_at == 0 || hi - lo >= 2 * self.rebuilt_at {
            self.rebuild(lo, hi);
        } else {
            let (mut scratch, mut codes) = (Vec::new(), Vec::new());
            for i in self.hashed..hi {
                self.insert(i, lo, &mut scratch, &mut codes);
            }
            self.hashed = hi;
        }
        self.hits.resize(hi - lo, 0);
    }

    /// Appends one position's key and value (`hd` each).
    pub fn push(&mut self, key: &[f32], value: &[f32]) -> Result<()> {
        if key.len() != self.hd {
            return Err(QuantError::Config(format!(
                "LSH store: key of {} numbers, head dim {}",
                key.len(),
                self.hd
            )));
        }
        self.extend(key, value)
    }

    /// Appends many positions (`[m][hd]` each), re-centring once at the end when the span
    /// doubled — a prefill.
    pub fn extend(&mut self, keys: &[f32], values: &[f32]) -> Result<()> {
        if keys.len() != values.len() || keys.len() % self.hd != 0 {
            return Err(QuantError::Config(format!(
                "LSH store: {} key and {} value numbers for head dim {}",
                keys.len(),
                values.len(),
                self.hd
            )));
        }
        self.keys.extend_from_slice(keys);
        self.values.extend_from_slice(values);
        self.sync();
        Ok(())
    }

    /// Exact `softmax(q·Kᵀ/√hd)·V` over every stored key (the dense baseline).
    pub fn exact(&self, q: &[f32]) -> Vec<f32> {
        let scale = 1.0 / (self.hd as f32).sqrt();
        let scores: Vec<f32> = (0..self.len())
            .map(|i| dot(q, self.key(i)) * scale)
            .collect();
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut out = vec![0f32; self.hd];
        let mut z = 0f32;
        for (i, s) in scores.iter().enumerate() {
            let w = (s - max).exp();
            z += w;
            out.iter_mut()
                .zip(self.value(i))
                .for_each(|(o, &v)| *o += w * v);
        }
        out.iter_mut().for_each(|o| *o /= z);
        out
    }

    /// MagicPIG's estimate for query `q [hd]`, and what it read.
    pub fn query(&mut self, q: &[f32]) -> Result<(Vec<f32>, QueryStats)> {
        if q.len() != self.hd || self.is_empty() {
            return Err(QuantError::Config(format!(
                "LSH store: query of {} numbers for head dim {} over {} keys",
                q.len(),
                self.hd,
                self.len()
            )));
        }
        let scale = 1.0 / (self.hd as f32).sqrt();
        let (lo, hi) = self.span();
        let mut acc = Acc::new(self.hd);
        for i in (0..lo).chain(hi..self.len()) {
            acc.add(dot(q, self.key(i)) * scale, self.value(i));
        }
        let mut stats = QueryStats {
            offloaded: hi - lo,
            ..QueryStats::default()
        };
        if hi > lo {
            let norm = dot(q, q).sqrt().max(1e-12);
            let qn: Vec<f32> = q.iter().map(|x| x / norm).collect();
            let mut codes = Vec::with_capacity(self.cfg.l);
            self.codes(&qn, &mut codes);
            let min = self.cfg.min_collisions as u16;
            let mut picked = Vec::new();
            for (table, c) in self.tables.iter().zip(&codes) {
                let Some(bucket) = table.get(c) else { continue };
                stats.walked += bucket.len();
                for &j in bucket {
                    let h = &mut self.hits[j as usize];
                    if *h == 0 {
                        self.touched.push(j);
                    }
                    *h += 1;
                    if *h == min {
                        picked.push(j);
                    }
                }
            }
            for &j in &self.touched {
                self.hits[j as usize] = 0;
            }
            self.touched.clear();
            stats.read = picked.len();
            let (k, l) = (self.cfg.k as i32, self.cfg.l);
            for &j in &picked {
                let i = lo + j as usize;
                let key = self.key(i);
                let centred_dot: f32 = key
                    .iter()
                    .zip(&self.centre)
                    .zip(&qn)
                    .map(|((k, c), q)| (k - c) * q)
                    .sum();
                let cos = f64::from(centred_dot / self.norms[j as usize].max(1e-12));
                let theta = cos.clamp(-1.0, 1.0).acos();
                let p = (1.0 - theta / std::f64::consts::PI).powi(k);
                let u = sample_probability(p, l);
                let s = dot(q, key) * scale - (u + 1e-4).ln() as f32;
                acc.add(s, self.value(i));
            }
        }
        Ok((acc.finish(), stats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lsh::{relative_error, LshIndex};
    use tch::{Device, Kind, Tensor};

    fn instance(n: i64, hd: i64, seed: i64) -> (Tensor, Tensor, Tensor) {
        tch::manual_seed(seed);
        let opts = (Kind::Float, Device::Cpu);
        let offset = Tensor::randn([1, hd], opts) * 2.0;
        let k = Tensor::randn([n, hd], opts) + offset;
        let v = Tensor::randn([n, hd], opts);
        let q = Tensor::randn([hd], opts) * 0.5;
        (k, v, q)
    }

    fn floats(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(t.contiguous().view([-1])).unwrap()
    }

    /// Built in one go (one rebuild over the whole span), the store reads the same keys as
    /// the tensor estimator and returns its output to f32 precision; exact attention agrees.
    #[test]
    fn a_fresh_store_equals_the_tensor_estimator() {
        let (hd, n) = (32i64, 600i64);
        let (k, v, q) = instance(n, hd, 3);
        for cfg in [
            LshConfig::default(),
            LshConfig {
                k: 4,
                l: 40,
                sink: 2,
                local: 16,
                ..LshConfig::default()
            },
        ] {
            let mut store = LshStore::new(hd as usize, cfg, 9).unwrap();
            store.extend(&floats(&k), &floats(&v)).unwrap();
            let index = LshIndex::build(&k, &v, cfg, 9).unwrap();
            let (want, want_read) = index.attend(&q).unwrap();
            let (got, stats) = store.query(&floats(&q)).unwrap();
            assert_eq!(stats.offloaded, index.offloaded());
            assert_eq!(stats.read, want_read, "{cfg:?}");
            assert!(want_read > 0, "{cfg:?}: nothing sampled");
            let got = Tensor::from_slice(&got).to_kind(Kind::Double);
            assert!(relative_error(&got, &want) < 1e-5, "{cfg:?}");
            let exact = Tensor::from_slice(&store.exact(&floats(&q))).to_kind(Kind::Double);
            assert!(relative_error(&exact, &index.exact(&q)) < 1e-5);
        }
    }

    /// Appended one key at a time, the store re-centres only when the span doubles, hashes
    /// each key once between rebuilds, reads a fraction of the span, and stays close to
    /// exact attention; with a window covering the cache it is exact.
    #[test]
    fn appending_keeps_the_tables_consistent() {
        let (hd, n) = (16usize, 900usize);
        let (k, v, q) = instance(n as i64, hd as i64, 4);
        let (k, v, q) = (floats(&k), floats(&v), floats(&q));
        let cfg = LshConfig {
            k: 3,
            l: 30,
            sink: 2,
            local: 8,
            ..LshConfig::default()
        };
        let mut store = LshStore::new(hd, cfg, 1).unwrap();
        let mut rebuilds = 0;
        for i in 0..n {
            let before = store.rebuilt_at;
            store
                .push(&k[i * hd..(i + 1) * hd], &v[i * hd..(i + 1) * hd])
                .unwrap();
            rebuilds += usize::from(store.rebuilt_at != before);
            let (lo, hi) = store.span();
            assert!(store.hashed >= hi);
            assert_eq!(store.norms.len(), hi - lo);
            for table in &store.tables {
                assert_eq!(table.values().map(Vec::len).sum::<usize>(), hi - lo);
            }
        }
        // Span grew to 890: rebuilt at 1, 2, 4, …, 512.
        assert_eq!(rebuilds, 10);
        let (got, stats) = store.query(&q).unwrap();
        assert_eq!(stats.offloaded, n - 10);
        assert!(stats.read > 0 && stats.read < stats.offloaded, "{stats:?}");
        assert!(stats.walked >= stats.read);
        let exact = store.exact(&q);
        let err = relative_error(&Tensor::from_slice(&got), &Tensor::from_slice(&exact));
        assert!(err < 0.5, "relative error {err}");
        // Counters are reset: the same query reads the same keys again.
        assert_eq!(store.query(&q).unwrap().1, stats);
        let mut wide = LshStore::new(
            hd,
            LshConfig {
                sink: 100,
                local: 1000,
                ..cfg
            },
            1,
        )
        .unwrap();
        wide.extend(&k, &v).unwrap();
        let (got, stats) = wide.query(&q).unwrap();
        assert_eq!(stats, QueryStats::default());
        let err = relative_error(&Tensor::from_slice(&got), &Tensor::from_slice(&exact));
        assert!(err < 1e-5, "{err}");
        assert!(wide.push(&k[..hd - 1], &v[..hd]).is_err());
        assert!(wide.query(&q[..3]).is_err());
        assert!(LshStore::new(0, cfg, 0).is_err());
    }
}

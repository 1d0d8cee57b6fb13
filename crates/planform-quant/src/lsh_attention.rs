//! MagicPIG's LSH-sampled attention as the batched decoder's attention kernel
//! (`planform eval --attention lsh:K,L`).
//!
//! Every cached decoding step, for every row and query head, attention goes through the
//! row's [`LshStore`] of the head's key/value head: sink and local keys exact, the rest
//! hashed (centred, K bits × L tables) into bucket tables and sampled on ≥ 2 collisions
//! with the closed-form importance weights. The first `dense_blocks` stored blocks attend
//! exactly over the same stores (MagicPIG keeps its first layers dense). Prefill and
//! cross-attention are exact.
//!
//! The stores persist across steps, keyed by attention run and the cache's row identity
//! ([`planform_model::DecodeCall::rows`]): each step appends the row's new key and value
//! (hashing at most the one key that leaves the local window), so a step does not re-read
//! the cache. A row seen for the first time, or whose length is not one more than its
//! store's, is re-read from the cache. [`LshStats`] counts the offloaded keys, those read
//! and the re-reads.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use planform_model::{DecodeCall, DecodeKernel};
use tch::Tensor;

use crate::error::{QuantError, Result};
use crate::lsh::LshConfig;
use crate::lsh_store::LshStore;

/// The kernel's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LshAttention {
    /// K, L, sink, local, centring, collisions.
    pub cfg: LshConfig,
    /// Stored blocks (from the first) that attend exactly.
    pub dense_blocks: usize,
    /// Seed of the hyperplanes (one set per stored block); 0 from the short form.
    pub seed: u64,
}

impl serde::Serialize for LshAttention {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for LshAttention {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for LshAttention {
    type Err = QuantError;
    /// `lsh:K,L` or `lsh:K,L,SINK,LOCAL[,DENSE]` (defaults: sink 4, local 64, dense 0).
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            QuantError::Config(format!(
                "attention `{s}`: expected lsh:K,L or lsh:K,L,SINK,LOCAL[,DENSE_BLOCKS] \
                 (MagicPIG: lsh:10,150), 1 ≤ K ≤ 30, L ≥ 2"
            ))
        };
        let rest = s.strip_prefix("lsh:").ok_or_else(bad)?;
        let v: Vec<usize> = rest
            .split(',')
            .map(|x| x.trim().parse().map_err(|_| bad()))
            .collect::<Result<_>>()?;
        if !matches!(v.len(), 2 | 4 | 5) || v[0] == 0 || v[0] > 30 || v[1] < 2 {
            return Err(bad());
        }
        let mut cfg = LshConfig {
            k: v[0],
            l: v[1],
            ..LshConfig::default()
        };
        if v.len() >= 4 {
            cfg.sink = v[2];
            cfg.local = v[3];
        }
        Ok(LshAttention {
            cfg,
            dense_blocks: v.get(4).copied().unwrap_or(0),
            seed: 0,
        })
    }
}

impl fmt::Display for LshAttention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.cfg;
        write!(
            f,
            "lsh:{},{},{},{},{}",
            c.k, c.l, c.sink, c.local, self.dense_blocks
        )
    }
}

/// Offloaded keys seen and read by the kernel, summed over rows, heads, blocks and steps,
/// and the times a row's keys were (re-)read from the cache.
#[derive(Debug, Default)]
pub struct LshStats {
    offloaded: AtomicU64,
    read: AtomicU64,
    rereads: AtomicU64,
}

impl LshStats {
    /// `(offloaded keys, keys of them read)`.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.offloaded.load(Ordering::Relaxed),
            self.read.load(Ordering::Relaxed),
        )
    }

    /// Times a row's stores were built from the whole cache (a sequence's first step at an
    /// attention run, or a length that did not follow on).
    pub fn rereads(&self) -> u64 {
        self.rereads.load(Ordering::Relaxed)
    }
}

/// The kernel's stores: per attention run, per row identity, one store per key/value head;
/// and the hyperplanes of each stored block.
#[derive(Default)]
struct Sequences {
    runs: HashMap<usize, HashMap<u64, Vec<LshStore>>>,
    planes: HashMap<usize, Arc<[f32]>>,
}

/// The numbers of a float tensor, row-major.
fn floats(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(
        t.to_device(tch::Device::Cpu)
            .to_kind(tch::Kind::Float)
            .contiguous()
            .view([-1]),
    )
    .expect("float tensor")
}

impl LshAttention {
    /// The decode kernel, counting into `stats`. Its stores live as long as the kernel.
    pub fn kernel(self, stats: Arc<LshStats>) -> DecodeKernel {
        let state = Mutex::new(Sequences::default());
        DecodeKernel::new(move |call| {
            let mut seqs = state.lock().unwrap_or_else(|e| e.into_inner());
            self.attend(call, &mut seqs, &stats)
                .expect("LSH attention settings were checked")
        })
    }

    /// `q [B,H,1,hd]`, `keys`/`values` `[B,Hkv,T,hd]`, row `b`'s first `lengths[b]` keys.
    fn attend(
        &self,
        call: &DecodeCall<'_>,
        seqs: &mut Sequences,
        stats: &LshStats,
    ) -> Result<Tensor> {
        let q = call.q;
        let (b, h, hd) = (q.size()[0] as usize, q.size()[1] as usize, q.size()[3]);
        let hkv = call.keys.size()[1] as usize;
        let groups = h / hkv;
        let dense = call.block < self.dense_blocks;
        // Dense blocks: every key in the sink, nothing hashed.
        let cfg = if dense {
            LshConfig {
                sink: usize::MAX / 2,
                ..self.cfg
            }
        } else {
            self.cfg
        };
        let seed = self.seed ^ (0x4c53_0000 + call.block as u64);
        let planes = match seqs.planes.get(&call.block) {
            Some(p) => p.clone(),
            None => {
                let p = LshStore::planes(hd as usize, cfg, seed)?;
                seqs.planes.insert(call.block, p.clone());
                p
            }
        };
        // Rows without an identity (none given) get fresh stores every call.
        let ids: Vec<Option<u64>> = if call.rows.len() == b {
            call.rows.iter().copied().map(Some).collect()
        } else {
            vec![None; b]
        };
        let runs = seqs.runs.entry(call.depth).or_default();
        let live: HashSet<u64> = ids.iter().flatten().copied().collect();
        runs.retain(|id, _| live.contains(id));
        let qv = floats(q);
        let hd = hd as usize;
        let mut out = vec![0f32; b * h * hd];
        let mut scratch = Vec::new();
        for (r, &len) in call.lengths.iter().enumerate().take(b) {
            let n = len as usize;
            let stores = match ids[r] {
                Some(id) => runs.entry(id).or_default(),
                None => {
                    scratch.clear();
                    &mut scratch
                }
            };
            let have = stores.first().map_or(0, LshStore::len);
            if stores.is_empty() || have + 1 != n {
                if have != n || stores.is_empty() {
                    stores.clear();
                    let k = floats(&call.keys.get(r as i64).narrow(1, 0, n as i64)); // [Hkv,n,hd]
                    let v = floats(&call.values.get(r as i64).narrow(1, 0, n as i64));
                    for kv in 0..hkv {
                        let mut s = LshStore::with_planes(hd, cfg, planes.clone())?;
                        let span = kv * n * hd..(kv + 1) * n * hd;
                        s.extend(&k[span.clone()], &v[span])?;
                        stores.push(s);
                    }
                    stats.rereads.fetch_add(1, Ordering::Relaxed);
                }
            } else {
                let at = (n - 1) as i64;
                let k = floats(&call.keys.get(r as i64).narrow(1, at, 1)); // [Hkv,1,hd]
                let v = floats(&call.values.get(r as i64).narrow(1, at, 1));
                for (kv, s) in stores.iter_mut().enumerate() {
                    s.push(&k[kv * hd..(kv + 1) * hd], &v[kv * hd..(kv + 1) * hd])?;
                }
            }
            for head in 0..h {
                let at = (r * h + head) * hd;
                let store = &mut stores[head / groups];
                let o = if dense {
                    store.exact(&qv[at..at + hd])
                } else {
                    let (o, st) = store.query(&qv[at..at + hd])?;
                    stats
                        .offloaded
                        .fetch_add(st.offloaded as u64, Ordering::Relaxed);
                    stats.read.fetch_add(st.read as u64, Ordering::Relaxed);
                    o
                };
                out[at..at + hd].copy_from_slice(&o);
            }
        }
        Ok(Tensor::from_slice(&out)
            .view([b as i64, h as i64, 1, hd as i64])
            .to_kind(q.kind())
            .to_device(q.device()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn settings_parse_and_print() {
        let a: LshAttention = "lsh:10,150".parse().unwrap();
        assert_eq!(
            (a.cfg.k, a.cfg.l, a.cfg.sink, a.cfg.local),
            (10, 150, 4, 64)
        );
        let b: LshAttention = "lsh:8,100,2,16,1".parse().unwrap();
        assert_eq!((b.cfg.sink, b.cfg.local, b.dense_blocks), (2, 16, 1));
        assert_eq!(b.to_string(), "lsh:8,100,2,16,1");
        assert_eq!(b.to_string().parse::<LshAttention>().unwrap(), b);
        for bad in [
            "",
            "lsh:",
            "lsh:10",
            "lsh:0,150",
            "lsh:31,10",
            "lsh:10,1",
            "topk:10,150",
            "lsh:1,2,3",
        ] {
            assert!(bad.parse::<LshAttention>().is_err(), "{bad}");
        }
    }

    fn call<'a>(
        q: &'a Tensor,
        (k, v): (&'a Tensor, &'a Tensor),
        lengths: &'a [i64],
        rows: &'a [u64],
    ) -> DecodeCall<'a> {
        DecodeCall {
            block: 0,
            depth: 0,
            q,
            keys: k,
            values: v,
            lengths,
            rows,
        }
    }

    /// Exact attention of each row over its first `lengths[r]` keys, grouped heads.
    fn exact(q: &Tensor, k: &Tensor, v: &Tensor, lengths: &[i64], groups: i64) -> Tensor {
        let (h, hd) = (q.size()[1], q.size()[3]);
        let mut rows = Vec::new();
        for (r, &n) in lengths.iter().enumerate() {
            let mut heads = Vec::new();
            for head in 0..h {
                let kk = k.get(r as i64).get(head / groups).narrow(0, 0, n);
                let vv = v.get(r as i64).get(head / groups).narrow(0, 0, n);
                let s = kk.matmul(&q.get(r as i64).get(head).get(0)) / (hd as f64).sqrt();
                heads.push(s.softmax(0, Kind::Float).unsqueeze(0).matmul(&vv));
            }
            rows.push(Tensor::stack(&heads, 0));
        }
        Tensor::stack(&rows, 0)
    }

    /// When sink + local cover every row's keys the kernel is exact attention, row by row
    /// with each row's own length and grouped-query heads; with a small local window it
    /// samples, reads a fraction of the offloaded keys, and stays close. Dense blocks are
    /// exact whatever the window.
    #[test]
    fn exact_when_the_window_covers_the_cache_and_close_when_it_samples() {
        let opts = (Kind::Float, Device::Cpu);
        let (b, h, hkv, t, hd) = (2, 4, 2, 40, 16);
        let q = Tensor::randn([b, h, 1, hd], opts);
        let k = Tensor::randn([b, hkv, t, hd], opts) * 0.3;
        let v = Tensor::randn([b, hkv, t, hd], opts);
        let lengths = [40, 25];
        let want = exact(&q, &k, &v, &lengths, 2);
        let stats = Arc::new(LshStats::default());
        let wide: LshAttention = "lsh:10,150,4,64".parse().unwrap();
        let kernel = wide.kernel(stats.clone());
        let got = kernel.call(&call(&q, (&k, &v), &lengths, &[7, 8]));
        let diff = (&got - &want).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "{diff}");
        assert_eq!(stats.totals(), (0, 0));
        let narrow: LshAttention = "lsh:2,50,2,4".parse().unwrap();
        let got = narrow
            .kernel(stats.clone())
            .call(&call(&q, (&k, &v), &lengths, &[7, 8]));
        let (offloaded, read) = stats.totals();
        assert_eq!(offloaded, (4 * (40 - 6) + 4 * (25 - 6)) as u64);
        assert!(read > 0 && read <= offloaded);
        let err = crate::lsh::relative_error(&got, &want);
        assert!(err < 0.5, "relative error {err}");
        let dense = LshAttention {
            dense_blocks: 1,
            ..narrow
        };
        let got = dense
            .kernel(stats.clone())
            .call(&call(&q, (&k, &v), &lengths, &[7, 8]));
        assert!((&got - &want).abs().max().double_value(&[]) < 1e-5);
    }

    /// Across steps a row's stores are kept and extended by one key (no re-read of the
    /// cache); they follow the row through compaction; a new identity or a length that does
    /// not follow on re-reads; with a covering window every step is exact.
    #[test]
    fn stores_follow_rows_across_steps_and_compaction() {
        let opts = (Kind::Float, Device::Cpu);
        let (h, t, hd) = (2, 30, 8);
        let q = Tensor::randn([2, h, 1, hd], opts);
        let k = Tensor::randn([2, h, t, hd], opts);
        let v = Tensor::randn([2, h, t, hd], opts);
        let stats = Arc::new(LshStats::default());
        let attn: LshAttention = "lsh:3,20,2,4".parse().unwrap();
        let kernel = attn.kernel(stats.clone());
        let _ = kernel.call(&call(&q, (&k, &v), &[20, 10], &[1, 2]));
        assert_eq!(stats.rereads(), 2);
        for step in 1..5 {
            let _ = kernel.call(&call(&q, (&k, &v), &[20 + step, 10 + step], &[1, 2]));
        }
        assert_eq!(stats.rereads(), 2, "steps append");
        // Compaction: row 2 moves to index 0 (its keys move with it).
        let k2 = k.narrow(0, 1, 1);
        let v2 = v.narrow(0, 1, 1);
        let q2 = q.narrow(0, 1, 1);
        let got = kernel.call(&call(&q2, (&k2, &v2), &[15], &[2]));
        assert_eq!(stats.rereads(), 2, "compaction keeps the stores");
        assert_eq!(got.size(), [1, h, 1, hd]);
        let _ = kernel.call(&call(&q2, (&k2, &v2), &[15], &[9]));
        assert_eq!(stats.rereads(), 3, "a new sequence");
        let _ = kernel.call(&call(&q2, (&k2, &v2), &[12], &[9]));
        assert_eq!(stats.rereads(), 4, "a length that does not follow on");
        let wide: LshAttention = "lsh:3,20,30,30".parse().unwrap();
        let kernel = wide.kernel(stats.clone());
        for n in [10, 11, 12] {
            let got = kernel.call(&call(&q2, (&k2, &v2), &[n], &[5]));
            let want = exact(&q2, &k2, &v2, &[n], 1);
            assert!((&got - &want).abs().max().double_value(&[]) < 1e-5);
        }
    }
}

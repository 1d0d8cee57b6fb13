//! MagicPIG's speed claim on the CPU, for one attention layer's decoding step: dense
//! attention over the whole cache against LSH sampling from bucket tables, at 2k–10k keys.
//!
//! ```text
//! cargo run --release -p planform-quant --example lsh_speed -- [HEADS] [STEPS] [REPEATS] [N…]
//! ```
//! Defaults: 8 heads of 64 (a 512-wide layer), 64 decoding steps after a prefill of N keys,
//! 3 repeats (the median is printed), N = 2048 4096 8192 10240. One thread. Keys per head = a
//! shared offset (the narrow cone) + Gaussian noise, values a linear map of the keys plus
//! noise, queries Gaussian (as `lsh_study`, τ = 1). Per step and head every method appends
//! the new key and value, then answers one query:
//! - **libtorch dense**: keys/values in preallocated `[H, N+steps, hd]` tensors, one
//!   `scaled_dot_product_attention` over the filled prefix (what the decoder runs);
//! - **Rust dense**: a scan of all keys with an online softmax (the LSH path's own arithmetic);
//! - **LSH K10 L150**: [`LshStore`] (sink 4 + local 64 exact, ≥ 2 collisions, centred).
//!
//! Prints µs per step for the layer (all heads), the LSH fraction of offloaded keys read,
//! bucket entries walked per head, and the relative error of LSH against Rust dense.

use std::time::Instant;

use planform_quant::lsh::LshConfig;
use planform_quant::lsh_store::LshStore;
use tch::{Device, Kind, Tensor};

fn floats(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.contiguous().view([-1])).expect("f32 tensor")
}

/// Keys, values `[n][hd]` and queries `[steps][hd]` of one head.
fn head(n: i64, steps: i64, hd: i64, seed: i64) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    tch::manual_seed(seed);
    let opts = (Kind::Float, Device::Cpu);
    let offset = Tensor::randn([1, hd], opts) * 3.0;
    let k = Tensor::randn([n, hd], opts) + offset;
    let map = Tensor::randn([hd, hd], opts) / (hd as f64).sqrt();
    let v = k.matmul(&map) + Tensor::randn([n, hd], opts) * 0.5;
    let q = Tensor::randn([steps, hd], opts);
    (floats(&k), floats(&v), floats(&q))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let heads: usize = args.get(1).map_or(Ok(8), |s| s.parse())?;
    let steps: usize = args.get(2).map_or(Ok(64), |s| s.parse())?;
    let repeats: usize = args.get(3).map_or(Ok(3), |s| s.parse())?;
    let sizes: Vec<usize> = if args.len() > 4 {
        args[4..]
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()?
    } else {
        vec![2048, 4096, 8192, 10240]
    };
    let hd = 64usize;
    tch::set_num_threads(1);
    let cfg = LshConfig::default();
    println!(
        "one layer of {heads} heads × {hd}, {steps} decoding steps after a prefill of N keys, \
         1 thread, median of {repeats}; LSH K = {}, L = {}, sink {}, local {}\n",
        cfg.k, cfg.l, cfg.sink, cfg.local
    );
    println!("| N (context) | libtorch dense µs/step | Rust dense µs/step | LSH µs/step (append + query) | LSH vs libtorch | LSH vs Rust dense | keys read | entries walked / head | LSH rel. error | LSH prefill ms |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &n in &sizes {
        let total = n + steps;
        let data: Vec<_> = (0..heads)
            .map(|h| head(total as i64, steps as i64, hd as i64, 7 + h as i64))
            .collect();
        let (mut t_torch, mut t_dense, mut t_lsh, mut t_build, mut t_push) =
            (vec![], vec![], vec![], vec![], vec![]);
        let (mut read, mut offloaded, mut walked, mut err) = (0usize, 0usize, 0usize, 0f64);
        for rep in 0..repeats {
            // libtorch dense.
            let k_all = Tensor::zeros(
                [1, heads as i64, total as i64, hd as i64],
                (Kind::Float, Device::Cpu),
            );
            let v_all = k_all.zeros_like();
            for (h, (k, v, _)) in data.iter().enumerate() {
                k_all
                    .get(0)
                    .get(h as i64)
                    .copy_(&Tensor::from_slice(k).view([total as i64, hd as i64]));
                v_all
                    .get(0)
                    .get(h as i64)
                    .copy_(&Tensor::from_slice(v).view([total as i64, hd as i64]));
            }
            let qs: Vec<Tensor> = (0..steps)
                .map(|s| {
                    let rows: Vec<Tensor> = data
                        .iter()
                        .map(|(_, _, q)| Tensor::from_slice(&q[s * hd..(s + 1) * hd]))
                        .collect();
                    Tensor::stack(&rows, 0).view([1, heads as i64, 1, hd as i64])
                })
                .collect();
            let k_cache = k_all.zeros_like();
            let v_cache = k_all.zeros_like();
            k_cache
                .narrow(2, 0, n as i64)
                .copy_(&k_all.narrow(2, 0, n as i64));
            v_cache
                .narrow(2, 0, n as i64)
                .copy_(&v_all.narrow(2, 0, n as i64));
            let t = Instant::now();
            for (s, q) in qs.iter().enumerate() {
                let pos = (n + s) as i64;
                k_cache.narrow(2, pos, 1).copy_(&k_all.narrow(2, pos, 1));
                v_cache.narrow(2, pos, 1).copy_(&v_all.narrow(2, pos, 1));
                let o = Tensor::scaled_dot_product_attention(
                    q,
                    &k_cache.narrow(2, 0, pos + 1),
                    &v_cache.narrow(2, 0, pos + 1),
                    None::<Tensor>,
                    0.0,
                    false,
                    None,
                    false,
                );
                let _ = std::hint::black_box(o);
            }
            t_torch.push(t.elapsed().as_secs_f64());

            // Rust dense and LSH, head by head, sharing the stored keys.
            let (mut dense_s, mut lsh_s, mut build_s, mut push_s) = (0.0, 0.0, 0.0, 0.0);
            for (h, (k, v, q)) in data.iter().enumerate() {
                let t = Instant::now();
                let mut store = LshStore::new(hd, cfg, h as u64)?;
                store.reserve(total);
                store.extend(&k[..n * hd], &v[..n * hd])?;
                build_s += t.elapsed().as_secs_f64();
                let mut exact_out = Vec::with_capacity(steps);
                // All keys in the sink: nothing hashed, `exact` scans the whole cache.
                let mut dense_store = LshStore::new(hd, LshConfig { sink: total, ..cfg }, 0)?;
                dense_store.reserve(total);
                dense_store.extend(&k[..n * hd], &v[..n * hd])?;
                let t = Instant::now();
                for s in 0..steps {
                    let pos = n + s;
                    dense_store.push(&k[pos * hd..(pos + 1) * hd], &v[pos * hd..(pos + 1) * hd])?;
                    exact_out.push(dense_store.exact(&q[s * hd..(s + 1) * hd]));
                }
                dense_s += t.elapsed().as_secs_f64();
                let t = Instant::now();
                let mut outs = Vec::with_capacity(steps);
                for s in 0..steps {
                    let pos = n + s;
                    let tp = Instant::now();
                    store.push(&k[pos * hd..(pos + 1) * hd], &v[pos * hd..(pos + 1) * hd])?;
                    push_s += tp.elapsed().as_secs_f64();
                    let (o, st) = store.query(&q[s * hd..(s + 1) * hd])?;
                    if rep == 0 {
                        read += st.read;
                        offloaded += st.offloaded;
                        walked += st.walked;
                    }
                    outs.push(o);
                }
                lsh_s += t.elapsed().as_secs_f64();
                if rep == 0 {
                    for (o, e) in outs.iter().zip(&exact_out) {
                        let d: f64 = o.iter().zip(e).map(|(a, b)| f64::from(a - b).powi(2)).sum();
                        let z: f64 = e.iter().map(|b| f64::from(*b).powi(2)).sum();
                        err += (d / z).sqrt();
                    }
                }
            }
            t_dense.push(dense_s);
            t_lsh.push(lsh_s);
            t_build.push(build_s);
            t_push.push(push_s);
        }
        let per_step = |t: &[f64]| median(t.to_vec()) / steps as f64 * 1e6;
        let (torch, dense, lsh) = (per_step(&t_torch), per_step(&t_dense), per_step(&t_lsh));
        let push = per_step(&t_push);
        println!(
            "| {n} | {torch:.0} | {dense:.0} | {lsh:.0} ({push:.0} + {:.0}) | ×{:.2} | ×{:.2} | {:.2}% | {:.0} | {:.3} | {:.0} |",
            lsh - push,
            torch / lsh,
            dense / lsh,
            100.0 * read as f64 / offloaded.max(1) as f64,
            walked as f64 / (heads * steps) as f64,
            err / (heads * steps) as f64,
            median(t_build) * 1e3,
        );
    }
    Ok(())
}

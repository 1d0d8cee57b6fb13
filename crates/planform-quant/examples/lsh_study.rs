//! MagicPIG's numerical claim on synthetic attention: at the same number of keys read, does
//! LSH importance sampling track oracle sampling and beat top-k when attention is flat?
//!
//! ```text
//! cargo run --release -p planform-quant --example lsh_study -- [N] [SEEDS] [QUERIES]
//! ```
//! Keys `[N, 64]` = a shared offset (the "narrow cone") + Gaussian noise, values Gaussian,
//! values a linear map of the keys plus a shared mean and noise, queries Gaussian scaled by τ (small τ: flat attention; large τ: peaked). Per seed and τ,
//! `QUERIES` queries; for each, LSH (K = 10, L = 150, centred, ≥ 2 collisions — MagicPIG's
//! defaults) reads some keys; top-k and oracle sampling get exactly that many. Also LSH
//! without centring and with the ≥ 1 rule (their own budgets). Prints a markdown table of
//! mean relative output error ‖ô − o‖/‖o‖ (± standard error over seeds).

use planform_quant::lsh::{relative_error, LshConfig, LshIndex};
use tch::{Device, Kind, Tensor};

fn mean_se(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, (var / n).sqrt())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: i64 = args.get(1).map_or(Ok(8192), |s| s.parse())?;
    let seeds: u64 = args.get(2).map_or(Ok(3), |s| s.parse())?;
    let queries: usize = args.get(3).map_or(Ok(16), |s| s.parse())?;
    let hd = 64;
    tch::set_num_threads(1);
    let opts = (Kind::Double, Device::Cpu);
    let base = LshConfig::default();
    let variants = [
        ("LSH K10 L150 (MagicPIG)", base),
        (
            "LSH, keys not centred",
            LshConfig {
                center: false,
                ..base
            },
        ),
        (
            "LSH, ≥ 1 collision",
            LshConfig {
                min_collisions: 1,
                ..base
            },
        ),
    ];
    println!(
        "n = {n} keys, head dim {hd}, {seeds} seeds × {queries} queries; sink 4 + local 64 exact \
         in every method; error = ‖ô − o‖/‖o‖, mean ± s.e. over seeds\n"
    );
    println!("| τ (query scale) | attention entropy / ln n | keys read (LSH) | LSH | top-k, same keys | oracle, same keys | LSH not centred (keys read) | LSH ≥ 1 (keys read) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for tau in [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0] {
        let mut per_seed: Vec<[f64; 9]> = Vec::new();
        for seed in 0..seeds {
            tch::manual_seed(1000 + seed as i64);
            let offset = Tensor::randn([1, hd], opts) * 3.0;
            let k = Tensor::randn([n, hd], opts) + &offset;
            // Keys and values are both linear maps of the same hidden states, so values
            // correlate with keys (which is what biases top-k: the keys it keeps have
            // systematically different values from the tail it drops); they also share a
            // mean direction, as real value vectors do.
            let noise = Tensor::randn([n, hd], opts);
            let a = Tensor::randn([hd, hd], opts) / (hd as f64).sqrt();
            let v = (&k - &offset).matmul(&a) + Tensor::randn([1, hd], opts) + noise * 0.5;
            let idx: Vec<LshIndex> = variants
                .iter()
                .map(|(_, c)| LshIndex::build(&k, &v, *c, seed))
                .collect::<Result<_, _>>()?;
            let mut acc = [0.0; 9];
            for qi in 0..queries {
                let q = Tensor::randn([hd], opts) * tau;
                let exact = idx[0].exact(&q);
                let p = (k.matmul(&q) / (hd as f64).sqrt()).softmax(0, Kind::Double);
                let entropy = -(&p * p.clamp_min(1e-300).log())
                    .sum(Kind::Double)
                    .double_value(&[]);
                let (o, read) = idx[0].attend(&q)?;
                let off = idx[0].offloaded() as f64;
                acc[0] += entropy / (n as f64).ln();
                acc[1] += read as f64 / off;
                acc[2] += relative_error(&o, &exact);
                acc[3] += relative_error(&idx[0].top_k(&q, read), &exact);
                acc[4] += relative_error(&idx[0].oracle(&q, read, seed * 1000 + qi as u64), &exact);
                let (o1, r1) = idx[1].attend(&q)?;
                let (o2, r2) = idx[2].attend(&q)?;
                acc[5] += relative_error(&o1, &exact);
                acc[6] += r1 as f64 / off;
                acc[7] += relative_error(&o2, &exact);
                acc[8] += r2 as f64 / off;
            }
            per_seed.push(acc.map(|a| a / queries as f64));
        }
        let col = |i: usize| mean_se(&per_seed.iter().map(|a| a[i]).collect::<Vec<_>>());
        let f = |(m, s): (f64, f64)| format!("{m:.3} ± {s:.3}");
        println!(
            "| {tau} | {:.3} | {:.2}% | {} | {} | {} | {} ({:.2}%) | {} ({:.2}%) |",
            col(0).0,
            100.0 * col(1).0,
            f(col(2)),
            f(col(3)),
            f(col(4)),
            f(col(5)),
            100.0 * col(6).0,
            f(col(7)),
            100.0 * col(8).0,
        );
    }
    Ok(())
}

//! Training throughput of planform-train and padding with/without length bucketing.
//!
//! ```text
//! cargo run --release -p planform-train --example bench_train -- throughput \
//!     --dim 192 --layers 3 --heads 3 --batch 16 --enc-len 64 --dec-len 256 --threads 2
//! cargo run --release -p planform-train --example bench_train -- padding --size 10 --examples 4000
//! cargo run --release -p planform-train --example bench_train -- loop --size 10 --examples 2000 --steps 20
//! ```
//!
//! Compare `throughput` with `scripts/bench_pytorch.py` given the same flags.

use std::collections::HashMap;

use planform_model::{ModelConfig, ModelSize, StackConfig};
use planform_train::bench::{bench_train, TrainBench};
use planform_train::config::{BatchConfig, BatchOrder, Precision};
use planform_train::sampler::{plan_epoch, PaddingStats};
use planform_train::testutil::maze_examples;
use planform_train::{DeviceChoice, ModelSpec, StartMode, TrainConfig, TrainData, Trainer};

fn args() -> (String, HashMap<String, String>) {
    let mut it = std::env::args().skip(1);
    let mode = it.next().unwrap_or_else(|| "throughput".into());
    let mut map = HashMap::new();
    let rest: Vec<String> = it.collect();
    for pair in rest.chunks(2) {
        if let [k, v] = pair {
            map.insert(k.trim_start_matches("--").to_string(), v.clone());
        }
    }
    (mode, map)
}

fn get<T: std::str::FromStr>(m: &HashMap<String, String>, k: &str, default: T) -> T {
    m.get(k).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let (mode, a) = args();
    match mode.as_str() {
        "throughput" => {
            let threads: i32 = get(&a, "threads", 0);
            if threads > 0 {
                tch::set_num_threads(threads);
            }
            let vocab: usize = get(&a, "vocab", 118);
            let stack = StackConfig {
                dim: get(&a, "dim", 192),
                layers: get(&a, "layers", 3),
                heads: get(&a, "heads", 3),
            };
            let mut model = ModelConfig::from_size(ModelSize::Tiny, vocab);
            model.encoder = stack;
            model.decoder = stack;
            let device = match a.get("device").map(String::as_str) {
                Some("cuda") => tch::Device::Cuda(0),
                _ => tch::Device::Cpu,
            };
            let precision = if a.get("bf16").is_some_and(|v| v == "1") {
                Precision::Bf16Autocast
            } else {
                Precision::Fp32
            };
            let cfg = TrainBench {
                model,
                batch: get(&a, "batch", 16),
                enc_len: get(&a, "enc-len", 64),
                dec_len: get(&a, "dec-len", 256),
                steps: get(&a, "steps", 10),
                warmup: get(&a, "warmup", 3),
                device,
                precision,
                seed: 0,
            };
            match bench_train(&cfg) {
                Ok(r) => println!(
                    "{{\"stack\": \"planform-train (tch 0.24)\", \"device\": \"{device:?}\", \"threads\": {}, \"parameters\": {}, \"batch\": {}, \"enc_len\": {}, \"dec_len\": {}, \"step_ms\": {:.2}, \"tokens_per_sec\": {:.0}, \"dec_tokens_per_sec\": {:.0}, \"loss\": {:.4}}}",
                    tch::get_num_threads(),
                    r.parameters,
                    cfg.batch,
                    cfg.enc_len,
                    cfg.dec_len,
                    r.step_secs * 1e3,
                    r.tokens_per_sec,
                    r.dec_tokens_per_sec,
                    r.last_loss
                ),
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(1);
                }
            }
        }
        "padding" => {
            let size: u32 = get(&a, "size", 10);
            let n: usize = get(&a, "examples", 4000);
            let (_, train, _) = maze_examples(size, n, 0, 0).unwrap_or_else(|e| {
                eprintln!("error: {e}");
                std::process::exit(1)
            });
            let lengths: Vec<(usize, usize)> = train
                .iter()
                .map(|e| (e.prompt.len() + 2, e.reasoning.len() + e.plan.len() + 2))
                .collect();
            for batch in [16usize, 64] {
                for order in [
                    BatchOrder::Random,
                    BatchOrder::Bucketed { pool_batches: 50 },
                ] {
                    let cfg = BatchConfig {
                        sequences: batch,
                        max_tokens: None,
                        accumulation: 1,
                        order,
                    };
                    let plan = plan_epoch(&lengths, &cfg, 0, 0);
                    let s = PaddingStats::of_plan(&plan, &lengths);
                    println!(
                        "{{\"maze\": {size}, \"examples\": {n}, \"batch\": {batch}, \"order\": \"{order:?}\", \"padding\": {:.4}}}",
                        s.fraction()
                    );
                }
            }
        }
        "loop" => {
            // The whole training loop on real maze data: real tokens/s with and without bucketing.
            let threads: i32 = get(&a, "threads", 0);
            if threads > 0 {
                tch::set_num_threads(threads);
            }
            let size: u32 = get(&a, "size", 10);
            let n: usize = get(&a, "examples", 2000);
            let steps: u64 = get(&a, "steps", 20);
            let (vocab, train, test) = maze_examples(size, n, 16, 0).unwrap_or_else(|e| {
                eprintln!("error: {e}");
                std::process::exit(1)
            });
            let data = TrainData::from_examples(vocab, train, test, &Default::default());
            let stack = StackConfig {
                dim: get(&a, "dim", 64),
                layers: get(&a, "layers", 2),
                heads: get(&a, "heads", 2),
            };
            let mut model = ModelConfig::from_size(ModelSize::Tiny, data.vocab.len());
            model.encoder = stack;
            model.decoder = stack;
            for order in [
                BatchOrder::Random,
                BatchOrder::Bucketed { pool_batches: 50 },
            ] {
                let dir = tempfile::tempdir().expect("temp dir");
                let mut c =
                    TrainConfig::new("in-memory", dir.path(), ModelSpec::Custom(model.clone()));
                c.device = DeviceChoice::Cpu;
                c.batch.sequences = get(&a, "batch", 16);
                c.batch.order = order;
                c.optim.total_steps = steps;
                c.optim.warmup_steps = 1;
                c.log.log_every = steps;
                c.log.eval_every = steps;
                c.log.checkpoint_every = steps;
                c.log.eval_at_start = false;
                let s = Trainer::new(c, data.clone(), StartMode::Fresh)
                    .and_then(|mut t| t.run(&mut |_| std::ops::ControlFlow::Continue(())))
                    .unwrap_or_else(|e| {
                        eprintln!("error: {e}");
                        std::process::exit(1)
                    });
                let r = s.last_train.expect("a training record");
                println!(
                    "{{\"loop\": \"{order:?}\", \"maze\": {size}, \"steps\": {steps}, \"real_tokens_per_sec\": {:.0}, \"padding\": {:.4}, \"loss\": {:.4}}}",
                    r.tokens_per_sec, r.padding, r.metrics.loss
                );
            }
        }
        other => {
            eprintln!("unknown mode {other:?} (throughput | padding | loop)");
            std::process::exit(2);
        }
    }
}

//! Throughput of training steps and decoding on random weights.
//!
//! ```text
//! cargo run --release -p planform-model --example bench -- [train|decode|all] [cuda] [--quick] [--bf16] [--threads N]
//! ```
//! Prints one JSON line per measurement. `--threads N` sets libtorch's
//! intra-op threads (on a shared, busy CPU machine `--threads 1` avoids
//! OpenMP spin-waiting, which otherwise slows CPU runs by an order of magnitude).

use planform_model::bench::{bench_decode, bench_train, DecodeBench, TrainBench};
use planform_model::{ModelConfig, ModelSize, Precision, StackConfig};
use tch::Device;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut what, mut device, mut quick, mut precision) =
        ("all".to_string(), Device::Cpu, false, Precision::F32);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "train" | "decode" | "all" => what = a,
            "cuda" => device = Device::Cuda(0),
            "cpu" => device = Device::Cpu,
            "--quick" => quick = true,
            "--bf16" => precision = Precision::Bf16Autocast,
            "--threads" => {
                tch::set_num_threads(args.next().ok_or("--threads needs a number")?.parse()?)
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let vocab = 118; // 10x10 maze vocabulary
    let print =
        |r: planform_model::bench::BenchResult| println!("{}", serde_json::to_string(&r).unwrap());

    if what == "train" || what == "all" {
        // ~3.2M-parameter encoder-decoder (dim 192, 3 + 3 layers) and the tiny size.
        let mut small = ModelConfig::from_size(ModelSize::S, vocab);
        small.encoder = StackConfig {
            dim: 192,
            layers: 3,
            heads: 3,
        };
        small.decoder = small.encoder;
        let tiny = ModelConfig::from_size(ModelSize::Tiny, vocab);
        let steps = if quick { 2 } else { 5 };
        for (cfg, batch, lp, ld) in [(&small, 16, 64, 256), (&tiny, 16, 64, 256)] {
            let tb = TrainBench {
                batch,
                prompt_len: lp,
                decoder_len: ld,
                warmup_steps: 1,
                steps,
                precision,
            };
            print(bench_train(cfg, device, &tb, 0)?);
        }
    }
    if what == "decode" || what == "all" {
        for size in [ModelSize::Tiny, ModelSize::S] {
            let cfg = ModelConfig::from_size(size, vocab);
            let (prompts, samples, max_len) = if quick { (4, 8, 64) } else { (16, 16, 128) };
            let mut db = DecodeBench::new(prompts, (20, 40), samples, max_len, 256);
            db.decode.precision = precision;
            print(bench_decode(&cfg, device, &db, 0)?);
            db.one_prompt_at_a_time = true;
            print(bench_decode(&cfg, device, &db, 0)?);
        }
    }
    Ok(())
}

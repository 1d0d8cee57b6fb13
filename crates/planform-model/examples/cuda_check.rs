//! One-command check of the CUDA paths (no GPU on the CPU machines, so the
//! test suite cannot cover them). Compares CUDA against CPU on the same random
//! weights and prints throughput; exits non-zero if a check fails.
//!
//! On the GPU machine (see /work/shared/gpu.md):
//! ```text
//! TL=$(python3 -c "import torch,os;print(os.path.dirname(torch.__file__)+'/lib')")
//! LD_LIBRARY_PATH=$TL LD_PRELOAD=$TL/libtorch_cuda.so ./cuda_check
//! ```

use planform_model::bench::{bench_decode, bench_train, DecodeBench, TrainBench};
use planform_model::{
    generate, DecodeConfig, EncoderAttention, EncoderDecoder, KvCache, ModelConfig, ModelSize,
    Precision, StackConfig,
};
use tch::{nn, Device, Kind, Tensor};

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a.to_device(Device::Cpu).to_kind(Kind::Double)
        - b.to_device(Device::Cpu).to_kind(Kind::Double))
    .abs()
    .max()
    .double_value(&[])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if !tch::Cuda::is_available() {
        return Err("CUDA is not available (LD_PRELOAD libtorch_cuda.so?)".into());
    }
    let gpu = Device::Cuda(0);
    let mut failures = Vec::new();
    let mut check = |name: &str, ok: bool, detail: String| {
        println!("{} {name}: {detail}", if ok { "PASS" } else { "FAIL" });
        if !ok {
            failures.push(name.to_string());
        }
    };

    // Same random weights on both devices (projections scaled so the model is not trivial).
    let mut cfg = ModelConfig::from_size(ModelSize::Tiny, 118);
    cfg.decoder = StackConfig {
        dim: 96,
        layers: 2,
        heads: 3,
    };
    tch::manual_seed(0);
    let cpu_vs = nn::VarStore::new(Device::Cpu);
    let cpu = EncoderDecoder::new(&cpu_vs.root(), &cfg)?;
    tch::no_grad(|| {
        for (name, mut v) in cpu_vs.variables() {
            if v.dim() == 2 && !name.contains("embedding") {
                let _ = v.g_mul_scalar_(3.0);
            }
        }
    });
    let mut gpu_vs = nn::VarStore::new(gpu);
    let cuda = EncoderDecoder::new(&gpu_vs.root(), &cfg)?;
    gpu_vs.copy(&cpu_vs)?;

    let prompts: Vec<Vec<i64>> = (0..6)
        .map(|i| {
            (0..(5 + 3 * i))
                .map(|j| 2 + (i * 13 + j * 7) % 116)
                .collect()
        })
        .collect();
    let lp = prompts.iter().map(Vec::len).max().unwrap_or(1);
    let ids: Vec<i64> = prompts
        .iter()
        .flat_map(|p| p.iter().copied().chain(std::iter::repeat(0)).take(lp))
        .collect();
    let keep: Vec<bool> = prompts
        .iter()
        .flat_map(|p| (0..lp).map(move |j| j < p.len()))
        .collect();
    let enc = Tensor::from_slice(&ids).view([6, -1]);
    let mask = Tensor::from_slice(&keep).view([6, -1]);
    let dec = Tensor::randint(118, [6, 40], (Kind::Int64, Device::Cpu));

    tch::no_grad(|| -> Result<(), Box<dyn std::error::Error>> {
        let want = cpu.forward(&enc, &mask, &dec)?;
        let (g_enc, g_mask, g_dec) = (enc.to(gpu), mask.to(gpu), dec.to(gpu));
        let got = cuda.forward(&g_enc, &g_mask, &g_dec)?;
        let d = max_diff(&got, &want);
        check(
            "forward fp32 cuda vs cpu",
            d < 1e-3,
            format!("max |diff| {d:.3e}"),
        );
        let scale = want.abs().max().double_value(&[]);
        let bf = tch::autocast(true, || cuda.forward(&g_enc, &g_mask, &g_dec))?;
        let d = max_diff(&bf, &want);
        check(
            "forward bf16 autocast vs fp32",
            d < 0.1 * scale,
            format!("max |diff| {d:.3e}, max |logit| {scale:.2}"),
        );
        for (name, prec) in [("fp32", false), ("bf16", true)] {
            let (full, steps) = tch::autocast(
                prec,
                || -> Result<(Tensor, Vec<Tensor>), planform_model::ModelError> {
                    let memory =
                        cuda.encode_with(&g_enc, &g_mask, EncoderAttention::PaddingMasked)?;
                    let full = cuda.decode(&g_dec, &memory, &g_mask)?;
                    let mut cache = KvCache::new(cuda.cross_kv(&memory, &g_mask)?, 8);
                    let mut steps = Vec::new();
                    for t in 0..40 {
                        let tokens: Vec<i64> = (0..6).map(|b| dec.int64_value(&[b, t])).collect();
                        steps.push(cuda.decode_step(&mut cache, &tokens, &[t; 6])?);
                    }
                    Ok((full, steps))
                },
            )?;
            let d = max_diff(&Tensor::stack(&steps, 1), &full);
            let tol = if prec { 0.1 * scale } else { 1e-3 };
            check(
                &format!("kv-cached steps vs full decode ({name})"),
                d < tol,
                format!("max |diff| {d:.3e}"),
            );
        }
        Ok(())
    })?;

    let mut dcfg = DecodeConfig::new(0, 1, 60);
    dcfg.samples_per_prompt = 4;
    dcfg.max_rows = 7;
    let a = generate(&cpu, &prompts, &dcfg)?;
    let b = generate(&cuda, &prompts, &dcfg)?;
    let same = a
        .generations
        .iter()
        .flatten()
        .zip(b.generations.iter().flatten())
        .filter(|(x, y)| x == y)
        .count();
    check(
        "greedy generate cuda == cpu",
        same == 24,
        format!("{same}/24 sequences identical"),
    );
    dcfg.precision = Precision::Bf16Autocast;
    let c = generate(&cuda, &prompts, &dcfg)?;
    let same = a
        .generations
        .iter()
        .flatten()
        .zip(c.generations.iter().flatten())
        .filter(|(x, y)| x == y)
        .count();
    check(
        "greedy generate bf16 runs",
        true,
        format!("{same}/24 sequences equal to fp32 cpu"),
    );

    // Throughput (random weights, maze vocabulary).
    for prec in [Precision::F32, Precision::Bf16Autocast] {
        let s = ModelConfig::from_size(ModelSize::S, 118);
        let tb = TrainBench {
            batch: 64,
            prompt_len: 128,
            decoder_len: 512,
            warmup_steps: 3,
            steps: 10,
            precision: prec,
        };
        println!("{}", serde_json::to_string(&bench_train(&s, gpu, &tb, 0)?)?);
        for (prompts, rows) in [(1, 64), (16, 1024)] {
            let mut db = DecodeBench::new(prompts, (100, 156), 64, 500, rows);
            db.decode.precision = prec;
            println!(
                "{}",
                serde_json::to_string(&bench_decode(&s, gpu, &db, 0)?)?
            );
        }
    }
    if failures.is_empty() {
        println!("all CUDA checks passed");
        Ok(())
    } else {
        Err(format!("failed: {failures:?}").into())
    }
}

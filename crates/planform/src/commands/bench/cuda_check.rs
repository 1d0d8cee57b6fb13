//! `planform bench cuda-check`: correctness of the CUDA paths against the CPU on the same
//! random weights (the CPU machines have no GPU, so the test suite cannot cover them): the
//! forward pass in fp32 and bf16 autocast, KV-cached decoder steps against the full decoder,
//! greedy `generate`, and one training step (loss and updated weights). The checks of the
//! model crate's `examples/cuda_check.rs`, carried by the binary for the GPU machine.
//!
//! `--device cpu` runs every comparison CPU against CPU (a dry run of the code path).

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use clap::Args;
use planform_model::{
    generate, DecodeConfig, EncoderAttention, EncoderDecoder, KvCache, ModelConfig, ModelSize,
    StackConfig,
};
use planform_train::batch::Batch;
use planform_train::bench::synthetic_batch;
use planform_train::loss::next_token_loss;
use planform_train::precision::prepare;
use planform_train::{AdamWConfig, Algorithm, DeviceChoice, Optimizer, Precision};
use serde::Serialize;
use tch::{nn::VarStore, Device, Kind, Tensor};

use super::common::{device_name, set_threads};
use super::report::write_atomic;

/// Arguments of `planform bench cuda-check`.
#[derive(Debug, Args)]
pub struct CudaCheckArgs {
    /// Device to check against the CPU (`cpu` = dry run).
    #[arg(long, default_value = "cuda")]
    pub device: DeviceChoice,
    /// libtorch intra-op threads for the CPU side (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Also write the results as JSON to FILE.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was compared.
    pub name: String,
    /// Whether it passed.
    pub pass: bool,
    /// Measured difference or count.
    pub detail: String,
}

/// The JSON written with `--out`.
#[derive(Debug, Clone, Serialize)]
pub struct CudaReport {
    /// The device checked.
    pub device: String,
    /// `tch::Cuda::is_available()`.
    pub cuda_available: bool,
    /// `tch::Cuda::device_count()`.
    pub cuda_devices: i64,
    /// `tch::Cuda::cudnn_is_available()`.
    pub cudnn: bool,
    /// The checks, in order.
    pub checks: Vec<Check>,
    /// All passed.
    pub passed: bool,
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a.to_device(Device::Cpu).to_kind(Kind::Double)
        - b.to_device(Device::Cpu).to_kind(Kind::Double))
    .abs()
    .max()
    .double_value(&[])
}

/// A small model whose decoder differs from its encoder (catches stack mix-ups).
fn config() -> ModelConfig {
    let mut cfg = ModelConfig::from_size(ModelSize::Tiny, 118);
    cfg.decoder = StackConfig {
        dim: 96,
        layers: 2,
        heads: 3,
    };
    cfg
}

/// The same random weights on the CPU and on `device`; 2-D projections scaled ×3 so that the
/// logits are far from uniform.
fn twin_models(
    cfg: &ModelConfig,
    device: Device,
) -> Result<(VarStore, EncoderDecoder, VarStore, EncoderDecoder)> {
    tch::manual_seed(0);
    let cpu_vs = VarStore::new(Device::Cpu);
    let cpu = EncoderDecoder::new(&cpu_vs.root(), cfg)?;
    tch::no_grad(|| {
        for (name, mut v) in cpu_vs.variables() {
            if v.dim() == 2 && !name.contains("embedding") {
                let _ = v.g_mul_scalar_(3.0);
            }
        }
    });
    let mut dev_vs = VarStore::new(device);
    let dev = EncoderDecoder::new(&dev_vs.root(), cfg)?;
    dev_vs.copy(&cpu_vs)?;
    Ok((cpu_vs, cpu, dev_vs, dev))
}

/// Runs `planform bench cuda-check`.
pub fn run(a: CudaCheckArgs) -> Result<()> {
    set_threads(a.threads);
    let cuda_available = tch::Cuda::is_available();
    let mut checks = Vec::new();
    let mut check = |name: &str, pass: bool, detail: String| {
        println!("{} {name}: {detail}", if pass { "PASS" } else { "FAIL" });
        checks.push(Check {
            name: name.into(),
            pass,
            detail,
        });
    };
    check(
        "cuda available",
        cuda_available || a.device == DeviceChoice::Cpu,
        format!(
            "is_available {cuda_available}, {} device(s), cudnn {}",
            tch::Cuda::device_count(),
            tch::Cuda::cudnn_is_available()
        ),
    );
    let device = match a.device.resolve() {
        Ok(d) if d.is_cuda() == cuda_available || d == Device::Cpu => Some(d),
        _ => None,
    };
    if let Some(device) = device {
        if let Err(e) = run_checks(device, &mut check) {
            check("checks ran to the end", false, format!("{e:#}"));
        }
    } else {
        check(
            "device",
            false,
            format!(
                "--device {} cannot be used (LD_LIBRARY_PATH / libtorch_cuda?)",
                a.device
            ),
        );
    }
    let passed = checks.iter().all(|c| c.pass);
    let report = CudaReport {
        device: device.map_or_else(|| a.device.to_string(), device_name),
        cuda_available,
        cuda_devices: tch::Cuda::device_count(),
        cudnn: tch::Cuda::cudnn_is_available(),
        checks,
        passed,
    };
    if let Some(path) = &a.out {
        let json = serde_json::to_string_pretty(&report).context("serialising the report")?;
        write_atomic(path, json.as_bytes())?;
    }
    if passed {
        println!("all checks passed on {}", report.device);
        Ok(())
    } else {
        let failed: Vec<&str> = report
            .checks
            .iter()
            .filter(|c| !c.pass)
            .map(|c| c.name.as_str())
            .collect();
        Err(anyhow!("failed: {failed:?}"))
    }
}

fn run_checks(device: Device, check: &mut dyn FnMut(&str, bool, String)) -> Result<()> {
    let cuda = device.is_cuda();
    if cuda {
        prepare(Precision::Bf16Autocast, device)?; // autocast dtype bf16, not fp16
    }
    let cfg = config();
    let (_cpu_vs, cpu, _dev_vs, dev) = twin_models(&cfg, device)?;
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
    tch::manual_seed(1);
    let dec = Tensor::randint(118, [6, 40], (Kind::Int64, Device::Cpu));

    tch::no_grad(|| -> Result<()> {
        let want = cpu.forward(&enc, &mask, &dec)?;
        let (g_enc, g_mask, g_dec) = (enc.to(device), mask.to(device), dec.to(device));
        let got = dev.forward(&g_enc, &g_mask, &g_dec)?;
        let d = max_diff(&got, &want);
        check(
            "forward fp32 vs cpu",
            d < 1e-3,
            format!("max |diff| {d:.3e}"),
        );
        let scale = want.abs().max().double_value(&[]);
        let bf = tch::autocast(cuda, || dev.forward(&g_enc, &g_mask, &g_dec))?;
        let d = max_diff(&bf, &want);
        check(
            "forward bf16 autocast vs fp32 cpu",
            d < 0.1 * scale,
            format!("max |diff| {d:.3e}, max |logit| {scale:.2}"),
        );
        for (name, autocast) in [("fp32", false), ("bf16", cuda)] {
            let (full, steps) = tch::autocast(autocast, || -> Result<(Tensor, Vec<Tensor>)> {
                let memory = dev.encode_with(&g_enc, &g_mask, EncoderAttention::PaddingMasked)?;
                let full = dev.decode(&g_dec, &memory, &g_mask)?;
                let mut cache = KvCache::new(dev.cross_kv(&memory, &g_mask)?, 8);
                let mut steps = Vec::new();
                for t in 0..40 {
                    let tokens: Vec<i64> = (0..6).map(|b| dec.int64_value(&[b, t])).collect();
                    steps.push(dev.decode_step(&mut cache, &tokens, &[t; 6])?);
                }
                Ok((full, steps))
            })?;
            let d = max_diff(&Tensor::stack(&steps, 1), &full);
            let tol = if autocast { 0.1 * scale } else { 1e-3 };
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
    let b = generate(&dev, &prompts, &dcfg)?;
    let same = |x: &planform_model::DecodeOutput, y: &planform_model::DecodeOutput| {
        x.generations
            .iter()
            .flatten()
            .zip(y.generations.iter().flatten())
            .filter(|(p, q)| p == q)
            .count()
    };
    let n = same(&a, &b);
    check(
        "greedy generate vs cpu",
        n == 24,
        format!("{n}/24 sequences identical"),
    );
    if cuda {
        dcfg.precision = planform_model::Precision::Bf16Autocast;
        let c = generate(&dev, &prompts, &dcfg)?;
        let n = same(&a, &c);
        check(
            "greedy generate bf16 runs",
            true,
            format!("{n}/24 sequences equal to fp32 cpu"),
        );
    }
    train_step_check(&cfg, device, check)
}

/// One training step (collate, forward, loss, backward, AdamW) on the CPU and on `device`
/// from the same weights: losses and gradients must agree, and the AdamW updates must stay
/// within their bound (|update| ≤ lr·(1 + weight decay·|w|) on the first step, since
/// m̂/√v̂ = ±1 there; a gradient that is ~0 may flip sign between devices, so the updated
/// weights are compared against that bound rather than exactly).
fn train_step_check(
    cfg: &ModelConfig,
    device: Device,
    check: &mut dyn FnMut(&str, bool, String),
) -> Result<()> {
    const LR: f64 = 1e-3;
    let seqs = synthetic_batch(cfg.vocab_size, 4, 20, 50, 7);
    let (cpu_vs, cpu, dev_vs, dev) = twin_models(cfg, device)?;
    let step = |vs: &VarStore,
                model: &EncoderDecoder,
                d: Device|
     -> Result<(f64, Vec<(String, Tensor)>)> {
        let mut opt = Optimizer::for_var_store(Algorithm::AdamW, AdamWConfig::default(), vs);
        let batch = Batch::collate(&seqs, d)?;
        opt.zero_grad();
        let logits = model.forward(&batch.enc_ids, &batch.enc_mask, &batch.dec_in)?;
        let out = next_token_loss(&logits, &batch, 1.0 / batch.rows as f64)?;
        out.loss.f_backward()?;
        let mut grads: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .map(|(n, v)| (n, v.grad().to_device(Device::Cpu)))
            .collect();
        grads.sort_by(|x, y| x.0.cmp(&y.0));
        opt.step(LR)?;
        Ok((out.loss.double_value(&[]), grads))
    };
    let (want, want_g) = step(&cpu_vs, &cpu, Device::Cpu)?;
    let (got, got_g) = step(&dev_vs, &dev, device)?;
    check(
        "training step loss vs cpu",
        (got - want).abs() < 1e-4 * want.abs().max(1.0),
        format!("{got:.6} vs {want:.6}"),
    );
    let (mut worst, mut scale) = (0.0f64, 0.0f64);
    for ((n1, g1), (n2, g2)) in got_g.iter().zip(&want_g) {
        if n1 != n2 || !g1.defined() || !g2.defined() {
            return Err(anyhow!("gradient of {n1} / {n2} missing"));
        }
        worst = nan_max(worst, max_diff(g1, g2));
        scale = nan_max(scale, g2.abs().max().double_value(&[]));
    }
    check(
        "gradients vs cpu",
        worst <= 1e-3 * scale + 1e-7,
        format!("max |diff| {worst:.3e}, max |grad| {scale:.3e}"),
    );
    let cpu_vars = cpu_vs.variables();
    let mut moved = 0.0f64;
    for (name, v) in dev_vs.variables() {
        let w = cpu_vars
            .get(&name)
            .ok_or_else(|| anyhow!("variable {name} missing on the cpu"))?;
        moved = nan_max(moved, max_diff(&v, w));
    }
    check(
        "weights after one AdamW step vs cpu",
        moved <= 2.0 * LR * 1.01,
        format!("max |diff| {moved:.3e} (bound 2·lr = {:.0e})", 2.0 * LR),
    );
    Ok(())
}

/// `max` that propagates NaN (a NaN difference must fail its check).
fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

//! `bench cuda-check`: correctness of the CUDA paths against the CPU on the same random
//! weights, for both model families (the CPU machines have no GPU, so the test suite cannot
//! cover them): the forward pass in fp32 and bf16 autocast, KV-cached decoder steps against
//! the full forward pass, greedy [`generate`], and one training step —
//! [`planform_train::train_step`] on a [`Batch::collate`]d synthetic batch — compared in loss,
//! gradients and updated weights.
//!
//! On the CPU (`DeviceChoice::Cpu`) every comparison runs CPU against CPU: a dry run of the
//! code path.

use planform_core::rng::Rng;
use planform_model::{
    generate, with_precision, DecodeConfig, DecodeOutput, DecoderSpec, DeviceChoice,
    EncoderAttention, EncoderDecoderConfig, Family, KvCache, LayerSharing, Model, ModelConfig,
    ModelInput, ModelSize, Precision, StackConfig,
};
use planform_optim::{AdamWConfig, Algorithm, Optimizer};
use planform_train::batch::Batch;
use planform_train::data::Prepared;
use planform_train::train_step;
use serde::Serialize;
use tch::{nn::VarStore, Device, Kind, Tensor};

use crate::device::{device_name, set_threads};
use crate::error::{BenchError, Result};
use crate::shape::family_name;
use crate::synthetic::synthetic_sequences;

/// Vocabulary of the check models (the 10×10 maze's size).
const VOCAB: usize = 118;

/// What `bench cuda-check` checks. Default: `cuda` (device 0), one thread per core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CudaCheckConfig {
    /// Device to check against the CPU (`cpu` = dry run).
    pub device: DeviceChoice,
    /// libtorch intra-op threads for the CPU side (0 = one per core).
    pub threads: usize,
}

impl Default for CudaCheckConfig {
    fn default() -> Self {
        CudaCheckConfig {
            device: DeviceChoice::Cuda(0),
            threads: 0,
        }
    }
}

/// One check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// What was compared.
    pub name: String,
    /// Whether it passed.
    pub pass: bool,
    /// Measured difference or count.
    pub detail: String,
}

/// All checks (written as JSON by `--out`).
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

impl CudaReport {
    /// Names of the failed checks.
    pub fn failed(&self) -> Vec<&str> {
        self.checks
            .iter()
            .filter(|c| !c.pass)
            .map(|c| c.name.as_str())
            .collect()
    }
}

/// Records checks and hands each to the caller as it is made.
struct Checks<'a> {
    list: Vec<Check>,
    on_check: &'a mut dyn FnMut(&Check),
}

impl Checks<'_> {
    fn add(&mut self, name: &str, pass: bool, detail: String) {
        let c = Check {
            name: name.into(),
            pass,
            detail,
        };
        (self.on_check)(&c);
        self.list.push(c);
    }
}

/// Runs every check; `on_check` receives each result as it is made. Never fails: an error
/// becomes a failed check.
pub fn run_cuda_check(cfg: &CudaCheckConfig, on_check: &mut dyn FnMut(&Check)) -> CudaReport {
    set_threads(cfg.threads);
    let cuda_available = tch::Cuda::is_available();
    let mut checks = Checks {
        list: Vec::new(),
        on_check,
    };
    checks.add(
        "cuda available",
        cuda_available || cfg.device == DeviceChoice::Cpu,
        format!(
            "is_available {cuda_available}, {} device(s), cudnn {}",
            tch::Cuda::device_count(),
            tch::Cuda::cudnn_is_available()
        ),
    );
    let device = match cfg.device.resolve() {
        Ok(d) if d.is_cuda() == cuda_available || d == Device::Cpu => Some(d),
        _ => None,
    };
    match device {
        Some(device) => {
            for family in [Family::EncoderDecoder, Family::DecoderOnly] {
                if let Err(e) = family_checks(family, device, &mut checks) {
                    checks.add(
                        &format!("{}: checks ran to the end", family_name(family)),
                        false,
                        e.to_string(),
                    );
                }
            }
        }
        None => checks.add(
            "device",
            false,
            format!(
                "--device {} cannot be used (LD_LIBRARY_PATH / libtorch_cuda?)",
                cfg.device
            ),
        ),
    }
    let checks = checks.list;
    CudaReport {
        device: device.map_or_else(|| cfg.device.to_string(), device_name),
        cuda_available,
        cuda_devices: tch::Cuda::device_count(),
        cudnn: tch::Cuda::cudnn_is_available(),
        passed: checks.iter().all(|c| c.pass),
        checks,
    }
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a.to_device(Device::Cpu).to_kind(Kind::Double)
        - b.to_device(Device::Cpu).to_kind(Kind::Double))
    .abs()
    .max()
    .double_value(&[])
}

/// `rms(a − b) / rms(b)`.
fn rel_rms(a: &Tensor, b: &Tensor) -> f64 {
    let (a, b) = (
        a.to_device(Device::Cpu).to_kind(Kind::Double),
        b.to_device(Device::Cpu).to_kind(Kind::Double),
    );
    let rms = |t: &Tensor| t.square().mean(Kind::Double).sqrt().double_value(&[]);
    rms(&(&a - &b)) / rms(&b)
}

/// A small model of `family`. The encoder–decoder's decoder differs from its encoder (catches
/// stack mix-ups); the decoder-only model has grouped-query attention, tied embeddings and
/// block sharing, and an initialisation wide enough for logits far from uniform.
fn config(family: Family) -> Result<ModelConfig> {
    Ok(match family {
        Family::EncoderDecoder => {
            let mut c = EncoderDecoderConfig::from_size(ModelSize::Tiny, VOCAB);
            c.decoder = StackConfig {
                dim: 96,
                layers: 2,
                heads: 3,
            };
            ModelConfig::EncoderDecoder(c)
        }
        Family::DecoderOnly => ModelConfig::DecoderOnly(
            DecoderSpec {
                layers: Some(2),
                heads: Some(4),
                kv_heads: Some(2),
                tied_embeddings: Some(true),
                sharing: Some(LayerSharing::Immediate),
                init_std: Some(0.2),
                ..DecoderSpec::default()
            }
            .resolve(VOCAB)?,
        ),
    })
}

/// The same random weights on the CPU and on `device`. Encoder–decoder: 2-D projections
/// scaled ×3 so that the logits are far from uniform.
fn twin_models(cfg: &ModelConfig, device: Device) -> Result<(VarStore, Model, VarStore, Model)> {
    let cpu_vs = VarStore::new(Device::Cpu);
    let cpu = Model::new_seeded(&cpu_vs.root(), cfg, 0)?;
    if let ModelConfig::EncoderDecoder(_) = cfg {
        tch::no_grad(|| {
            for (name, mut v) in cpu_vs.variables() {
                if v.dim() == 2 && !name.contains("embedding") {
                    let _ = v.g_mul_scalar_(3.0);
                }
            }
        });
    }
    let mut dev_vs = VarStore::new(device);
    let dev = Model::new_zero_filled(&dev_vs.root(), cfg)?;
    dev_vs.copy(&cpu_vs)?;
    Ok((cpu_vs, cpu, dev_vs, dev))
}

/// Six sequences of different prompt lengths (5, 8, …, 20 tokens between `bos` and `eos`)
/// and 40-token responses, so that batches are padded.
fn check_sequences() -> Vec<Prepared> {
    let mut rng = Rng::new(1);
    (0..6usize)
        .map(|i| {
            let mut enc = vec![0u32];
            enc.extend((0..5 + 3 * i).map(|j| 2 + ((i * 13 + j * 7) % 116) as u32));
            enc.push(1);
            let mut dec = vec![0u32];
            dec.extend((0..38).map(|_| 2 + rng.below(VOCAB as u64 - 2) as u32));
            dec.push(1);
            Prepared {
                enc,
                dec,
                plan_start: 20,
            }
        })
        .collect()
}

fn family_checks(family: Family, device: Device, checks: &mut Checks) -> Result<()> {
    let prefix = family_name(family);
    let name = |what: &str| format!("{prefix}: {what}");
    let cfg = config(family)?;
    let (_cpu_vs, cpu, _dev_vs, dev) = twin_models(&cfg, device)?;
    let seqs = check_sequences();
    let cpu_batch = Batch::collate(&seqs, family, Device::Cpu)?;
    let dev_batch = Batch::collate(&seqs, family, device)?;

    tch::no_grad(|| -> Result<()> {
        let want = cpu.forward(&cpu_batch.input)?;
        let got = dev.forward(&dev_batch.input)?;
        let d = max_diff(&got, &want);
        checks.add(
            &name("forward fp32 vs cpu"),
            d < 1e-3,
            format!("max |diff| {d:.3e}"),
        );
        let scale = want.abs().max().double_value(&[]);
        let bf = with_precision(Precision::Bf16Autocast, device, || {
            dev.forward(&dev_batch.input)
        })?;
        let d = max_diff(&bf, &want);
        // bf16 keeps 8 significant bits: through these small models the logits move by a
        // few percent (CPU dry run: 5.8% relative RMS for the encoder–decoder, 2.6% for the
        // decoder-only model); a wrong cast or kernel moves them by ~100%.
        let r = rel_rms(&bf, &want);
        checks.add(
            &name("forward bf16 autocast vs fp32 cpu"),
            r < 0.1,
            format!("max |diff| {d:.3e}, max |logit| {scale:.2}, rel rms {r:.3e}"),
        );
        for precision in [Precision::Fp32, Precision::Bf16Autocast] {
            let (full, steps) = with_precision(precision, device, || {
                cached_against_full(&dev, &dev_batch.input, &cpu_batch.input)
            })?;
            let d = max_diff(&steps, &full);
            let tol = match precision {
                Precision::Fp32 => 1e-3,
                Precision::Bf16Autocast => 0.1 * scale,
            };
            checks.add(
                &name(&format!(
                    "kv-cached steps vs full forward ({})",
                    crate::device::precision_label(precision)
                )),
                d < tol,
                format!("max |diff| {d:.3e}"),
            );
        }
        Ok(())
    })?;

    let prompts: Vec<Vec<i64>> = seqs
        .iter()
        .map(|s| {
            let p: Vec<i64> = s.enc[1..s.enc.len() - 1]
                .iter()
                .map(|&t| t as i64)
                .collect();
            cpu.frame_prompt(&p, 0, 1)
        })
        .collect();
    let mut dcfg = DecodeConfig::new(0, 1, 60);
    dcfg.samples_per_prompt = 4;
    dcfg.max_rows = 7;
    let a = generate(&cpu, &prompts, &dcfg)?;
    let b = generate(&dev, &prompts, &dcfg)?;
    let same = |x: &DecodeOutput, y: &DecodeOutput| {
        x.generations
            .iter()
            .flatten()
            .zip(y.generations.iter().flatten())
            .filter(|(p, q)| p == q)
            .count()
    };
    let n = same(&a, &b);
    checks.add(
        &name("greedy generate vs cpu"),
        n == 24,
        format!("{n}/24 sequences identical"),
    );
    dcfg.precision = Precision::Bf16Autocast;
    let c = generate(&dev, &prompts, &dcfg)?;
    let n = same(&a, &c);
    checks.add(
        &name("greedy generate bf16 runs"),
        true,
        format!("{n}/24 sequences equal to fp32 cpu"),
    );
    train_step_check(&cfg, device, &name, checks)
}

/// Teacher-forced logits of `input` on `model` and the same positions decoded one
/// KV-cached step at a time (`host` is `input` on the CPU, to read the tokens fed).
fn cached_against_full(
    model: &Model,
    input: &ModelInput,
    host: &ModelInput,
) -> Result<(Tensor, Tensor)> {
    let (full, ids, mut cache) = match (model, input) {
        (
            Model::EncoderDecoder(m),
            ModelInput::EncoderDecoder {
                enc_ids,
                enc_mask,
                dec_in,
            },
        ) => {
            let memory = m.encode_with(enc_ids, enc_mask, EncoderAttention::PaddingMasked)?;
            let full = m.decode(dec_in, &memory, enc_mask)?;
            let cache = KvCache::new(m.cross_kv(&memory, enc_mask)?, 8);
            let ModelInput::EncoderDecoder { dec_in, .. } = host else {
                return Err(BenchError::Config("host batch of the other family".into()));
            };
            (full, dec_in, cache)
        }
        (Model::DecoderOnly(m), ModelInput::DecoderOnly { ids }) => {
            let full = m.forward(ids)?;
            let (b, _) = ids.size2()?;
            let cache = KvCache::decoder_only(b as usize, m.depth(), 8);
            let ModelInput::DecoderOnly { ids } = host else {
                return Err(BenchError::Config("host batch of the other family".into()));
            };
            (full, ids, cache)
        }
        _ => {
            return Err(BenchError::Config(
                "model and batch of different families".into(),
            ))
        }
    };
    let (b, t) = ids.size2()?;
    let mut steps = Vec::with_capacity(t as usize);
    for pos in 0..t {
        let tokens: Vec<i64> = (0..b).map(|r| ids.int64_value(&[r, pos])).collect();
        steps.push(model.decode_step(&mut cache, &tokens, &vec![pos; b as usize])?);
    }
    Ok((full, Tensor::stack(&steps, 1)))
}

/// One training step — [`Batch::collate`] and [`planform_train::train_step`] with AdamW —
/// on the CPU and on `device` from the same weights: losses and gradients must agree, and
/// the AdamW updates must stay within their bound (|update| ≤ lr·(1 + weight decay·|w|) on
/// the first step, since m̂/√v̂ = ±1 there; a gradient that is ~0 may flip sign between
/// devices, so the updated weights are compared against that bound rather than exactly).
fn train_step_check(
    cfg: &ModelConfig,
    device: Device,
    name: &dyn Fn(&str) -> String,
    checks: &mut Checks,
) -> Result<()> {
    const LR: f64 = 1e-3;
    let seqs = synthetic_sequences(cfg.vocab_size(), 4, 20, 50, 7);
    let (cpu_vs, cpu, dev_vs, dev) = twin_models(cfg, device)?;
    let step = |vs: &VarStore, model: &Model, d: Device| -> Result<(f64, Vec<(String, Tensor)>)> {
        let mut opt = Optimizer::for_var_store(Algorithm::AdamW, AdamWConfig::default(), vs);
        let batch = Batch::collate(&seqs, model.family(), d)?;
        let stats = train_step(model, &mut opt, &[batch], LR, Precision::Fp32)?;
        let loss = stats.sums[0].double_value(&[0]) / stats.rows as f64;
        // The step leaves the gradients it applied in place.
        let mut grads: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .map(|(n, v)| (n, v.grad().to_device(Device::Cpu)))
            .collect();
        grads.sort_by(|x, y| x.0.cmp(&y.0));
        Ok((loss, grads))
    };
    let (want, want_g) = step(&cpu_vs, &cpu, Device::Cpu)?;
    let (got, got_g) = step(&dev_vs, &dev, device)?;
    checks.add(
        &name("training step loss vs cpu"),
        (got - want).abs() < 1e-4 * want.abs().max(1.0),
        format!("{got:.6} vs {want:.6}"),
    );
    let (mut worst, mut scale) = (0.0f64, 0.0f64);
    for ((n1, g1), (n2, g2)) in got_g.iter().zip(&want_g) {
        if n1 != n2 || !g1.defined() || !g2.defined() {
            return Err(BenchError::Config(format!(
                "gradient of {n1} / {n2} missing"
            )));
        }
        worst = nan_max(worst, max_diff(g1, g2));
        scale = nan_max(scale, g2.abs().max().double_value(&[]));
    }
    checks.add(
        &name("gradients vs cpu"),
        worst <= 1e-3 * scale + 1e-7,
        format!("max |diff| {worst:.3e}, max |grad| {scale:.3e}"),
    );
    let cpu_vars = cpu_vs.variables();
    let mut moved = 0.0f64;
    for (var, v) in dev_vs.variables() {
        let w = cpu_vars
            .get(&var)
            .ok_or_else(|| BenchError::Config(format!("variable {var} missing on the cpu")))?;
        moved = nan_max(moved, max_diff(&v, w));
    }
    checks.add(
        &name("weights after one AdamW step vs cpu"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_dry_run_passes_every_check_for_both_families() {
        let cfg = CudaCheckConfig {
            device: DeviceChoice::Cpu,
            threads: 1,
        };
        let mut seen = 0;
        let r = run_cuda_check(&cfg, &mut |_| seen += 1);
        assert!(r.passed, "{:#?}", r.checks);
        assert_eq!(seen, r.checks.len());
        for family in ["encoder-decoder", "decoder-only"] {
            let n = r
                .checks
                .iter()
                .filter(|c| c.name.starts_with(family))
                .count();
            assert_eq!(n, 9, "{family}: {:#?}", r.checks);
        }
        assert!(r.failed().is_empty());
    }
}

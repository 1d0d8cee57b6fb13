//! One configuration in its own process: build the model (directly in its dtype) and the
//! optimizer, run the training steps, read the peak resident memory.

use std::time::Instant;

use planform_model::{Model, ModelConfig, Precision};
use planform_optim::{AdamWConfig, Optimizer};
use planform_train::batch::Batch;
use planform_train::train_step;
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Kind};

use super::{model_config, proc_status_bytes, MemoryCase, MemoryOptimizer, WeightDtype};
use crate::device::set_threads;
use crate::error::{BenchError, Result};
use crate::synthetic::synthetic_sequences;

/// The line prefix of the child's result on stdout.
pub const RESULT_PREFIX: &str = "PLANFORM_MEMORY_RESULT ";

/// What a child measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseMeasurement {
    /// Trainable parameters.
    pub params: u64,
    /// Bytes of the model's weights.
    pub weight_bytes: u64,
    /// Optimizer-state bytes after the steps (the rules' accounting).
    pub state_bytes: u64,
    /// Master-weight bytes the optimizer keeps (Q-GaLore's int8 codes, scales, zeros).
    pub master_weight_bytes: u64,
    /// Subspace computations over all matrices.
    pub svd_count: u64,
    /// Of those, stand-in projectors (SVD budget spent).
    pub stand_in_projectors: u64,
    /// Resident memory when the child started (libtorch loaded), bytes.
    pub rss_start: u64,
    /// After building the model.
    pub rss_model: u64,
    /// After building the optimizer.
    pub rss_optimizer: u64,
    /// Peak resident memory of the process (`VmHWM`), bytes.
    pub vm_hwm: u64,
    /// Peak before the first step (model and optimizer construction).
    pub hwm_before_steps: u64,
    /// Peak during the steps alone (`VmHWM` reset through `/proc/self/clear_refs` after the
    /// set-up); `None` where the reset is not possible.
    #[serde(default)]
    pub hwm_steps: Option<u64>,
    /// Linear layers computing from Q-GaLore's int8 codes (their float tensors freed).
    #[serde(default)]
    pub int8_layers: usize,
    /// Wall seconds of each step.
    pub step_seconds: Vec<f64>,
    /// Loss of each step.
    pub losses: Vec<f64>,
    /// glibc's mmap threshold in effect (`MALLOC_MMAP_THRESHOLD_`), when one was set.
    #[serde(default)]
    pub malloc_mmap_threshold: Option<u64>,
}

fn rss(field: &str) -> u64 {
    proc_status_bytes("self", field).unwrap_or(0)
}

/// Runs `case` in this process and returns the measurement (the `--child` side of
/// `bench memory`).
pub fn run_memory_child(case: &MemoryCase) -> Result<CaseMeasurement> {
    // Be the first process the kernel's OOM killer picks if memory runs out.
    let _ = std::fs::write("/proc/self/oom_score_adj", "1000");
    set_threads(case.threads);
    let rss_start = rss("VmRSS");
    let cfg: ModelConfig = model_config(&case.model)?;
    let mut vs = VarStore::new(Device::Cpu);
    if case.dtype == WeightDtype::Bf16 {
        vs.set_kind(Kind::BFloat16);
    }
    let mut model = Model::new_seeded(&vs.root(), &cfg, case.seed as i64)?;
    let params: Vec<_> = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect();
    let weight_bytes: u64 = params
        .iter()
        .map(|(_, t)| (t.numel() * t.kind().elt_size_in_bytes()) as u64)
        .sum();
    let n_params: u64 = params.iter().map(|(_, t)| t.numel() as u64).sum();
    let rss_model = rss("VmRSS");
    let algorithm = case.optimizer.algorithm(case.rank);
    // Q-GaLore as the reference runs it: the model converted one layer at a time, each
    // then computing from its int8 codes, its float weight freed.
    let mut opt = if case.optimizer == MemoryOptimizer::QGalore {
        Optimizer::try_new_int8(
            algorithm,
            AdamWConfig::default(),
            params,
            model.linears_mut(),
        )?
    } else {
        Optimizer::try_new(algorithm, AdamWConfig::default(), params)?
    };
    opt.set_svd_budget(case.svd_budget);
    let int8_layers = vs.variables().values().filter(|t| t.numel() == 0).count();
    let rss_optimizer = rss("VmRSS");
    let hwm_before_steps = rss("VmHWM");
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let family = cfg.family();
    let seqs = match family {
        planform_model::Family::DecoderOnly => {
            // enc[..len−1] ++ dec[1..] has enc + dec − 2 tokens; the input is one shorter.
            let enc = case.tokens / 2 + 1;
            let dec = case.tokens - case.tokens / 2 + 2;
            synthetic_sequences(cfg.vocab_size(), case.batch, enc, dec, case.seed)
        }
        planform_model::Family::EncoderDecoder => synthetic_sequences(
            cfg.vocab_size(),
            case.batch,
            case.tokens,
            case.tokens,
            case.seed,
        ),
    };
    let batch = Batch::collate(&seqs, family, Device::Cpu)?;
    let mut step_seconds = Vec::new();
    let mut losses = Vec::new();
    for _ in 0..case.steps {
        let t = Instant::now();
        let stats = train_step(
            &model,
            &mut opt,
            std::slice::from_ref(&batch),
            1e-4,
            Precision::Fp32,
        )?;
        step_seconds.push(t.elapsed().as_secs_f64());
        let loss: f64 =
            stats.sums.iter().map(|s| s.double_value(&[0])).sum::<f64>() / stats.rows.max(1) as f64;
        if !loss.is_finite() {
            return Err(BenchError::Config(format!("non-finite loss {loss}")));
        }
        losses.push(loss);
    }
    let stats = opt.stats();
    Ok(CaseMeasurement {
        params: n_params,
        weight_bytes,
        state_bytes: stats.state_bytes as u64,
        master_weight_bytes: stats.master_weight_bytes as u64,
        svd_count: stats.svd_count,
        stand_in_projectors: stats.stand_in_projectors,
        rss_start,
        rss_model,
        rss_optimizer,
        // After the reset, `VmHWM` is the steps' peak: the process's is the larger of the two.
        vm_hwm: rss("VmHWM").max(hwm_before_steps),
        hwm_before_steps,
        hwm_steps: reset.then(|| rss("VmHWM")),
        int8_layers,
        step_seconds,
        losses,
        malloc_mmap_threshold: std::env::var(super::MMAP_THRESHOLD_ENV)
            .ok()
            .and_then(|v| v.parse().ok()),
    })
}

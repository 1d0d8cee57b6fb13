//! `bench memory`: the memory of training steps under each optimizer — AdamW, 8-bit AdamW,
//! GaLore, 8-bit GaLore, 8-bit GaLore with per-layer updates and Q-GaLore — for planform's
//! models and the decoder-only LLaMA shapes of the GaLore paper.
//!
//! Per (model, optimizer) configuration it reports the optimizer-state bytes (exact: the
//! rules' own accounting, checked against [`planform_optim::accounting`]'s formula) and the
//! measured peak resident memory (`VmHWM` of `/proc/self/status`) of real training steps
//! ([`planform_train::train_step`] on synthetic sequences), each configuration in a fresh
//! child process (`planform bench memory --child …`) so that peaks do not mix. Before starting
//! a child the parent predicts its requirement ([`estimate`]): weights, gradients (all at once,
//! or one matrix at a time with per-layer updates), optimizer state and master weights
//! exactly, activations roughly; a configuration whose prediction exceeds the memory available
//! (`MemAvailable` less a margin) is not run and is reported with its requirement — which is
//! how AdamW's requirement for a LLaMA-7B step appears. A watchdog kills a child whose resident
//! memory passes the limit anyway.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use planform_model::{DecoderPreset, DecoderSpec, ModelConfig};
use planform_optim::{AdamW8bitConfig, Algorithm, GaloreConfig, QGaloreConfig};
use serde::{Deserialize, Serialize};

use crate::error::{BenchError, Result};
use crate::machine::Machine;
use crate::shape::BenchModel;

mod child;
pub mod estimate;
mod report;

pub use child::{run_memory_child, CaseMeasurement, RESULT_PREFIX};
pub use estimate::Estimate;
pub use report::{CaseOutcome, CaseReport, MemoryReport};

/// The optimizers measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemoryOptimizer {
    /// torch AdamW, every parameter.
    Adamw,
    /// bitsandbytes-style 8-bit AdamW, every parameter.
    Adamw8bit,
    /// GaLore (moments in the weights' dtype) + AdamW on the rest.
    Galore,
    /// GaLore with 8-bit moments + 8-bit AdamW on the rest.
    Galore8bit,
    /// 8-bit GaLore with per-layer updates inside the backward pass.
    Galore8bitPerLayer,
    /// Q-GaLore: int8 weights, int4 projectors, lazy updates, 8-bit moments, per-layer.
    QGalore,
}

impl MemoryOptimizer {
    /// All, in report order.
    pub const ALL: [MemoryOptimizer; 6] = [
        MemoryOptimizer::Adamw,
        MemoryOptimizer::Adamw8bit,
        MemoryOptimizer::Galore,
        MemoryOptimizer::Galore8bit,
        MemoryOptimizer::Galore8bitPerLayer,
        MemoryOptimizer::QGalore,
    ];

    /// The report label.
    pub fn label(self) -> &'static str {
        match self {
            MemoryOptimizer::Adamw => "AdamW",
            MemoryOptimizer::Adamw8bit => "8-bit AdamW",
            MemoryOptimizer::Galore => "GaLore",
            MemoryOptimizer::Galore8bit => "8-bit GaLore",
            MemoryOptimizer::Galore8bitPerLayer => "8-bit GaLore, per-layer",
            MemoryOptimizer::QGalore => "Q-GaLore (per-layer)",
        }
    }

    /// Parses a flag value (`adamw`, `adamw8bit`, `galore`, `galore8bit`,
    /// `galore8bit-per-layer`, `q-galore`).
    pub fn parse(s: &str) -> Result<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
            BenchError::Config(format!(
                "unknown optimizer {s:?}: expected adamw, adamw8bit, galore, galore8bit, \
                 galore8bit-per-layer or q-galore"
            ))
        })
    }

    /// The algorithm at rank `rank` with the paper's defaults (T 200, α 0.25) and
    /// bitsandbytes' 8-bit layout.
    pub fn algorithm(self, rank: usize) -> Algorithm {
        let galore = GaloreConfig::paper(rank);
        match self {
            MemoryOptimizer::Adamw => Algorithm::AdamW,
            MemoryOptimizer::Adamw8bit => Algorithm::AdamW8bit(AdamW8bitConfig::default()),
            MemoryOptimizer::Galore => Algorithm::Galore(galore),
            MemoryOptimizer::Galore8bit => Algorithm::Galore(GaloreConfig {
                eight_bit: true,
                ..galore
            }),
            MemoryOptimizer::Galore8bitPerLayer => Algorithm::Galore(GaloreConfig {
                eight_bit: true,
                per_layer: true,
                ..galore
            }),
            MemoryOptimizer::QGalore => Algorithm::QGalore(QGaloreConfig {
                rank,
                per_layer: true,
                ..QGaloreConfig::default()
            }),
        }
    }
}

/// The dtype of the weights (and gradients, and the moments of the 32-bit rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightDtype {
    /// float32 (planform's training default).
    Fp32,
    /// bfloat16 weights, pure bf16 compute (the paper's memory setting).
    Bf16,
}

/// The GaLore paper's LLaMA shapes (`configs/llama_*.json`: vocabulary 32,000, SwiGLU,
/// untied) plus LLaMA-7B (planform's `llama-7b` preset).
pub const LLAMA_SHAPES: [(&str, usize, usize, usize, usize); 4] = [
    // (name, dim, layers, heads, ffn)
    ("llama-60m", 512, 8, 8, 1376),
    ("llama-130m", 768, 12, 12, 2048),
    ("llama-350m", 1024, 24, 16, 2736),
    ("llama-1b", 2048, 24, 32, 5461),
];

/// Vocabulary of planform's models in this benchmark (the maze token set's size).
pub const PLANFORM_VOCAB: usize = 118;

/// The model configuration named `name`: `llama-60m`, `llama-130m`, `llama-350m`,
/// `llama-1b`, `llama-7b` (vocabulary 32,000), `llama-7b:<layers>` (LLaMA-7B's width with
/// fewer blocks), or `decoder:<preset|DxLxH>` /
/// `encoder-decoder:<size|DxLxH>` (planform's models, vocabulary [`PLANFORM_VOCAB`]).
pub fn model_config(name: &str) -> Result<ModelConfig> {
    if name == "llama-7b" {
        return Ok(ModelConfig::DecoderOnly(
            DecoderSpec::preset(DecoderPreset::Llama7B).resolve(32_000)?,
        ));
    }
    if let Some(layers) = name.strip_prefix("llama-7b:") {
        let layers: usize = layers.parse().map_err(|_| {
            BenchError::Config(format!("{name:?}: llama-7b:<layers> with a layer count"))
        })?;
        let spec = DecoderSpec {
            layers: Some(layers),
            ..DecoderSpec::preset(DecoderPreset::Llama7B)
        };
        return Ok(ModelConfig::DecoderOnly(spec.resolve(32_000)?));
    }
    if let Some(&(_, dim, layers, heads, ffn)) = LLAMA_SHAPES.iter().find(|s| s.0 == name) {
        let spec = DecoderSpec {
            dim: Some(dim),
            layers: Some(layers),
            heads: Some(heads),
            ffn_hidden: Some(ffn),
            tied_embeddings: Some(false),
            ..DecoderSpec::preset(DecoderPreset::Tiny)
        };
        return Ok(ModelConfig::DecoderOnly(spec.resolve(32_000)?));
    }
    let (family, shape) = name.split_once(':').ok_or_else(|| {
        BenchError::Config(format!(
            "unknown model {name:?}: expected llama-60m, llama-130m, llama-350m, llama-1b, \
             llama-7b, decoder:<preset|DxLxH> or encoder-decoder:<size|DxLxH>"
        ))
    })?;
    let family = match family {
        "decoder" => planform_model::Family::DecoderOnly,
        "encoder-decoder" => planform_model::Family::EncoderDecoder,
        other => {
            return Err(BenchError::Config(format!(
                "model family {other:?} in {name:?}: decoder or encoder-decoder"
            )))
        }
    };
    BenchModel::parse(family, shape)?.config(PLANFORM_VOCAB)
}

/// The model width (GaLore's rank default is a quarter of it).
pub fn model_dim(cfg: &ModelConfig) -> usize {
    match cfg {
        ModelConfig::DecoderOnly(c) => c.dim,
        ModelConfig::EncoderDecoder(c) => c.decoder.dim,
    }
}

/// One configuration, as the parent passes it to a child (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryCase {
    /// Model name ([`model_config`]).
    pub model: String,
    /// Optimizer.
    pub optimizer: MemoryOptimizer,
    /// Weight dtype.
    pub dtype: WeightDtype,
    /// Sequences per step.
    pub batch: usize,
    /// Tokens per sequence (decoder-only input length; both sequences of the
    /// encoder–decoder).
    pub tokens: usize,
    /// Training steps.
    pub steps: usize,
    /// GaLore rank.
    pub rank: usize,
    /// Real SVDs allowed (then stand-in projectors of the same size); `None`: all real.
    pub svd_budget: Option<u64>,
    /// libtorch threads.
    pub threads: usize,
    /// Seed of the weights and data.
    pub seed: u64,
}

/// Environment variable of glibc's mmap threshold, set for the children by
/// [`MemoryBenchConfig::malloc_mmap_threshold`] (read by glibc at process start).
pub const MMAP_THRESHOLD_ENV: &str = "MALLOC_MMAP_THRESHOLD_";
/// Environment variable of glibc's trim threshold (0 with a fixed mmap threshold).
pub const TRIM_THRESHOLD_ENV: &str = "MALLOC_TRIM_THRESHOLD_";

/// What `bench memory` measures.
#[derive(Debug, Clone)]
pub struct MemoryBenchConfig {
    /// Model names ([`model_config`]).
    pub models: Vec<String>,
    /// Optimizers.
    pub optimizers: Vec<MemoryOptimizer>,
    /// Weight dtype.
    pub dtype: WeightDtype,
    /// Sequences per step.
    pub batch: usize,
    /// Tokens per sequence.
    pub tokens: usize,
    /// Steps per configuration (the first computes the projectors).
    pub steps: usize,
    /// GaLore rank; `None`: a quarter of the model width (the paper's ratio).
    pub rank: Option<usize>,
    /// Real SVDs per configuration; `None`: all.
    pub svd_budget: Option<u64>,
    /// libtorch threads per child.
    pub threads: usize,
    /// Memory kept free: a configuration runs only if its prediction fits in
    /// `MemAvailable − margin`, and is killed above that.
    pub margin_gb: f64,
    /// Seed.
    pub seed: u64,
    /// glibc's mmap threshold for the children, bytes (`None`: glibc's own, which grows up to
    /// 32 MiB as large blocks are freed, so that later large blocks come from the heap and
    /// fragment it). With a fixed threshold every block of at least this size is mapped and
    /// returned to the system when freed; the trim threshold is then set to 0.
    pub malloc_mmap_threshold: Option<u64>,
    /// The command line, for the report.
    pub command: String,
}

impl Default for MemoryBenchConfig {
    fn default() -> Self {
        MemoryBenchConfig {
            models: vec![
                "encoder-decoder:tiny".into(),
                "decoder:tiny".into(),
                "llama-60m".into(),
            ],
            optimizers: MemoryOptimizer::ALL.to_vec(),
            dtype: WeightDtype::Fp32,
            batch: 1,
            tokens: 256,
            steps: 2,
            rank: None,
            svd_budget: None,
            threads: 1,
            margin_gb: 1.5,
            seed: 1,
            malloc_mmap_threshold: None,
            command: String::new(),
        }
    }
}

/// A field of `/proc/<pid>/status` in bytes (`VmRSS`, `VmHWM`; kB in the file).
pub fn proc_status_bytes(pid: &str, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?
        .split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kb| kb * 1024)
}

/// `MemAvailable` of `/proc/meminfo`, bytes.
pub fn mem_available() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    s.lines()
        .find(|l| l.starts_with("MemAvailable:"))?
        .split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kb| kb * 1024)
}

const GB: f64 = 1e9;

/// Runs every configuration of `cfg`, each in a child process of `exe` (the `planform`
/// binary: `exe bench memory --child <json>`), and reports them.
pub fn run_memory(
    cfg: &MemoryBenchConfig,
    exe: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<MemoryReport> {
    if cfg.steps == 0 || cfg.batch == 0 || cfg.tokens < 4 {
        return Err(BenchError::Config(
            "--steps and --batch must be > 0 and --tokens >= 4".into(),
        ));
    }
    let mut machine = Machine::now();
    let mut rows = Vec::new();
    for name in &cfg.models {
        let model_cfg = model_config(name)?;
        let rank = cfg.rank.unwrap_or(model_dim(&model_cfg) / 4).max(1);
        for &optimizer in &cfg.optimizers {
            let case = MemoryCase {
                model: name.clone(),
                optimizer,
                dtype: cfg.dtype,
                batch: cfg.batch,
                tokens: cfg.tokens,
                steps: cfg.steps,
                rank,
                svd_budget: cfg.svd_budget,
                threads: cfg.threads,
                seed: cfg.seed,
            };
            let est = estimate::estimate(&model_cfg, &case)?;
            let available = mem_available().unwrap_or(0);
            let limit = (available as f64 - cfg.margin_gb * GB).max(0.0) as u64;
            progress(&format!(
                "{name} / {}: predicted {:.2} GB, {:.2} GB available",
                optimizer.label(),
                est.total() as f64 / GB,
                available as f64 / GB
            ));
            let outcome = if est.total() > limit {
                CaseOutcome::Skipped {
                    reason: format!(
                        "needs ≈ {:.1} GB, {:.1} GB available (less a {:.1} GB margin)",
                        est.total() as f64 / GB,
                        available as f64 / GB,
                        cfg.margin_gb
                    ),
                }
            } else {
                run_child(exe, &case, limit, cfg.malloc_mmap_threshold, progress)?
            };
            if let CaseOutcome::Measured(m) = &outcome {
                progress(&format!(
                    "  peak RSS {:.3} GB, optimizer state {} bytes",
                    m.vm_hwm as f64 / GB,
                    m.state_bytes
                ));
            }
            rows.push(CaseReport {
                case,
                params: est.params,
                estimate: est,
                outcome,
            });
        }
    }
    machine.finish();
    Ok(MemoryReport {
        machine,
        command: cfg.command.clone(),
        rows,
    })
}

/// Runs one child, killing it above `limit` bytes of resident memory.
fn run_child(
    exe: &Path,
    case: &MemoryCase,
    limit: u64,
    mmap_threshold: Option<u64>,
    progress: &mut dyn FnMut(&str),
) -> Result<CaseOutcome> {
    let json = serde_json::to_string(case)?;
    let mut cmd = Command::new(exe);
    cmd.args(["bench", "memory", "--child", &json])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(bytes) = mmap_threshold {
        cmd.env(MMAP_THRESHOLD_ENV, bytes.to_string())
            .env(TRIM_THRESHOLD_ENV, "0");
    }
    let mut child = cmd.spawn().map_err(|e| BenchError::io(exe, e))?;
    let pid = child.id().to_string();
    let start = Instant::now();
    let mut max_rss = 0u64;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| BenchError::io(exe, e))? {
            break status;
        }
        let rss = proc_status_bytes(&pid, "VmRSS").unwrap_or(0);
        max_rss = max_rss.max(rss);
        if rss > limit {
            let _ = child.kill();
            let _ = child.wait();
            progress(&format!("  killed at {:.2} GB resident", rss as f64 / GB));
            return Ok(CaseOutcome::Killed {
                rss: rss.max(max_rss),
                limit,
                seconds: start.elapsed().as_secs_f64(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        s.read_to_string(&mut out)
            .map_err(|e| BenchError::io(exe, e))?;
    }
    let line = out.lines().find_map(|l| l.strip_prefix(RESULT_PREFIX));
    match (status.success(), line) {
        (true, Some(line)) => Ok(CaseOutcome::Measured(serde_json::from_str(line)?)),
        _ => Ok(CaseOutcome::Failed {
            status: status.to_string(),
        }),
    }
}

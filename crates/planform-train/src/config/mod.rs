//! [`TrainConfig`]: everything a training run needs, as TOML with typed, documented fields.
//!
//! ```toml
//! data_dir = "data/maze-10x10"     # planform-data dataset directory (required)
//! out_dir = "runs/maze-10x10-s"    # run directory (required)
//! seed = 0
//! device = "auto"                  # "auto" | "cpu" | "cuda" | "cuda:1"
//! precision = "fp32"               # "fp32" | "bf16-autocast" (CUDA or CPU)
//!
//! [model]
//! size = "s"                       # encoder–decoder by name; or a full [model.custom] table;
//!                                  # or [model.decoder-only] with a preset and overrides
//!
//! [trace]
//! kind = "search-augmented"        # "solution-only" | "search-augmented" | "dualformer"
//!
//! [data]
//! train_examples = 100000          # first N training examples (omit: all)
//! max_reasoning_len = 10000        # keep reasoning_length < this (reference Sokoban)
//!
//! [batch]
//! sequences = 16
//! accumulation = 1
//!
//! [optim]
//! lr = 7.5e-5
//! total_steps = 80000
//! # warmup_steps: omitted = min(2000, total_steps / 10)
//!
//! [log]
//! log_every = 100
//! eval_every = 1000
//! checkpoint_every = 1000
//! ```
//!
//! Every field other than `data_dir`, `out_dir` and `model` has a default (documented on the
//! field). Unknown keys are rejected. [`TrainConfig::with_overrides`] applies `--set`
//! overrides (planform-core's one override path) and validates once.

use std::path::{Path, PathBuf};

use planform_core::overrides::{self, Exclusive, Override};
pub use planform_model::{DeviceChoice, Precision};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

mod sections;

pub use sections::{
    BatchConfig, BatchOrder, DataConfig, InitFrom, Level3Choice, LogConfig, ModelSpec, OptimConfig,
    Plateau, ResampleChoice, ScheduleKind, StopConfig, SubsetOrder, TraceConfig, MAX_ACCUMULATION,
    MAX_BATCH_SEQUENCES, REFERENCE_WARMUP_STEPS, WARMUP_AUTO,
};

/// The largest seed a config accepts: TOML integers are signed 64-bit, and a seed must
/// round-trip through every config file.
pub const MAX_SEED: u64 = i64::MAX as u64;

/// A complete training-run configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// planform-data dataset directory (holds `manifest.json`). Required.
    pub data_dir: PathBuf,
    /// Run directory: `config.toml`, `metrics.jsonl`, `checkpoints/`. Required.
    pub out_dir: PathBuf,
    /// Seed of model initialisation (`tch::manual_seed`) and of the data order and
    /// trace dropping. Default 0.
    #[serde(default)]
    pub seed: u64,
    /// Device. Default `auto`.
    #[serde(default)]
    pub device: DeviceChoice,
    /// Precision. Default `fp32`.
    #[serde(default)]
    pub precision: Precision,
    /// libtorch intra-op CPU threads (omit: libtorch's default), at most 4 × the cores
    /// available (checked when the run starts). Default: none.
    #[serde(default)]
    pub threads: Option<usize>,
    /// The model. Required.
    pub model: ModelSpec,
    /// Start from another run's checkpoint instead of a random initialisation. Default:
    /// none.
    #[serde(default)]
    pub init_from: Option<InitFrom>,
    /// Decoder sequence variant. Default `search-augmented`.
    #[serde(default)]
    pub trace: TraceConfig,
    /// Dataset selection.
    #[serde(default)]
    pub data: DataConfig,
    /// Batching.
    #[serde(default)]
    pub batch: BatchConfig,
    /// Optimizer and schedule.
    #[serde(default)]
    pub optim: OptimConfig,
    /// Cadence of logs, evaluations and checkpoints.
    #[serde(default)]
    pub log: LogConfig,
    /// Early stopping. Default: none.
    #[serde(default, skip_serializing_if = "is_default")]
    pub stop: StopConfig,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

impl TrainConfig {
    /// A config with every default, for the given dataset, run directory and model.
    pub fn new(
        data_dir: impl Into<PathBuf>,
        out_dir: impl Into<PathBuf>,
        model: ModelSpec,
    ) -> Self {
        TrainConfig {
            data_dir: data_dir.into(),
            out_dir: out_dir.into(),
            seed: 0,
            device: DeviceChoice::Auto,
            precision: Precision::Fp32,
            threads: None,
            model,
            init_from: None,
            trace: TraceConfig::default(),
            data: DataConfig::default(),
            batch: BatchConfig::default(),
            optim: OptimConfig::default(),
            log: LogConfig::default(),
            stop: StopConfig::default(),
        }
    }

    /// Parses and validates TOML text; `origin` names the source in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self> {
        let cfg: TrainConfig = toml::from_str(text).map_err(|e| TrainError::ConfigParse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads, parses and validates a TOML file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// Whether the TOML file at `path` sets the field at `key` (e.g. `["optim",
    /// "total_steps"]`) itself rather than leaving it to its default.
    pub fn file_sets(path: &Path, key: &[&str]) -> Result<bool> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| TrainError::ConfigParse {
            origin: path.display().to_string(),
            message: e.to_string(),
        })?;
        let mut v: Option<&toml::Value> = None;
        for (i, k) in key.iter().enumerate() {
            v = if i == 0 {
                table.get(*k)
            } else {
                v.and_then(|t| t.get(*k))
            };
        }
        Ok(v.is_some())
    }

    /// Serialises to TOML (round-trips through [`TrainConfig::from_toml_str`]).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| TrainError::ConfigParse {
            origin: "serialisation".into(),
            message: e.to_string(),
        })
    }

    /// The members of the externally tagged `model` enum (setting one removes the others).
    pub const EXCLUSIVE: &'static [Exclusive<'static>] =
        &[&["model.size", "model.custom", "model.decoder-only"]];

    /// This config with `overrides` applied (planform-core's rules: dotted fields, TOML
    /// values, `none` removes, `kind` switches an enum variant, conflicts are errors), then
    /// parsed and validated once.
    pub fn with_overrides(&self, overrides: &[Override]) -> Result<Self> {
        if overrides.is_empty() {
            return Ok(self.clone());
        }
        let origin = overrides::describe(overrides);
        let parse_err = |message: String| TrainError::ConfigParse {
            origin: origin.clone(),
            message,
        };
        let mut root = toml::Table::try_from(self).map_err(|e| parse_err(e.to_string()))?;
        overrides::apply(&mut root, overrides, Self::EXCLUSIVE)
            .map_err(|e| parse_err(e.to_string()))?;
        let text = toml::to_string(&root).map_err(|e| parse_err(e.to_string()))?;
        TrainConfig::from_toml_str(&text, &origin)
    }

    /// Checks every field; the error names the offending field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, reason: String| Err(TrainError::invalid(field, reason));
        let o = &self.optim;
        if !(o.lr.is_finite() && o.lr > 0.0) {
            return bad("optim.lr", format!("must be finite and > 0, got {}", o.lr));
        }
        if o.total_steps == 0 {
            return bad("optim.total_steps", "must be > 0".into());
        }
        if let Err(reason) = o.algorithm.validate() {
            return bad("optim.algorithm", reason);
        }
        if o.algorithm.per_layer() && self.batch.accumulation > 1 {
            return bad(
                "batch.accumulation",
                format!(
                    "per-layer optimizer updates need one micro-batch per step, not {}",
                    self.batch.accumulation
                ),
            );
        }
        if o.schedule == ScheduleKind::Cosine && o.warmup() >= o.total_steps {
            return bad(
                "optim.warmup_steps",
                format!(
                    "{} must be < optim.total_steps ({}) for the cosine schedule \
                     (omit it for min(2000, total_steps / 10))",
                    o.warmup_steps, o.total_steps
                ),
            );
        }
        if !(0.0..=1.0).contains(&o.min_lr_ratio) {
            return bad(
                "optim.min_lr_ratio",
                format!("must lie in [0, 1], got {}", o.min_lr_ratio),
            );
        }
        if !(o.cycle_length.is_finite() && o.cycle_length > 0.0) {
            return bad(
                "optim.cycle_length",
                format!("must be > 0, got {}", o.cycle_length),
            );
        }
        if !(o.cosine_theta.is_finite() && o.cosine_theta > 0.0) {
            return bad(
                "optim.cosine_theta",
                format!("must be > 0, got {}", o.cosine_theta),
            );
        }
        if !(o.weight_decay.is_finite() && o.weight_decay >= 0.0) {
            return bad(
                "optim.weight_decay",
                format!("must be finite and >= 0, got {}", o.weight_decay),
            );
        }
        for (i, b) in [o.betas.0, o.betas.1].into_iter().enumerate() {
            if !(0.0..1.0).contains(&b) {
                return bad(
                    "optim.betas",
                    format!("beta{} must lie in [0, 1), got {b}", i + 1),
                );
            }
        }
        if !(o.eps.is_finite() && o.eps > 0.0) {
            return bad(
                "optim.eps",
                format!("must be finite and > 0, got {}", o.eps),
            );
        }
        let b = &self.batch;
        if !(1..=MAX_BATCH_SEQUENCES).contains(&b.sequences) {
            return bad(
                "batch.sequences",
                format!(
                    "must lie in [1, {MAX_BATCH_SEQUENCES}], got {}",
                    b.sequences
                ),
            );
        }
        if !(1..=MAX_ACCUMULATION).contains(&b.accumulation) {
            return bad(
                "batch.accumulation",
                format!(
                    "must lie in [1, {MAX_ACCUMULATION}], got {}",
                    b.accumulation
                ),
            );
        }
        if b.max_tokens == Some(0) {
            return bad(
                "batch.max_tokens",
                "must be > 0 (omit it for no cap)".into(),
            );
        }
        if let BatchOrder::Bucketed { pool_batches: 0 } = b.order {
            return bad("batch.order.pool_batches", "must be > 0".into());
        }
        let l = &self.log;
        for (field, v) in [
            ("log.log_every", l.log_every),
            ("log.eval_every", l.eval_every),
            ("log.checkpoint_every", l.checkpoint_every),
        ] {
            if v == 0 {
                return bad(field, "must be > 0".into());
            }
        }
        if let Some(p) = &self.stop.plateau {
            if p.patience == 0 {
                return bad("stop.plateau.patience", "must be > 0".into());
            }
            if !(0.0..1.0).contains(&p.min_delta) {
                return bad(
                    "stop.plateau.min_delta",
                    format!("must lie in [0, 1), got {}", p.min_delta),
                );
            }
        }
        if l.keep_checkpoints == Some(0) {
            return bad(
                "log.keep_checkpoints",
                "must be > 0 (omit it to keep all)".into(),
            );
        }
        let d = &self.data;
        if d.train_examples == Some(0) {
            return bad(
                "data.train_examples",
                "must be > 0 (omit it to use all)".into(),
            );
        }
        if let (Some(lo), Some(hi)) = (d.min_reasoning_len, d.max_reasoning_len) {
            if lo >= hi {
                return bad(
                    "data.min_reasoning_len",
                    format!("{lo} must be < data.max_reasoning_len ({hi})"),
                );
            }
        }
        if let TraceConfig::Dualformer {
            probabilities,
            level3_drop_probability,
            ..
        } = &self.trace
        {
            if probabilities.iter().any(|p| !p.is_finite() || *p < 0.0) {
                return bad(
                    "trace.probabilities",
                    format!("must be finite and >= 0, got {probabilities:?}"),
                );
            }
            let sum: f64 = probabilities.iter().sum();
            if (sum - 1.0).abs() > 1e-6 {
                return bad("trace.probabilities", format!("must sum to 1, got {sum}"));
            }
            if !(0.0..=1.0).contains(level3_drop_probability) {
                return bad(
                    "trace.level3_drop_probability",
                    format!("must lie in [0, 1], got {level3_drop_probability}"),
                );
            }
        }
        if self.threads == Some(0) {
            return bad(
                "threads",
                "must be > 0 (omit it for libtorch's default)".into(),
            );
        }
        match &self.model {
            ModelSpec::Custom(c) => {
                let mut c = c.clone();
                c.vocab_size = c.vocab_size.max(1); // 0: the dataset's
                c.validate()
                    .map_err(|e| TrainError::invalid("model.custom", e.to_string()))?
            }
            // Any vocabulary size: the dataset's replaces it.
            ModelSpec::DecoderOnly(d) => {
                d.resolve(2)
                    .map_err(|e| TrainError::invalid("model.decoder-only", e.to_string()))?;
            }
            ModelSpec::Size(_) => {}
        }
        if self.seed > MAX_SEED {
            return bad(
                "seed",
                format!(
                    "{} is above {MAX_SEED}: seeds must fit a signed 64-bit TOML integer",
                    self.seed
                ),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

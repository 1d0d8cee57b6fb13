//! [`TrainConfig`]: everything a training run needs, as TOML with typed, documented fields.
//!
//! ```toml
//! data_dir = "data/maze-10x10"     # planform-data dataset directory (required)
//! out_dir = "runs/maze-10x10-s"    # run directory (required)
//! seed = 0
//! device = "auto"                  # "auto" | "cpu" | "cuda" | "cuda:1"
//! precision = "fp32"               # "fp32" | "bf16-autocast" (CUDA only)
//!
//! [model]
//! size = "s"                       # or a full [model.custom] table (planform-model ModelConfig)
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
//!
//! [log]
//! log_every = 100
//! eval_every = 1000
//! checkpoint_every = 1000
//! ```
//!
//! Every field other than `data_dir`, `out_dir` and `model` has a default (documented on the
//! field). Unknown keys are rejected. [`TrainConfig::set`] overrides one field from the
//! command line with the same typing rules.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use planform_model::{ModelConfig, ModelSize};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::optim::{AdamWConfig, Algorithm};
use crate::schedule::LrSchedule;

/// Where to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceChoice {
    /// CUDA device 0 if available, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// The CUDA device with this index.
    Cuda(usize),
}

impl DeviceChoice {
    /// The tch device this choice resolves to now.
    pub fn resolve(self) -> Result<tch::Device> {
        match self {
            DeviceChoice::Cpu => Ok(tch::Device::Cpu),
            DeviceChoice::Auto => Ok(if tch::Cuda::is_available() {
                tch::Device::Cuda(0)
            } else {
                tch::Device::Cpu
            }),
            DeviceChoice::Cuda(i) => {
                let n = tch::Cuda::device_count() as usize;
                if i < n {
                    Ok(tch::Device::Cuda(i))
                } else {
                    Err(TrainError::Device(format!(
                        "cuda:{i} requested but {n} CUDA device(s) are visible"
                    )))
                }
            }
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Auto => f.write_str("auto"),
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|i| i.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| {
                    format!("unknown device {s:?} (expected auto, cpu, cuda or cuda:N)")
                }),
        }
    }
}

impl TryFrom<String> for DeviceChoice {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        s.parse()
    }
}

impl From<DeviceChoice> for String {
    fn from(d: DeviceChoice) -> String {
        d.to_string()
    }
}

/// Numeric precision of the forward/backward pass. Weights and optimizer state stay fp32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    /// Everything in fp32 (reference).
    #[default]
    Fp32,
    /// CUDA autocast to bfloat16 (matmuls and attention in bf16, loss in fp32). CUDA only;
    /// a CPU run with this setting is an error.
    Bf16Autocast,
}

/// The model to train: a named size (vocabulary size from the dataset) or a full config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum ModelSpec {
    /// A named size of planform-model (`tiny`, `mini`, `s`, `m-s`, `l`, `xl-2`).
    Size(ModelSize),
    /// A full planform-model config; its `vocab_size` must equal the dataset's.
    Custom(ModelConfig),
}

impl ModelSpec {
    /// The concrete model config for a vocabulary of `vocab_size` tokens.
    pub fn resolve(&self, vocab_size: usize) -> Result<ModelConfig> {
        let cfg = match self {
            ModelSpec::Size(size) => ModelConfig::from_size(*size, vocab_size),
            ModelSpec::Custom(cfg) => {
                if cfg.vocab_size != vocab_size {
                    return Err(TrainError::invalid(
                        "model.custom.vocab_size",
                        format!(
                            "{} but the dataset vocabulary has {vocab_size} tokens",
                            cfg.vocab_size
                        ),
                    ));
                }
                cfg.clone()
            }
        };
        cfg.validate()
            .map_err(|e| TrainError::invalid("model", e.to_string()))?;
        Ok(cfg)
    }
}

/// Level-3 semantics of Dualformer dropping (see planform-trace `Level3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level3Choice {
    /// What the released code does (maze: costs kept, 10–40% of clauses dropped; Sokoban:
    /// each `create` clause dropped with probability 0.3).
    #[default]
    ReferenceCode,
    /// The paper: level-2 list with each `create` clause dropped with `level3_drop_probability`.
    Paper,
}

/// When a Dualformer example's dropped form is re-drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResampleChoice {
    /// A fresh draw every epoch (reference for mazes).
    EveryEpoch,
    /// One draw per example for the whole run (reference for Sokoban).
    FixedPerExample,
}

/// Which decoder sequence the model learns.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum TraceConfig {
    /// `bos plan eos` (reference `--plan-only`).
    SolutionOnly,
    /// `bos reasoning plan eos` (reference default).
    #[default]
    SearchAugmented,
    /// Dualformer: per example, a dropping level drawn from `probabilities`.
    Dualformer {
        /// `[p0, p1, p2, p3, p4]`, non-negative and summing to 1 (p0 = full trace,
        /// p4 = no trace). The released code has no values; choose them per experiment.
        probabilities: [f64; 5],
        /// Level-3 semantics. Default `reference-code`.
        #[serde(default)]
        level3: Level3Choice,
        /// Drop probability of `level3 = "paper"`. Default 0.3 (paper).
        #[serde(default = "default_level3_p")]
        level3_drop_probability: f64,
        /// Re-draw policy. Default: the reference's per domain (maze `every-epoch`,
        /// Sokoban `fixed-per-example`).
        #[serde(default)]
        resample: Option<ResampleChoice>,
    },
}

fn default_level3_p() -> f64 {
    0.3
}

/// Which training examples are used when only the first `train_examples` are wanted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubsetOrder {
    /// Examples ordered by a fixed 64-bit hash of their id (independent of the run seed),
    /// then the first N. Like the reference, whose ids are Python hashes sorted before
    /// `ids[:N]`: subsets are spread over all wall layouts and nested (50k ⊂ 100k).
    #[default]
    Hashed,
    /// The first N rows in file order (whole layouts, fewer distinct layouts).
    FileOrder,
}

/// Dataset selection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// Use only this many training examples (reference 50k/100k/500k/1M). Default: all.
    pub train_examples: Option<usize>,
    /// How the `train_examples` (and `eval_examples`) subsets are chosen. Default `hashed`.
    pub subset: SubsetOrder,
    /// Keep only examples with `reasoning_length >= min_reasoning_len`. Default: none.
    pub min_reasoning_len: Option<u32>,
    /// Keep only examples with `reasoning_length < max_reasoning_len` (reference Sokoban
    /// 10,000). Applied before `train_examples`, as the reference. Default: none.
    pub max_reasoning_len: Option<u32>,
    /// Test examples used for the periodic test loss (reference 100,000). Default 1,000.
    pub eval_examples: usize,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            train_examples: None,
            subset: SubsetOrder::Hashed,
            min_reasoning_len: None,
            max_reasoning_len: None,
            eval_examples: 1000,
        }
    }
}

/// How examples are grouped into micro-batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum BatchOrder {
    /// Shuffled examples cut into consecutive batches (like the reference; padding to the
    /// longest sequence of the batch is then 30–40%).
    Random,
    /// Length bucketing: the shuffled epoch is cut into pools of `pool_batches` batches;
    /// each pool is sorted by length and cut into batches; all batches of the epoch are
    /// then shuffled.
    Bucketed {
        /// Batches per sorting pool (larger: less padding, less randomness).
        pool_batches: usize,
    },
}

impl Default for BatchOrder {
    fn default() -> Self {
        BatchOrder::Bucketed { pool_batches: 50 }
    }
}

/// Micro-batch shape and gradient accumulation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchConfig {
    /// Sequences per micro-batch (reference `batch_size` per GPU). Default 16.
    pub sequences: usize,
    /// Optional cap on padded tokens per micro-batch, counted as rows × (longest encoder
    /// input + longest decoder sequence); a batch closes early when the next sequence would
    /// exceed it. Default: none.
    pub max_tokens: Option<usize>,
    /// Micro-batches per optimizer step. The step's loss is the mean over all its
    /// sequences, as one large batch. Default 1.
    pub accumulation: usize,
    /// Grouping strategy. Default `bucketed` with 50 batches per pool.
    pub order: BatchOrder,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            sequences: 16,
            max_tokens: None,
            accumulation: 1,
            order: BatchOrder::default(),
        }
    }
}

/// Learning-rate schedule shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleKind {
    /// Warm-up then cosine to `min_lr_ratio · lr` at `total_steps` (reference `cosine`).
    #[default]
    Cosine,
    /// Warm-up then constant (reference `constant`).
    Constant,
}

/// Optimizer and schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimConfig {
    /// Peak learning rate. Default 2.5e-4 (reference maze `s` sweep).
    pub lr: f64,
    /// Total optimizer steps of the run. Default 400,000 (reference maze sweeps).
    pub total_steps: u64,
    /// Schedule shape. Default `cosine`.
    pub schedule: ScheduleKind,
    /// Linear warm-up steps. Default 2,000 (reference).
    pub warmup_steps: u64,
    /// Final learning rate as a fraction of `lr`. Default 0.1 (reference).
    pub min_lr_ratio: f64,
    /// Cosine cycle length (reference `cycle_length`). Default 1.0.
    pub cycle_length: f64,
    /// Exponent on the decay progress (reference `cosine_theta`). Default 1.0.
    pub cosine_theta: f64,
    /// Update rule. Default `adamw`.
    pub algorithm: Algorithm,
    /// Decoupled weight decay on every parameter. Default 0.01 (torch default, reference).
    pub weight_decay: f64,
    /// Adam `(β1, β2)`. Default (0.9, 0.99) (reference).
    pub betas: (f64, f64),
    /// Adam ε. Default 1e-8 (torch default, reference).
    pub eps: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            lr: 2.5e-4,
            total_steps: 400_000,
            schedule: ScheduleKind::Cosine,
            warmup_steps: 2000,
            min_lr_ratio: 0.1,
            cycle_length: 1.0,
            cosine_theta: 1.0,
            algorithm: Algorithm::AdamW,
            weight_decay: 0.01,
            betas: (0.9, 0.99),
            eps: 1e-8,
        }
    }
}

impl OptimConfig {
    /// The learning-rate schedule.
    pub fn schedule(&self) -> LrSchedule {
        match self.schedule {
            ScheduleKind::Cosine => LrSchedule::Cosine {
                warmup: self.warmup_steps,
                total: self.total_steps,
                min_ratio: self.min_lr_ratio,
                cycle_length: self.cycle_length,
                theta: self.cosine_theta,
            },
            ScheduleKind::Constant => LrSchedule::Constant {
                warmup: self.warmup_steps,
            },
        }
    }

    /// AdamW hyper-parameters.
    pub fn adamw(&self) -> AdamWConfig {
        AdamWConfig {
            betas: self.betas,
            eps: self.eps,
            weight_decay: self.weight_decay,
        }
    }
}

/// Logging, evaluation and checkpoint cadence (in optimizer steps).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Write a training record (means over the interval) every this many steps. Default 100.
    pub log_every: u64,
    /// Compute the test loss every this many steps (and at step 0 and the end, as the
    /// reference). Default 1000.
    pub eval_every: u64,
    /// Write a checkpoint every this many steps (and at the end). Default 1000.
    pub checkpoint_every: u64,
    /// Keep only the newest this many checkpoints (omit: keep all). Default 3.
    pub keep_checkpoints: Option<usize>,
    /// Evaluate before the first step (reference does). Default true.
    pub eval_at_start: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            log_every: 100,
            eval_every: 1000,
            checkpoint_every: 1000,
            keep_checkpoints: Some(3),
            eval_at_start: true,
        }
    }
}

/// Initialise a fresh run from another run's checkpoint (reference `start_checkpoint`, used
/// by the Searchformer bootstrapping fine-tunes). The schedule and step count start at 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitFrom {
    /// A run directory (its latest checkpoint), `checkpoints` directory or checkpoint
    /// directory. The model config and vocabulary must match this run's.
    pub checkpoint: PathBuf,
    /// Also load the AdamW moments and per-parameter step counts, as the reference does
    /// (it loads the optimizer `state_dict`). Default true.
    #[serde(default = "default_true")]
    pub optimizer: bool,
}

fn default_true() -> bool {
    true
}

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
    /// libtorch intra-op CPU threads (omit: libtorch's default). Default: none.
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

    /// Serialises to TOML (round-trips through [`TrainConfig::from_toml_str`]).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| TrainError::ConfigParse {
            origin: "serialisation".into(),
            message: e.to_string(),
        })
    }

    /// Overrides one field given by its dotted path (e.g. `optim.lr`, `batch.sequences`,
    /// `model.size`, `trace.kind`, `device`) with `value` written as a TOML value
    /// (`3e-4`, `16`, `true`, `[0.9, 0.99]`, `{ kind = "random" }`); a value that is not
    /// valid TOML is taken as a string (`cuda:1`, `m-s`). `none` removes an optional field.
    /// The result is type-checked and validated like a file.
    pub fn set(&mut self, path: &str, value: &str) -> Result<()> {
        let origin = format!("override {path}={value}");
        let parse_err = |message: String| TrainError::ConfigParse {
            origin: origin.clone(),
            message,
        };
        let mut root = toml::Table::try_from(&*self).map_err(|e| parse_err(e.to_string()))?;
        let parsed: Option<toml::Value> = if value == "none" {
            None
        } else {
            Some(
                toml::from_str::<toml::Table>(&format!("v = {value}"))
                    .ok()
                    .and_then(|mut t| t.remove("v"))
                    .unwrap_or_else(|| toml::Value::String(value.to_string())),
            )
        };
        let keys: Vec<&str> = path.split('.').collect();
        if keys.iter().any(|k| k.is_empty()) {
            return Err(parse_err("empty key in field path".into()));
        }
        // A variant key replaces the whole enum table (e.g. `model.size` over `model.custom`,
        // `trace.kind`, `batch.order.kind`).
        let (parents, last) = keys.split_at(keys.len() - 1);
        let replaces_enum = matches!(path, "model.size" | "model.custom")
            || (last[0] == "kind" && matches!(parents.join(".").as_str(), "trace" | "batch.order"));
        let mut table = &mut root;
        for (i, key) in parents.iter().enumerate() {
            if replaces_enum && i == parents.len() - 1 {
                table.insert((*key).to_string(), toml::Value::Table(toml::Table::new()));
            }
            let entry = table
                .entry((*key).to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            table = entry
                .as_table_mut()
                .ok_or_else(|| parse_err(format!("`{}` is not a table", keys[..=i].join("."))))?;
        }
        match parsed {
            Some(v) => {
                table.insert(last[0].to_string(), v);
            }
            None => {
                table.remove(last[0]);
            }
        }
        let text = toml::to_string(&root).map_err(|e| parse_err(e.to_string()))?;
        let cfg = TrainConfig::from_toml_str(&text, &origin)?;
        *self = cfg;
        Ok(())
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
        if o.schedule == ScheduleKind::Cosine && o.warmup_steps >= o.total_steps {
            return bad(
                "optim.warmup_steps",
                format!(
                    "{} must be < optim.total_steps ({}) for the cosine schedule",
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
        if b.sequences == 0 {
            return bad("batch.sequences", "must be > 0".into());
        }
        if b.accumulation == 0 {
            return bad("batch.accumulation", "must be > 0".into());
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
        if self.precision == Precision::Bf16Autocast && self.device == DeviceChoice::Cpu {
            return bad(
                "precision",
                "bf16-autocast needs a CUDA device; device is cpu".into(),
            );
        }
        if self.threads == Some(0) {
            return bad(
                "threads",
                "must be > 0 (omit it for libtorch's default)".into(),
            );
        }
        if let ModelSpec::Custom(c) = &self.model {
            c.validate()
                .map_err(|e| TrainError::invalid("model.custom", e.to_string()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

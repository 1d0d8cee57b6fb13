//! The sections of a [`super::TrainConfig`].

use std::path::PathBuf;

use planform_model::{DecoderSpec, EncoderDecoderConfig, ModelConfig, ModelSize};
use planform_optim::{AdamWConfig, Algorithm, LrSchedule};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// The model to train. The vocabulary size always comes from the dataset.
///
/// ```toml
/// model = { size = "s" }                                  # encoder–decoder, reference size
/// model = { decoder-only = { preset = "tiny", layers = 8 } } # decoder-only
/// [model.custom]                                          # encoder–decoder, every field
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum ModelSpec {
    /// A named encoder–decoder size of planform-model (`tiny`, `mini`, `s`, `m-s`, `l`,
    /// `xl-2`).
    Size(ModelSize),
    /// A full encoder–decoder config; its `vocab_size` must equal the dataset's, or be 0
    /// (take the dataset's).
    Custom(EncoderDecoderConfig),
    /// A decoder-only model: a preset with any field overridden.
    DecoderOnly(DecoderSpec),
}

impl ModelSpec {
    /// The concrete model config for a vocabulary of `vocab_size` tokens.
    pub fn resolve(&self, vocab_size: usize) -> Result<ModelConfig> {
        let cfg: ModelConfig = match self {
            ModelSpec::Size(size) => EncoderDecoderConfig::from_size(*size, vocab_size).into(),
            ModelSpec::DecoderOnly(spec) => spec
                .resolve(vocab_size)
                .map_err(|e| TrainError::invalid("model.decoder-only", e.to_string()))?
                .into(),
            ModelSpec::Custom(cfg) if cfg.vocab_size == 0 => EncoderDecoderConfig {
                vocab_size,
                ..cfg.clone()
            }
            .into(),
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
                cfg.clone().into()
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

/// The most sequences a micro-batch may hold (`batch.sequences`).
pub const MAX_BATCH_SEQUENCES: usize = 1 << 16;
/// The most micro-batches an optimizer step may accumulate (`batch.accumulation`).
pub const MAX_ACCUMULATION: usize = 1 << 16;

/// Micro-batch shape and gradient accumulation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchConfig {
    /// Sequences per micro-batch (reference `batch_size` per GPU), at most
    /// [`MAX_BATCH_SEQUENCES`]. Default 16.
    pub sequences: usize,
    /// Optional cap on padded tokens per micro-batch, counted as rows × (longest encoder
    /// input + longest decoder sequence); a batch closes early when the next sequence would
    /// exceed it. Default: none.
    pub max_tokens: Option<usize>,
    /// Micro-batches per optimizer step, at most [`MAX_ACCUMULATION`]. The step's loss is
    /// the mean over all its sequences, as one large batch. Default 1.
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
    /// Linear warm-up steps. Default (omitted): min(2,000, `total_steps` / 10) — the
    /// reference's 2,000 for long runs, a tenth of a short one. An explicit value is used
    /// exactly. In Rust, [`WARMUP_AUTO`] stands for "omitted"; read the effective value
    /// with [`OptimConfig::warmup`].
    #[serde(default = "warmup_auto", skip_serializing_if = "is_warmup_auto")]
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
            warmup_steps: WARMUP_AUTO,
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

/// `optim.warmup_steps` when the config omits it: derived from `total_steps` (see
/// [`OptimConfig::warmup`]). Never written to a config file.
pub const WARMUP_AUTO: u64 = u64::MAX;

/// The reference's warm-up, the most the derived default gives.
pub const REFERENCE_WARMUP_STEPS: u64 = 2000;

fn warmup_auto() -> u64 {
    WARMUP_AUTO
}

fn is_warmup_auto(v: &u64) -> bool {
    *v == WARMUP_AUTO
}

impl OptimConfig {
    /// The warm-up steps in effect: `warmup_steps` when set, else
    /// min(2,000, `total_steps` / 10).
    pub fn warmup(&self) -> u64 {
        if self.warmup_steps == WARMUP_AUTO {
            REFERENCE_WARMUP_STEPS.min(self.total_steps / 10)
        } else {
            self.warmup_steps
        }
    }

    /// The learning-rate schedule.
    pub fn schedule(&self) -> LrSchedule {
        match self.schedule {
            ScheduleKind::Cosine => LrSchedule::Cosine {
                warmup: self.warmup(),
                total: self.total_steps,
                min_ratio: self.min_lr_ratio,
                cycle_length: self.cycle_length,
                theta: self.cosine_theta,
            },
            ScheduleKind::Constant => LrSchedule::Constant {
                warmup: self.warmup(),
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

/// When to stop before `optim.total_steps`.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StopConfig {
    /// Stop when the held-out loss has plateaued. Default: never (train to `total_steps`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plateau: Option<Plateau>,
}

/// The held-out loss has plateaued when `patience` evaluations in a row have not improved on
/// the best loss so far by more than the fraction `min_delta` (relative). The run then writes
/// a checkpoint and counts as finished.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plateau {
    /// Evaluations without improvement before stopping.
    pub patience: u32,
    /// Relative improvement that counts (0.01 = the loss must fall by more than 1%).
    pub min_delta: f64,
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

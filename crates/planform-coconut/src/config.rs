//! Typed configuration of one Coconut run (one TOML file = one arm of Table 1).
//!
//! ```toml
//! name = "prosqa-coconut"            # run directory <runs>/<name>/s<seed>
//! description = "Coconut, CPU-scale ProsQA"
//! seed = 0                           # model init and data order (the data has its own seed)
//! threads = 1                        # libtorch intra-op threads
//!
//! [data]                             # generated ProsQA, cached as <runs>/data/<name>-{train,valid,test}.json
//! kind = "prosqa"
//! name = "prosqa-n14"
//! train = 4000
//! valid = 200
//! test = 500
//! generator = { nodes = 14 }        # any ProsqaGenConfig field
//!
//! [model]                            # a DecoderSpec (preset + overrides); vocab from the data
//! preset = "tiny"
//!
//! [curriculum]
//! method = "coconut"                 # cot | no-cot | coconut | no-curriculum | no-thought
//!                                    # | pause-as-thought | pause-token
//! c = 1                              # thoughts per replaced step
//! max_latent_stage = 4
//! epochs_per_stage = 2
//! epochs = 12                        # total; stage = epoch / epochs_per_stage
//! pad_latent_to_max = true
//! uniform_prob = 0.0                 # probability of a random stage per example
//!
//! [optim]
//! lr = 1e-3
//! batch_size = 32
//! reset_optimizer = "stage"          # stage (paper) | epoch (reference code) | never
//!
//! [eval]
//! max_new_tokens = 64
//! ```

use std::path::{Path, PathBuf};

use planform_model::DecoderSpec;
use planform_trace::dropping::{DroppingConfig, Level3, Resample};
use planform_trace::prosqa::ProsqaGenConfig;
use planform_trace::SearchMode;
use serde::{Deserialize, Serialize};

use crate::error::{CoconutError, Result};

/// The arms of the paper's Table 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Question, all steps, answer (stage 0 throughout; no markers).
    Cot,
    /// Question, answer (no markers).
    NoCot,
    /// The curriculum: stage k replaces the first k steps with k·c continuous thoughts.
    Coconut,
    /// Coconut trained on the final stage from the first epoch.
    NoCurriculum,
    /// The curriculum removes steps but inserts no thoughts and no markers.
    NoThought,
    /// The curriculum with `<pause>` tokens in the thought slots (one forward pass).
    PauseAsThought,
    /// `max_latent_stage·c` `<pause>` tokens between question and answer, no curriculum.
    PauseToken,
}

/// What fills the thought slots of a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Continuous thoughts (the previous last hidden state), `n + 1` passes.
    Continuous,
    /// `<pause>` tokens (one pass).
    Pause,
    /// No slots.
    None,
}

impl Method {
    /// Every method, in Table 1 order.
    pub const ALL: [Method; 7] = [
        Method::Cot,
        Method::NoCot,
        Method::PauseToken,
        Method::Coconut,
        Method::NoCurriculum,
        Method::NoThought,
        Method::PauseAsThought,
    ];

    /// The name in files.
    pub fn name(self) -> &'static str {
        match self {
            Method::Cot => "cot",
            Method::NoCot => "no-cot",
            Method::Coconut => "coconut",
            Method::NoCurriculum => "no-curriculum",
            Method::NoThought => "no-thought",
            Method::PauseAsThought => "pause-as-thought",
            Method::PauseToken => "pause-token",
        }
    }

    /// The row label of Table 1.
    pub fn label(self) -> &'static str {
        match self {
            Method::Cot => "CoT",
            Method::NoCot => "No-CoT",
            Method::Coconut => "Coconut",
            Method::NoCurriculum => "- w/o curriculum",
            Method::NoThought => "- w/o thought",
            Method::PauseAsThought => "- pause as thought",
            Method::PauseToken => "Pause Token",
        }
    }

    /// Whether sequences carry `<bot>`/`<eot>`.
    pub fn markers(self) -> bool {
        matches!(
            self,
            Method::Coconut | Method::NoCurriculum | Method::PauseAsThought
        )
    }

    /// What fills the thought slots.
    pub fn slot(self) -> Slot {
        match self {
            Method::Coconut | Method::NoCurriculum => Slot::Continuous,
            Method::PauseAsThought | Method::PauseToken => Slot::Pause,
            Method::Cot | Method::NoCot | Method::NoThought => Slot::None,
        }
    }
}

/// When the optimizer state is thrown away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResetOptimizer {
    /// At the first epoch of every stage (the paper).
    #[default]
    Stage,
    /// At every epoch (what the reference code's `reset_optimizer: True` does).
    Epoch,
    /// Never.
    Never,
}

/// The curriculum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Curriculum {
    /// The arm.
    pub method: Method,
    /// Continuous thoughts per replaced step (paper ProsQA: 1). Default 1.
    #[serde(default = "one")]
    pub c: usize,
    /// Stages that replace steps (paper ProsQA: 6); later stages remove every step and keep
    /// `max_latent_stage·c` thoughts. Default 6.
    #[serde(default = "six")]
    pub max_latent_stage: usize,
    /// Epochs per stage (paper: 5). Default 5.
    #[serde(default = "five")]
    pub epochs_per_stage: usize,
    /// Total epochs (paper: 50).
    pub epochs: usize,
    /// Pad the thoughts of the final stage to `max_latent_stage·c` also for examples with
    /// fewer steps (paper ProsQA: true). Default true.
    #[serde(default = "yes")]
    pub pad_latent_to_max: bool,
    /// Probability that an example is trained at a uniformly drawn stage `0..=steps`
    /// instead of the scheduled one (analysis runs; main runs 0). Default 0.
    #[serde(default)]
    pub uniform_prob: f64,
}

fn one() -> usize {
    1
}
fn five() -> usize {
    5
}
fn six() -> usize {
    6
}
fn yes() -> bool {
    true
}

impl Curriculum {
    /// The stage scheduled for `epoch`.
    pub fn stage(&self, epoch: usize) -> usize {
        match self.method {
            Method::Cot | Method::NoCot | Method::PauseToken => 0,
            Method::NoCurriculum => self.max_latent_stage + 1,
            Method::Coconut | Method::NoThought | Method::PauseAsThought => {
                epoch / self.epochs_per_stage.max(1)
            }
        }
    }

    /// Checks the fields.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(CoconutError::Config(format!("curriculum: {m}")));
        if self.epochs == 0 || self.epochs_per_stage == 0 {
            return bad("epochs and epochs_per_stage must be > 0".into());
        }
        if self.c == 0 || self.c > 16 {
            return bad(format!("c must be in 1..=16, got {}", self.c));
        }
        if self.max_latent_stage > 32 {
            return bad(format!(
                "max_latent_stage must be <= 32, got {}",
                self.max_latent_stage
            ));
        }
        if !(0.0..=1.0).contains(&self.uniform_prob) {
            return bad(format!(
                "uniform_prob must be in [0, 1], got {}",
                self.uniform_prob
            ));
        }
        if self.slot() == Slot::Continuous && self.max_latent_stage == 0 {
            return bad("continuous thoughts need max_latent_stage >= 1".into());
        }
        Ok(())
    }

    /// What fills the slots.
    pub fn slot(&self) -> Slot {
        self.method.slot()
    }
}

/// Optimizer and batching.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// Constant learning rate (paper 1e-4 on a pretrained GPT-2; from scratch higher).
    pub lr: f64,
    /// AdamW decoupled weight decay. Default 0.01.
    pub weight_decay: f64,
    /// AdamW betas. Default (0.9, 0.999) (torch defaults, as the reference).
    pub betas: (f64, f64),
    /// Sequences per optimizer step. Default 32.
    pub batch_size: usize,
    /// Optimizer reset policy. Default: every stage.
    pub reset_optimizer: ResetOptimizer,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            lr: 1e-3,
            weight_decay: 0.01,
            betas: (0.9, 0.999),
            batch_size: 32,
            reset_optimizer: ResetOptimizer::Stage,
        }
    }
}

/// Evaluation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Most language tokens generated per question (reference: 128). Default 64.
    pub max_new_tokens: usize,
    /// Questions decoded together. Default 64.
    pub batch_size: usize,
    /// Validation questions decoded at the end of every stage (0 = none). Default 200.
    pub stage_questions: usize,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            max_new_tokens: 64,
            batch_size: 64,
            stage_questions: 200,
        }
    }
}

/// Maze traces as Coconut data (see [`crate::maze`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MazeData {
    /// Dataset name (cache `<runs>/data/<name>.json`).
    pub name: String,
    /// Grid width.
    pub width: u32,
    /// Grid height.
    pub height: u32,
    /// A* mode of the traces. Default deterministic.
    #[serde(default)]
    pub astar: AstarMode,
    /// Training tasks.
    pub train: usize,
    /// Validation tasks.
    pub valid: usize,
    /// Test tasks.
    pub test: usize,
    /// Dataset seed. Default 0.
    #[serde(default)]
    pub seed: u64,
    /// The A* trace is cut into this many steps of (nearly) equal numbers of A* clauses.
    /// Default 6.
    #[serde(default = "six")]
    pub trace_steps: usize,
    /// Dualformer mixing probabilities `[full, no close, no cost, drop creates, no trace]`
    /// (with method `cot`): the trace of every example is re-dropped each epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dualformer: Option<[f64; 5]>,
}

/// A* mode of generated maze traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AstarMode {
    /// Deterministic A*.
    #[default]
    Deterministic,
    /// Nondeterministic A* (shuffled children, coin-flip ties).
    Nondeterministic,
}

impl AstarMode {
    /// The trace layer's mode.
    pub fn mode(self) -> SearchMode {
        match self {
            AstarMode::Deterministic => SearchMode::Deterministic,
            AstarMode::Nondeterministic => SearchMode::Nondeterministic,
        }
    }
}

impl MazeData {
    /// The Dualformer dropping configuration (levels as the planform recipes: level 3 as the
    /// released code, re-drawn every epoch).
    pub fn dropping(&self) -> Option<Result<DroppingConfig>> {
        self.dualformer.map(|p| {
            DroppingConfig::new(p, Level3::ReferenceCode, Resample::EveryEpoch)
                .map_err(CoconutError::from)
        })
    }
}

/// Where the data comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DataConfig {
    /// ProsQA generated by planform (cached as JSON in the public format).
    Prosqa {
        /// Dataset name.
        name: String,
        /// Training records.
        train: usize,
        /// Validation records.
        valid: usize,
        /// Test records.
        test: usize,
        /// Dataset seed. Default 0.
        #[serde(default)]
        seed: u64,
        /// Generator settings.
        #[serde(default)]
        generator: ProsqaGenConfig,
    },
    /// ProsQA files in the public format (e.g. the paper's).
    ProsqaFiles {
        /// Training file.
        train: PathBuf,
        /// Validation file.
        valid: PathBuf,
        /// Test file.
        test: PathBuf,
    },
    /// Maze A* traces.
    Maze(MazeData),
}

/// One run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Run name (`[a-z0-9._-]`).
    pub name: String,
    /// One line.
    #[serde(default)]
    pub description: String,
    /// Model initialisation and data-order seed. Default 0.
    #[serde(default)]
    pub seed: u64,
    /// libtorch threads. Default 1.
    #[serde(default = "one")]
    pub threads: usize,
    /// Data.
    pub data: DataConfig,
    /// Model shape (vocabulary size from the data).
    #[serde(default)]
    pub model: DecoderSpec,
    /// Curriculum.
    pub curriculum: Curriculum,
    /// Optimizer.
    #[serde(default)]
    pub optim: OptimConfig,
    /// Evaluation.
    #[serde(default)]
    pub eval: EvalConfig,
    /// Start from the weights of another run (a run or checkpoint directory, relative to the
    /// current directory) instead of a seeded draw, as the reference's `load_model_path`
    /// (e.g. Coconut from a CoT model, or a curriculum over graph sizes). Its model shape and
    /// vocabulary must equal this run's; its optimizer state is not taken. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<std::path::PathBuf>,
}

impl RunConfig {
    /// Reads and validates a TOML file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| CoconutError::io(path, e))?;
        let cfg: RunConfig = toml::from_str(&text)
            .map_err(|e| CoconutError::Config(format!("{}: {e}", path.display())))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every section.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(CoconutError::Config(m));
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        };
        if !name_ok(&self.name) {
            return bad(format!("name {:?}: use [a-z0-9._-]", self.name));
        }
        if self.threads == 0 {
            return bad("threads must be >= 1".into());
        }
        self.curriculum.validate()?;
        let o = &self.optim;
        if !(o.lr.is_finite() && o.lr > 0.0) || o.batch_size == 0 || o.weight_decay < 0.0 {
            return bad("optim: lr > 0, batch_size >= 1 and weight_decay >= 0 are required".into());
        }
        if self.eval.max_new_tokens == 0 || self.eval.batch_size == 0 {
            return bad("eval: max_new_tokens and batch_size must be >= 1".into());
        }
        match &self.data {
            DataConfig::Prosqa {
                name,
                train,
                generator,
                ..
            } => {
                if !name_ok(name) || *train == 0 {
                    return bad("data: a [a-z0-9._-] name and train >= 1 are required".into());
                }
                generator.validate()?;
            }
            DataConfig::ProsqaFiles { .. } => {}
            DataConfig::Maze(m) => {
                if !name_ok(&m.name) || m.train == 0 || m.trace_steps == 0 {
                    return bad("data: maze name, train >= 1 and trace_steps >= 1 required".into());
                }
                if let Some(d) = m.dropping() {
                    d?;
                    if self.curriculum.method != Method::Cot {
                        return bad("data.dualformer needs curriculum.method = \"cot\"".into());
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_follow_the_method() {
        let mut c: Curriculum = toml::from_str(
            "method = \"coconut\"\nmax_latent_stage = 3\nepochs_per_stage = 2\nepochs = 10",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(
            (0..10).map(|e| c.stage(e)).collect::<Vec<_>>(),
            [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
        );
        c.method = Method::NoCurriculum;
        assert_eq!(c.stage(0), 4);
        c.method = Method::Cot;
        assert_eq!(c.stage(9), 0);
        c.uniform_prob = 2.0;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("uniform_prob"));
        assert!(
            toml::from_str::<Curriculum>("method = \"coconut\"\nepochs = 1\nbogus = 1").is_err()
        );
    }
}

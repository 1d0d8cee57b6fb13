//! The evaluation config: plain typed fields with documented defaults, validated once.

use std::fmt;
use std::path::PathBuf;

use planform_data::{Domain, Split};
pub use planform_model::DeviceChoice;
use planform_model::{Precision, Sampler};
use planform_trace::vocab::{Keyword, Vocabulary};
use serde::{Deserialize, Serialize};

use crate::error::{EvalError, Result};

/// Reference maximum decode length for mazes (`--rollout-len 10000`).
pub const MAZE_MAX_LEN: usize = 10_000;
/// Reference maximum decode length for Sokoban trace models (`--rollout-len 11000`).
pub const SOKOBAN_MAX_LEN: usize = 11_000;
/// [`MaxLen::Auto`] allows this many times the longest decoder target of the split.
pub const AUTO_MAX_LEN_FACTOR: f64 = 1.5;

/// Dualformer decoding mode: which token, if any, is forced right after `bos`
/// (reference `rollout.py --prefix`, §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// No prefix: the model chooses (`plan` = fast, `create` = slow). A plain
    /// search-augmented or solution-only model is evaluated in this mode.
    #[default]
    Auto,
    /// Force `plan` after `bos`: the plan comes immediately.
    Fast,
    /// Force `create` after `bos`: a search trace comes first.
    Slow,
}

impl Mode {
    /// `auto`, `fast` or `slow`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Fast => "fast",
            Mode::Slow => "slow",
        }
    }

    /// The forced decoder prefix (after `bos`) in `vocab`.
    pub fn prefix(self, vocab: &Vocabulary) -> Result<Vec<u32>> {
        let keyword = match self {
            Mode::Auto => return Ok(Vec::new()),
            Mode::Fast => Keyword::Plan,
            Mode::Slow => Keyword::Create,
        };
        let id = vocab.keyword(keyword).ok_or_else(|| {
            EvalError::config(
                "mode",
                format!("the vocabulary has no `{}` token", keyword.as_str()),
            )
        })?;
        Ok(vec![id])
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Maximum decoder length (`bos`, prefix and `eos` included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MaxLen {
    /// `ceil(1.5 × longest decoder target of the split)` (from the manifest's length
    /// statistics), capped at the reference limit of the domain ([`MAZE_MAX_LEN`],
    /// [`SOKOBAN_MAX_LEN`]) and at the model's `max_positions`. Default.
    #[default]
    Auto,
    /// Exactly this many tokens (reference: 10,000 maze, 11,000 Sokoban).
    Fixed(usize),
}

impl MaxLen {
    /// The concrete length for a split whose longest decoder target (with `bos` and
    /// `eos`) is `longest_target`, in `domain`, for a model with `max_positions`.
    pub fn resolve(self, longest_target: usize, domain: &Domain, max_positions: usize) -> usize {
        match self {
            MaxLen::Fixed(n) => n,
            MaxLen::Auto => {
                let cap = match domain {
                    Domain::Maze { .. } => MAZE_MAX_LEN,
                    Domain::Sokoban { .. } => SOKOBAN_MAX_LEN,
                };
                let want = (longest_target as f64 * AUTO_MAX_LEN_FACTOR).ceil() as usize;
                want.max(2).min(cap).min(max_positions)
            }
        }
    }
}

/// A short human-readable name of a sampler (`greedy`, `temperature 1`).
pub fn sampler_name(sampler: &Sampler) -> String {
    match sampler {
        Sampler::Greedy => "greedy".into(),
        Sampler::Multinomial { temperature } => format!("temperature {temperature}"),
    }
}

/// Everything an evaluation run needs. Build with [`EvalConfig::new`] (all defaults) and
/// change fields; [`EvalConfig::validate`] checks them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// A run directory (follows `checkpoints/latest`), a `checkpoints` directory, or a
    /// specific `step-N` directory. Required.
    pub checkpoint: PathBuf,
    /// planform-data dataset directory. Required.
    pub dataset: PathBuf,
    /// Split to evaluate on. Default [`Split::Test`].
    pub split: Split,
    /// Number of tasks: the first `tasks` rows of the split in hashed-id order (reference:
    /// the sorted first `--test-sequences`; 100 per maze size, 200 Sokoban). Fewer are
    /// used when the split is smaller. Default 100.
    pub tasks: usize,
    /// Responses sampled per task, `k` (reference: 64). Default 64.
    pub samples: usize,
    /// Decoding mode. Default [`Mode::Auto`].
    pub mode: Mode,
    /// Next-token rule. Default temperature-1 multinomial (reference `probability`).
    pub sampler: Sampler,
    /// Maximum decoder length. Default [`MaxLen::Auto`].
    pub max_len: MaxLen,
    /// Sequences decoded at once (bounds memory). Default 256.
    pub batch_rows: usize,
    /// Seed of the sampler (and of t* when it is computed). Default 0.
    pub seed: u64,
    /// Device. Default `auto` (CUDA 0 if available).
    pub device: DeviceChoice,
    /// Decoder step precision. Default fp32 (reference).
    pub precision: Precision,
    /// Nondeterministic A* runs per task for t* when the dataset has no
    /// `astar_mean_reasoning` value (reference: 64). Default 64.
    pub tstar_runs: usize,
    /// Keep every response's tokens and write them to `responses.jsonl` (large: k
    /// sequences of up to `max_len` tokens per task). Default false.
    pub save_responses: bool,
    /// Simulated quantization (SpinQuant: weights/activations/KV bits and rotations) of a
    /// decoder-only model. Default none (the model as trained).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quant: Option<planform_quant::QuantSpec>,
    /// Attention of cached decoding steps: MagicPIG's LSH sampling instead of exact
    /// attention (per-sequence bucket tables on the CPU). Default none (exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention: Option<planform_quant::lsh_attention::LshAttention>,
    /// Multiply a stored 8-bit checkpoint's weights and quantized activations as integers
    /// on the CPU (`torch._int_mm`) instead of dequantizing the weights. The same model to
    /// f32 rounding. Default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub int8_matmul: bool,
    /// Also measure the teacher-forced loss on this many held-out (test) sequences.
    /// Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heldout_loss: Option<usize>,
}

impl EvalConfig {
    /// A config with every default.
    pub fn new(checkpoint: impl Into<PathBuf>, dataset: impl Into<PathBuf>) -> Self {
        EvalConfig {
            checkpoint: checkpoint.into(),
            dataset: dataset.into(),
            split: Split::Test,
            tasks: 100,
            samples: 64,
            mode: Mode::Auto,
            sampler: Sampler::Multinomial { temperature: 1.0 },
            max_len: MaxLen::Auto,
            batch_rows: 256,
            seed: 0,
            device: DeviceChoice::Auto,
            precision: Precision::Fp32,
            tstar_runs: 64,
            save_responses: false,
            quant: None,
            heldout_loss: None,
            attention: None,
            int8_matmul: false,
        }
    }

    /// Checks every field that can be checked without opening files.
    pub fn validate(&self) -> Result<()> {
        if self.tasks == 0 {
            return Err(EvalError::config("tasks", "must be at least 1"));
        }
        if self.samples == 0 {
            return Err(EvalError::config(
                "samples",
                "must be at least 1 response per task",
            ));
        }
        if self.batch_rows == 0 {
            return Err(EvalError::config("batch_rows", "must be at least 1"));
        }
        if self.tstar_runs == 0 {
            return Err(EvalError::config("tstar_runs", "must be at least 1"));
        }
        if let Sampler::Multinomial { temperature } = self.sampler {
            if !(temperature.is_finite() && temperature > 0.0) {
                return Err(EvalError::config(
                    "sampler",
                    format!("temperature must be finite and > 0, got {temperature}"),
                ));
            }
        }
        if let MaxLen::Fixed(n) = self.max_len {
            let need = 2 + usize::from(self.mode != Mode::Auto);
            if n < need {
                return Err(EvalError::config(
                    "max_len",
                    format!(
                        "{n} cannot hold bos, the {} prefix and one token",
                        self.mode
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let c = EvalConfig::new("ck", "ds");
        assert!(c.validate().is_ok());
        assert_eq!((c.tasks, c.samples, c.split), (100, 64, Split::Test));
        for (f, mutate) in [
            (
                "tasks",
                (|c: &mut EvalConfig| c.tasks = 0) as fn(&mut EvalConfig),
            ),
            ("samples", |c| c.samples = 0),
            ("batch_rows", |c| c.batch_rows = 0),
            ("tstar_runs", |c| c.tstar_runs = 0),
            ("sampler", |c| {
                c.sampler = Sampler::Multinomial {
                    temperature: f64::NAN,
                }
            }),
            ("max_len", |c| {
                c.mode = Mode::Slow;
                c.max_len = MaxLen::Fixed(2)
            }),
        ] {
            let mut c = EvalConfig::new("ck", "ds");
            mutate(&mut c);
            match c.validate() {
                Err(EvalError::Config { field, .. }) => assert_eq!(field, f),
                other => panic!("{f}: {other:?}"),
            }
        }
    }

    #[test]
    fn auto_max_len() {
        let maze = Domain::maze(10, 10);
        let sok = Domain::sokoban_paper();
        assert_eq!(MaxLen::Auto.resolve(101, &maze, 1 << 16), 152);
        assert_eq!(MaxLen::Auto.resolve(9_000, &maze, 1 << 16), MAZE_MAX_LEN);
        assert_eq!(MaxLen::Auto.resolve(9_000, &sok, 1 << 16), SOKOBAN_MAX_LEN);
        assert_eq!(MaxLen::Auto.resolve(9_000, &sok, 4096), 4096);
        assert_eq!(MaxLen::Fixed(77).resolve(9_000, &sok, 4096), 77);
    }

    #[test]
    fn prefixes() {
        let v = Vocabulary::maze(5, 5).unwrap();
        assert!(Mode::Auto.prefix(&v).unwrap().is_empty());
        assert_eq!(
            Mode::Fast.prefix(&v).unwrap(),
            vec![v.keyword(Keyword::Plan).unwrap()]
        );
        assert_eq!(
            Mode::Slow.prefix(&v).unwrap(),
            vec![v.keyword(Keyword::Create).unwrap()]
        );
    }
}

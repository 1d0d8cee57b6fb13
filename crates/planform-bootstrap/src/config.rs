//! [`BootstrapConfig`]: everything a bootstrap needs, as TOML with typed, documented fields.
//!
//! ```toml
//! base_run = "runs/sokoban-m"      # trained search-augmented run; its latest checkpoint
//!                                  # is iteration 0 (required)
//! data_dir = "data/sokoban"        # the ORIGINAL dataset the base run trained on (required)
//! out_dir = "runs/sokoban-boot"    # output directory (required)
//! iterations = 3                   # reference: 3 (Searchformer steps 1–3)
//! seed = 0
//! device = "auto"
//!
//! [sample]                         # responses on the training prompts
//! samples = 8                      # k per prompt (reference: not published)
//! train_prompts = 100000           # omit: the prompts the base run trained on
//! temperature = 1.0
//!
//! [reduce]
//! fallback = "original-astar"      # or "previous-iteration"
//!
//! [finetune]                       # reference: config/sweep/…-step-{1,2,3}.json
//! steps = 10000
//! lr = 7.5e-5
//! warmup = "reference"             # 2000 of 10,000 steps, scaled; or { steps = 500 }
//! batch = 8
//! set = ["log.eval_every=500"]     # any planform-train field, as for `planform train --set`
//!
//! [eval]                           # on the original test split after every iteration
//! tasks = 200
//! samples = 64
//! ```
//!
//! Every field except `base_run`, `data_dir` and `out_dir` has a default (documented on the
//! field). Unknown keys are rejected.

use std::path::{Path, PathBuf};

use planform_core::overrides::Override;
use planform_eval::MaxLen;
use planform_model::Precision;
use planform_train::DeviceChoice;
use serde::{Deserialize, Serialize};

use crate::error::{BootstrapError, Result};

/// Fine-tuning steps of one reference Searchformer step (`train_steps` in
/// `config/sweep/sokoban-7722-m-trace-plan-100k-step-*.json`).
pub const REFERENCE_STEPS: u64 = 10_000;
/// Warm-up steps of the reference fine-tunes (the fresh schedule of `optim.py`).
pub const REFERENCE_WARMUP: u64 = 2_000;

/// A complete bootstrap configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapConfig {
    /// A trained search-augmented run directory (planform-train). Its latest checkpoint at
    /// the start of the bootstrap is iteration 0; the run's config supplies the model, the
    /// trace variant, the data filters and the optimizer settings of the fine-tunes.
    /// Required.
    pub base_run: PathBuf,
    /// The ORIGINAL dataset (training prompts with their A* sequences, and the test split
    /// every iteration is evaluated on). Required.
    pub data_dir: PathBuf,
    /// Output directory (`state.json`, `bootstrap.jsonl`, `bootstrap.md`, `iter-N/…`).
    /// Required.
    pub out_dir: PathBuf,
    /// Bootstrapping iterations N (reference: 3). Default 3.
    #[serde(default = "default_iterations")]
    pub iterations: usize,
    /// Master seed: iteration `i` samples with seed `keyed(seed, 1, i)` and fine-tunes with
    /// data-order seed `keyed(seed, 2, i)`. Default 0.
    #[serde(default)]
    pub seed: u64,
    /// Device for sampling, fine-tuning and evaluation. Default `auto`.
    #[serde(default)]
    pub device: DeviceChoice,
    /// libtorch intra-op CPU threads (omit: libtorch's default). Default: none.
    #[serde(default)]
    pub threads: Option<usize>,
    /// Sampling on the training prompts.
    #[serde(default)]
    pub sample: SampleSettings,
    /// Which target a prompt keeps.
    #[serde(default)]
    pub reduce: ReduceSettings,
    /// Fine-tuning of each iteration.
    #[serde(default)]
    pub finetune: FinetuneSettings,
    /// Evaluation on the original test split after each iteration (and of the base model).
    #[serde(default)]
    pub eval: EvalSettings,
}

fn default_iterations() -> usize {
    3
}

/// Sampling on the training prompts (reference `rollout.py probability --include-train`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SampleSettings {
    /// Responses per training prompt, k. The reference value is not published (its test
    /// rollouts use 64); 8 keeps CPU runs affordable. Default 8.
    pub samples: usize,
    /// Training prompts to sample on: the first N of the base run's selection order (its
    /// `data.subset` order after its reasoning-length filters). Omit: as many as the base
    /// run trained on (its `data.train_examples`; all if it used all) — the reference
    /// samples the same 100k prompts its base model trained on. Default: none.
    pub train_prompts: Option<usize>,
    /// Softmax temperature (reference: 1, the `probability` sampler). Default 1.0.
    pub temperature: f64,
    /// Maximum decoder length. Default `auto` (1.5 × the longest training target, capped
    /// at the reference 10,000 maze / 11,000 Sokoban); `{ fixed = N }` for a fixed value.
    pub max_len: MaxLen,
    /// Sequences decoded at once (bounds memory). Default 256.
    pub batch_rows: usize,
    /// Prompts per saved chunk: a killed bootstrap re-samples at most one chunk. Default
    /// 1024.
    pub chunk_prompts: usize,
    /// Decoder step precision. Default fp32 (reference).
    pub precision: Precision,
}

impl Default for SampleSettings {
    fn default() -> Self {
        SampleSettings {
            samples: 8,
            train_prompts: None,
            temperature: 1.0,
            max_len: MaxLen::Auto,
            batch_rows: 256,
            chunk_prompts: 1024,
            precision: Precision::Fp32,
        }
    }
}

/// The target a prompt keeps when none of its responses is optimal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fallback {
    /// The original A* sequence of the dataset (reference `reduce_rollout_to_shortest_trace`
    /// keeps the rollout's stored sequence; with the original dataset as the rollout's
    /// `dataset_name` that is the A* sequence). Default.
    #[default]
    OriginalAstar,
    /// The target the prompt had in the previous iteration's dataset (the A* sequence in
    /// iteration 1). What the reference does if its later rollouts named the previous
    /// `.improved` dataset; the rollout parameters are not in the public repository.
    PreviousIteration,
}

/// Reduction of the sampled responses to one target per prompt.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReduceSettings {
    /// Target of prompts without an optimal response. Default `original-astar`.
    pub fallback: Fallback,
}

/// Warm-up of each fine-tune's fresh schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Warmup {
    /// The reference's 2,000 warm-up steps of 10,000, scaled to `steps`:
    /// `floor(2000 · steps / 10000)` (2,000 at the reference 10,000 steps). Default.
    #[default]
    Reference,
    /// Exactly this many steps (must be < `steps`).
    Steps(u64),
}

impl Warmup {
    /// Warm-up steps for a fine-tune of `steps` steps.
    pub fn resolve(self, steps: u64) -> u64 {
        match self {
            Warmup::Reference => steps.saturating_mul(REFERENCE_WARMUP) / REFERENCE_STEPS,
            Warmup::Steps(n) => n,
        }
    }
}

/// Fine-tuning of each iteration from the previous checkpoint (reference
/// `start_checkpoint`, `config/sweep/sokoban-7722-m-trace-plan-100k-step-*.json`). The
/// run's other settings come from the base run's config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FinetuneSettings {
    /// Optimizer steps per iteration (reference: 10,000). Default 10,000.
    pub steps: u64,
    /// Peak learning rate (reference: 7.5e-5). Default 7.5e-5.
    pub lr: f64,
    /// Warm-up of the fresh cosine schedule. Default `reference`.
    pub warmup: Warmup,
    /// Sequences per optimizer step (reference: 1 per GPU × 8 GPUs). Default 8.
    pub batch: usize,
    /// Load the previous checkpoint's AdamW moments and per-parameter step counts, as the
    /// reference does (`reconstruct_from_checkpoint` loads the optimizer `state_dict`);
    /// false starts the moments at zero. Default true.
    pub optimizer_state: bool,
    /// Overrides of the fine-tune's planform-train config, `dotted.field=value` as
    /// `planform train --set` (applied last). Default: none.
    pub set: Vec<String>,
}

impl Default for FinetuneSettings {
    fn default() -> Self {
        FinetuneSettings {
            steps: REFERENCE_STEPS,
            lr: 7.5e-5,
            warmup: Warmup::Reference,
            batch: 8,
            optimizer_state: true,
            set: Vec::new(),
        }
    }
}

impl FinetuneSettings {
    /// The `set` overrides split into `(field, value)`.
    pub fn overrides(&self) -> Result<Vec<Override>> {
        self.set
            .iter()
            .map(|s| {
                Override::parse(s)
                    .map_err(|e| BootstrapError::config("finetune.set", e.to_string()))
            })
            .collect()
    }
}

/// Evaluation on the original test split (planform-eval).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalSettings {
    /// Test tasks: the first N by id (reference: 200 Sokoban, 100 per maze size). Default
    /// 100.
    pub tasks: usize,
    /// Responses per task, k (reference: 64). Default 64.
    pub samples: usize,
    /// Sampler seed, the same for every iteration (common random numbers). Default 0.
    pub seed: u64,
    /// Softmax temperature (reference: 1). Default 1.0.
    pub temperature: f64,
    /// Maximum decoder length. Default `auto`.
    pub max_len: MaxLen,
    /// Sequences decoded at once. Default 256.
    pub batch_rows: usize,
    /// Nondeterministic A* runs per task for t* when the dataset lacks it (reference: 64).
    /// Default 64.
    pub tstar_runs: usize,
}

impl Default for EvalSettings {
    fn default() -> Self {
        EvalSettings {
            tasks: 100,
            samples: 64,
            seed: 0,
            temperature: 1.0,
            max_len: MaxLen::Auto,
            batch_rows: 256,
            tstar_runs: 64,
        }
    }
}

impl BootstrapConfig {
    /// A config with every default.
    pub fn new(
        base_run: impl Into<PathBuf>,
        data_dir: impl Into<PathBuf>,
        out_dir: impl Into<PathBuf>,
    ) -> Self {
        BootstrapConfig {
            base_run: base_run.into(),
            data_dir: data_dir.into(),
            out_dir: out_dir.into(),
            iterations: default_iterations(),
            seed: 0,
            device: DeviceChoice::Auto,
            threads: None,
            sample: SampleSettings::default(),
            reduce: ReduceSettings::default(),
            finetune: FinetuneSettings::default(),
            eval: EvalSettings::default(),
        }
    }

    /// Parses and validates TOML text; `origin` names the source in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self> {
        let cfg: BootstrapConfig =
            toml::from_str(text).map_err(|e| BootstrapError::ConfigParse {
                origin: origin.to_string(),
                message: e.to_string(),
            })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads, parses and validates a TOML file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| BootstrapError::io(path, e))?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// Serialises to TOML (round-trips through [`BootstrapConfig::from_toml_str`]).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| BootstrapError::ConfigParse {
            origin: "serialisation".into(),
            message: e.to_string(),
        })
    }

    /// Checks every field that can be checked without opening files; the error names the
    /// field. (The `finetune.set` overrides are checked against the base run's config when
    /// the bootstrap starts, before any work.)
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, reason: String| Err(BootstrapError::config(field, reason));
        for (field, p) in [
            ("base_run", &self.base_run),
            ("data_dir", &self.data_dir),
            ("out_dir", &self.out_dir),
        ] {
            if p.as_os_str().is_empty() {
                return bad(field, "must not be empty".into());
            }
        }
        if self.iterations == 0 {
            return bad("iterations", "must be at least 1".into());
        }
        if self.threads == Some(0) {
            return bad(
                "threads",
                "must be > 0 (omit it for libtorch's default)".into(),
            );
        }
        let s = &self.sample;
        if s.samples == 0 {
            return bad("sample.samples", "must be at least 1".into());
        }
        if s.train_prompts == Some(0) {
            return bad(
                "sample.train_prompts",
                "must be > 0 (omit it for the base run's prompts)".into(),
            );
        }
        for (field, t) in [
            ("sample.temperature", s.temperature),
            ("eval.temperature", self.eval.temperature),
        ] {
            if !(t.is_finite() && t > 0.0) {
                return bad(field, format!("must be finite and > 0, got {t}"));
            }
        }
        for (field, m) in [
            ("sample.max_len", s.max_len),
            ("eval.max_len", self.eval.max_len),
        ] {
            if let MaxLen::Fixed(n) = m {
                if n < 2 {
                    return bad(field, format!("{n} cannot hold bos and one token"));
                }
            }
        }
        for (field, v) in [
            ("sample.batch_rows", s.batch_rows),
            ("sample.chunk_prompts", s.chunk_prompts),
            ("finetune.batch", self.finetune.batch),
            ("eval.tasks", self.eval.tasks),
            ("eval.samples", self.eval.samples),
            ("eval.batch_rows", self.eval.batch_rows),
            ("eval.tstar_runs", self.eval.tstar_runs),
        ] {
            if v == 0 {
                return bad(field, "must be at least 1".into());
            }
        }
        let f = &self.finetune;
        if f.steps == 0 {
            return bad("finetune.steps", "must be at least 1".into());
        }
        if !(f.lr.is_finite() && f.lr > 0.0) {
            return bad(
                "finetune.lr",
                format!("must be finite and > 0, got {}", f.lr),
            );
        }
        if let Warmup::Steps(n) = f.warmup {
            if n >= f.steps {
                return bad(
                    "finetune.warmup",
                    format!(
                        "{n} warm-up steps must be fewer than finetune.steps ({})",
                        f.steps
                    ),
                );
            }
        }
        f.overrides()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_reference() {
        let c = BootstrapConfig::new("base", "data", "out");
        c.validate().unwrap();
        assert_eq!(c.iterations, 3);
        assert_eq!(c.finetune.steps, 10_000);
        assert_eq!(c.finetune.lr, 7.5e-5);
        assert_eq!(c.finetune.warmup.resolve(10_000), 2_000);
        assert!(c.finetune.optimizer_state);
        assert_eq!(c.sample.temperature, 1.0);
        assert_eq!(c.eval.samples, 64);
    }

    #[test]
    fn warmup_scales_with_steps() {
        assert_eq!(Warmup::Reference.resolve(100), 20);
        assert_eq!(Warmup::Reference.resolve(4), 0);
        assert_eq!(Warmup::Steps(7).resolve(100), 7);
    }

    #[test]
    fn toml_round_trip_and_unknown_keys() {
        let text = r#"
            base_run = "b"
            data_dir = "d"
            out_dir = "o"
            iterations = 2
            [sample]
            samples = 4
            max_len = { fixed = 300 }
            [reduce]
            fallback = "previous-iteration"
            [finetune]
            steps = 50
            warmup = { steps = 5 }
            set = ["log.eval_every=10"]
        "#;
        let c = BootstrapConfig::from_toml_str(text, "t").unwrap();
        assert_eq!(c.sample.max_len, MaxLen::Fixed(300));
        assert_eq!(c.reduce.fallback, Fallback::PreviousIteration);
        assert_eq!(c.finetune.warmup, Warmup::Steps(5));
        let back = BootstrapConfig::from_toml_str(&c.to_toml().unwrap(), "rt").unwrap();
        assert_eq!(back, c);
        let e = BootstrapConfig::from_toml_str("base_run='b'\ndata_dir='d'\nout_dir='o'\nx=1", "u")
            .unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }

    #[test]
    fn validation_names_the_field() {
        type Mutate = fn(&mut BootstrapConfig);
        let cases: [(&str, Mutate); 9] = [
            ("iterations", |c| c.iterations = 0),
            ("sample.samples", |c| c.sample.samples = 0),
            ("sample.train_prompts", |c| c.sample.train_prompts = Some(0)),
            ("sample.temperature", |c| c.sample.temperature = f64::NAN),
            ("finetune.steps", |c| c.finetune.steps = 0),
            ("finetune.lr", |c| c.finetune.lr = -1.0),
            ("finetune.warmup", |c| {
                c.finetune.steps = 10;
                c.finetune.warmup = Warmup::Steps(10)
            }),
            ("finetune.set", |c| c.finetune.set = vec!["novalue".into()]),
            ("eval.tasks", |c| c.eval.tasks = 0),
        ];
        for (field, mutate) in cases {
            let mut c = BootstrapConfig::new("b", "d", "o");
            mutate(&mut c);
            match c.validate() {
                Err(BootstrapError::Config { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}

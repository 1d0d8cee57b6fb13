//! [`Recipe`]: one TOML file = one published method, end to end.
//!
//! ```toml
//! name = "maze5-search-augmented"        # run directory <runs>/<name>; [a-z0-9._-]
//! description = "Search-augmented, deterministic A*, 5×5 mazes, tiny model (CPU)"
//!
//! [data]                                  # a planform-data GenerateConfig plus a name
//! name = "maze5-det"                      # dataset directory <runs>/data/<name> (shared)
//! domain = { kind = "maze", width = 5, height = 5 }   # attempts_per_layout = 100
//! astar = "deterministic"                 # default: maze deterministic, Sokoban nondet.
//! num_tasks = 20000                       # train + test
//! test_fraction = 0.1                     # default 0.1
//! seed = 0                                # default 0
//! # filters = { max_reasoning_length = 9999 }   # default: the reference's per domain
//! # tstar_runs = 64                       # store t* for test tasks (default: none)
//!
//! [train]                                 # a planform-train TrainConfig without
//! model = { size = "tiny" }               # data_dir / out_dir (the runner fills them:
//! trace = { kind = "search-augmented" }   # data_dir = <runs>/data/<data.name>,
//! threads = 2                             # out_dir = <runs>/<name>/train)
//! [train.optim]
//! lr = 2e-3
//! total_steps = 3000
//!
//! [[eval]]                                # one or more; output <runs>/<name>/eval-<name>
//! name = "test"
//! mode = "auto"                           # auto | fast | slow
//! tasks = 100
//! samples = 4
//! max_len = "auto"                        # or a number of tokens
//!
//! # [bootstrap]                           # optional: Searchformer bootstrapping
//! ```
//!
//! Every table rejects unknown keys. `train.threads`, when set, also bounds the threads of
//! data generation and evaluation, and `train.device` is also the evaluation device.

use std::path::{Path, PathBuf};

use planform_data::{Domain, GenerateConfig, LengthFilters, SearchMode, Split, TStarConfig};
use planform_eval::{EvalConfig, MaxLen, Mode, Sampler};
use planform_train::TrainConfig;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::bootstrap::BootstrapSpec;
use crate::error::{RecipeError, Result};

/// One method, end to end: dataset, training run, evaluations, optional bootstrapping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Run name: the run directory is `<runs>/<name>`. Lower-case letters, digits, `.`,
    /// `_`, `-`. Shipped recipes use their file stem.
    pub name: String,
    /// One line shown by `planform recipe list`.
    pub description: String,
    /// The dataset.
    pub data: DataSpec,
    /// The training run.
    pub train: TrainSpec,
    /// Evaluations of the trained model (at least one).
    #[serde(rename = "eval")]
    pub evals: Vec<EvalSpec>,
    /// Searchformer bootstrapping on top of the trained model. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<BootstrapSpec>,
}

/// The planning domain and its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DomainSpec {
    /// Grid mazes (reference 10×10, 20×20, 30×30).
    Maze {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Start/goal attempts per wall layout. Default 100 (reference).
        #[serde(default = "default_attempts")]
        attempts_per_layout: u32,
    },
    /// Sokoban with a wall border. Defaults: the paper's 7×7, 2 walls, 2 boxes.
    Sokoban {
        /// Width including the border. Default 7.
        #[serde(default = "default_sokoban_size")]
        width: u32,
        /// Height including the border. Default 7.
        #[serde(default = "default_sokoban_size")]
        height: u32,
        /// Interior wall cells. Default 2.
        #[serde(default = "default_two")]
        walls: u32,
        /// Boxes (and docks). Default 2.
        #[serde(default = "default_two")]
        boxes: u32,
    },
}

fn default_attempts() -> u32 {
    100
}
fn default_sokoban_size() -> u32 {
    7
}
fn default_two() -> u32 {
    2
}
fn default_test_fraction() -> f64 {
    0.1
}
fn default_shard_rows() -> u64 {
    100_000
}

impl DomainSpec {
    /// The planform-data domain.
    pub fn domain(&self) -> Domain {
        match *self {
            DomainSpec::Maze {
                width,
                height,
                attempts_per_layout,
            } => Domain::Maze {
                width,
                height,
                attempts_per_layout,
            },
            DomainSpec::Sokoban {
                width,
                height,
                walls,
                boxes,
            } => Domain::Sokoban {
                width,
                height,
                walls,
                boxes,
            },
        }
    }
}

/// A* mode of the stored traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AstarSpec {
    /// Fixed child order and tie-break (reference `deterministic=True`).
    Deterministic,
    /// Shuffled children and coin-flip ties (reference `deterministic=False`).
    Nondeterministic,
}

/// Length filters (inclusive; an absent field is no bound).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilterSpec {
    /// Minimum plan length in nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_plan_length: Option<u32>,
    /// Maximum plan length in nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_plan_length: Option<u32>,
    /// Minimum reasoning tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_reasoning_length: Option<u32>,
    /// Maximum reasoning tokens (reference Sokoban: 9999).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_reasoning_length: Option<u32>,
}

/// The `[data]` section: a planform-data generator config and the dataset's name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Dataset directory name under `<runs>/data/`. Recipes naming the same dataset share
    /// it; the runner refuses to reuse a directory generated with another config.
    pub name: String,
    /// Domain and size.
    pub domain: DomainSpec,
    /// A* mode. Default: deterministic for mazes, nondeterministic for Sokoban (reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub astar: Option<AstarSpec>,
    /// Tasks, train + test.
    pub num_tasks: u64,
    /// Fraction of tasks in the test split (split by layout). Default 0.1.
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
    /// Generator seed. Default 0.
    #[serde(default)]
    pub seed: u64,
    /// Length filters. Default: the reference's (none for mazes; Sokoban reasoning
    /// < 10,000 tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<FilterSpec>,
    /// Store t* (mean reasoning tokens over this many nondeterministic A* runs) for each
    /// test task. Default: none (the evaluation computes t* for the tasks it uses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tstar_runs: Option<u32>,
    /// Rows per Parquet shard. Default 100,000.
    #[serde(default = "default_shard_rows")]
    pub shard_rows: u64,
}

impl DataSpec {
    /// The generator config this section describes.
    pub fn generate_config(&self) -> GenerateConfig {
        let domain = self.domain.domain();
        let mut c = GenerateConfig::new(domain, self.num_tasks);
        if let Some(a) = self.astar {
            c.astar = match a {
                AstarSpec::Deterministic => SearchMode::Deterministic,
                AstarSpec::Nondeterministic => SearchMode::Nondeterministic,
            };
        }
        c.test_fraction = self.test_fraction;
        c.seed = self.seed;
        if let Some(f) = self.filters {
            c.filters = LengthFilters {
                min_plan_length: f.min_plan_length,
                max_plan_length: f.max_plan_length,
                min_reasoning_length: f.min_reasoning_length,
                max_reasoning_length: f.max_reasoning_length,
            };
        }
        c.tstar = self.tstar_runs.map(|runs| TStarConfig { runs });
        c.shard_rows = self.shard_rows;
        c
    }
}

/// Placeholder for `data_dir` / `out_dir` inside a [`TrainSpec`] (the runner fills them).
pub const RUNNER_FILLS: &str = "(filled by the recipe runner)";

/// The `[train]` section: a planform-train [`TrainConfig`] without `data_dir` and
/// `out_dir`, with exactly its fields, defaults, typing and validation.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSpec(TrainConfig);

impl TrainSpec {
    /// From a `[train]` table (which must not set `data_dir` or `out_dir`).
    pub fn from_table(mut table: toml::Table) -> Result<Self> {
        for key in ["data_dir", "out_dir"] {
            if table.contains_key(key) {
                return Err(RecipeError::invalid(
                    format!("train.{key}"),
                    "is filled by the recipe runner; remove it",
                ));
            }
            table.insert(key.into(), toml::Value::String(RUNNER_FILLS.into()));
        }
        let text = toml::to_string(&table).map_err(|e| RecipeError::Parse {
            origin: "[train]".into(),
            message: e.to_string(),
        })?;
        let cfg = TrainConfig::from_toml_str(&text, "[train]")?;
        Ok(TrainSpec(cfg))
    }

    /// Wraps a config (its `data_dir` / `out_dir` are ignored).
    pub fn new(mut cfg: TrainConfig) -> Self {
        cfg.data_dir = PathBuf::from(RUNNER_FILLS);
        cfg.out_dir = PathBuf::from(RUNNER_FILLS);
        TrainSpec(cfg)
    }

    /// The config with placeholder paths.
    pub fn config(&self) -> &TrainConfig {
        &self.0
    }

    /// The config for a run reading `data_dir` and writing `out_dir`.
    pub fn resolve(&self, data_dir: &Path, out_dir: &Path) -> TrainConfig {
        let mut c = self.0.clone();
        c.data_dir = data_dir.to_path_buf();
        c.out_dir = out_dir.to_path_buf();
        c
    }

    fn to_table(&self) -> std::result::Result<toml::Table, String> {
        let mut t = toml::Table::try_from(&self.0).map_err(|e| e.to_string())?;
        t.remove("data_dir");
        t.remove("out_dir");
        Ok(t)
    }
}

impl Serialize for TrainSpec {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_table()
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for TrainSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let table = toml::Table::deserialize(d)?;
        TrainSpec::from_table(table).map_err(serde::de::Error::custom)
    }
}

/// Which checkpoint an evaluation uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckpointChoice {
    /// The run's final checkpoint. Default.
    #[default]
    Final,
    /// The untrained model (a step-0 checkpoint written before the first step; for "what
    /// did the model learn" comparisons).
    Init,
}

/// Next-token rule of an evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SamplerSpec {
    /// Argmax.
    Greedy,
    /// Softmax sampling at `temperature` (default 1, the reference `probability` sampler).
    Multinomial {
        /// Temperature. Default 1.
        #[serde(default = "default_temperature")]
        temperature: f64,
    },
}

fn default_temperature() -> f64 {
    1.0
}

impl Default for SamplerSpec {
    fn default() -> Self {
        SamplerSpec::Multinomial { temperature: 1.0 }
    }
}

impl SamplerSpec {
    /// The planform-model sampler.
    pub fn sampler(self) -> Sampler {
        match self {
            SamplerSpec::Greedy => Sampler::Greedy,
            SamplerSpec::Multinomial { temperature } => Sampler::Multinomial { temperature },
        }
    }
}

/// Maximum decode length: `"auto"` (1.5 × the split's longest target, capped at the
/// reference's 10,000 / 11,000) or a number of tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "MaxLenRaw", into = "MaxLenRaw")]
pub enum MaxLenSpec {
    /// planform-eval's `MaxLen::Auto`. Default.
    #[default]
    Auto,
    /// Exactly this many tokens.
    Fixed(usize),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum MaxLenRaw {
    Tokens(u64),
    Word(String),
}

impl TryFrom<MaxLenRaw> for MaxLenSpec {
    type Error = String;
    fn try_from(raw: MaxLenRaw) -> std::result::Result<Self, String> {
        match raw {
            MaxLenRaw::Tokens(n) => usize::try_from(n)
                .map(MaxLenSpec::Fixed)
                .map_err(|_| format!("max_len {n} is too large")),
            MaxLenRaw::Word(w) if w == "auto" => Ok(MaxLenSpec::Auto),
            MaxLenRaw::Word(w) => Err(format!(
                "max_len must be \"auto\" or a number of tokens, got {w:?}"
            )),
        }
    }
}

impl From<MaxLenSpec> for MaxLenRaw {
    fn from(m: MaxLenSpec) -> Self {
        match m {
            MaxLenSpec::Auto => MaxLenRaw::Word("auto".into()),
            MaxLenSpec::Fixed(n) => MaxLenRaw::Tokens(n as u64),
        }
    }
}

fn default_tasks() -> usize {
    100
}
fn default_samples() -> usize {
    64
}
fn default_batch_rows() -> usize {
    256
}
fn default_tstar_runs() -> usize {
    64
}

/// One `[[eval]]`: a planform-eval [`EvalConfig`] without the paths (the runner fills the
/// checkpoint, dataset and output directory `<runs>/<recipe>/eval-<name>`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSpec {
    /// Name (unique in the recipe): output directory `eval-<name>`.
    pub name: String,
    /// Decoding mode. Default `auto`.
    #[serde(default)]
    pub mode: Mode,
    /// Which checkpoint. Default `final`.
    #[serde(default)]
    pub checkpoint: CheckpointChoice,
    /// Split. Default `test`.
    #[serde(default = "default_split")]
    pub split: Split,
    /// The first `tasks` tasks of the split (reference: 100 maze, 200 Sokoban). Default 100.
    #[serde(default = "default_tasks")]
    pub tasks: usize,
    /// Responses per task, k (reference 64). Default 64.
    #[serde(default = "default_samples")]
    pub samples: usize,
    /// Next-token rule. Default multinomial at temperature 1 (reference).
    #[serde(default)]
    pub sampler: SamplerSpec,
    /// Maximum decode length. Default `"auto"`.
    #[serde(default)]
    pub max_len: MaxLenSpec,
    /// Sequences decoded at once. Default 256.
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
    /// Sampler seed. Default 0.
    #[serde(default)]
    pub seed: u64,
    /// Nondeterministic A* runs for t* when the dataset lacks it (reference 64). Default 64.
    #[serde(default = "default_tstar_runs")]
    pub tstar_runs: usize,
    /// Also write `responses.jsonl`. Default false.
    #[serde(default)]
    pub save_responses: bool,
}

fn default_split() -> Split {
    Split::Test
}

impl EvalSpec {
    /// The planform-eval config for `checkpoint` on `dataset` (device and precision from
    /// the training config).
    pub fn eval_config(
        &self,
        checkpoint: &Path,
        dataset: &Path,
        train: &TrainConfig,
    ) -> EvalConfig {
        let mut c = EvalConfig::new(checkpoint, dataset);
        c.split = self.split;
        c.tasks = self.tasks;
        c.samples = self.samples;
        c.mode = self.mode;
        c.sampler = self.sampler.sampler();
        c.max_len = match self.max_len {
            MaxLenSpec::Auto => MaxLen::Auto,
            MaxLenSpec::Fixed(n) => MaxLen::Fixed(n),
        };
        c.batch_rows = self.batch_rows;
        c.seed = self.seed;
        c.device = train.device;
        c.tstar_runs = self.tstar_runs;
        c.save_responses = self.save_responses;
        c
    }
}

/// Whether `s` is usable as a directory name: non-empty, lower-case ASCII letters, digits,
/// `.`, `_`, `-`, not starting with `.` or `-`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && !s.starts_with(['.', '-'])
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

impl Recipe {
    /// Parses and validates TOML text; `origin` names the source in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self> {
        let r: Recipe = toml::from_str(text).map_err(|e| RecipeError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        r.validate()?;
        Ok(r)
    }

    /// Reads, parses and validates a recipe file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(RecipeError::io(path))?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// Serialises to TOML (round-trips through [`Recipe::from_toml_str`]).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| RecipeError::Parse {
            origin: format!("serialising recipe {}", self.name),
            message: e.to_string(),
        })
    }

    /// The eval named `name`.
    pub fn eval(&self, name: &str) -> Option<&EvalSpec> {
        self.evals.iter().find(|e| e.name == name)
    }

    /// Checks every field; the error names the field.
    pub fn validate(&self) -> Result<()> {
        let name_rule = "must be lower-case letters, digits, '.', '_' or '-' (at most 100, \
                         not starting with '.' or '-')";
        if !valid_name(&self.name) {
            return Err(RecipeError::invalid(
                "name",
                format!("{:?} {name_rule}", self.name),
            ));
        }
        if self.description.trim().is_empty() || self.description.contains('\n') {
            return Err(RecipeError::invalid(
                "description",
                "must be one non-empty line",
            ));
        }
        if !valid_name(&self.data.name) || self.data.name == "data" {
            return Err(RecipeError::invalid(
                "data.name",
                format!("{:?} {name_rule}", self.data.name),
            ));
        }
        self.data
            .generate_config()
            .validate()
            .map_err(|e| RecipeError::invalid("data", e.to_string()))?;
        if self.evals.is_empty() {
            return Err(RecipeError::invalid(
                "eval",
                "at least one [[eval]] is required",
            ));
        }
        let train = self.train.config();
        for (i, e) in self.evals.iter().enumerate() {
            if !valid_name(&e.name) {
                return Err(RecipeError::invalid(
                    format!("eval[{i}].name"),
                    format!("{:?} {name_rule}", e.name),
                ));
            }
            if self.evals[..i].iter().any(|o| o.name == e.name) {
                return Err(RecipeError::invalid(
                    format!("eval.{}", e.name),
                    "two [[eval]] sections have this name",
                ));
            }
            e.eval_config(Path::new("ck"), Path::new("ds"), train)
                .validate()
                .map_err(|err| RecipeError::invalid(format!("eval.{}", e.name), err.to_string()))?;
        }
        if let Some(b) = &self.bootstrap {
            b.validate()?;
            // The fine-tunes' training configs too, so that a bad `finetune.set` fails now,
            // not after the base run has trained.
            let cfg = b.config(
                Path::new("base"),
                Path::new("data"),
                Path::new("out"),
                Some(train),
            )?;
            planform_bootstrap::finetune_config(
                &cfg,
                train,
                1,
                "data".into(),
                "out".into(),
                Path::new("init"),
                planform_bootstrap::finetune_seed(cfg.seed, 1),
            )
            .map_err(|e| RecipeError::invalid("bootstrap.finetune", e.to_string()))?;
        }
        Ok(())
    }
}

/// A recipe file found by [`list_recipes`]: its path and the parsed recipe (or why it
/// does not parse).
pub struct Listed {
    /// Path of the file.
    pub path: PathBuf,
    /// The recipe, or the error.
    pub recipe: Result<Recipe>,
}

/// Every `*.toml` recipe under `dir` (recursively, sorted by path). Files whose first
/// non-comment key is not `name` (e.g. report configs) are skipped.
pub fn list_recipes(dir: &Path) -> Result<Vec<Listed>> {
    let mut files = Vec::new();
    collect_toml(dir, &mut files)?;
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(RecipeError::io(&path))?;
        if !looks_like_recipe(&text) {
            continue;
        }
        let recipe = Recipe::from_toml_str(&text, &path.display().to_string());
        out.push(Listed { path, recipe });
    }
    Ok(out)
}

/// Whether a TOML text is a recipe (it has a top-level `[data]` table and `name`) rather
/// than another config kept in `configs/`.
pub fn looks_like_recipe(text: &str) -> bool {
    match toml::from_str::<toml::Table>(text) {
        Ok(t) => t.contains_key("data") && t.contains_key("train"),
        // Unparseable: report it as a broken recipe.
        Err(_) => true,
    }
}

fn collect_toml(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(RecipeError::io(dir))?;
    for entry in entries {
        let entry = entry.map_err(RecipeError::io(dir))?;
        let path = entry.path();
        if path.is_dir() {
            collect_toml(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

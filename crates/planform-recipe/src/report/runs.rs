//! Loading what a runs directory holds: per run, its resolved recipe, eval summaries,
//! invocations, training metrics and bootstrap records.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use planform_data::Manifest;
use planform_eval::{EvalReport, SUMMARY_JSON};
use planform_train::ModelSpec;
use serde::Deserialize;

use crate::error::{RecipeError, Result};
use crate::recipe::Recipe;
use crate::runner::{read_json, Invocation, Layout, StageAction, INVOCATIONS_FILE, RECIPE_FILE};

/// Test metrics of one bootstrap iteration (the fields of planform-bootstrap's
/// `bootstrap.jsonl` the report uses).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct BootstrapIteration {
    /// 0 = base model.
    pub iteration: usize,
    /// Test metrics.
    pub test: BootstrapTest,
}

/// The test metrics of a [`BootstrapIteration`].
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct BootstrapTest {
    /// Tasks evaluated.
    pub tasks: usize,
    /// Responses per task.
    pub samples: usize,
    /// Fraction solved.
    pub solved: f64,
    /// Fraction optimal.
    pub optimal: f64,
    /// Mean trace of optimal responses / mean A* trace of those tasks.
    pub relative_length: Option<f64>,
    /// Tasks with an optimal response.
    #[serde(default)]
    pub optimal_tasks: usize,
}

/// Everything the report uses about one run.
#[derive(Clone, Debug)]
pub struct RunData {
    /// Run name (directory under the runs directory).
    pub name: String,
    /// The resolved recipe (`recipe.toml`).
    pub recipe: Recipe,
    /// Eval summaries by eval name.
    pub evals: BTreeMap<String, EvalReport>,
    /// `recipe run` invocations, oldest first.
    pub invocations: Vec<Invocation>,
    /// `train/metrics.jsonl`, if present.
    pub metrics: Option<PathBuf>,
    /// Trainable parameters of the model (from the dataset's vocabulary), if known.
    pub parameters: Option<usize>,
    /// Bootstrap records, if present.
    pub bootstrap: Option<Vec<BootstrapIteration>>,
}

impl RunData {
    /// Wall seconds spent in stages that ran (all invocations), by stage prefix.
    pub fn seconds(&self, stage_prefix: &str) -> f64 {
        self.invocations
            .iter()
            .flat_map(|i| &i.stages)
            .filter(|s| s.action == StageAction::Ran && s.stage.starts_with(stage_prefix))
            .map(|s| s.secs)
            .sum()
    }

    /// The distinct command lines that ran this recipe, oldest first.
    pub fn commands(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for i in &self.invocations {
            let c = i.command.clone().unwrap_or_else(|| {
                let sets: Vec<String> = i
                    .overrides
                    .iter()
                    .map(|(k, v)| format!("--set {k}={v}"))
                    .collect();
                format!("(library call) overrides: {}", sets.join(" "))
            });
            if !out.contains(&c) {
                out.push(c);
            }
        }
        out
    }

    /// The model name (`tiny`, `m-s`, … or `custom`).
    pub fn model_name(&self) -> String {
        match &self.recipe.train.config().model {
            ModelSpec::Size(s) => s.name().to_string(),
            ModelSpec::Custom(_) => "custom".into(),
            ModelSpec::DecoderOnly(d) => format!("decoder-only-{}", d.preset),
        }
    }
}

fn read_bootstrap(path: &Path) -> Result<Vec<BootstrapIteration>> {
    let text = std::fs::read_to_string(path).map_err(RecipeError::io(path))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| RecipeError::Json {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
        })
        .collect()
}

fn read_invocations(path: &Path) -> Vec<Invocation> {
    std::fs::read_to_string(path)
        .map(|t| {
            t.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// One run, or `None` if `<runs>/<name>/recipe.toml` is missing.
pub fn load_run(runs_dir: &Path, name: &str) -> Result<Option<RunData>> {
    let layout = Layout::new(runs_dir);
    let dir = layout.run_dir(name);
    let recipe_path = dir.join(RECIPE_FILE);
    if !recipe_path.is_file() {
        return Ok(None);
    }
    let recipe = Recipe::from_file(&recipe_path)?;
    let mut evals = BTreeMap::new();
    for e in &recipe.evals {
        let p = layout.eval_dir(name, &e.name).join(SUMMARY_JSON);
        if p.is_file() {
            evals.insert(e.name.clone(), read_json::<EvalReport>(&p)?);
        }
    }
    let metrics = Some(layout.train_dir(name).join("metrics.jsonl")).filter(|p| p.is_file());
    let parameters = Manifest::load(&layout.dataset(&recipe.data.name))
        .ok()
        .and_then(|(m, _)| recipe.train.config().model.resolve(m.vocabulary.len()).ok())
        .map(|c| c.trainable_parameters());
    let boot = layout.bootstrap_dir(name).join("bootstrap.jsonl");
    let bootstrap = if boot.is_file() {
        Some(read_bootstrap(&boot)?)
    } else {
        None
    };
    Ok(Some(RunData {
        name: name.to_string(),
        invocations: read_invocations(&dir.join(INVOCATIONS_FILE)),
        recipe,
        evals,
        metrics,
        parameters,
        bootstrap,
    }))
}

/// Every run under `runs_dir` (directories with a `recipe.toml`), by name.
pub fn load_all(runs_dir: &Path) -> Result<BTreeMap<String, RunData>> {
    let mut out = BTreeMap::new();
    let entries = match std::fs::read_dir(runs_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(RecipeError::io(runs_dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(RecipeError::io(runs_dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(run) = load_run(runs_dir, &name)? {
            out.insert(name, run);
        }
    }
    Ok(out)
}

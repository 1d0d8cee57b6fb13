//! [`run_recipe`]: data → train → evals → bootstrap, each stage skipped when its output is
//! already there.
//!
//! Directory layout under the runs directory:
//!
//! ```text
//! <runs>/data/<data.name>/          dataset (shared by recipes naming it)
//! <runs>/<name>/recipe.toml         the resolved recipe (overrides applied)
//! <runs>/<name>/invocations.jsonl   one line per `recipe run`: command, stages, times
//! <runs>/<name>/train/              planform-train run (config.toml, metrics.jsonl, …)
//! <runs>/<name>/eval-<eval>/        summary.md, summary.json, tasks.jsonl, recipe-eval.json
//! <runs>/<name>/bootstrap/          planform-bootstrap output (bootstrap.jsonl, …)
//! ```
//!
//! Resumption rules:
//! - **data**: a dataset directory whose `manifest.json` config equals the recipe's is
//!   reused; one with another config is an error (never overwritten).
//! - **train**: `StartMode::Auto` — a finished run (latest checkpoint at `total_steps`, or
//!   stopped on a held-out loss plateau) is
//!   skipped, a partial one resumes from its latest checkpoint.
//! - **eval**: skipped when `recipe-eval.json` records the same eval settings and the same
//!   checkpoint step; otherwise (re)run. An `init` eval runs on a step-0 checkpoint written
//!   before the first training step.
//! - **bootstrap**: planform-bootstrap resumes from its own `state.json`.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use planform_data::{Dataset, Manifest};
use planform_eval::{EvalReport, SUMMARY_JSON};
use planform_train::checkpoint::{
    checkpoint_name, read_state, resolve_checkpoint, CHECKPOINTS_DIR,
};
use planform_train::{StartMode, TrainConfig, TrainData, Trainer};
use serde::{Deserialize, Serialize};

use crate::error::{RecipeError, Result};
use crate::recipe::{CheckpointChoice, EvalSpec, Recipe};

/// File (in the run directory) holding the resolved recipe.
pub const RECIPE_FILE: &str = "recipe.toml";
/// File (in the run directory) with one [`Invocation`] per line.
pub const INVOCATIONS_FILE: &str = "invocations.jsonl";
/// File (in an eval directory) recording what was evaluated.
pub const EVAL_MARKER: &str = "recipe-eval.json";

/// Paths of a runs directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout under `runs_dir`.
    pub fn new(runs_dir: impl Into<PathBuf>) -> Self {
        Layout {
            root: runs_dir.into(),
        }
    }
    /// The runs directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `<runs>/data/<name>`.
    pub fn dataset(&self, name: &str) -> PathBuf {
        self.root.join("data").join(name)
    }
    /// `<runs>/<recipe>`.
    pub fn run_dir(&self, recipe: &str) -> PathBuf {
        self.root.join(recipe)
    }
    /// `<runs>/<recipe>/train`.
    pub fn train_dir(&self, recipe: &str) -> PathBuf {
        self.run_dir(recipe).join("train")
    }
    /// `<runs>/<recipe>/eval-<eval>`.
    pub fn eval_dir(&self, recipe: &str, eval: &str) -> PathBuf {
        self.run_dir(recipe).join(format!("eval-{eval}"))
    }
    /// `<runs>/<recipe>/bootstrap`.
    pub fn bootstrap_dir(&self, recipe: &str) -> PathBuf {
        self.run_dir(recipe).join("bootstrap")
    }
}

/// What happened to a stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageAction {
    /// Ran (from scratch or resumed).
    Ran,
    /// Its output was already there.
    Skipped,
}

/// One stage of an invocation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    /// `data`, `train`, `eval-<name>` or `bootstrap`.
    pub stage: String,
    /// Ran or skipped.
    pub action: StageAction,
    /// One line: what was done or why it was skipped.
    pub detail: String,
    /// Wall seconds.
    pub secs: f64,
}

/// One `recipe run` (a line of `invocations.jsonl`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    /// The command line as given (for the report), if known.
    pub command: Option<String>,
    /// The overrides applied, in order.
    pub overrides: Vec<(String, String)>,
    /// Unix seconds at the start.
    pub started_unix: u64,
    /// Wall seconds of the whole invocation.
    pub secs: f64,
    /// The stages, in order.
    pub stages: Vec<StageRecord>,
    /// `None` if every stage finished, else the error.
    pub error: Option<String>,
}

/// What was evaluated (`recipe-eval.json`): an eval is skipped when this matches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalMarker {
    /// The eval settings.
    pub eval: EvalSpec,
    /// The checkpoint's training step.
    pub step: u64,
    /// The dataset directory.
    pub dataset: PathBuf,
}

/// Progress events of a run (all methods default to doing nothing).
pub trait Observer {
    /// A stage starts (`detail` says what it will do).
    fn stage_started(&mut self, _stage: &str, _detail: &str) {}
    /// A stage finished or was skipped.
    fn stage_finished(&mut self, _record: &StageRecord) {}
    /// Dataset generation progress (tasks stored, total).
    fn gen_progress(&mut self, _done: u64, _total: u64) {}
    /// After every training step; `Break` stops the run (an error).
    fn train_progress(&mut self, _p: &planform_train::Progress) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
    /// Evaluation progress.
    fn eval_progress(&mut self, _p: &planform_eval::Progress) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

/// How to run a recipe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// The runs directory.
    pub runs_dir: PathBuf,
    /// The overrides that were applied to the recipe (recorded, not applied again).
    pub overrides: Vec<(String, String)>,
    /// The command line that started the run (recorded for the report).
    pub command: Option<String>,
}

/// The result of [`run_recipe`].
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// Stages in order.
    pub stages: Vec<StageRecord>,
    /// Each eval's report, in recipe order (read back from disk when skipped).
    pub evals: Vec<(EvalSpec, EvalReport)>,
    /// Final training step.
    pub train_step: u64,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Writes `bytes` to `path` atomically (temporary sibling + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(RecipeError::io(dir))?;
    }
    planform_core::fs::write_atomic(path, bytes).map_err(RecipeError::io(path))
}

fn append_line(path: &Path, line: &str) -> Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(RecipeError::io(path))?;
    writeln!(f, "{line}").map_err(RecipeError::io(path))
}

/// Reads a JSON file into `T`.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(RecipeError::io(path))?;
    serde_json::from_str(&text).map_err(|e| RecipeError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Runs `recipe` (already overridden and validated) under `opts.runs_dir`, reporting
/// progress to `obs`. Appends an [`Invocation`] to the run's `invocations.jsonl` whether
/// it succeeds or not.
pub fn run_recipe(
    recipe: &Recipe,
    opts: &RunOptions,
    obs: &mut dyn Observer,
) -> Result<RunOutcome> {
    recipe.validate()?;
    let layout = Layout::new(&opts.runs_dir);
    let run_dir = layout.run_dir(&recipe.name);
    // One writer per recipe run (creates the directory).
    let _lock = planform_core::lock::RunLock::acquire(&run_dir)
        .map_err(planform_train::TrainError::from)?;
    write_atomic(&run_dir.join(RECIPE_FILE), recipe.to_toml()?.as_bytes())?;
    let started = Instant::now();
    let started_unix = now_unix();
    let mut stages = Vec::new();
    let result = run_stages(recipe, &layout, obs, &mut stages);
    let inv = Invocation {
        command: opts.command.clone(),
        overrides: opts.overrides.clone(),
        started_unix,
        secs: started.elapsed().as_secs_f64(),
        stages: stages.clone(),
        error: result.as_ref().err().map(|e| e.to_string()),
    };
    let line = serde_json::to_string(&inv).map_err(|e| RecipeError::Json {
        path: run_dir.join(INVOCATIONS_FILE),
        message: e.to_string(),
    })?;
    append_line(&run_dir.join(INVOCATIONS_FILE), &line)?;
    let (evals, train_step) = result?;
    Ok(RunOutcome {
        stages,
        evals,
        train_step,
    })
}

type StagesResult = (Vec<(EvalSpec, EvalReport)>, u64);

fn finish(obs: &mut dyn Observer, stages: &mut Vec<StageRecord>, rec: StageRecord) {
    obs.stage_finished(&rec);
    stages.push(rec);
}

fn run_stages(
    recipe: &Recipe,
    layout: &Layout,
    obs: &mut dyn Observer,
    stages: &mut Vec<StageRecord>,
) -> Result<StagesResult> {
    let threads = recipe.train.config().threads;
    if let Some(n) = threads {
        tch::set_num_threads(n as i32);
    }
    // data
    let t0 = Instant::now();
    let data_dir = layout.dataset(&recipe.data.name);
    let (action, detail) = ensure_dataset(recipe, &data_dir, threads.unwrap_or(0), obs)?;
    finish(
        obs,
        stages,
        StageRecord {
            stage: "data".into(),
            action,
            detail,
            secs: t0.elapsed().as_secs_f64(),
        },
    );

    // train (with init evals before the first step)
    let train_dir = layout.train_dir(&recipe.name);
    let cfg = recipe.train.resolve(&data_dir, &train_dir);
    let t0 = Instant::now();
    let mut init_reports = Vec::new();
    let (action, detail, step) =
        run_training(recipe, layout, &cfg, obs, &mut init_reports, stages)?;
    finish(
        obs,
        stages,
        StageRecord {
            stage: "train".into(),
            action,
            detail,
            secs: t0.elapsed().as_secs_f64(),
        },
    );

    // final evals
    let final_ck = resolve_checkpoint(&train_dir)?;
    let mut reports = Vec::new();
    for spec in &recipe.evals {
        match spec.checkpoint {
            CheckpointChoice::Init => {
                let report = match init_reports.iter().find(|(n, _)| *n == spec.name) {
                    Some((_, r)) => Some(r.clone()),
                    None => {
                        let ck = train_dir.join(CHECKPOINTS_DIR).join(checkpoint_name(0));
                        run_eval(recipe, layout, spec, &ck, 0, &cfg, obs, stages)?
                    }
                };
                if let Some(r) = report {
                    reports.push((spec.clone(), r));
                }
            }
            CheckpointChoice::Final => {
                if let Some(r) = run_eval(recipe, layout, spec, &final_ck, step, &cfg, obs, stages)?
                {
                    reports.push((spec.clone(), r));
                }
            }
        }
    }

    // bootstrap
    if let Some(b) = &recipe.bootstrap {
        let t0 = Instant::now();
        let out = layout.bootstrap_dir(&recipe.name);
        obs.stage_started(
            "bootstrap",
            &format!("Searchformer bootstrapping into {}", out.display()),
        );
        let detail = crate::bootstrap::run(b, &train_dir, &data_dir, &out, &cfg, obs)?;
        finish(
            obs,
            stages,
            StageRecord {
                stage: "bootstrap".into(),
                action: StageAction::Ran,
                detail,
                secs: t0.elapsed().as_secs_f64(),
            },
        );
    }
    Ok((reports, step))
}

/// Top-level fields of two JSON objects that differ.
fn differing_fields(a: &serde_json::Value, b: &serde_json::Value) -> String {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return "everything".into();
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let diff: Vec<&str> = keys
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| k.as_str())
        .collect();
    if diff.is_empty() {
        "nothing visible".into()
    } else {
        diff.join(", ")
    }
}

/// Makes sure the recipe's dataset exists in `dir`: reuses one generated with the same
/// config, refuses one generated with another, generates it otherwise. When another
/// process generated the same dataset at the same time, its copy is reused.
pub fn ensure_dataset(
    recipe: &Recipe,
    dir: &Path,
    threads: usize,
    obs: &mut dyn Observer,
) -> Result<(StageAction, String)> {
    let want = recipe.data.generate_config();
    if dir.exists() {
        let (manifest, _) = Manifest::load(dir)?;
        if !manifest.config.same_rows(&want) {
            let to_json = |c: &planform_data::GenerateConfig| {
                serde_json::to_value(c).unwrap_or(serde_json::Value::Null)
            };
            return Err(RecipeError::DatasetMismatch {
                path: dir.to_path_buf(),
                fields: differing_fields(&to_json(&manifest.config), &to_json(&want)),
            });
        }
        return Ok((
            StageAction::Skipped,
            format!(
                "dataset {} exists with the same config ({} train + {} test tasks)",
                dir.display(),
                manifest.train.tasks,
                manifest.test.tasks
            ),
        ));
    }
    obs.stage_started(
        "data",
        &format!(
            "generating {} tasks ({}) into {}",
            want.num_tasks,
            want.domain.name(),
            dir.display()
        ),
    );
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(RecipeError::io(parent))?;
    }
    let m = match planform_data::generate(&want, dir, threads, |d, t| obs.gen_progress(d, t)) {
        Ok(m) => m,
        // Committed meanwhile by another process: reuse it if it is the same dataset.
        Err(e) if dir.join(planform_data::MANIFEST_FILE).is_file() => {
            let (manifest, _) = Manifest::load(dir)?;
            if !manifest.config.same_rows(&want) {
                return Err(e.into());
            }
            return Ok((
                StageAction::Skipped,
                format!(
                    "dataset {} was generated meanwhile by another run",
                    dir.display()
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    Ok((
        StageAction::Ran,
        format!(
            "generated {} ({} train + {} test tasks)",
            dir.display(),
            m.train.tasks,
            m.test.tasks
        ),
    ))
}

/// Parts of a training config that decide the trained weights (as planform-train's resume
/// check); used to refuse reusing a finished run made with other settings.
fn train_identity(cfg: &TrainConfig) -> serde_json::Value {
    let mut v = serde_json::json!({
        "seed": cfg.seed,
        "model": cfg.model,
        "trace": cfg.trace,
        "data": cfg.data,
        "batch": cfg.batch,
        "optim": cfg.optim,
        "init_from": cfg.init_from,
    });
    if let Some(d) = v.get_mut("data").and_then(|d| d.as_object_mut()) {
        d.remove("eval_examples");
    }
    v
}

#[allow(clippy::type_complexity)]
fn run_training(
    recipe: &Recipe,
    layout: &Layout,
    cfg: &TrainConfig,
    obs: &mut dyn Observer,
    init_reports: &mut Vec<(String, EvalReport)>,
    stages: &mut Vec<StageRecord>,
) -> Result<(StageAction, String, u64)> {
    let total = cfg.optim.total_steps;
    if let Ok(ck) = resolve_checkpoint(&cfg.out_dir) {
        let state = read_state(&ck)?;
        if state.finished() {
            let (have, want) = (train_identity(&state.config), train_identity(cfg));
            if have != want {
                return Err(RecipeError::invalid(
                    "train",
                    format!(
                        "run {} finished with other training settings (differs in: {}); \
                         delete it or run under another name (--set name=…)",
                        cfg.out_dir.display(),
                        differing_fields(&have, &want)
                    ),
                ));
            }
            let how = match state.plateau.stopped_at {
                Some(s) => format!("stopped at step {s}: the held-out loss had plateaued"),
                None => format!("finished at step {}", state.step),
            };
            return Ok((
                StageAction::Skipped,
                format!("run {} already {how}", cfg.out_dir.display()),
                state.step,
            ));
        }
    }
    obs.stage_started(
        "train",
        &format!("training {} for {total} steps", cfg.out_dir.display()),
    );
    let data = TrainData::load(&cfg.data_dir, &cfg.data)?;
    let mut trainer = Trainer::new(cfg.clone(), data, StartMode::Auto)?;
    let start_step = trainer.step();
    let wants_init = recipe
        .evals
        .iter()
        .any(|e| e.checkpoint == CheckpointChoice::Init);
    if start_step == 0 && wants_init {
        let ck = trainer.checkpoint()?;
        for spec in recipe
            .evals
            .iter()
            .filter(|e| e.checkpoint == CheckpointChoice::Init)
        {
            if let Some(r) = run_eval(recipe, layout, spec, &ck, 0, cfg, obs, stages)? {
                init_reports.push((spec.name.clone(), r));
            }
        }
    }
    let summary = trainer.run(&mut |p| obs.train_progress(p))?;
    if !summary.completed {
        return Err(RecipeError::Stopped(cfg.out_dir.display().to_string()));
    }
    let how = if start_step > 0 {
        format!("resumed at step {start_step}, ")
    } else {
        String::new()
    };
    let loss = summary
        .last_eval
        .map(|e| format!(", test loss {:.4}", e.metrics.loss))
        .unwrap_or_default();
    let how = match summary.stopped_on_plateau {
        Some(s) => format!("{how}stopped on a held-out loss plateau at step {s} of {total}, "),
        None => how,
    };
    Ok((
        StageAction::Ran,
        format!(
            "{how}trained to step {} ({:.0} s, {} tokens{loss})",
            summary.step, summary.elapsed_secs, summary.tokens_seen
        ),
        summary.step,
    ))
}

#[allow(clippy::too_many_arguments)]
fn run_eval(
    recipe: &Recipe,
    layout: &Layout,
    spec: &EvalSpec,
    checkpoint: &Path,
    step: u64,
    train: &TrainConfig,
    obs: &mut dyn Observer,
    stages: &mut Vec<StageRecord>,
) -> Result<Option<EvalReport>> {
    let stage = format!("eval-{}", spec.name);
    let out = layout.eval_dir(&recipe.name, &spec.name);
    let marker_path = out.join(EVAL_MARKER);
    let dataset = train.data_dir.clone();
    let marker = EvalMarker {
        eval: spec.clone(),
        step,
        dataset: dataset.clone(),
    };
    let t0 = Instant::now();
    if let Ok(old) = read_json::<EvalMarker>(&marker_path) {
        if old == marker {
            if let Ok(report) = read_json::<EvalReport>(&out.join(SUMMARY_JSON)) {
                finish(
                    obs,
                    stages,
                    StageRecord {
                        stage,
                        action: StageAction::Skipped,
                        detail: format!("{} exists for step {step}", out.display()),
                        secs: 0.0,
                    },
                );
                return Ok(Some(report));
            }
        }
    }
    if !checkpoint.exists() {
        finish(
            obs,
            stages,
            StageRecord {
                stage,
                action: StageAction::Skipped,
                detail: format!(
                    "checkpoint {} no longer exists (an `init` eval must run before the \
                     first training step)",
                    checkpoint.display()
                ),
                secs: 0.0,
            },
        );
        return Ok(None);
    }
    obs.stage_started(
        &stage,
        &format!(
            "{} mode, {} tasks × {} samples at step {step}",
            spec.mode, spec.tasks, spec.samples
        ),
    );
    let cfg = spec.eval_config(checkpoint, &dataset, train);
    // Make sure the dataset opens before decoding (a clear error naming it).
    Dataset::open(&dataset)?;
    let eval = planform_eval::evaluate(&cfg, &mut |p| obs.eval_progress(p))?;
    eval.write(&out)?;
    let json = serde_json::to_vec_pretty(&marker).map_err(|e| RecipeError::Json {
        path: marker_path.clone(),
        message: e.to_string(),
    })?;
    write_atomic(&marker_path, &json)?;
    let s = &eval.report.metrics.summary;
    finish(
        obs,
        stages,
        StageRecord {
            stage,
            action: StageAction::Ran,
            detail: format!(
                "solved {:.1}%, optimal {:.1}% ({} tasks × {})",
                100.0 * s.solved,
                100.0 * s.optimal,
                eval.report.metrics.tasks,
                spec.samples
            ),
            secs: t0.elapsed().as_secs_f64(),
        },
    );
    Ok(Some(eval.report))
}

/// The held-out loss records of a training run's `metrics.jsonl` (step 0 first when the
/// run evaluated at start).
pub fn eval_records(train_dir: &Path) -> Result<Vec<planform_train::EvalRecord>> {
    let path = train_dir.join(planform_train::metrics::METRICS_FILE);
    let text = std::fs::read_to_string(&path).map_err(RecipeError::io(&path))?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let rec: planform_train::MetricsRecord =
            serde_json::from_str(line).map_err(|e| RecipeError::Json {
                path: path.clone(),
                message: e.to_string(),
            })?;
        if let planform_train::MetricsRecord::Eval(e) = rec {
            out.push(e);
        }
    }
    Ok(out)
}

/// A markdown table of evaluation results (one row per eval).
pub fn eval_table(evals: &[(EvalSpec, EvalReport)]) -> String {
    let mut s = String::from(
        "| eval | checkpoint | mode | tasks × k | solved | optimal | SWC | mean trace tokens | \
         response / A* trace |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for (spec, r) in evals {
        let m = &r.metrics;
        s.push_str(&format!(
            "| {} | step {} | {} | {} × {} | {:.1}% | {:.1}% | {:.3} | {:.1} | {} |\n",
            spec.name,
            r.header.step,
            r.header.mode,
            m.tasks,
            m.samples_per_task,
            100.0 * m.summary.solved,
            100.0 * m.summary.optimal,
            m.summary.swc,
            m.trace.mean,
            m.trace_ratio
                .map_or("–".into(), |x| format!("{:.1}%", 100.0 * x)),
        ));
    }
    s
}

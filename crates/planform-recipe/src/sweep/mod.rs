//! [`Sweep`]: one TOML file = a grid of recipe runs (a study), run unattended and resumably,
//! aggregated across seeds.
//!
//! ```toml
//! name = "mobilellm-design"               # outputs under <runs>/<name>/
//! description = "MobileLLM's design choices on 7×7 maze planning"
//! recipe = "maze7-design-base.toml"       # the base recipe, relative to this file
//! set = ["train.optim.total_steps=3000"]  # overrides applied to every point (optional)
//! seeds = [0, 1, 2]                       # the seed axis (train.seed); default [0]
//! parallel = 2                            # points run at once (each one process)
//!
//! [[axis]]                                # a field axis: one point per value
//! name = "n"
//! field = "train.data.train_examples"
//! values = [1000, 3000, 10000]
//!
//! [[axis]]                                # a named axis: each point a set of overrides
//! name = "arm"
//! [[axis.point]]
//! name = "deep-thin"
//! set = ["train.model.decoder-only.layers=12", "train.model.decoder-only.dim=96"]
//!
//! [[exclude]]                             # optional: grid points left out
//! arm = "balanced"
//!
//! [[claim]]                               # optional: verdicts computed from the results
//! name = "deep-thin beats shallow-wide at equal size"
//! metric = "final_eval_loss"
//! kind = "better"                         # or "not-worse" (with `margin`)
//! a = { arm = "deep-thin" }
//! b = { arm = "shallow-wide" }
//! ```
//!
//! The grid is the product of the axes and the seeds. Point `i` is the base recipe with the
//! sweep's `set`, then each axis's overrides, then `train.seed=<seed>`, each layer applied on
//! the previous (a later layer may change a field an earlier one set); its recipe name is
//! `p-<axis values>-s<seed>` and it runs under the runs directory `<runs>/<name>`, so points
//! that share a dataset share `<runs>/<name>/data/…`.
//!
//! Resumption: a point is done when `<runs>/<name>/<point>/result.json` exists (written
//! after its recipe finished); others are (re)launched, and the recipe runner resumes their
//! stages (training from its last checkpoint). Killing a sweep at any moment and running it
//! again therefore finishes the same grid with the same numbers.
//!
//! [`summarize`] groups the results by everything but the seed: mean, standard error across
//! seeds (sample standard deviation / √n) and the per-seed values, per metric; the claims'
//! verdicts use a 2-standard-error rule on the difference of means.

mod aggregate;
pub mod archive;
mod figures;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use planform_core::overrides::Override;
use serde::{Deserialize, Serialize};

use crate::error::{RecipeError, Result};
use crate::overrides::parse_overrides;
use crate::recipe::{valid_name, Recipe};
use crate::runner::{write_atomic, Layout};

pub use aggregate::{
    collect_result, summarize, Claim, ClaimKind, GroupSummary, MetricSummary, PointResult,
    SweepSummary, Verdict,
};
pub use figures::write_figures;

/// File (in a point's run directory) holding its collected metrics; its presence marks the
/// point done.
pub const RESULT_FILE: &str = "result.json";
/// Summary files in `<runs>/<sweep>/`.
pub const SUMMARY_JSON: &str = "summary.json";
/// Markdown summary.
pub const SUMMARY_MD: &str = "summary.md";

/// One axis of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    /// Axis name (a column of the summary).
    pub name: String,
    /// A field axis: the dotted field set to each of `values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The values of a field axis (TOML values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<toml::Value>,
    /// The points of a named axis.
    #[serde(default, rename = "point", skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<AxisPoint>,
}

/// One point of a named axis: a name and its overrides.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxisPoint {
    /// The point's name (lower-case letters, digits, `.`, `_`, `-`).
    pub name: String,
    /// Overrides, `FIELD=VALUE`.
    #[serde(default)]
    pub set: Vec<String>,
}

impl Axis {
    /// `(label, overrides)` of every point of the axis.
    fn points(&self) -> Result<Vec<(String, Vec<String>)>> {
        match (&self.field, self.values.is_empty(), self.points.is_empty()) {
            (Some(field), false, true) => Ok(self
                .values
                .iter()
                .map(|v| {
                    let text = v.to_string();
                    (label_of(v), vec![format!("{field}={text}")])
                })
                .collect()),
            (None, true, false) => Ok(self
                .points
                .iter()
                .map(|p| (p.name.clone(), p.set.clone()))
                .collect()),
            _ => Err(RecipeError::invalid(
                format!("axis.{}", self.name),
                "give either `field` with `values`, or `[[axis.point]]`s",
            )),
        }
    }
}

/// A value as a point label: strings as they are, numbers and booleans as written.
fn label_of(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn default_seeds() -> Vec<u64> {
    vec![0]
}

fn default_parallel() -> usize {
    1
}

/// A sweep file (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    /// Name: outputs under `<runs>/<name>/`.
    pub name: String,
    /// One line.
    pub description: String,
    /// The base recipe file (relative paths are relative to the sweep file).
    pub recipe: PathBuf,
    /// Overrides of every point.
    #[serde(default)]
    pub set: Vec<String>,
    /// Seeds (`train.seed`). Default `[0]`.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// Points run at once. Default 1.
    #[serde(default = "default_parallel")]
    pub parallel: usize,
    /// The axes.
    #[serde(default, rename = "axis")]
    pub axes: Vec<Axis>,
    /// Claims to decide from the results.
    #[serde(default, rename = "claim")]
    pub claims: Vec<Claim>,
    /// Grid points left out: each entry's `axis = label` pairs all match a left-out point
    /// (e.g. `{ model = "mini", n = "3000" }`), for grids where a second axis covers fewer
    /// values.
    #[serde(default, rename = "exclude")]
    pub excludes: Vec<std::collections::BTreeMap<String, String>>,
}

/// One point of the grid: its name, axis labels, seed and resolved recipe.
#[derive(Clone, Debug)]
pub struct PointJob {
    /// Recipe name (`p-<labels>-s<seed>`), also its run directory under the sweep.
    pub name: String,
    /// `(axis, label)` per axis, in axis order.
    pub labels: Vec<(String, String)>,
    /// The seed.
    pub seed: u64,
    /// The resolved recipe.
    pub recipe: Recipe,
    /// Where the resolved recipe file is written (`<runs>/<sweep>/points/<name>.toml`).
    pub recipe_file: PathBuf,
    /// The sweep's runs directory (`<runs>/<sweep>`), the recipe runner's `--runs-dir`.
    pub runs_dir: PathBuf,
}

impl PointJob {
    /// The point's run directory.
    pub fn run_dir(&self) -> PathBuf {
        Layout::new(&self.runs_dir).run_dir(&self.name)
    }

    /// Whether the point has finished (its result was collected).
    pub fn is_done(&self) -> bool {
        self.run_dir().join(RESULT_FILE).is_file()
    }
}

/// Something that runs one point's recipe to the end (blocking): in-process for tests, a
/// child `planform recipe run` process for the CLI.
pub trait Launcher: Sync {
    /// Runs `job`'s recipe (`job.recipe_file` exists); an error fails the point.
    fn launch(&self, job: &PointJob) -> Result<()>;
}

/// Progress of [`run_sweep`].
#[derive(Clone, Debug, PartialEq)]
pub struct SweepProgress {
    /// Points done (including those done before this run).
    pub done: usize,
    /// Points in the grid.
    pub total: usize,
    /// Points running now.
    pub running: usize,
    /// Points that failed in this run.
    pub failed: usize,
    /// The point this event is about and what happened (`started`, `done in 12 min`, …).
    pub event: String,
    /// Estimated seconds to the end (from the points finished in this run).
    pub eta_secs: Option<f64>,
}

impl Sweep {
    /// Parses and validates a sweep file's text.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Sweep> {
        let s: Sweep = toml::from_str(text).map_err(|e| RecipeError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        s.validate()?;
        Ok(s)
    }

    /// Reads a sweep file; a relative `recipe` is made relative to the file's directory.
    pub fn from_file(path: &Path) -> Result<Sweep> {
        let text = std::fs::read_to_string(path).map_err(RecipeError::io(path))?;
        let mut s = Sweep::from_toml_str(&text, &path.display().to_string())?;
        if s.recipe.is_relative() {
            s.recipe = planform_core::fs::parent_dir(path).join(&s.recipe);
        }
        Ok(s)
    }

    /// Checks names, axes and claims.
    pub fn validate(&self) -> Result<()> {
        if !valid_name(&self.name) {
            return Err(RecipeError::invalid(
                "name",
                format!("{:?} is not a valid name", self.name),
            ));
        }
        if self.seeds.is_empty() {
            return Err(RecipeError::invalid("seeds", "at least one seed"));
        }
        if self.parallel == 0 || self.parallel > 64 {
            return Err(RecipeError::invalid("parallel", "must be in 1..=64"));
        }
        let mut names: Vec<&str> = Vec::new();
        for a in &self.axes {
            if !valid_name(&a.name) || a.name == "seed" || names.contains(&a.name.as_str()) {
                return Err(RecipeError::invalid(
                    format!("axis.{}", a.name),
                    "axis names must be valid, distinct and not `seed`",
                ));
            }
            names.push(&a.name);
            for (label, sets) in a.points()? {
                if label.is_empty() || label.contains('/') {
                    return Err(RecipeError::invalid(
                        format!("axis.{}", a.name),
                        format!("point label {label:?} cannot name a directory"),
                    ));
                }
                parse_overrides(&sets)?;
            }
        }
        parse_overrides(&self.set)?;
        for c in &self.claims {
            c.validate(&self.axes)?;
        }
        for e in &self.excludes {
            if let Some(k) = e.keys().find(|k| !self.axes.iter().any(|a| &a.name == *k)) {
                return Err(RecipeError::invalid(
                    "exclude",
                    format!("no axis named {k:?}"),
                ));
            }
        }
        Ok(())
    }

    /// Every point of the grid, resolved against `base` (the base recipe), in grid order
    /// (axes outermost first, seeds innermost).
    pub fn plan(&self, base: &Recipe, runs: &Path, extra: &[Override]) -> Result<Vec<PointJob>> {
        let runs_dir = runs.join(&self.name);
        let mut grid: Vec<Vec<(String, String, Vec<String>)>> = vec![Vec::new()];
        for a in &self.axes {
            let pts = a.points()?;
            grid = grid
                .into_iter()
                .flat_map(|prefix| {
                    pts.iter().map(move |(label, sets)| {
                        let mut p = prefix.clone();
                        p.push((a.name.clone(), label.clone(), sets.clone()));
                        p
                    })
                })
                .collect();
        }
        let common = parse_overrides(&self.set)?;
        let excluded = |point: &[(String, String, Vec<String>)]| {
            self.excludes.iter().any(|e| {
                e.iter()
                    .all(|(k, v)| point.iter().any(|(a, l, _)| a == k && l == v))
            })
        };
        grid.retain(|p| !excluded(p));
        let mut jobs = Vec::new();
        for point in grid {
            for &seed in &self.seeds {
                let labels: Vec<String> = point.iter().map(|(_, l, _)| slug(l)).collect();
                let mut name = String::from("p");
                for l in &labels {
                    name.push('-');
                    name.push_str(l);
                }
                name.push_str(&format!("-s{seed}"));
                // Layers, each applied on the previous: the sweep's `set`, each axis's point,
                // the seed and name, then the command line's overrides (a later layer may
                // change what an earlier one set).
                let mut layers = vec![common.clone()];
                for (_, _, sets) in &point {
                    layers.push(parse_overrides(sets)?);
                }
                layers.push(parse_overrides(&[
                    format!("train.seed={seed}"),
                    format!("name={name:?}"),
                ])?);
                layers.push(extra.to_vec());
                let mut recipe = base.clone();
                for layer in &layers {
                    recipe = recipe.with_overrides(layer).map_err(|e| {
                        RecipeError::invalid(format!("point {name}"), e.to_string())
                    })?;
                }
                jobs.push(PointJob {
                    recipe_file: runs_dir.join("points").join(format!("{name}.toml")),
                    name,
                    labels: point
                        .iter()
                        .map(|(a, l, _)| (a.clone(), l.clone()))
                        .collect(),
                    seed,
                    recipe,
                    runs_dir: runs_dir.clone(),
                });
            }
        }
        Ok(jobs)
    }
}

/// A label as part of a recipe name: lower-case, anything but `[a-z0-9._]` as `_`.
fn slug(label: &str) -> String {
    label
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Runs every point that is not done, `sweep.parallel` at a time, collecting each point's
/// result as it finishes (and, with `archive`, storing it there: [`archive::store`]); then
/// writes the summary. Returns it (with the failures, if any).
pub fn run_sweep(
    sweep: &Sweep,
    jobs: &[PointJob],
    launcher: &dyn Launcher,
    progress: &(dyn Fn(&SweepProgress) + Sync),
    archive: Option<&Path>,
) -> Result<(SweepSummary, Vec<(String, String)>)> {
    let runs_dir = jobs
        .first()
        .map(|j| j.runs_dir.clone())
        .ok_or_else(|| RecipeError::invalid("axis", "the sweep has no points"))?;
    std::fs::create_dir_all(runs_dir.join("points")).map_err(RecipeError::io(&runs_dir))?;
    for j in jobs {
        write_atomic(&j.recipe_file, j.recipe.to_toml()?.as_bytes())?;
    }
    let total = jobs.len();
    let todo: Vec<&PointJob> = jobs.iter().filter(|j| !j.is_done()).collect();
    // Datasets first, one at a time, so that points running in parallel never generate the
    // same dataset twice.
    let mut prepared: Vec<&str> = Vec::new();
    for j in &todo {
        if !prepared.contains(&j.recipe.data.name.as_str()) {
            prepared.push(&j.recipe.data.name);
            let dir = Layout::new(&j.runs_dir).dataset(&j.recipe.data.name);
            let threads = j.recipe.train.config().threads.unwrap_or(0);
            let (_, detail) =
                crate::runner::ensure_dataset(&j.recipe, &dir, threads, &mut crate::runner::Quiet)?;
            progress(&SweepProgress {
                done: total - todo.len(),
                total,
                running: 0,
                failed: 0,
                event: detail,
                eta_secs: None,
            });
        }
    }
    struct State {
        next: usize,
        done: usize,
        running: usize,
        failed: Vec<(String, String)>,
        finished_secs: Vec<f64>,
    }
    let state = Mutex::new(State {
        next: 0,
        done: total - todo.len(),
        running: 0,
        failed: Vec::new(),
        finished_secs: Vec::new(),
    });
    let workers = sweep.parallel.min(todo.len()).max(1);
    let report = |s: &State, event: String| {
        let eta = (!s.finished_secs.is_empty()).then(|| {
            let mean = s.finished_secs.iter().sum::<f64>() / s.finished_secs.len() as f64;
            let left = (total - s.done - s.failed.len()) as f64;
            mean * left / workers as f64
        });
        progress(&SweepProgress {
            done: s.done,
            total,
            running: s.running,
            failed: s.failed.len(),
            event,
            eta_secs: eta,
        });
    };
    report(
        &state.lock().expect("sweep state"),
        format!(
            "{} of {total} points to run, {workers} at a time",
            todo.len()
        ),
    );
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let job = {
                    let mut s = state.lock().expect("sweep state");
                    let Some(job) = todo.get(s.next).copied() else {
                        break;
                    };
                    s.next += 1;
                    s.running += 1;
                    report(&s, format!("{}: started", job.name));
                    job
                };
                let t0 = Instant::now();
                let outcome = launcher.launch(job).and_then(|()| {
                    collect_result(job)?;
                    archive.map_or(Ok(()), |dir| archive::store(job, dir))
                });
                let secs = t0.elapsed().as_secs_f64();
                let mut s = state.lock().expect("sweep state");
                s.running -= 1;
                match outcome {
                    Ok(()) => {
                        s.done += 1;
                        s.finished_secs.push(secs);
                        report(&s, format!("{}: done in {:.1} min", job.name, secs / 60.0));
                    }
                    Err(e) => {
                        s.failed.push((job.name.clone(), e.to_string()));
                        report(&s, format!("{}: FAILED: {e}", job.name));
                    }
                }
            });
        }
    });
    let failed = state.into_inner().expect("sweep state").failed;
    let summary = summarize(sweep, jobs)?;
    Ok((summary, failed))
}

/// Writes `summary.json`, `summary.md` and the figures of `summary` into `dir`.
pub fn write_summary(
    sweep: &Sweep,
    summary: &SweepSummary,
    dir: &Path,
    command: &str,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(RecipeError::io(dir))?;
    let json = serde_json::to_vec_pretty(summary).map_err(|e| RecipeError::Json {
        path: dir.join(SUMMARY_JSON),
        message: e.to_string(),
    })?;
    write_atomic(&dir.join(SUMMARY_JSON), &json)?;
    let figures = write_figures(summary, dir)?;
    let md = aggregate::markdown(sweep, summary, command, &figures);
    write_atomic(&dir.join(SUMMARY_MD), md.as_bytes())?;
    Ok(())
}

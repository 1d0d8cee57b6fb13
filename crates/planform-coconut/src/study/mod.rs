//! A study: several arms (run configs) × seeds, run resumably, summarised as a table with
//! seed-level error bars and verdicts on stated claims.
//!
//! ```toml
//! name = "prosqa-table1"                 # outputs under <runs>/<name>/
//! description = "Table 1 at CPU scale"
//! arms = ["prosqa-cot.toml", "prosqa-coconut.toml"]   # run configs, relative to this file
//! seeds = [0, 1, 2]
//! parallel = 1                           # runs at once (threads of this process)
//! paper = "prosqa"                       # print the paper's ProsQA column (optional)
//!
//! [[claim]]
//! name = "Coconut beats CoT"
//! kind = "better"                        # better | similar (with margin) | fewer-tokens
//! metric = "accuracy"                    # accuracy | optimal | tokens
//! a = "prosqa-coconut"                   # arm = run name
//! b = "prosqa-cot"
//! ```
//!
//! A run is done when its `result.json` exists; others resume from their checkpoint, so a
//! killed study finishes the same grid with the same numbers when run again. With a report
//! directory (`planform coconut study … --report-to docs/studies/x`), the summary is written
//! there too and every finished run is archived as `<dir>/points/<run>-s<seed>.json` (its
//! configuration and result): the runs directory is not committed, the report directory is,
//! so a fresh clone counts an archived run as done when its configuration is unchanged. Verdicts use
//! the difference of the arm means and its standard error `√(se_a² + se_b²)` (`se` = sample
//! standard deviation / √seeds): **better** holds when the difference exceeds 2 standard
//! errors, is **reversed** below −2, else **inconclusive**; **similar** holds when the
//! 2-standard-error interval of the difference lies inside ±margin and fails when it lies
//! outside; an arm with one seed has no standard error, so its claims get no verdict
//! ("one seed: no verdict": a pilot).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use planform_core::fs::write_atomic;
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::error::{CoconutError, Result};
use crate::train::{run_dir, train_run, RunResult};

mod summary;

use summary::write_summary;
pub use summary::{paper_prosqa, summarize, ArmSummary, Stat, StudySummary, Verdict};

/// What a claim compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// Test accuracy (maze: correct plans).
    Accuracy,
    /// Optimal plans.
    Optimal,
    /// Generated tokens (thoughts + language).
    Tokens,
}

/// How.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClaimKind {
    /// `a` higher than `b`.
    Better,
    /// `a` within `margin` of `b`.
    Similar,
    /// `a` lower than `b` (tokens).
    FewerTokens,
}

/// One claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// Name in the table.
    pub name: String,
    /// Kind.
    pub kind: ClaimKind,
    /// Metric (ignored by `fewer-tokens`). Default accuracy.
    #[serde(default = "accuracy")]
    pub metric: Metric,
    /// Arm (run name).
    pub a: String,
    /// Arm compared with.
    pub b: String,
    /// `similar`: the allowed difference (fraction). Default 0.05.
    #[serde(default = "five_points")]
    pub margin: f64,
}

fn accuracy() -> Metric {
    Metric::Accuracy
}
fn five_points() -> f64 {
    0.05
}
fn one() -> usize {
    1
}

/// A study file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyConfig {
    /// Name (outputs under `<runs>/<name>/`).
    pub name: String,
    /// One line.
    #[serde(default)]
    pub description: String,
    /// Run configs, relative to the study file.
    pub arms: Vec<PathBuf>,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Runs at once. Default 1.
    #[serde(default = "one")]
    pub parallel: usize,
    /// `"prosqa"`: show the paper's ProsQA numbers beside.
    #[serde(default)]
    pub paper: Option<String>,
    /// Claims to judge.
    #[serde(default, rename = "claim")]
    pub claims: Vec<Claim>,
    /// A run config (relative to the study file) trained once before the arms, under
    /// `<runs>/<study>/`; every arm then starts from its weights (its `init_from`), e.g. a CoT
    /// model of small graphs as the common start of the arms (the paper's arms all start from
    /// pretrained GPT-2). Skipped when every arm is archived. Default: none.
    #[serde(default)]
    pub start: Option<PathBuf>,
    /// The loaded `start` config (filled by [`StudyConfig::load`]).
    #[serde(skip)]
    pub start_config: Option<RunConfig>,
}

impl StudyConfig {
    /// Reads a study file; returns it and its arms' configs.
    pub fn load(path: &Path) -> Result<(Self, Vec<RunConfig>)> {
        let text = std::fs::read_to_string(path).map_err(|e| CoconutError::io(path, e))?;
        let cfg: StudyConfig = toml::from_str(&text)
            .map_err(|e| CoconutError::Config(format!("{}: {e}", path.display())))?;
        if cfg.arms.is_empty() || cfg.seeds.is_empty() || cfg.parallel == 0 {
            return Err(CoconutError::Config(format!(
                "{}: arms, seeds and parallel >= 1 are required",
                path.display()
            )));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let mut cfg = cfg;
        cfg.start_config = cfg
            .start
            .as_ref()
            .map(|s| RunConfig::load(&base.join(s)))
            .transpose()?;
        let arms = cfg
            .arms
            .iter()
            .map(|a| RunConfig::load(&base.join(a)))
            .collect::<Result<Vec<_>>>()?;
        Ok((cfg, arms))
    }
}

/// A finished run as archived in a study's report directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchivedRun {
    /// The run's configuration (seed included).
    pub config: RunConfig,
    /// Its result.
    pub result: RunResult,
}

fn archive_path(dir: &Path, run: &RunConfig) -> PathBuf {
    dir.join("points")
        .join(format!("{}-s{}.json", run.name, run.seed))
}

/// The archived result of `run` in `dir`, when one exists for this very configuration.
fn archived(dir: &Path, run: &RunConfig) -> Result<Option<RunResult>> {
    let path = archive_path(dir, run);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| CoconutError::io(&path, e))?;
    let a: ArchivedRun =
        serde_json::from_str(&text).map_err(|e| CoconutError::run(&path, e.to_string()))?;
    Ok((a.config == *run).then_some(a.result))
}

fn archive(dir: &Path, run: &RunConfig, result: &RunResult) -> Result<()> {
    let path = archive_path(dir, run);
    let a = ArchivedRun {
        config: run.clone(),
        result: result.clone(),
    };
    let text =
        serde_json::to_string_pretty(&a).map_err(|e| CoconutError::run(&path, e.to_string()))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| CoconutError::io(parent, e))?;
    }
    write_atomic(&path, text.as_bytes()).map_err(|e| CoconutError::io(&path, e))
}

/// Runs every (arm, seed) under `<runs>/<study>/`, then writes `summary.{json,md}` there
/// (and, with `report_to`, into that directory, where every finished run is archived and an
/// archived run with an unchanged configuration is not run again).
pub fn run_study(
    cfg: &StudyConfig,
    arms: &[RunConfig],
    runs: &Path,
    report_to: Option<&Path>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<StudySummary> {
    let root = runs.join(&cfg.name);
    let points = study_points(cfg, arms, &root);
    if let Some(start) = &cfg.start_config {
        let mut needed = false;
        for p in &points {
            needed |= match report_to {
                Some(dir) => archived(dir, p)?.is_none(),
                None => true,
            };
        }
        if needed {
            progress(&format!("{}: the arms' common start", start.name));
            train_run(start, &root, &mut |line| {
                progress(line);
                std::ops::ControlFlow::Continue(())
            })?
            .ok_or_else(|| CoconutError::Config("the start run stopped".into()))?;
        }
    }
    let queue = Mutex::new(0usize);
    let results: Mutex<Vec<Option<Result<RunResult>>>> =
        Mutex::new((0..points.len()).map(|_| None).collect());
    std::thread::scope(|sc| {
        for _ in 0..cfg.parallel.min(points.len()) {
            sc.spawn(|| loop {
                let i = {
                    let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
                    let i = *q;
                    *q += 1;
                    i
                };
                let Some(p) = points.get(i) else { break };
                let stored = match report_to {
                    Some(dir) => archived(dir, p),
                    None => Ok(None),
                };
                let r = match stored {
                    Ok(Some(r)) => {
                        progress(&format!("{} s{}: archived result, not run", p.name, p.seed));
                        Ok(r)
                    }
                    Err(e) => Err(e),
                    Ok(None) => train_run(p, &root, &mut |line| {
                        progress(line);
                        std::ops::ControlFlow::Continue(())
                    })
                    .and_then(|r| r.ok_or_else(|| CoconutError::Config("run stopped".into())))
                    .and_then(|r| {
                        report_to.map_or(Ok(()), |dir| archive(dir, p, &r))?;
                        Ok(r)
                    }),
                };
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
            });
        }
    });
    let results = results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect::<Result<Vec<_>>>()?;
    let summary = summarize(cfg, &results);
    let dirs: Vec<&Path> = std::iter::once(root.as_path()).chain(report_to).collect();
    write_summary(cfg, &summary, &dirs)?;
    Ok(summary)
}

/// Every run of the study: each arm at each seed, started from the study's start run (a
/// run directory under `root`) when it has one.
fn study_points(cfg: &StudyConfig, arms: &[RunConfig], root: &Path) -> Vec<RunConfig> {
    let start_dir = cfg.start_config.as_ref().map(|s| run_dir(s, root));
    arms.iter()
        .flat_map(|a| {
            let init_from = start_dir.clone().or_else(|| a.init_from.clone());
            cfg.seeds.iter().map(move |&s| RunConfig {
                seed: s,
                init_from: init_from.clone(),
                ..a.clone()
            })
        })
        .collect()
}

/// Summarizes the study's runs archived in `report_to` without training any (a partial
/// study's summary: runs not archived yet are left out, claims on an arm without runs read
/// `missing`), writes it there, and returns it with the number of runs it holds of all.
pub fn summarize_archived(
    cfg: &StudyConfig,
    arms: &[RunConfig],
    runs: &Path,
    report_to: &Path,
) -> Result<(StudySummary, usize, usize)> {
    let points = study_points(cfg, arms, &runs.join(&cfg.name));
    let mut results = Vec::new();
    for p in &points {
        results.extend(archived(report_to, p)?);
    }
    let summary = summarize(cfg, &results);
    write_summary(cfg, &summary, &[report_to])?;
    Ok((summary, results.len(), points.len()))
}

//! Verdicts computed from the measured numbers, beside the papers' published values.
//!
//! Noise model: a rate measured on `n` tasks has binomial standard error
//! `sqrt(p(1−p)/n)`; with several seeds the standard error is the larger of the seeds'
//! standard error of the mean and the binomial one of the pooled tasks. "A beats B" means
//! `mean(A) − mean(B) > 2·s.e.` of the difference (**yes**); a positive difference inside
//! that band is **partially** (the direction matches, the size is within noise); otherwise
//! **no**. "A matches or beats B" means `mean(A) ≥ mean(B) − 2·s.e.`.

use std::collections::BTreeMap;
use std::path::Path;

use planform_eval::EvalReport;
use planform_train::TrainConfig;

use super::runs::RunData;
use super::Claim;

/// Searchformer Table 1 (Sokoban, 45M models), solution-only: solved, optimal (± s.e.m.).
pub const PAPER_SOKOBAN_SOLUTION_ONLY: (f64, f64, f64) = (90.3, 86.8, 0.3);
/// Searchformer Table 1 (Sokoban, 45M models), search-augmented: solved, optimal, s.e.m.
pub const PAPER_SOKOBAN_SEARCH_AUGMENTED: (f64, f64, f64) = (92.5, 90.8, 1.6);
/// Searchformer §5: mean trace of optimal responses relative to A*, iterations 0–3 (%).
pub const PAPER_BOOTSTRAP_RELATIVE: [f64; 4] = [98.37, 88.73, 81.32, 73.15];
/// Searchformer Table 1: optimal % of the search-augmented model and steps 1–3.
pub const PAPER_BOOTSTRAP_OPTIMAL: [f64; 4] = [90.8, 93.5, 93.3, 93.7];
/// Dualformer abstract, 30×30 mazes: slow-mode optimal %, Searchformer baseline optimal %,
/// % fewer reasoning steps than Searchformer.
pub const PAPER_DUAL_SLOW: (f64, f64, f64) = (97.6, 93.3, 45.5);
/// Dualformer abstract, 30×30 mazes: fast-mode optimal %, solution-only optimal %.
pub const PAPER_DUAL_FAST: (f64, f64) = (80.0, 30.0);
/// Dualformer abstract, 30×30 mazes: auto-mode optimal %, % fewer steps than Searchformer.
pub const PAPER_DUAL_AUTO: (f64, f64) = (96.6, 59.9);

/// Outcome of a claim at the scale of the runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Reproduces: every part holds beyond the noise band.
    Yes,
    /// Some parts hold, or the direction holds within noise.
    Partially,
    /// Does not reproduce.
    No,
    /// Runs or evals are missing.
    Missing,
    /// The runs differ in data or model, so the comparison does not test the claim.
    NotComparable,
}

impl Verdict {
    /// Words for the verdict line.
    pub fn words(self) -> &'static str {
        match self {
            Verdict::Yes => "yes",
            Verdict::Partially => "partially",
            Verdict::No => "no",
            Verdict::Missing => "not measured (runs missing)",
            Verdict::NotComparable => "not comparable (runs differ in data or model)",
        }
    }

    /// Combines the verdicts of a claim's parts.
    pub fn all(parts: &[Verdict]) -> Verdict {
        if parts.contains(&Verdict::Missing) {
            Verdict::Missing
        } else if parts.iter().all(|v| *v == Verdict::Yes) {
            Verdict::Yes
        } else if parts.iter().all(|v| *v == Verdict::No) {
            Verdict::No
        } else {
            Verdict::Partially
        }
    }
}

/// A rate over one or more runs (seeds).
#[derive(Clone, Debug, PartialEq)]
pub struct Rate {
    /// Mean over runs (fraction).
    pub mean: f64,
    /// Standard error (see the module docs).
    pub se: f64,
    /// Per-run values.
    pub values: Vec<f64>,
    /// Tasks per run.
    pub tasks: usize,
}

impl Rate {
    /// From `(rate, tasks)` per run; `None` when empty.
    pub fn of(runs: &[(f64, usize)]) -> Option<Rate> {
        if runs.is_empty() {
            return None;
        }
        let k = runs.len() as f64;
        let mean = runs.iter().map(|r| r.0).sum::<f64>() / k;
        let pooled: usize = runs.iter().map(|r| r.1).sum();
        let binomial = if pooled > 0 {
            (mean * (1.0 - mean) / pooled as f64).sqrt()
        } else {
            0.0
        };
        let seeds = if runs.len() >= 2 {
            let var = runs.iter().map(|r| (r.0 - mean).powi(2)).sum::<f64>() / (k - 1.0);
            (var / k).sqrt()
        } else {
            0.0
        };
        Some(Rate {
            mean,
            se: binomial.max(seeds),
            values: runs.iter().map(|r| r.0).collect(),
            tasks: runs[0].1,
        })
    }

    /// `12.3% ± 4.5 (2 seeds: 10.0, 14.6; 100 tasks each)`.
    pub fn describe(&self) -> String {
        let seeds = if self.values.len() > 1 {
            let v: Vec<String> = self
                .values
                .iter()
                .map(|x| format!("{:.1}", 100.0 * x))
                .collect();
            format!("{} seeds: {}; ", self.values.len(), v.join(", "))
        } else {
            String::new()
        };
        format!(
            "{:.1}% ± {:.1} ({seeds}{} tasks{})",
            100.0 * self.mean,
            100.0 * self.se,
            self.tasks,
            if self.values.len() > 1 { " each" } else { "" }
        )
    }
}

/// Whether `a` beats `b` (see the module docs).
pub fn beats(a: &Rate, b: &Rate) -> Verdict {
    let diff = a.mean - b.mean;
    let se = (a.se.powi(2) + b.se.powi(2)).sqrt();
    if diff > 2.0 * se && diff > 0.0 {
        Verdict::Yes
    } else if diff > 0.0 {
        Verdict::Partially
    } else {
        Verdict::No
    }
}

/// Whether `a` matches or beats `b` (within 2 s.e.).
pub fn at_least(a: &Rate, b: &Rate) -> Verdict {
    let se = (a.se.powi(2) + b.se.powi(2)).sqrt();
    if a.mean >= b.mean - 2.0 * se {
        Verdict::Yes
    } else {
        Verdict::No
    }
}

/// A row of a claim's table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// What is measured.
    pub what: String,
    /// planform's value.
    pub planform: String,
    /// The paper's value (or `–`).
    pub paper: String,
}

/// Numbers for a claim's figure.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Figure {
    /// Chart title.
    pub title: String,
    /// Y-axis label.
    pub y_label: String,
    /// X categories.
    pub categories: Vec<String>,
    /// Series: name and one value per category (`None`: no bar).
    pub series: Vec<(String, Vec<Option<f64>>)>,
    /// Draw lines (x = category index) rather than bars.
    pub lines: bool,
}

/// The evaluated claim.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimResult {
    /// Section heading.
    pub label: String,
    /// What the paper claims, in words.
    pub claim: String,
    /// The verdict.
    pub verdict: Verdict,
    /// `reproduces at CPU scale: …` with the measured values.
    pub verdict_line: String,
    /// planform vs paper.
    pub rows: Vec<Row>,
    /// Noise, comparability and scale notes.
    pub notes: Vec<String>,
    /// Missing runs / evals.
    pub missing: Vec<String>,
    /// Runs read.
    pub runs: Vec<String>,
    /// Figures.
    pub figures: Vec<Figure>,
}

pub(super) type Runs = BTreeMap<String, RunData>;

pub(super) fn eval_of<'a>(
    runs: &'a Runs,
    run: &str,
    eval: &str,
    missing: &mut Vec<String>,
) -> Option<&'a EvalReport> {
    match runs.get(run) {
        None => {
            missing.push(format!("run `{run}`"));
            None
        }
        Some(r) => {
            let e = r.evals.get(eval);
            if e.is_none() {
                missing.push(format!("eval `{eval}` of run `{run}`"));
            }
            e
        }
    }
}

pub(super) fn optimal(e: &EvalReport) -> (f64, usize) {
    (e.metrics.summary.optimal, e.metrics.tasks)
}

pub(super) fn solved(e: &EvalReport) -> (f64, usize) {
    (e.metrics.summary.solved, e.metrics.tasks)
}

/// What must be equal across runs for a fair comparison: dataset, training subset, model,
/// steps and batch.
pub(super) fn comparability(runs: &Runs, names: &[String]) -> Option<String> {
    let key = |c: &TrainConfig, data: &str| {
        serde_json::json!({
            "dataset": data,
            "train_examples": c.data.train_examples,
            "model": c.model,
            "steps": c.optim.total_steps,
            "batch": c.batch.sequences * c.batch.accumulation,
        })
    };
    let keys: Vec<(String, serde_json::Value)> = names
        .iter()
        .filter_map(|n| runs.get(n))
        .map(|r| {
            (
                r.name.clone(),
                key(r.recipe.train.config(), &r.recipe.data.name),
            )
        })
        .collect();
    let first = keys.first()?;
    keys.iter()
        .find(|(_, k)| *k != first.1)
        .map(|(n, k)| format!("`{n}` has {k} but `{}` has {}", first.0, first.1))
}

pub(super) fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

pub(super) fn scale_note(runs: &Runs, names: &[String]) -> Option<String> {
    let r = names.iter().find_map(|n| runs.get(n))?;
    let c = r.recipe.train.config();
    let params = r
        .parameters
        .map(|p| format!(", {:.2}M trainable parameters", p as f64 / 1e6))
        .unwrap_or_default();
    Some(format!(
        "Scale: {} (`{}` dataset, {} tasks), model `{}`{params}, {} steps × batch {}.",
        r.recipe.data.generate_config().domain.name(),
        r.recipe.data.name,
        r.recipe.data.num_tasks,
        r.model_name(),
        c.optim.total_steps,
        c.batch.sequences * c.batch.accumulation,
    ))
}

/// Evaluates one claim on the loaded runs.
/// The result of `claim` from the recipe runs `runs` (and, for a sweep, its summary under
/// `runs_dir`).
pub fn evaluate(claim: &Claim, runs: &Runs, runs_dir: &Path) -> ClaimResult {
    match claim {
        Claim::SearchVsSolutionOnly {
            label,
            solution_only,
            search_augmented,
            eval,
        } => {
            super::claims_a::search_vs_solution(label, solution_only, search_augmented, eval, runs)
        }
        Claim::Bootstrap { label, recipe } => super::claims_bc::bootstrap(label, recipe, runs),
        Claim::Dualformer { .. } => super::claims_bc::dualformer(claim, runs),
        Claim::Sweep {
            label,
            claim,
            sweep,
        } => super::claims_sweep::sweep_section(label, claim, sweep, runs_dir),
        Claim::Table {
            label,
            claim,
            table,
            command,
        } => super::claims_sweep::table_section(label, claim, table, command, runs_dir),
    }
}

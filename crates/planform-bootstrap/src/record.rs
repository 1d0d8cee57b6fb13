//! The per-iteration result line of `bootstrap.jsonl` and the `bootstrap.md` table.
//!
//! Both are rebuilt from `state.json` after every evaluation (atomic rewrite), so a killed
//! and resumed bootstrap writes the same bytes as an uninterrupted one. Nothing in them
//! depends on wall time.

use std::path::Path;

use planform_eval::EvalMetrics;
use serde::{Deserialize, Serialize};

use crate::error::{BootstrapError, Result};
use crate::reduce::TrainingStats;
use crate::state::write_atomic;

/// File name of the JSON-lines results (one [`IterationRecord`] per line).
pub const JSONL_FILE: &str = "bootstrap.jsonl";
/// File name of the markdown table.
pub const MARKDOWN_FILE: &str = "bootstrap.md";

/// Test-split metrics of one iteration (planform-eval, reference `PerfTable.ipynb` and
/// `Searchformer.ipynb`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestMetrics {
    /// Tasks evaluated.
    pub tasks: usize,
    /// Responses per task.
    pub samples: usize,
    /// Fraction of tasks with a correct response.
    pub solved: f64,
    /// Fraction of tasks with an optimal response.
    pub optimal: f64,
    /// Success weighted by cost.
    pub swc: f64,
    /// ILR-on-solved (`None`: undefined, e.g. a task without t*).
    pub ilr_on_solved: Option<f64>,
    /// ILR-on-optimal.
    pub ilr_on_optimal: Option<f64>,
    /// Tasks with at least one optimal response (the notebook's "pairs").
    pub optimal_tasks: usize,
    /// Mean trace tokens of the responses ending in an optimal plan (per task, then over
    /// those tasks).
    pub optimal_trace_mean: f64,
    /// Mean stored A* trace length over the same tasks.
    pub optimal_astar_mean: f64,
    /// `optimal_trace_mean / optimal_astar_mean`: the reference's "relative improvement"
    /// (98.4% → 88.7% → 81.3% → 73.2% for steps 0–3 in the paper).
    pub relative_length: Option<f64>,
    /// The same against the mean t* of those tasks.
    pub relative_length_tstar: Option<f64>,
    /// Mean trace tokens of every response whose plan parsed.
    pub trace_mean: f64,
}

impl TestMetrics {
    /// From planform-eval's aggregate metrics.
    pub fn of(m: &EvalMetrics) -> Self {
        let o = &m.optimal_trace;
        TestMetrics {
            tasks: m.tasks,
            samples: m.samples_per_task,
            solved: m.summary.solved,
            optimal: m.summary.optimal,
            swc: m.summary.swc,
            ilr_on_solved: m.summary.ilr_on_solved,
            ilr_on_optimal: m.summary.ilr_on_optimal,
            optimal_tasks: o.tasks,
            optimal_trace_mean: o.response_mean,
            optimal_astar_mean: o.astar_mean,
            relative_length: o.ratio,
            relative_length_tstar: o.ratio_tstar,
            trace_mean: m.trace.mean,
        }
    }
}

/// What an iteration's fine-tune was and where it ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinetuneSummary {
    /// Optimizer steps.
    pub steps: u64,
    /// Peak learning rate.
    pub lr: f64,
    /// Warm-up steps.
    pub warmup_steps: u64,
    /// Sequences per step.
    pub batch: usize,
    /// Loss of the last training record.
    pub train_loss: Option<f64>,
    /// Held-out loss of the last evaluation.
    pub test_loss: Option<f64>,
    /// Real tokens trained on.
    pub tokens_seen: u64,
}

/// One line of `bootstrap.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IterationRecord {
    /// 0 = the base model; `i` = after the i-th fine-tune.
    pub iteration: usize,
    /// The evaluated checkpoint (relative to the output directory for fine-tunes).
    pub checkpoint: String,
    /// Its training step.
    pub step: u64,
    /// Test-split metrics.
    pub test: TestMetrics,
    /// The reduction that built this iteration's training set (`None` for iteration 0).
    pub train: Option<TrainingStats>,
    /// The fine-tune (`None` for iteration 0).
    pub finetune: Option<FinetuneSummary>,
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{:.1}%", 100.0 * v))
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.3}"))
}

/// The markdown table of the records.
pub fn markdown(records: &[IterationRecord]) -> String {
    let mut s = String::from(
        "| iter | step | solved | optimal | SWC | ILR-solved | ILR-optimal | \
         optimal trace / A* | tasks w/ optimal | train improved | train trace / A* | \
         fine-tune loss |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in records {
        let t = &r.test;
        let (improved, kept) = match &r.train {
            Some(tr) => (pct(Some(tr.improved_fraction)), pct(tr.kept_relative)),
            None => ("–".into(), "–".into()),
        };
        let loss = r
            .finetune
            .as_ref()
            .and_then(|f| f.train_loss)
            .map_or_else(|| "–".into(), |l| format!("{l:.4}"));
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {}/{} | {} | {} | {} |\n",
            r.iteration,
            r.step,
            pct(Some(t.solved)),
            pct(Some(t.optimal)),
            num(Some(t.swc)),
            num(t.ilr_on_solved),
            num(t.ilr_on_optimal),
            pct(t.relative_length),
            t.optimal_tasks,
            t.tasks,
            improved,
            kept,
            loss,
        ));
    }
    s.push_str(
        "\nsolved / optimal: any of k responses; optimal trace / A*: mean trace tokens of \
         responses ending in an optimal plan over the mean A* trace of the same tasks \
         (reference: 98.4% → 88.7% → 81.3% → 73.2%); train improved: training prompts whose \
         target became a sampled optimal response; train trace / A*: mean trace length of \
         the new training targets over the A* traces.\n",
    );
    s
}

/// Rewrites `bootstrap.jsonl` and `bootstrap.md` in `out` from `records`.
pub fn write_outputs(out: &Path, records: &[IterationRecord]) -> Result<()> {
    let path = out.join(JSONL_FILE);
    let mut jsonl = String::new();
    for r in records {
        let line = serde_json::to_string(r).map_err(|e| BootstrapError::Json {
            path: path.clone(),
            error: e,
        })?;
        jsonl.push_str(&line);
        jsonl.push('\n');
    }
    write_atomic(&path, jsonl.as_bytes())?;
    write_atomic(&out.join(MARKDOWN_FILE), markdown(records).as_bytes())
}

/// Reads `bootstrap.jsonl` (e.g. for `planform report`).
pub fn read_jsonl(path: &Path) -> Result<Vec<IterationRecord>> {
    let text = std::fs::read_to_string(path).map_err(|e| BootstrapError::io(path, e))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| BootstrapError::Json {
                path: path.to_path_buf(),
                error: e,
            })
        })
        .collect()
}

//! Task-level metrics over k samples per task (reference §4: solved, optimal,
//! SWC, ILR-on-solved, ILR-on-optimal), and the A* reference length `t*`.
//!
//! Per task `i` with `k` scored responses:
//! * solved / optimal: **any** response correct / optimal;
//! * SWC term `c_i · l*_i / max(l_i, l*_i)` with `l_i` the shortest correct plan
//!   length and `l*_i` the optimal one;
//! * ILR terms `c_i · t*_i / t_i` with `t_i` the mean `trace_tokens` of the
//!   correct (ILR-on-solved) or optimal (ILR-on-optimal) responses and `t*_i`
//!   the mean reasoning length of nondeterministic A* runs on the task.
//!
//! Aggregates are plain means over tasks. An ILR aggregate is `None` when a
//! task that contributes to it lacks `t*` or has `t_i = 0` (a model that emits
//! no trace, e.g. solution-only, has no ILR).

use serde::{Deserialize, Serialize};

use crate::astar::SearchMode;
use crate::error::{Error, Result};
use crate::eval::ResponseEval;
use crate::rng::Rng;
use crate::task::Task;
use crate::vocab::Vocabulary;

/// Per-task summary of k responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskScore {
    /// Number of responses.
    pub samples: usize,
    /// Responses that are correct.
    pub n_correct: usize,
    /// Responses that are optimal.
    pub n_optimal: usize,
    /// Optimal plan length `l*` (plan nodes).
    pub optimal_plan_len: usize,
    /// Shortest correct plan length `l`, if any response is correct.
    pub shortest_correct: Option<usize>,
    /// Mean trace tokens of the correct responses.
    pub mean_trace_correct: Option<f64>,
    /// Mean trace tokens of the optimal responses.
    pub mean_trace_optimal: Option<f64>,
    /// A* reference mean reasoning length `t*`, if known.
    pub astar_trace_tokens: Option<f64>,
    /// Distinct correct plans (Dualformer's diversity measure).
    pub unique_correct_plans: usize,
}

impl TaskScore {
    /// Scores one task from its responses.
    pub fn new(
        evals: &[ResponseEval],
        optimal_plan_len: usize,
        astar_trace_tokens: Option<f64>,
    ) -> Self {
        let correct: Vec<&ResponseEval> = evals.iter().filter(|e| e.correct).collect();
        let optimal: Vec<&ResponseEval> = evals.iter().filter(|e| e.optimal).collect();
        let mean = |v: &[&ResponseEval]| {
            (!v.is_empty())
                .then(|| v.iter().map(|e| e.trace_tokens as f64).sum::<f64>() / v.len() as f64)
        };
        let mut plans: Vec<&Vec<_>> = correct.iter().map(|e| &e.plan).collect();
        plans.sort();
        plans.dedup();
        TaskScore {
            samples: evals.len(),
            n_correct: correct.len(),
            n_optimal: optimal.len(),
            optimal_plan_len,
            shortest_correct: correct.iter().map(|e| e.plan_length).min(),
            mean_trace_correct: mean(&correct),
            mean_trace_optimal: mean(&optimal),
            astar_trace_tokens,
            unique_correct_plans: plans.len(),
        }
    }

    /// Any response correct.
    pub fn solved(&self) -> bool {
        self.n_correct > 0
    }

    /// Any response optimal.
    pub fn optimal(&self) -> bool {
        self.n_optimal > 0
    }

    /// SWC term `c · l* / max(l, l*)`.
    pub fn swc(&self) -> f64 {
        match self.shortest_correct {
            Some(l) => {
                let ls = self.optimal_plan_len as f64;
                ls / (l as f64).max(ls).max(f64::MIN_POSITIVE)
            }
            None => 0.0,
        }
    }

    fn ilr(&self, c: bool, t: Option<f64>) -> Option<f64> {
        if !c {
            return Some(0.0);
        }
        let t = t?;
        let ts = self.astar_trace_tokens?;
        (t > 0.0).then(|| ts / t)
    }

    /// ILR-on-solved term (`None` if undefined, see the module docs).
    pub fn ilr_solved(&self) -> Option<f64> {
        self.ilr(self.solved(), self.mean_trace_correct)
    }

    /// ILR-on-optimal term (`None` if undefined).
    pub fn ilr_optimal(&self) -> Option<f64> {
        self.ilr(self.optimal(), self.mean_trace_optimal)
    }
}

/// Means over tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of tasks.
    pub tasks: usize,
    /// Fraction of tasks solved (any correct response).
    pub solved: f64,
    /// Fraction of tasks solved optimally (any optimal response).
    pub optimal: f64,
    /// Success weighted by cost.
    pub swc: f64,
    /// ILR over correct responses.
    pub ilr_on_solved: Option<f64>,
    /// ILR over optimal responses.
    pub ilr_on_optimal: Option<f64>,
}

impl Summary {
    /// Aggregates task scores (all zeros for no tasks).
    pub fn new(scores: &[TaskScore]) -> Self {
        let n = scores.len();
        let mean = |f: &dyn Fn(&TaskScore) -> f64| {
            if n == 0 {
                0.0
            } else {
                scores.iter().map(f).sum::<f64>() / n as f64
            }
        };
        let mean_opt = |f: &dyn Fn(&TaskScore) -> Option<f64>| {
            let v: Option<Vec<f64>> = scores.iter().map(f).collect();
            v.map(|v| {
                if n == 0 {
                    0.0
                } else {
                    v.iter().sum::<f64>() / n as f64
                }
            })
        };
        Summary {
            tasks: n,
            solved: mean(&|s| f64::from(u8::from(s.solved()))),
            optimal: mean(&|s| f64::from(u8::from(s.optimal()))),
            swc: mean(&|s| s.swc()),
            ilr_on_solved: mean_opt(&|s| s.ilr_solved()),
            ilr_on_optimal: mean_opt(&|s| s.ilr_optimal()),
        }
    }
}

/// Fraction of tasks with at least `k` correct (or optimal) responses
/// (Dualformer's "k-Solved-64" / "k-Optimal-64").
pub fn fraction_at_least(scores: &[TaskScore], k: usize, optimal: bool) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    let hits = scores
        .iter()
        .filter(|s| {
            if optimal {
                s.n_optimal >= k
            } else {
                s.n_correct >= k
            }
        })
        .count();
    hits as f64 / scores.len() as f64
}

/// `t*`: mean reasoning length in tokens over `runs` nondeterministic A* runs
/// of `task` (run `i` uses `Rng::stream(seed, i)`; reference: 64 runs).
pub fn astar_reference_length(
    task: &Task,
    vocab: &Vocabulary,
    runs: usize,
    seed: u64,
) -> Result<f64> {
    if runs == 0 {
        return Err(Error::Config {
            field: "runs",
            reason: "need at least one A* run".into(),
        });
    }
    let mut total = 0usize;
    for i in 0..runs {
        let mut rng = Rng::stream(seed, i as u64);
        let (seq, _) = task.solve_tokens(vocab, SearchMode::Nondeterministic, &mut rng)?;
        total += seq.reasoning.len();
    }
    Ok(total as f64 / runs as f64)
}

//! The reduction rule (reference `reduce_rollout_to_shortest_trace` in `maze.py` and
//! `sokoban.py`): per training prompt, keep the response with the fewest trace tokens
//! among those whose plan is correct AND optimal; its reasoning and plan (without `bos` and
//! `eos`) become the new target. Without an optimal response the prompt keeps its
//! fallback target (the A* sequence). Ties go to the first such sample (the reference sorts
//! with pandas' default, unstable quicksort, so its tie order is unspecified).

use planform_eval::TaskResult;
use planform_trace::vocab::Vocabulary;
use serde::{Deserialize, Serialize};

use crate::error::{BootstrapError, Result};

/// What reduction decided for one prompt (everything but the tokens).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptOutcome {
    /// Dataset row id.
    pub id: u64,
    /// Responses sampled.
    pub samples: usize,
    /// Responses with a correct plan.
    pub correct: usize,
    /// Responses with a correct plan of optimal length.
    pub optimal: usize,
    /// Sample index of the kept response; `None`: the fallback target is kept.
    pub kept_sample: Option<usize>,
    /// Trace tokens of the kept target (the response's, or the fallback's).
    pub kept_reasoning: usize,
    /// Trace tokens of the prompt's original A* sequence.
    pub astar_reasoning: usize,
}

/// A reduced prompt: the decision and, when a response is kept, its tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reduced {
    /// The decision.
    pub outcome: PromptOutcome,
    /// `(reasoning, plan)` of the kept response, without `bos`/`eos`; `None` for the
    /// fallback.
    pub target: Option<(Vec<u32>, Vec<u32>)>,
}

/// Reduces one prompt's scored responses. `fallback_reasoning` is the trace length of the
/// target kept when no response is optimal. The kept response's tokens must have been
/// retained (`Retention::ShortestOptimal` or `All`).
pub fn reduce(
    result: &TaskResult,
    vocab: &Vocabulary,
    fallback_reasoning: usize,
) -> Result<Reduced> {
    let correct = result.samples.iter().filter(|s| s.eval.correct).count();
    let optimal = result.samples.iter().filter(|s| s.eval.optimal).count();
    let mut outcome = PromptOutcome {
        id: result.id,
        samples: result.samples.len(),
        correct,
        optimal,
        kept_sample: None,
        kept_reasoning: fallback_reasoning,
        astar_reasoning: result.astar_reasoning_length,
    };
    let Some(best) = result.shortest_optimal() else {
        return Ok(Reduced {
            outcome,
            target: None,
        });
    };
    let index = result
        .samples
        .iter()
        .position(|s| std::ptr::eq(s, best))
        .unwrap_or(0);
    let (reasoning, plan) = best.reasoning_and_plan(vocab).ok_or_else(|| {
        BootstrapError::Mismatch(format!(
            "prompt {}: the shortest optimal response's tokens were not kept",
            result.id
        ))
    })?;
    if reasoning.len() != best.eval.trace_tokens {
        return Err(BootstrapError::Mismatch(format!(
            "prompt {}: kept response has {} trace tokens, its score says {}",
            result.id,
            reasoning.len(),
            best.eval.trace_tokens
        )));
    }
    outcome.kept_sample = Some(index);
    outcome.kept_reasoning = reasoning.len();
    Ok(Reduced {
        outcome,
        target: Some((reasoning, plan)),
    })
}

/// What one iteration's reduction did to the training set.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingStats {
    /// Prompts sampled.
    pub prompts: usize,
    /// Responses per prompt.
    pub samples: usize,
    /// Prompts with at least one correct response.
    pub solved: usize,
    /// Prompts with at least one optimal response: their target is replaced by the
    /// shortest optimal response ("improved" in the reference's dataset naming).
    pub improved: usize,
    /// Of those, prompts whose new trace is strictly shorter than the A* trace.
    pub shorter: usize,
    /// Prompts that keep their fallback target.
    pub kept_fallback: usize,
    /// `improved / prompts`.
    pub improved_fraction: f64,
    /// `shorter / prompts`.
    pub shorter_fraction: f64,
    /// Mean trace tokens of the kept targets over all prompts.
    pub kept_mean_reasoning: f64,
    /// Mean trace tokens of the original A* sequences over all prompts.
    pub astar_mean_reasoning: f64,
    /// `kept_mean_reasoning / astar_mean_reasoning`: the new training set's trace length
    /// relative to A* (`None` if A* traces are empty).
    pub kept_relative: Option<f64>,
    /// On the improved prompts only: mean new trace / mean A* trace (`None` if none).
    pub improved_relative: Option<f64>,
}

impl TrainingStats {
    /// Aggregates the outcomes of every prompt.
    pub fn of(outcomes: &[PromptOutcome]) -> Self {
        let n = outcomes.len();
        let frac = |k: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
        let mean = |it: &mut dyn Iterator<Item = usize>| {
            let (mut s, mut c) = (0u128, 0usize);
            for v in it {
                s += v as u128;
                c += 1;
            }
            (c > 0).then(|| s as f64 / c as f64)
        };
        let improved: Vec<&PromptOutcome> = outcomes
            .iter()
            .filter(|o| o.kept_sample.is_some())
            .collect();
        let kept_mean = mean(&mut outcomes.iter().map(|o| o.kept_reasoning)).unwrap_or(0.0);
        let astar_mean = mean(&mut outcomes.iter().map(|o| o.astar_reasoning)).unwrap_or(0.0);
        let improved_relative = match (
            mean(&mut improved.iter().map(|o| o.kept_reasoning)),
            mean(&mut improved.iter().map(|o| o.astar_reasoning)),
        ) {
            (Some(k), Some(a)) if a > 0.0 => Some(k / a),
            _ => None,
        };
        let shorter = improved
            .iter()
            .filter(|o| o.kept_reasoning < o.astar_reasoning)
            .count();
        TrainingStats {
            prompts: n,
            samples: outcomes.iter().map(|o| o.samples).max().unwrap_or(0),
            solved: outcomes.iter().filter(|o| o.correct > 0).count(),
            improved: improved.len(),
            shorter,
            kept_fallback: n - improved.len(),
            improved_fraction: frac(improved.len()),
            shorter_fraction: frac(shorter),
            kept_mean_reasoning: kept_mean,
            astar_mean_reasoning: astar_mean,
            kept_relative: (astar_mean > 0.0).then(|| kept_mean / astar_mean),
            improved_relative,
        }
    }
}

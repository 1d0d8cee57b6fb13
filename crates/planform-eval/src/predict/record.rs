//! The output of `planform predict`: one [`PredictionRecord`] per task (or a [`LineError`]),
//! each response's trace and plan as token strings and as readable text ([`clauses`]).

use planform_model::StopReason;
use planform_trace::task::Task;
use planform_trace::vocab::{Keyword, TokenKind, Vocabulary, BOS, EOS};
use serde::{Deserialize, Serialize};

use super::{PredictConfig, Prediction};
use crate::config::{sampler_name, Mode};
use crate::score::ModeChoice;

/// One line of `planform predict`'s output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionRecord {
    /// Input line number (1-based).
    pub line: usize,
    /// The task as given (its fields in the `solve` format).
    pub task: Task,
    /// `maze` or `sokoban`.
    pub domain: String,
    /// Plan length (nodes) of A*'s optimal plan.
    pub optimal_plan_length: usize,
    /// Tokens of A*'s (deterministic) trace, for comparison with the model's.
    pub astar_trace_tokens: usize,
    /// The response length limit of this task (`bos` … `eos`).
    pub max_len: usize,
    /// Decoding settings, e.g. `greedy`, `temperature 1`.
    pub sampler: String,
    /// Decoding mode (`auto`, `fast`, `slow`).
    pub mode: Mode,
    /// Any response's plan is valid.
    pub solved: bool,
    /// Any response's plan is valid and as short as A*'s.
    pub optimal: bool,
    /// Responses with a valid plan.
    pub n_valid: usize,
    /// Responses with a valid plan of optimal length.
    pub n_optimal: usize,
    /// Every response, in sample order.
    pub samples: Vec<SampleOutput>,
}

/// One response in a [`PredictionRecord`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleOutput {
    /// Sample index (0-based).
    pub sample: usize,
    /// Why decoding stopped (`eos`, or `max-len` at the limit).
    pub stop: StopReason,
    /// The mode the response took (`fast`: `plan` first, `slow`: `create` first).
    pub mode: ModeChoice,
    /// The plan reaches the goal (maze) or solves the level (Sokoban) by legal moves.
    pub valid: bool,
    /// Valid and exactly as long as A*'s optimal plan.
    pub optimal: bool,
    /// Plan nodes parsed (0 when the plan does not parse).
    pub plan_length: usize,
    /// Tokens before the first `plan` token.
    pub trace_tokens: usize,
    /// The response tokens before the first `plan` (the search trace).
    pub trace: Vec<String>,
    /// The response tokens from the first `plan` on, without `eos`.
    pub plan: Vec<String>,
    /// The trace as clauses (`create (0,1) c0 c4; close (0,1) c0 c4; …`).
    pub trace_text: String,
    /// The plan as the path of cells (`(0,1) -> (0,2) -> …`), or its clauses when it does
    /// not parse.
    pub plan_text: String,
}

/// The output line of a task line that failed: `{"line": N, "error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineError {
    /// Input line number (1-based).
    pub line: usize,
    /// What is wrong with it.
    pub error: String,
}

impl Prediction {
    /// The output record; `line` is the 1-based input line number.
    pub fn record(
        &self,
        line: usize,
        config: &PredictConfig,
        vocab: &Vocabulary,
    ) -> PredictionRecord {
        let r = &self.result;
        let samples = r
            .samples
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let body = s.tokens.strip_prefix(&[BOS]).unwrap_or(&s.tokens);
                let body = body.strip_suffix(&[EOS]).unwrap_or(body);
                let at = vocab
                    .keyword(Keyword::Plan)
                    .and_then(|p| body.iter().position(|&t| t == p))
                    .unwrap_or(body.len());
                let (trace, plan) = body.split_at(at);
                let plan_text = if s.eval.plan.is_empty() {
                    clauses(plan, vocab)
                } else {
                    s.eval
                        .plan
                        .iter()
                        .map(|p| format!("({},{})", p.x, p.y))
                        .collect::<Vec<_>>()
                        .join(" -> ")
                };
                SampleOutput {
                    sample: i,
                    stop: s.stop,
                    mode: s.mode,
                    valid: s.eval.correct,
                    optimal: s.eval.optimal,
                    plan_length: s.eval.plan_length,
                    trace_tokens: s.eval.trace_tokens,
                    trace: strings(trace, vocab),
                    plan: strings(plan, vocab),
                    trace_text: clauses(trace, vocab),
                    plan_text,
                }
            })
            .collect();
        PredictionRecord {
            line,
            task: self.task.clone(),
            domain: self.task.domain().name().to_string(),
            optimal_plan_length: r.optimal_plan_length,
            astar_trace_tokens: r.astar_reasoning_length,
            max_len: self.max_len,
            sampler: sampler_name(&config.sampler),
            mode: config.mode,
            solved: r.score.solved(),
            optimal: r.score.optimal(),
            n_valid: r.score.n_correct,
            n_optimal: r.score.n_optimal,
            samples,
        }
    }
}

/// Token strings (`?N` for an id outside the vocabulary).
fn strings(ids: &[u32], vocab: &Vocabulary) -> Vec<String> {
    ids.iter()
        .map(|&t| {
            vocab
                .token(t)
                .map_or_else(|| format!("?{t}"), str::to_string)
        })
        .collect()
}

/// Readable clauses: a new clause at each `create`, `close` or `plan`, clauses joined by
/// `; `, and each pair of coordinates as `(x,y)`.
pub fn clauses(ids: &[u32], vocab: &Vocabulary) -> String {
    let starts = [Keyword::Create, Keyword::Close, Keyword::Plan].map(|k| vocab.keyword(k));
    let mut out = String::new();
    let mut i = 0;
    while i < ids.len() {
        let t = ids[i];
        if !out.is_empty() {
            out.push_str(if starts.contains(&Some(t)) { "; " } else { " " });
        }
        match (vocab.kind(t), ids.get(i + 1).and_then(|&n| vocab.kind(n))) {
            (Some(TokenKind::Num(x)), Some(TokenKind::Num(y))) => {
                out.push_str(&format!("({x},{y})"));
                i += 2;
                continue;
            }
            _ => out.push_str(
                &vocab
                    .token(t)
                    .map_or_else(|| format!("?{t}"), str::to_string),
            ),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_are_readable() {
        let v = Vocabulary::maze(3, 3).unwrap();
        let ids = v
            .encode(&[
                "create", "0", "1", "c0", "c3", "close", "0", "1", "c0", "c3",
            ])
            .unwrap();
        assert_eq!(clauses(&ids, &v), "create (0,1) c0 c3; close (0,1) c0 c3");
        assert_eq!(clauses(&[], &v), "");
    }
}

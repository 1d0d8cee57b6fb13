//! Scoring responses against a task, independent of where the responses come from
//! (the model, oracle A* targets, hand-made test cases).
//!
//! A response is the full decoder sequence `bos … [eos]` as token ids. Each response is
//! parsed and validated with `planform_trace::eval` (reference
//! `evaluate_rollout_single`); the responses of one task are aggregated into a
//! `planform_trace::metrics::TaskScore` (solved / optimal = any response,
//! SWC and ILR terms).

use planform_data::Example;
use planform_model::StopReason;
use planform_trace::eval::{evaluate_response, ResponseEval};
use planform_trace::metrics::TaskScore;
use planform_trace::task::Task;
use planform_trace::vocab::{Keyword, Vocabulary, BOS, EOS};
use serde::{Deserialize, Serialize};

use crate::error::{EvalError, Result};

/// One task to evaluate: what scoring needs from a dataset row.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInput {
    /// Dataset row id.
    pub id: u64,
    /// The task (for plan validation).
    pub task: Task,
    /// Prompt token ids (no `bos`/`eos`).
    pub prompt: Vec<u32>,
    /// Optimal plan length in nodes (the A* plan stored with the task).
    pub optimal_plan_length: usize,
    /// Length of the A* trace stored with the task, in tokens.
    pub astar_reasoning_length: usize,
    /// t*: mean reasoning tokens over nondeterministic A* runs, if known.
    pub tstar: Option<f64>,
}

impl TaskInput {
    /// From a dataset row (t* from its `astar_mean_reasoning` column).
    pub fn from_example(example: &Example) -> Result<Self> {
        Ok(TaskInput {
            id: example.id,
            task: example.parse_task()?,
            prompt: example.prompt.clone(),
            optimal_plan_length: example.plan_length as usize,
            astar_reasoning_length: example.reasoning.len(),
            tstar: example.astar_mean_reasoning,
        })
    }
}

/// A response to score: the decoder sequence and why it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// `bos`, generated tokens and, when it ended with `eos`, the `eos`.
    pub tokens: Vec<u32>,
    /// Why decoding stopped.
    pub stop: StopReason,
}

impl Response {
    /// A response whose stop reason is read off its tokens: `eos` last means
    /// [`StopReason::Eos`], anything else [`StopReason::MaxLen`].
    pub fn from_tokens(tokens: Vec<u32>) -> Self {
        let stop = if tokens.last() == Some(&EOS) {
            StopReason::Eos
        } else {
            StopReason::MaxLen
        };
        Response { tokens, stop }
    }
}

/// Which mode a response chose: the first token after `bos`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModeChoice {
    /// `plan` first: no search trace (Dualformer fast mode).
    Fast,
    /// `create` first: a search trace (Dualformer slow mode).
    Slow,
    /// Anything else (e.g. `eos`, a coordinate, or nothing).
    Other,
}

impl ModeChoice {
    /// The choice of a decoder sequence (`bos` first; a missing `bos` is tolerated).
    pub fn of(tokens: &[u32], vocab: &Vocabulary) -> Self {
        let body = tokens.strip_prefix(&[BOS]).unwrap_or(tokens);
        match body.first() {
            Some(&t) if Some(t) == vocab.keyword(Keyword::Plan) => ModeChoice::Fast,
            Some(&t) if Some(t) == vocab.keyword(Keyword::Create) => ModeChoice::Slow,
            _ => ModeChoice::Other,
        }
    }
}

/// One scored response.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleResult {
    /// The decoder sequence (empty when dropped, see `Retention`).
    pub tokens: Vec<u32>,
    /// Number of tokens in the sequence, `bos` included (kept when `tokens` is dropped).
    pub length: usize,
    /// Why decoding stopped.
    pub stop: StopReason,
    /// First token after `bos`.
    pub mode: ModeChoice,
    /// Parse and validation result.
    pub eval: ResponseEval,
}

impl SampleResult {
    /// A plan could be parsed (the reference's `ValueError` did not happen).
    pub fn parsed(&self) -> bool {
        self.eval.plan_length > 0
    }

    /// Reasoning and plan tokens of the kept sequence, without `bos` and `eos`, split at
    /// the first `plan` token (the bootstrapping target, reference
    /// `reduce_rollout_to_shortest_trace`). `None` if the tokens were dropped or there
    /// is no `plan` token.
    pub fn reasoning_and_plan(&self, vocab: &Vocabulary) -> Option<(Vec<u32>, Vec<u32>)> {
        let plan_kw = vocab.keyword(Keyword::Plan)?;
        let body = self.tokens.strip_prefix(&[BOS]).unwrap_or(&self.tokens);
        let body = body.strip_suffix(&[EOS]).unwrap_or(body);
        let at = body.iter().position(|&t| t == plan_kw)?;
        Some((body[..at].to_vec(), body[at..].to_vec()))
    }
}

/// Scored responses of one task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskResult {
    /// Dataset row id.
    pub id: u64,
    /// Optimal plan length in nodes.
    pub optimal_plan_length: usize,
    /// Length of the A* trace stored with the task.
    pub astar_reasoning_length: usize,
    /// t*, if known.
    pub tstar: Option<f64>,
    /// Task-level aggregate (solved, optimal, SWC and ILR terms, diversity).
    pub score: TaskScore,
    /// Every response in sample order.
    pub samples: Vec<SampleResult>,
}

impl TaskResult {
    /// The optimal response with the fewest trace tokens (first such sample on ties),
    /// as bootstrapping keeps; `None` if no response is optimal.
    pub fn shortest_optimal(&self) -> Option<&SampleResult> {
        self.samples
            .iter()
            .filter(|s| s.eval.optimal)
            .min_by_key(|s| s.eval.trace_tokens)
    }

    /// The JSON line of `tasks.jsonl`.
    pub fn record(&self) -> TaskRecord {
        let s = &self.score;
        TaskRecord {
            id: self.id,
            optimal_plan_length: self.optimal_plan_length,
            astar_reasoning_length: self.astar_reasoning_length,
            tstar: self.tstar,
            solved: s.solved(),
            optimal: s.optimal(),
            n_correct: s.n_correct,
            n_optimal: s.n_optimal,
            best_correct_plan_length: s.shortest_correct,
            swc: s.swc(),
            ilr_solved: s.ilr_solved(),
            ilr_optimal: s.ilr_optimal(),
            mean_trace_correct: s.mean_trace_correct,
            mean_trace_optimal: s.mean_trace_optimal,
            unique_correct_plans: s.unique_correct_plans,
            samples: self
                .samples
                .iter()
                .map(|r| SampleRecord {
                    correct: r.eval.correct,
                    optimal: r.eval.optimal,
                    parsed: r.parsed(),
                    plan_length: r.eval.plan_length,
                    trace_tokens: r.eval.trace_tokens,
                    length: r.length,
                    stop: r.stop,
                    mode: r.mode,
                })
                .collect(),
        }
    }
}

/// Per-task line of `tasks.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Dataset row id.
    pub id: u64,
    /// Optimal plan length `l*` in nodes.
    pub optimal_plan_length: usize,
    /// Length of the stored A* trace in tokens.
    pub astar_reasoning_length: usize,
    /// t* (mean nondeterministic A* trace tokens), if known.
    pub tstar: Option<f64>,
    /// Any response correct.
    pub solved: bool,
    /// Any response optimal.
    pub optimal: bool,
    /// Correct responses.
    pub n_correct: usize,
    /// Optimal responses.
    pub n_optimal: usize,
    /// Shortest correct plan length `l`.
    pub best_correct_plan_length: Option<usize>,
    /// SWC term `c · l* / max(l, l*)`.
    pub swc: f64,
    /// ILR-on-solved term (`null`: undefined, e.g. no t* or no trace).
    pub ilr_solved: Option<f64>,
    /// ILR-on-optimal term.
    pub ilr_optimal: Option<f64>,
    /// Mean trace tokens of the correct responses.
    pub mean_trace_correct: Option<f64>,
    /// Mean trace tokens of the optimal responses.
    pub mean_trace_optimal: Option<f64>,
    /// Distinct correct plans.
    pub unique_correct_plans: usize,
    /// One record per response, in sample order.
    pub samples: Vec<SampleRecord>,
}

/// Per-response part of a [`TaskRecord`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleRecord {
    /// The plan solves the task.
    pub correct: bool,
    /// Correct and of optimal length.
    pub optimal: bool,
    /// A plan could be parsed.
    pub parsed: bool,
    /// Plan nodes (0 when parsing failed).
    pub plan_length: usize,
    /// Tokens before the first `plan`, `bos` excluded (0 when parsing failed).
    pub trace_tokens: usize,
    /// Decoder sequence length, `bos` included.
    pub length: usize,
    /// Why decoding stopped.
    pub stop: StopReason,
    /// First token after `bos`.
    pub mode: ModeChoice,
}

/// Which response tokens a [`TaskResult`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Retention {
    /// Every response's tokens.
    All,
    /// Only the tokens of [`TaskResult::shortest_optimal`] (bootstrapping on large
    /// prompt sets).
    ShortestOptimal,
    /// No tokens (metrics only). Default.
    #[default]
    None,
}

/// Scores the responses of one task.
pub fn score_task(
    input: &TaskInput,
    vocab: &Vocabulary,
    responses: Vec<Response>,
    retention: Retention,
) -> TaskResult {
    let mut samples: Vec<SampleResult> = responses
        .into_iter()
        .map(|r| SampleResult {
            eval: evaluate_response(&input.task, vocab, &r.tokens, input.optimal_plan_length),
            mode: ModeChoice::of(&r.tokens, vocab),
            length: r.tokens.len(),
            stop: r.stop,
            tokens: r.tokens,
        })
        .collect();
    let evals: Vec<ResponseEval> = samples.iter().map(|s| s.eval.clone()).collect();
    let score = TaskScore::new(&evals, input.optimal_plan_length, input.tstar);
    let keep = match retention {
        Retention::All => None,
        Retention::None => Some(usize::MAX),
        Retention::ShortestOptimal => Some(
            samples
                .iter()
                .enumerate()
                .filter(|(_, s)| s.eval.optimal)
                .min_by_key(|(_, s)| s.eval.trace_tokens)
                .map_or(usize::MAX, |(i, _)| i),
        ),
    };
    if let Some(keep) = keep {
        for (i, s) in samples.iter_mut().enumerate() {
            if i != keep {
                s.tokens = Vec::new();
            }
        }
    }
    TaskResult {
        id: input.id,
        optimal_plan_length: input.optimal_plan_length,
        astar_reasoning_length: input.astar_reasoning_length,
        tstar: input.tstar,
        score,
        samples,
    }
}

/// Scores many tasks; `responses[i]` belongs to `tasks[i]` and must not be empty.
pub fn score_tasks(
    tasks: &[TaskInput],
    vocab: &Vocabulary,
    responses: Vec<Vec<Response>>,
    retention: Retention,
) -> Result<Vec<TaskResult>> {
    if tasks.len() != responses.len() {
        return Err(EvalError::Responses(format!(
            "{} tasks but {} response sets",
            tasks.len(),
            responses.len()
        )));
    }
    tasks
        .iter()
        .zip(responses)
        .map(|(t, r)| {
            if r.is_empty() {
                return Err(EvalError::Responses(format!(
                    "task {} has no responses",
                    t.id
                )));
            }
            Ok(score_task(t, vocab, r, retention))
        })
        .collect()
}

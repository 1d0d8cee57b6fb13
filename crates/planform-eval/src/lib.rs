//! planform-eval: evaluate a trained model against A* (reference
//! `searchformer/rollout.py` + `maze.py` / `sokoban.py` `evaluate_rollout`, the paper's
//! metrics from `notebook/PerfTable.ipynb`, and Dualformer's fast/slow/auto modes).
//!
//! - [`EvalConfig`]: checkpoint, dataset, split, tasks, k, [`Mode`], sampler,
//!   [`MaxLen`], batch rows, seed, device; [`evaluate`] runs it and returns an
//!   [`Evaluation`] ([`EvalReport`] + per-task [`TaskResult`]s), which
//!   [`Evaluation::write`]s `summary.md`, `summary.json` and `tasks.jsonl`.
//! - [`sample_and_score`]: decode k responses per task in large batches across tasks
//!   and score them; shared with bootstrapping ([`Retention::ShortestOptimal`],
//!   [`TaskResult::shortest_optimal`], [`SampleResult::reasoning_and_plan`]).
//! - [`score_task`] / [`score_tasks`]: scoring independent of where responses come from.
//! - [`Predictor`]: a model on tasks of one's own (task JSON lines, `planform predict`):
//!   prompts, A*'s optimal plan length, k scored responses with readable traces and plans.
//! - [`EvalMetrics`]: solved / optimal (1 of k and 3 of k), SWC, ILR-on-solved,
//!   ILR-on-optimal, diversity, trace-length statistics, stop reasons, mode choices.
//!
//! ## Semantics
//!
//! * Tasks are the first `tasks` rows of the split in the order of a fixed hash of their
//!   id ([`hashed_examples`]), like the reference's sorted first `--test-sequences` ids,
//!   which are Python hashes: spread over the whole split, not a few wall layouts.
//! * A response is parsed from its first `plan` token; trace tokens are the tokens
//!   before it, `bos` excluded; correct / optimal as in `planform_trace::eval`. A
//!   response that hit the length limit is still parsed (as the reference does).
//! * Task solved / optimal = any of its k responses; SWC uses the shortest correct plan;
//!   ILR uses t* = the mean A* trace over nondeterministic runs: the dataset's
//!   `astar_mean_reasoning` when present, else computed here (the report says which).
//! * Sampling is keyed by (seed, task index, sample, position): the same config gives
//!   the same responses whatever `batch_rows`.
//!
//! ## Deviations from the reference
//!
//! * The default maximum decode length ([`MaxLen::Auto`]) is 1.5 × the split's longest
//!   decoder target, capped at the reference's 10,000 (maze) / 11,000 (Sokoban); the
//!   reference always uses the cap. Set [`MaxLen::Fixed`] for the reference value. A
//!   response cut at the limit usually has no plan, so the metrics differ only for
//!   responses longer than 1.5 × every A* trace of the split.
//! * On-the-fly t* seeds differ from planform-data's (which key by layout position), so
//!   t* computed here differs from a stored column by A* sampling noise.

pub mod config;
pub mod error;
pub mod metrics;
pub mod predict;
pub mod report;
pub mod run;
pub mod sample;
pub mod score;

pub use config::{
    sampler_name, DeviceChoice, EvalConfig, MaxLen, Mode, AUTO_MAX_LEN_FACTOR, MAZE_MAX_LEN,
    SOKOBAN_MAX_LEN,
};
pub use error::{EvalError, Result};
pub use metrics::{EvalMetrics, ModeCount, ModeCounts, OptimalTraceRatio, StopCounts, TraceStats};
pub use planform_model::{Precision, Sampler, StopReason};
pub use predict::{
    clauses, LineError, PredictConfig, PredictTask, Prediction, PredictionRecord, Predictor,
    SampleOutput, TaskLineError,
};
pub use report::{
    write_atomic, write_responses, EvalHeader, EvalReport, ResponseLine, Timing, RESPONSES_JSONL,
    SUMMARY_JSON, SUMMARY_MD, TASKS_JSONL,
};
pub use run::{
    evaluate, evaluate_to, fill_tstar, first_examples, hashed_examples, response_room, Evaluation,
    TStarSource,
};
pub use sample::{sample_and_score, Progress, SampleConfig, Sampled, CHUNK_BATCHES};
pub use score::{
    score_task, score_tasks, ModeChoice, Response, Retention, SampleRecord, SampleResult,
    TaskInput, TaskRecord, TaskResult,
};

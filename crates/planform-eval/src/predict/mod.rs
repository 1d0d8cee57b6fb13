//! Using a trained model on tasks of one's own (`planform predict`): task JSON lines in the
//! `planform solve` format → prompts for the checkpoint's vocabulary and the optimal plan
//! length from planform-trace's deterministic A* ([`Predictor::prepare`]) → k decoded and
//! scored responses per task ([`Predictor::predict`]) → one JSON record per task with each
//! response's trace and plan as tokens and as readable text ([`Prediction::record`]).
//!
//! ## Semantics
//!
//! * A task must fit the checkpoint's vocabulary: the same domain and grid size
//!   ([`TaskLineError::Mismatch`] otherwise). A task A* cannot solve is an error
//!   ([`TaskLineError::Task`]); so is a prompt the model's context cannot hold.
//! * Sampling is keyed by (seed, the task's `key`, sample, position); the CLI's key is the
//!   0-based line number. The same tasks, seed and thread count give the same responses,
//!   whatever `batch_rows`. (Tasks decoded in one batch share padded tensors, so a task's
//!   logits can differ in the last bits when other tasks surround it, and a near-tie can
//!   then draw another token.)
//! * [`MaxLen::Auto`] gives each task `ceil(1.5 × its A* sequence length)` tokens
//!   (`bos` trace plan `eos`), capped at the domain's reference limit and the model's
//!   context; [`MaxLen::Fixed`] gives every task the same limit. Tasks are decoded in
//!   groups under the largest limit of the group and every response is then cut at its
//!   own task's limit, which gives exactly the tokens a decode under that limit gives
//!   (sampling is keyed by position).

use planform_model::{Model, ModelConfig, Precision, Sampler, StopReason};
use planform_trace::rng::Rng;
use planform_trace::task::Task;
use planform_trace::vocab::{Vocabulary, VocabularySpec};
use planform_trace::SearchMode;
use serde::{Deserialize, Serialize};
use thiserror::Error;

mod record;
pub use record::{clauses, LineError, PredictionRecord, SampleOutput};

use crate::config::{MaxLen, Mode, AUTO_MAX_LEN_FACTOR, MAZE_MAX_LEN, SOKOBAN_MAX_LEN};
use crate::error::{EvalError, Result};
use crate::run::response_room;
use crate::sample::{sample_and_score, Progress, SampleConfig};
use crate::score::{score_task, Response, Retention, TaskInput, TaskResult};

/// Why one task line cannot be predicted (the run goes on with the other lines).
#[derive(Debug, Error)]
pub enum TaskLineError {
    /// The line is not a valid task, or A* cannot solve it (the message says which).
    #[error(transparent)]
    Task(#[from] planform_trace::Error),
    /// The task's domain or grid size differs from the checkpoint's vocabulary.
    #[error("the task is {task}, the checkpoint was trained on {model} (its vocabulary)")]
    Mismatch {
        /// The task, e.g. `a 7x7 maze`.
        task: String,
        /// The checkpoint's tasks, e.g. `5x5 mazes`.
        model: String,
    },
    /// The prompt leaves the model's context no room for a response of the asked length.
    #[error(
        "the prompt has {prompt} tokens and a response up to {response}; the model holds \
         {max_positions} positions"
    )]
    TooLong {
        /// Prompt tokens (without `bos`/`eos`).
        prompt: usize,
        /// The response length asked for (`bos` … `eos`).
        response: usize,
        /// The model's `max_positions`.
        max_positions: usize,
    },
}

/// How to decode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictConfig {
    /// Responses per task, k. Default 1.
    pub samples: usize,
    /// Forced first token (Dualformer modes). Default [`Mode::Auto`].
    pub mode: Mode,
    /// Next-token rule. Default greedy.
    pub sampler: Sampler,
    /// Response length limit. Default [`MaxLen::Auto`] (per task, see the module docs).
    pub max_len: MaxLen,
    /// Sequences decoded at once. Default 256.
    pub batch_rows: usize,
    /// Sampler seed. Default 0.
    pub seed: u64,
    /// Decoder step precision. Default fp32.
    pub precision: Precision,
}

impl Default for PredictConfig {
    fn default() -> Self {
        PredictConfig {
            samples: 1,
            mode: Mode::Auto,
            sampler: Sampler::Greedy,
            max_len: MaxLen::Auto,
            batch_rows: 256,
            seed: 0,
            precision: Precision::Fp32,
        }
    }
}

impl PredictConfig {
    /// Checks every field that can be checked without a model.
    pub fn validate(&self) -> Result<()> {
        if self.samples == 0 {
            return Err(EvalError::config("samples", "must be at least 1"));
        }
        if self.batch_rows == 0 {
            return Err(EvalError::config("batch_rows", "must be at least 1"));
        }
        match self.sampler {
            Sampler::Greedy if self.samples > 1 => {
                return Err(EvalError::config(
                    "samples",
                    format!(
                        "greedy decoding gives {} identical responses; sample with a \
                         temperature for k > 1",
                        self.samples
                    ),
                ))
            }
            Sampler::Multinomial { temperature }
                if !(temperature.is_finite() && temperature > 0.0) =>
            {
                return Err(EvalError::config(
                    "sampler",
                    format!("temperature must be finite and > 0, got {temperature}"),
                ))
            }
            _ => {}
        }
        if let MaxLen::Fixed(n) = self.max_len {
            if n < self.min_len() {
                return Err(EvalError::config(
                    "max_len",
                    format!(
                        "{n} cannot hold bos, the {} prefix and one token",
                        self.mode
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The shortest useful limit: `bos`, the forced prefix, one token.
    fn min_len(&self) -> usize {
        2 + usize::from(self.mode != Mode::Auto)
    }
}

/// A task ready to decode.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictTask {
    /// Sampler key (the CLI: the 0-based line number).
    pub key: usize,
    /// The task with its prompt and A* figures (`id` = `key`).
    pub input: TaskInput,
    /// Tokens of A*'s own sequence `bos` trace plan `eos`.
    pub astar_sequence_length: usize,
    /// This task's response length limit.
    pub max_len: usize,
}

/// A decoded and scored task.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Sampler key.
    pub key: usize,
    /// The task as given.
    pub task: Task,
    /// Its response length limit.
    pub max_len: usize,
    /// The scored responses (with their tokens).
    pub result: TaskResult,
}

/// Decodes tasks with one model.
pub struct Predictor<'a> {
    model: &'a Model,
    vocab: &'a Vocabulary,
    config: PredictConfig,
    max_positions: usize,
}

impl<'a> Predictor<'a> {
    /// A predictor for `model`, whose vocabulary is `vocab`.
    pub fn new(model: &'a Model, vocab: &'a Vocabulary, config: PredictConfig) -> Result<Self> {
        config.validate()?;
        if model.vocab_size() != vocab.len() {
            return Err(EvalError::Responses(format!(
                "model vocabulary size {} differs from the vocabulary given ({} tokens)",
                model.vocab_size(),
                vocab.len()
            )));
        }
        config.mode.prefix(vocab)?;
        let max_positions = model.config().max_positions();
        if let MaxLen::Fixed(n) = config.max_len {
            if n > max_positions {
                return Err(EvalError::config(
                    "max_len",
                    format!("{n} exceeds the model's {max_positions} positions"),
                ));
            }
        }
        Ok(Predictor {
            model,
            vocab,
            config,
            max_positions,
        })
    }

    /// The settings.
    pub fn config(&self) -> &PredictConfig {
        &self.config
    }

    /// Parses one task JSON line, checks it against the vocabulary, runs deterministic A*
    /// for the optimal plan length, and sets the task's length limit.
    pub fn prepare(
        &self,
        line: &str,
        key: usize,
    ) -> std::result::Result<PredictTask, TaskLineError> {
        let task = Task::from_json(line)?;
        check_fits(&task, self.vocab)?;
        let prompt = task.prompt(self.vocab)?;
        let (astar, plan_nodes) =
            task.solve_tokens(self.vocab, SearchMode::Deterministic, &mut Rng::new(0))?;
        let astar_sequence_length = astar.reasoning.len() + astar.plan.len() + 2;
        let (framed, room) = match self.model.config() {
            c @ ModelConfig::EncoderDecoder(_) => {
                (prompt.len() + 2, response_room(&c, prompt.len()))
            }
            c @ ModelConfig::DecoderOnly(_) => (prompt.len() + 1, response_room(&c, prompt.len())),
        };
        let max_len = match self.config.max_len {
            MaxLen::Fixed(n) => n,
            MaxLen::Auto => {
                let cap = match task {
                    Task::Maze(_) => MAZE_MAX_LEN,
                    Task::Sokoban(_) => SOKOBAN_MAX_LEN,
                };
                let want = (astar_sequence_length as f64 * AUTO_MAX_LEN_FACTOR).ceil() as usize;
                want.min(cap).min(room)
            }
        };
        if framed >= self.max_positions || max_len > room || max_len < self.config.min_len() {
            return Err(TaskLineError::TooLong {
                prompt: prompt.len(),
                response: max_len.max(self.config.min_len()),
                max_positions: self.max_positions,
            });
        }
        Ok(PredictTask {
            key,
            input: TaskInput {
                id: key as u64,
                task,
                prompt,
                optimal_plan_length: plan_nodes,
                astar_reasoning_length: astar.reasoning.len(),
                tstar: None,
            },
            astar_sequence_length,
            max_len,
        })
    }

    /// Decodes `config.samples` responses for every task and scores them against A*.
    /// `progress` sees every finished chunk, counted over all of `tasks`.
    pub fn predict(
        &self,
        tasks: &[PredictTask],
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<Vec<Prediction>> {
        let mut out = Vec::with_capacity(tasks.len());
        let (mut done, mut tokens, mut seconds) = (0usize, 0usize, 0f64);
        for group in groups(tasks, |t| self.room(t)) {
            let call_max = group.iter().map(|t| t.max_len).max().unwrap_or(2);
            let cfg = SampleConfig {
                samples: self.config.samples,
                mode: self.config.mode,
                sampler: self.config.sampler,
                max_len: call_max,
                batch_rows: self.config.batch_rows,
                seed: self.config.seed,
                first_index: group[0].key,
                precision: self.config.precision,
                retention: Retention::All,
            };
            let inputs: Vec<TaskInput> = group.iter().map(|t| t.input.clone()).collect();
            let total = tasks.len();
            let sampled = sample_and_score(self.model, self.vocab, &inputs, &cfg, &mut |p| {
                progress(&Progress {
                    tasks_done: done + p.tasks_done,
                    tasks_total: total,
                    generated_tokens: tokens + p.generated_tokens,
                    elapsed_secs: seconds + p.elapsed_secs,
                })
            })?;
            done += group.len();
            tokens += sampled.generated_tokens;
            seconds += sampled.seconds;
            for (t, result) in group.iter().zip(sampled.results) {
                out.push(Prediction {
                    key: t.key,
                    task: t.input.task.clone(),
                    max_len: t.max_len,
                    result: cut_to(result, t, self.vocab),
                });
            }
        }
        Ok(out)
    }

    /// The longest response the model's context leaves a task.
    fn room(&self, t: &PredictTask) -> usize {
        response_room(&self.model.config(), t.input.prompt.len())
    }
}

/// Splits tasks into runs of consecutive keys whose largest limit fits every member's room
/// (`generate` keys prompt `i` of a call by `first_index + i` and takes one limit per call).
fn groups(tasks: &[PredictTask], room: impl Fn(&PredictTask) -> usize) -> Vec<&[PredictTask]> {
    let mut out = Vec::new();
    let mut start = 0;
    let (mut max_len, mut min_room) = (0usize, usize::MAX);
    for (i, t) in tasks.iter().enumerate() {
        let joins = i > start
            && t.key == tasks[i - 1].key + 1
            && max_len.max(t.max_len) <= min_room.min(room(t));
        if i > start && !joins {
            out.push(&tasks[start..i]);
            start = i;
            (max_len, min_room) = (0, usize::MAX);
        }
        max_len = max_len.max(t.max_len);
        min_room = min_room.min(room(t));
    }
    if start < tasks.len() {
        out.push(&tasks[start..]);
    }
    out
}

/// Cuts the responses of a task decoded under a larger limit at the task's own limit
/// (and rescores them when any was cut).
fn cut_to(result: TaskResult, task: &PredictTask, vocab: &Vocabulary) -> TaskResult {
    if result
        .samples
        .iter()
        .all(|s| s.tokens.len() <= task.max_len)
    {
        return result;
    }
    let responses = result
        .samples
        .into_iter()
        .map(|s| {
            if s.tokens.len() <= task.max_len {
                Response {
                    tokens: s.tokens,
                    stop: s.stop,
                }
            } else {
                Response {
                    tokens: s.tokens[..task.max_len].to_vec(),
                    stop: StopReason::MaxLen,
                }
            }
        })
        .collect();
    score_task(&task.input, vocab, responses, Retention::All)
}

/// Checks that the task's domain and grid size are those of the vocabulary.
fn check_fits(task: &Task, vocab: &Vocabulary) -> std::result::Result<(), TaskLineError> {
    let (w, h) = task.size();
    let (domain, vw, vh) = match vocab.spec() {
        VocabularySpec::Maze { width, height } => ("maze", width, height),
        VocabularySpec::Sokoban { width, height, .. } => ("sokoban", width, height),
    };
    let kind = task.domain().name();
    if kind != domain || (w, h) != (vw, vh) {
        let plural = if domain == "maze" {
            "mazes"
        } else {
            "Sokoban levels"
        };
        let article = if kind == "maze" {
            "maze"
        } else {
            "Sokoban level"
        };
        return Err(TaskLineError::Mismatch {
            task: format!("a {w}x{h} {article}"),
            model: format!("{vw}x{vh} {plural}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::ModeChoice;
    use planform_trace::vocab::{Keyword, BOS, EOS};

    fn task(key: usize, max_len: usize, prompt: usize) -> PredictTask {
        let v = Vocabulary::maze(3, 3).unwrap();
        let t = Task::from_json(
            r#"{"width": 3, "height": 3, "start": [0, 0], "goal": [2, 2], "walls": []}"#,
        )
        .unwrap();
        PredictTask {
            key,
            input: TaskInput {
                id: key as u64,
                prompt: vec![v.keyword(Keyword::Wall).unwrap(); prompt],
                task: t,
                optimal_plan_length: 5,
                astar_reasoning_length: 10,
                tstar: None,
            },
            astar_sequence_length: 27,
            max_len,
        }
    }

    #[test]
    fn groups_follow_consecutive_keys_and_rooms() {
        let ts = vec![
            task(0, 10, 5),
            task(1, 20, 5),
            task(3, 10, 5),
            task(4, 10, 50),
            task(5, 10, 5),
        ];
        // Room = 60 - prompt: 55 for short prompts, 10 for the long one. Key 3 follows a
        // gap; 4 (limit 10, room 10) fits the limit 10 of the group {3}, and so does 5.
        let g = groups(&ts, |t| 60 - t.input.prompt.len());
        let keys: Vec<Vec<usize>> = g
            .iter()
            .map(|g| g.iter().map(|t| t.key).collect())
            .collect();
        assert_eq!(keys, vec![vec![0, 1], vec![3, 4, 5]]);
        let ts = vec![task(0, 20, 5), task(1, 10, 50)];
        let keys: Vec<usize> = groups(&ts, |t| 60 - t.input.prompt.len())
            .iter()
            .map(|g| g.len())
            .collect();
        assert_eq!(
            keys,
            vec![1, 1],
            "a member whose room is below the group's limit starts a new group"
        );
    }

    #[test]
    fn config_validation_names_the_field() {
        let bad = |f: fn(&mut PredictConfig)| {
            let mut c = PredictConfig::default();
            f(&mut c);
            match c.validate() {
                Err(EvalError::Config { field, .. }) => field,
                other => panic!("{other:?}"),
            }
        };
        assert!(PredictConfig::default().validate().is_ok());
        assert_eq!(bad(|c| c.samples = 0), "samples");
        assert_eq!(bad(|c| c.samples = 4), "samples");
        assert_eq!(bad(|c| c.batch_rows = 0), "batch_rows");
        assert_eq!(
            bad(|c| c.sampler = Sampler::Multinomial { temperature: 0.0 }),
            "sampler"
        );
        assert_eq!(
            bad(|c| {
                c.mode = Mode::Slow;
                c.max_len = MaxLen::Fixed(2)
            }),
            "max_len"
        );
    }

    /// A 5x5 maze task with its A* figures, and A*'s own response `bos trace plan eos`.
    fn solved_maze() -> (PredictTask, Vocabulary, Vec<u32>) {
        let v = Vocabulary::maze(5, 5).unwrap();
        let line = r#"{"width": 5, "height": 5, "start": [0, 0], "goal": [4, 4], "walls": [[1, 1], [2, 2], [3, 3]]}"#;
        let t = Task::from_json(line).unwrap();
        let (tok, nodes) = t
            .solve_tokens(&v, SearchMode::Deterministic, &mut Rng::new(0))
            .unwrap();
        let oracle: Vec<u32> = [&[BOS][..], &tok.reasoning, &tok.plan, &[EOS]].concat();
        let task = PredictTask {
            key: 0,
            input: TaskInput {
                id: 0,
                prompt: t.prompt(&v).unwrap(),
                task: t,
                optimal_plan_length: nodes,
                astar_reasoning_length: tok.reasoning.len(),
                tstar: None,
            },
            astar_sequence_length: oracle.len(),
            max_len: oracle.len(),
        };
        (task, v, oracle)
    }

    #[test]
    fn a_star_response_is_valid_and_optimal_and_a_cut_one_is_not() {
        let (task, v, oracle) = solved_maze();
        let scored = score_task(
            &task.input,
            &v,
            vec![Response::from_tokens(oracle.clone())],
            Retention::All,
        );
        let pred = Prediction {
            key: 0,
            task: task.input.task.clone(),
            max_len: task.max_len,
            result: cut_to(scored.clone(), &task, &v),
        };
        let r = pred.record(1, &PredictConfig::default(), &v);
        assert!(r.solved && r.optimal && r.n_valid == 1 && r.n_optimal == 1);
        let s = &r.samples[0];
        assert!(s.valid && s.optimal && s.stop == StopReason::Eos && s.mode == ModeChoice::Slow);
        assert_eq!(s.trace.len(), task.input.astar_reasoning_length);
        assert_eq!(s.trace_tokens, s.trace.len());
        assert_eq!(s.plan.len(), 3 * task.input.optimal_plan_length);
        assert_eq!(s.plan_length, task.input.optimal_plan_length);
        assert!(
            s.trace_text.starts_with("create (0,0) c0 "),
            "{}",
            s.trace_text
        );
        assert!(s.plan_text.starts_with("(0,0) -> ") && s.plan_text.ends_with(" -> (4,4)"));
        // The record round-trips through JSON.
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<PredictionRecord>(&json).unwrap(), r);

        // The same response under a 10-token limit: cut, stopped at the limit, no plan.
        let short = PredictTask {
            max_len: 10,
            ..task.clone()
        };
        let cut = cut_to(scored, &short, &v);
        assert_eq!(cut.samples[0].tokens, oracle[..10].to_vec());
        assert_eq!(cut.samples[0].stop, StopReason::MaxLen);
        assert!(!cut.samples[0].eval.correct && !cut.score.solved());
    }

    #[test]
    fn tasks_must_fit_the_vocabulary() {
        let v = Vocabulary::maze(5, 5).unwrap();
        let seven = Task::from_json(
            r#"{"width": 7, "height": 7, "start": [0, 0], "goal": [6, 6], "walls": []}"#,
        )
        .unwrap();
        let e = check_fits(&seven, &v).unwrap_err().to_string();
        assert_eq!(
            e,
            "the task is a 7x7 maze, the checkpoint was trained on 5x5 mazes (its vocabulary)"
        );
        let (task, ..) = solved_maze();
        assert!(check_fits(&task.input.task, &v).is_ok());
    }
}

//! Coconut on mazes (beyond the paper): planform's search-augmented maze tasks as
//! question / steps / answer.
//!
//! ```text
//! question: bos  start x y goal x y (wall x y)*         (the maze prompt)
//! steps:    the A* trace (create|close x y cg ch)*, cut into `trace_steps` spans of
//!           nearly equal numbers of clauses (empty spans dropped)
//! answer:   (plan x y)* eos
//! ```
//!
//! With this layout the Table-1 methods become the maze arms: `cot` = search-augmented
//! (Searchformer's target), `no-cot` = solution-only, `cot` with `data.dualformer` =
//! Dualformer's randomly dropped traces (one step: the dropped trace, re-drawn every epoch),
//! `coconut` = stage k replaces the first k spans with k·c continuous thoughts, and
//! `pause-as-thought` its pause control. All arms share the tasks, the model and the
//! vocabulary (planform's maze tokens plus the four markers).

use planform_core::rng::Rng;
use planform_trace::dropping::{clauses, DroppingConfig};
use planform_trace::eval::evaluate_response;
use planform_trace::{MazeGenConfig, MazeGenerator, MazeTask, Task, TokenSequence, Vocabulary};

use crate::config::MazeData;
use crate::error::{CoconutError, Result};
use crate::vocab::Example;

/// One maze task with its A* tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MazeItem {
    /// The task.
    pub task: MazeTask,
    /// Prompt, reasoning and plan tokens.
    pub tokens: TokenSequence,
    /// Optimal plan length in nodes.
    pub optimal: usize,
}

/// Generates `train + valid + test` distinct tasks: wall layouts from independent streams
/// `(seed, layout)`, every accepted task of a layout in order, deduplicated, then shuffled
/// with the seed (so the splits mix layouts).
pub fn generate_mazes(m: &MazeData) -> Result<Vec<MazeItem>> {
    let want = m.train + m.valid + m.test;
    let cfg = MazeGenConfig::reference(m.width, m.height, m.astar.mode());
    let mut generator = MazeGenerator::new(cfg)?;
    let vocab = Vocabulary::maze(m.width, m.height)?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(want);
    let mut layout = 0u64;
    while out.len() < want {
        if layout > 100 * want as u64 + 1000 {
            return Err(CoconutError::Data(format!(
                "only {} distinct {}x{} mazes after {layout} layouts",
                out.len(),
                m.width,
                m.height
            )));
        }
        let l = generator.generate_layout(&vocab, &mut Rng::stream(m.seed, layout))?;
        layout += 1;
        for s in l.tasks {
            if out.len() < want && seen.insert(s.task.clone()) {
                out.push(MazeItem {
                    task: s.task,
                    tokens: s.tokens,
                    optimal: s.optimal_plan_len,
                });
            }
        }
    }
    Rng::keyed(&[m.seed, 0x6d617a65]).shuffle(&mut out);
    Ok(out)
}

/// The example of `item`: the full trace cut into `trace_steps` spans, or (Dualformer) the
/// given reduced trace as one step.
pub fn maze_example(
    item: &MazeItem,
    vocab: &Vocabulary,
    trace_steps: usize,
    reduced: Option<&[u32]>,
) -> Example {
    let ids = |t: &[u32]| t.iter().map(|&x| i64::from(x)).collect::<Vec<i64>>();
    let mut question = vec![i64::from(planform_trace::vocab::BOS)];
    question.extend(ids(&item.tokens.prompt));
    let steps = match reduced {
        Some([]) => Vec::new(),
        Some(r) => vec![ids(r)],
        None => {
            let cl: Vec<&[u32]> = clauses(&item.tokens.reasoning, vocab).collect();
            let n = cl.len();
            (0..trace_steps)
                .map(|i| cl[i * n / trace_steps..(i + 1) * n / trace_steps].concat())
                .filter(|s| !s.is_empty())
                .map(|s| ids(&s))
                .collect()
        }
    };
    let mut answer = ids(&item.tokens.plan);
    answer.push(i64::from(planform_trace::vocab::EOS));
    Example {
        question,
        steps,
        answer,
    }
}

/// Dualformer: the reduced trace of `item` for `epoch` (keyed by `(seed, index, epoch)`).
pub fn dropped_trace(
    item: &MazeItem,
    vocab: &Vocabulary,
    dropping: &DroppingConfig,
    seed: u64,
    index: u64,
    epoch: u64,
) -> Result<Vec<u32>> {
    let mut rng = dropping.rng_for(seed, index, epoch);
    Ok(dropping.apply(&item.tokens.reasoning, vocab, &mut rng)?.1)
}

/// Score of one generated response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MazeScore {
    /// The plan reaches the goal legally.
    pub correct: bool,
    /// Correct and of optimal length.
    pub optimal: bool,
}

/// Scores generated language tokens (markers removed; `ended` = `eos` was generated).
pub fn score_maze(
    item: &MazeItem,
    vocab: &Vocabulary,
    generated: &[i64],
    ended: bool,
) -> MazeScore {
    let mut toks: Vec<u32> = generated
        .iter()
        .filter(|&&t| t >= 0 && (t as usize) < vocab.len())
        .map(|&t| t as u32)
        .collect();
    if ended {
        toks.push(planform_trace::vocab::EOS);
    }
    let ev = evaluate_response(&Task::Maze(item.task.clone()), vocab, &toks, item.optimal);
    MazeScore {
        correct: ev.correct,
        optimal: ev.optimal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AstarMode;

    fn data() -> MazeData {
        MazeData {
            name: "m".into(),
            width: 5,
            height: 5,
            astar: AstarMode::Deterministic,
            train: 20,
            valid: 5,
            test: 5,
            seed: 3,
            trace_steps: 4,
            dualformer: None,
        }
    }

    #[test]
    fn traces_split_into_spans_and_plans_score() {
        let items = generate_mazes(&data()).unwrap();
        assert_eq!(items.len(), 30);
        assert_eq!(items, generate_mazes(&data()).unwrap());
        let vocab = Vocabulary::maze(5, 5).unwrap();
        for it in &items {
            let ex = maze_example(it, &vocab, 4, None);
            let joined: Vec<i64> = ex.steps.concat();
            let want: Vec<i64> = it.tokens.reasoning.iter().map(|&t| t as i64).collect();
            assert_eq!(joined, want);
            assert!(!ex.steps.is_empty() && ex.steps.len() <= 4);
            let plan = &ex.answer[..ex.answer.len() - 1];
            assert_eq!(
                score_maze(it, &vocab, plan, true),
                MazeScore {
                    correct: true,
                    optimal: true
                }
            );
            assert!(!score_maze(it, &vocab, &plan[..3], true).correct);
        }
    }
}

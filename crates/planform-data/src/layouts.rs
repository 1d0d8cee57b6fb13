//! Per-domain layout generation: layout index `i` → tasks, drawn from
//! `Rng::stream(seed, i)` only, so the result does not depend on threads or order.

use planform_trace::maze::MazeTask;
use planform_trace::maze_gen::{MazeGenConfig, MazeGenerator};
use planform_trace::rng::Rng;
use planform_trace::tokens::TokenSequence;
use planform_trace::vocab::Vocabulary;
use sha2::{Digest, Sha256};

use crate::config::{Domain, GenerateConfig};
use crate::error::{DataError, Result};

/// A generated task, typed, for t*.
#[derive(Debug, Clone)]
pub(crate) enum AnyTask {
    Maze(MazeTask),
}

/// One task of a layout.
#[derive(Debug, Clone)]
pub(crate) struct GenTask {
    pub task: AnyTask,
    pub json: String,
    pub tokens: TokenSequence,
    pub plan_length: u32,
}

/// All tasks of one layout plus a digest identifying the layout (for duplicate rejection).
#[derive(Debug, Clone)]
pub(crate) struct GenLayout {
    pub key: [u8; 16],
    pub tasks: Vec<GenTask>,
}

/// A per-thread generator (holds reusable search buffers).
pub(crate) enum LayoutGenerator {
    Maze(MazeGenerator),
}

fn digest(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let full = h.finalize();
    let mut k = [0u8; 16];
    k.copy_from_slice(&full[..16]);
    k
}

fn gen_err(layout: u64, e: impl ToString) -> DataError {
    DataError::Generation {
        layout,
        reason: e.to_string(),
    }
}

fn sokoban_missing() -> DataError {
    DataError::InvalidConfig(
        "Sokoban generation is not available yet (planform-trace has no Sokoban generator)".into(),
    )
}

/// The vocabulary of a domain.
pub(crate) fn vocabulary(domain: &Domain) -> Result<Vocabulary> {
    match *domain {
        Domain::Maze { width, height, .. } => Vocabulary::maze(width, height),
        Domain::Sokoban { .. } => return Err(sokoban_missing()),
    }
    .map_err(|e| DataError::InvalidConfig(e.to_string()))
}

impl LayoutGenerator {
    pub(crate) fn new(config: &GenerateConfig) -> Result<Self> {
        match config.domain {
            Domain::Maze {
                width,
                height,
                attempts_per_layout,
            } => {
                let cfg = MazeGenConfig {
                    attempts: attempts_per_layout,
                    ..MazeGenConfig::reference(width, height, config.astar)
                };
                MazeGenerator::new(cfg)
                    .map(LayoutGenerator::Maze)
                    .map_err(|e| DataError::InvalidConfig(e.to_string()))
            }
            Domain::Sokoban { .. } => Err(sokoban_missing()),
        }
    }

    /// Generate layout `index` of a run seeded with `seed`.
    pub(crate) fn layout(
        &mut self,
        vocab: &Vocabulary,
        seed: u64,
        index: u64,
    ) -> Result<GenLayout> {
        let mut rng = Rng::stream(seed, index);
        match self {
            LayoutGenerator::Maze(g) => {
                let out = g
                    .generate_layout(vocab, &mut rng)
                    .map_err(|e| gen_err(index, e))?;
                let w = g.config().width;
                let walls: Vec<u8> = out
                    .walls
                    .iter()
                    .flat_map(|p| (p.index(w) as u32).to_le_bytes())
                    .collect();
                let key = digest(&[b"maze", &walls]);
                let tasks = out
                    .tasks
                    .into_iter()
                    .map(|s| {
                        let json = serde_json::to_string(&s.task).map_err(|e| gen_err(index, e))?;
                        Ok(GenTask {
                            task: AnyTask::Maze(s.task),
                            json,
                            tokens: s.tokens,
                            plan_length: s.optimal_plan_len as u32,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(GenLayout { key, tasks })
            }
        }
    }
}

/// t*: mean reasoning length in tokens over `runs` nondeterministic A* runs, seeded by `rng`.
pub(crate) fn astar_mean_reasoning(task: &AnyTask, runs: u32, rng: &mut Rng) -> Result<f64> {
    let mut total: u64 = 0;
    match task {
        AnyTask::Maze(t) => {
            for _ in 0..runs {
                let trace = t
                    .solve(planform_trace::astar::SearchMode::Nondeterministic, rng)
                    .map_err(|e| gen_err(u64::MAX, e))?;
                // Each create/close step is 5 tokens: action x y c<g> c<h>.
                total += 5 * trace.steps.len() as u64;
            }
        }
    }
    Ok(total as f64 / f64::from(runs.max(1)))
}

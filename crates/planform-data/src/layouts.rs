//! Per-domain layout generation: layout index `i` → tasks, drawn from
//! `Rng::stream(seed, i)` only, so the result does not depend on threads or order.
//!
//! - Maze: one wall layout and its unique (start, goal) tasks
//!   (`planform_trace::maze_gen::MazeGenerator::generate_layout`).
//! - Sokoban: one level (`SokobanGenerator::generate`, which re-draws from the same stream
//!   until A* solves a level within the cost vocabulary and the reasoning-length limit).

use planform_trace::maze_gen::MazeGenerator;
use planform_trace::rng::Rng;
use planform_trace::sokoban_gen::SokobanGenerator;
use planform_trace::task::Task;
use planform_trace::tokens::TokenSequence;
use planform_trace::vocab::{Vocabulary, VocabularySpec, SOKOBAN_MAX_COST};
use sha2::{Digest, Sha256};

use crate::config::{Domain, GenerateConfig};
use crate::error::{DataError, Result};

/// One task of a layout.
#[derive(Debug, Clone)]
pub(crate) struct GenTask {
    pub task: Task,
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
    Maze(Box<MazeGenerator>),
    Sokoban(Box<SokobanGenerator>),
}

/// First 128 bits of sha256 over length-prefixed parts.
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

fn config_err(e: impl ToString) -> DataError {
    DataError::InvalidConfig(e.to_string())
}

/// The vocabulary spec of a domain (Sokoban: the reference 40,000 cost tokens).
pub(crate) fn vocabulary_spec(domain: &Domain) -> VocabularySpec {
    match *domain {
        Domain::Maze { width, height, .. } => VocabularySpec::Maze { width, height },
        Domain::Sokoban { width, height, .. } => VocabularySpec::Sokoban {
            width,
            height,
            max_cost: SOKOBAN_MAX_COST,
        },
    }
}

/// The vocabulary of a domain (Sokoban: the reference 40,000 cost tokens).
pub(crate) fn vocabulary(domain: &Domain) -> Result<Vocabulary> {
    Vocabulary::new(vocabulary_spec(domain)).map_err(config_err)
}

fn task_row(index: u64, task: Task, tokens: TokenSequence, plan_len: usize) -> Result<GenTask> {
    let json = serde_json::to_string(&task).map_err(|e| gen_err(index, e))?;
    Ok(GenTask {
        task,
        json,
        tokens,
        plan_length: plan_len as u32,
    })
}

impl LayoutGenerator {
    pub(crate) fn new(config: &GenerateConfig) -> Result<Self> {
        if let Some(cfg) = config.maze_gen_config() {
            return MazeGenerator::new(cfg)
                .map(|g| LayoutGenerator::Maze(Box::new(g)))
                .map_err(config_err);
        }
        match config.sokoban_gen_config() {
            Some(cfg) => SokobanGenerator::new(cfg)
                .map(|g| LayoutGenerator::Sokoban(Box::new(g)))
                .map_err(config_err),
            None => Err(config_err("the domain has no generator")),
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
                let tasks = out
                    .tasks
                    .into_iter()
                    .map(|s| task_row(index, Task::Maze(s.task), s.tokens, s.optimal_plan_len))
                    .collect::<Result<Vec<_>>>()?;
                Ok(GenLayout {
                    key: digest(&[b"maze", &walls]),
                    tasks,
                })
            }
            LayoutGenerator::Sokoban(g) => {
                let s = g.generate(&mut rng).map_err(|e| gen_err(index, e))?;
                let key = digest(&[b"sokoban", s.level.state_string().as_bytes()]);
                let task = task_row(index, Task::Sokoban(s.level), s.tokens, s.optimal_plan_len)?;
                Ok(GenLayout {
                    key,
                    tasks: vec![task],
                })
            }
        }
    }
}

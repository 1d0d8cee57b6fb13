//! Per-domain layout generation: layout index `i` → tasks, drawn from
//! `Rng::stream(seed, i)` only, so the result does not depend on threads or order.
//!
//! - Maze: one wall layout and its unique (start, goal) tasks
//!   (`planform_trace::maze_gen::MazeGenerator::generate_layout`).
//! - Sokoban: one level (`SokobanGenerator::generate`, which re-draws from the same stream
//!   until A* solves a level within the cost vocabulary and the reasoning-length limit).

use planform_trace::maze::MazeTask;
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
    Ok(maze_row(task, json, tokens, plan_len))
}

fn maze_row(task: Task, json: String, tokens: TokenSequence, plan_len: usize) -> GenTask {
    GenTask {
        task,
        json,
        tokens,
        plan_length: plan_len as u32,
    }
}

/// The JSON of a maze task whose `"walls"` value is `walls_json`: the bytes of
/// `serde_json::to_string(&Task::Maze(task))`, without serialising the walls again for
/// every task of a layout (they are shared; serialising them took ~6% of `generate`).
fn maze_json(task: &MazeTask, walls_json: &str) -> String {
    use std::fmt::Write as _;
    let (s, g) = (task.start(), task.goal());
    let mut out = String::with_capacity(walls_json.len() + 64);
    let _ = write!(
        out,
        "{{\"width\":{},\"height\":{},\"start\":[{},{}],\"goal\":[{},{}],\"walls\":{walls_json}}}",
        task.width(),
        task.height(),
        s.x,
        s.y,
        g.x,
        g.y
    );
    out
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
                let walls_json =
                    serde_json::to_string(&out.walls).map_err(|e| gen_err(index, e))?;
                let tasks = out
                    .tasks
                    .into_iter()
                    .map(|s| {
                        let json = maze_json(&s.task, &walls_json);
                        maze_row(Task::Maze(s.task), json, s.tokens, s.optimal_plan_len)
                    })
                    .collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GenerateConfig;

    /// The spliced JSON is byte-identical to serde's, over layouts of several shapes.
    #[test]
    fn maze_json_is_serde_json() {
        for (w, h) in [(2, 3), (5, 5), (10, 10), (13, 7), (30, 30), (20, 4)] {
            let config = GenerateConfig::new(Domain::maze(w, h), 10);
            let vocab = vocabulary(&config.domain).unwrap();
            let mut g = LayoutGenerator::new(&config).unwrap();
            let mut checked = 0;
            for i in 0..40 {
                let layout = g.layout(&vocab, 7, i).unwrap();
                for t in &layout.tasks {
                    assert_eq!(t.json, serde_json::to_string(&t.task).unwrap());
                    checked += 1;
                }
            }
            assert!(checked > 0, "{w}×{h}: no task generated");
        }
    }
}

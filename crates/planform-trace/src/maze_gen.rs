//! Maze tokenization (reference `SimpleMazeTokenizer`) and the task generator
//! (reference `MazeTraceDataset.generate`).
//!
//! Token format: prompt `start x y goal x y (wall x y)*` (walls row-major);
//! reasoning `(create|close) x y c<g> c<h>` per A* step; plan `plan x y` per
//! plan node, start to goal inclusive.

use serde::{Deserialize, Serialize};

use crate::astar::{AStar, Action, SearchMode};
use crate::error::{Error, Result};
use crate::grid::{check_size, Pos};
use crate::maze::{MazeGraph, MazeTask};
use crate::rng::Rng;
use crate::tokens::TokenSequence;
use crate::vocab::{Keyword, Vocabulary, VocabularySpec};

/// Reusable maze A* + tokenizer (keeps its buffers between tasks).
#[derive(Default)]
pub struct MazeSolver {
    engine: AStar,
}

impl MazeSolver {
    /// A new solver.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs A* on `task` and returns its tokens; also returns the number of
    /// plan nodes (start and goal included).
    pub fn solve_tokens(
        &mut self,
        task: &MazeTask,
        vocab: &Vocabulary,
        mode: SearchMode,
        rng: &mut Rng,
    ) -> Result<(TokenSequence, usize)> {
        check_vocab(vocab, task.width(), task.height())?;
        let graph = MazeGraph::new(task.width(), task.height(), task.walls());
        let w = task.width();
        let mut space = graph.space(task.start().index(w) as u32, task.goal().index(w) as u32);
        self.engine.run(&mut space, mode, rng, usize::MAX)?;
        let mut seq = TokenSequence::default();
        write_prompt(
            vocab,
            task.start(),
            task.goal(),
            task.walls(),
            &mut seq.prompt,
        )?;
        write_reasoning_plan(&self.engine, &graph, vocab, &mut seq)?;
        Ok((seq, self.engine.plan().len()))
    }
}

/// The maze vocabulary must have been built for exactly this size.
fn check_vocab(vocab: &Vocabulary, width: u32, height: u32) -> Result<()> {
    match vocab.spec() {
        VocabularySpec::Maze {
            width: w,
            height: h,
        } if w == width && h == height => Ok(()),
        VocabularySpec::Maze {
            width: w,
            height: h,
        } => Err(Error::Config {
            field: "vocabulary",
            reason: format!("maze vocabulary is for {w}x{h}, task is {width}x{height}"),
        }),
        VocabularySpec::Sokoban { .. } => Err(Error::WrongDomain {
            expected: "maze",
            got: "sokoban",
        }),
    }
}

/// Appends the maze prompt tokens.
pub(crate) fn write_prompt(
    vocab: &Vocabulary,
    start: Pos,
    goal: Pos,
    walls: &[Pos],
    out: &mut Vec<u32>,
) -> Result<()> {
    out.reserve(6 + 3 * walls.len());
    out.extend_from_slice(&[
        vocab.kw(Keyword::Start),
        vocab.num(start.x)?,
        vocab.num(start.y)?,
        vocab.kw(Keyword::Goal),
        vocab.num(goal.x)?,
        vocab.num(goal.y)?,
    ]);
    let wall = vocab.kw(Keyword::Wall);
    for p in walls {
        out.extend_from_slice(&[wall, vocab.num(p.x)?, vocab.num(p.y)?]);
    }
    Ok(())
}

/// Appends reasoning and plan tokens straight from the engine's log.
fn write_reasoning_plan(
    engine: &AStar,
    graph: &MazeGraph,
    vocab: &Vocabulary,
    seq: &mut TokenSequence,
) -> Result<()> {
    let create = vocab.kw(Keyword::Create);
    let close = vocab.kw(Keyword::Close);
    let plan = vocab.kw(Keyword::Plan);
    seq.reasoning.reserve(5 * engine.log().len());
    for step in engine.log() {
        let node = engine.node(step.node);
        let (x, y) = graph.xy(node.state);
        let a = match step.action {
            Action::Create => create,
            Action::Close => close,
        };
        seq.reasoning.extend_from_slice(&[
            a,
            vocab.num(x)?,
            vocab.num(y)?,
            vocab.cost(node.g)?,
            vocab.cost(node.h)?,
        ]);
    }
    seq.plan.reserve(3 * engine.plan().len());
    for &n in engine.plan() {
        let (x, y) = graph.xy(engine.node(n).state);
        seq.plan
            .extend_from_slice(&[plan, vocab.num(x)?, vocab.num(y)?]);
    }
    Ok(())
}

/// How many walls a layout gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum WallCount {
    /// Reference: uniform in `[⌊n/10⌋·3, ⌊n/10⌋·5]` for `n = w·h` cells.
    #[default]
    Reference,
    /// Uniform in `[min, max]` (inclusive); `max ≤ n − 2`.
    Range {
        /// Smallest wall count.
        min: u32,
        /// Largest wall count.
        max: u32,
    },
}

/// Minimum plan length (in plan nodes, start and goal included) for a task to be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum MinPlanNodes {
    /// Reference: `max(width, height)`.
    #[default]
    Reference,
    /// An explicit number of nodes.
    Nodes(u32),
}

/// Largest allowed [`MazeGenConfig::attempts`]: 100 times the reference's 100. Each
/// attempt shuffles the free cells and checks the pair against the earlier ones, so the
/// cost of a layout grows with the square of this number.
pub const MAX_ATTEMPTS: u32 = 10_000;

/// Maze generator configuration. Defaults: 10×10, reference wall count,
/// 100 start/goal attempts per layout, reference plan-length filter,
/// deterministic A*.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MazeGenConfig {
    /// Grid width (1..=100).
    pub width: u32,
    /// Grid height (1..=100).
    pub height: u32,
    /// Wall-count distribution.
    pub walls: WallCount,
    /// Start/goal attempts per wall layout (reference `--num-attempts-per-maze`, 100;
    /// `1..=`[`MAX_ATTEMPTS`]).
    pub attempts: u32,
    /// Plan-length filter.
    pub min_plan: MinPlanNodes,
    /// A* mode used to produce the traces.
    pub mode: SearchMode,
}

impl Default for MazeGenConfig {
    fn default() -> Self {
        MazeGenConfig {
            width: 10,
            height: 10,
            walls: WallCount::Reference,
            attempts: 100,
            min_plan: MinPlanNodes::Reference,
            mode: SearchMode::Deterministic,
        }
    }
}

impl MazeGenConfig {
    /// A reference configuration for a size and mode.
    pub fn reference(width: u32, height: u32, mode: SearchMode) -> Self {
        MazeGenConfig {
            width,
            height,
            mode,
            ..Default::default()
        }
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<()> {
        let (w, h) = check_size(self.width as i64, self.height as i64, 2)?;
        let n = w * h;
        if !(1..=MAX_ATTEMPTS).contains(&self.attempts) {
            return Err(Error::Config {
                field: "attempts",
                reason: format!(
                    "must be in 1..={MAX_ATTEMPTS} (reference: 100), got {}",
                    self.attempts
                ),
            });
        }
        if let WallCount::Range { min, max } = self.walls {
            if min > max || max > n - 2 {
                return Err(Error::Config {
                    field: "walls",
                    reason: format!(
                        "need min <= max <= {} (cells - 2), got {min}..={max}",
                        n - 2
                    ),
                });
            }
        }
        Ok(())
    }

    /// The inclusive range the wall count of a layout is drawn from.
    pub fn wall_range(&self) -> (u64, u64) {
        let n = (self.width * self.height) as u64;
        match self.walls {
            WallCount::Reference => (n / 10 * 3, n / 10 * 5),
            WallCount::Range { min, max } => (min as u64, max as u64),
        }
    }

    /// Upper bounds on what this configuration can ever produce, so that a request for
    /// more can be refused up front instead of searching forever (see [`Capacity`]).
    pub fn capacity(&self) -> Capacity {
        let n = u64::from(self.width) * u64::from(self.height);
        let (lo, hi) = self.wall_range();
        let min_nodes = self.min_plan_nodes() as u64;
        let mut layouts = 0.0f64;
        let mut tasks = 0.0f64;
        for k in lo..=hi.min(n) {
            let count = binomial(n, k);
            layouts += count;
            let free = n - k;
            // A plan visits distinct free cells, so it has at most `free` nodes.
            if free < 2 || free < min_nodes {
                continue;
            }
            let pairs = (free * (free - 1)) as f64;
            tasks += count * pairs.min(f64::from(self.attempts));
        }
        Capacity {
            layouts,
            tasks_per_layout: f64::from(self.attempts).min((n * (n - 1)) as f64),
            tasks,
        }
    }

    /// The smallest plan (in nodes) a task must have to be kept.
    pub fn min_plan_nodes(&self) -> usize {
        match self.min_plan {
            MinPlanNodes::Reference => self.width.max(self.height) as usize,
            MinPlanNodes::Nodes(k) => k as usize,
        }
    }
}

/// What a generator configuration can produce at most (upper bounds, as `f64` because
/// they overflow every integer type for large grids; `inf` means "unbounded in practice").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    /// Distinct layouts (maze wall sets / Sokoban levels) the sampler can draw.
    pub layouts: f64,
    /// Most tasks one layout can yield.
    pub tasks_per_layout: f64,
    /// Most tasks over all distinct layouts.
    pub tasks: f64,
}

/// `C(n, k)` as a float (`inf` once it overflows).
pub(crate) fn binomial(n: u64, k: u64) -> f64 {
    if k > n {
        return 0.0;
    }
    let k = k.min(n - k);
    let mut c = 1.0f64;
    for i in 0..k {
        c = c * (n - i) as f64 / (i + 1) as f64;
        if c.is_infinite() {
            break;
        }
    }
    c.round()
}

/// One generated maze task with its tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MazeSample {
    /// The task (JSON-serialisable in the golden format).
    pub task: MazeTask,
    /// Prompt, reasoning and plan tokens.
    pub tokens: TokenSequence,
    /// Optimal plan length in plan nodes (start and goal included).
    pub optimal_plan_len: usize,
}

/// All tasks generated from one wall layout (possibly none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MazeLayout {
    /// Walls of the layout, row-major.
    pub walls: Vec<Pos>,
    /// Unique `(start, goal)` tasks in order of first appearance.
    pub tasks: Vec<MazeSample>,
}

/// Reusable maze generator (holds the A* buffers).
pub struct MazeGenerator {
    config: MazeGenConfig,
    engine: AStar,
}

impl MazeGenerator {
    /// Validates `config` and builds a generator.
    pub fn new(config: MazeGenConfig) -> Result<Self> {
        config.validate()?;
        Ok(MazeGenerator {
            config,
            engine: AStar::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MazeGenConfig {
        &self.config
    }

    /// Generates one wall layout and all its accepted tasks, like one call of
    /// the reference `MazeTraceDataset.generate`:
    ///
    /// 1. shuffle all cell indices; draw the wall count; the first `k`
    ///    shuffled cells are walls (sorted row-major), the rest are free;
    /// 2. `attempts` times: shuffle the free cells and take the first two as
    ///    start and goal; drop the pair if A* cannot solve it or its plan has
    ///    fewer than the minimum nodes; keep each unique ordered pair once
    ///    (its first trace — in nondeterministic mode the reference also
    ///    keeps the first of repeated runs).
    ///
    /// Repeated pairs and pairs in different connected components are skipped
    /// without running A* — the reference would run A* and then discard the
    /// result, so the output distribution is the same.
    pub fn generate_layout(&mut self, vocab: &Vocabulary, rng: &mut Rng) -> Result<MazeLayout> {
        let cfg = self.config;
        let (w, h) = (cfg.width, cfg.height);
        check_vocab(vocab, w, h)?;
        let n = (w * h) as usize;
        let mut cells: Vec<u32> = (0..n as u32).collect();
        rng.shuffle(&mut cells);
        let (lo, hi) = cfg.wall_range();
        let k = (rng.range_inclusive(lo, hi) as usize).min(n);
        let mut wall_idx: Vec<u32> = cells[..k].to_vec();
        wall_idx.sort_unstable();
        let mut free: Vec<u32> = cells[k..].to_vec();
        let walls: Vec<Pos> = wall_idx
            .iter()
            .map(|&i| Pos::from_index(i as usize, w))
            .collect();
        let mut layout = MazeLayout {
            walls,
            tasks: Vec::new(),
        };
        if free.len() < 2 {
            return Ok(layout);
        }
        let graph = MazeGraph::new(w, h, &layout.walls);
        let mut is_free = vec![true; n];
        for &i in &wall_idx {
            is_free[i as usize] = false;
        }
        let comp = graph.components(&is_free);
        let min_nodes = cfg.min_plan_nodes();
        let mut seen: Vec<u32> = Vec::with_capacity(cfg.attempts as usize);
        let mut prompt_tail: Vec<u32> = Vec::with_capacity(3 * k);
        let wall_tok = vocab.kw(Keyword::Wall);
        for p in &layout.walls {
            prompt_tail.extend_from_slice(&[wall_tok, vocab.num(p.x)?, vocab.num(p.y)?]);
        }
        for _ in 0..cfg.attempts {
            rng.shuffle(&mut free);
            let (s, g) = (free[0], free[1]);
            let key = s * n as u32 + g;
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            if comp[s as usize] != comp[g as usize] {
                continue;
            }
            let mut space = graph.space(s, g);
            self.engine.run(&mut space, cfg.mode, rng, usize::MAX)?;
            let plan_len = self.engine.plan().len();
            if plan_len < min_nodes {
                continue;
            }
            let (start, goal) = (graph.pos(s), graph.pos(g));
            let mut seq = TokenSequence::default();
            seq.prompt.reserve(6 + prompt_tail.len());
            write_prompt(vocab, start, goal, &[], &mut seq.prompt)?;
            seq.prompt.extend_from_slice(&prompt_tail);
            write_reasoning_plan(&self.engine, &graph, vocab, &mut seq)?;
            layout.tasks.push(MazeSample {
                task: MazeTask::from_parts_unchecked(w, h, start, goal, layout.walls.clone()),
                tokens: seq,
                optimal_plan_len: plan_len,
            });
        }
        Ok(layout)
    }
}

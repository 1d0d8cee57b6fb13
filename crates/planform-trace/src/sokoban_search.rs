//! Sokoban A* search space, traces and tokenization
//! (reference `AStarSokobanState` and `WithBoxSokobanTokenizer`).
//!
//! States are (worker cell, sorted box cells); walls and docks are static.
//! Children are the four moves in the order up, down, left, right; children
//! with an infinite heuristic are pruned; no-op moves are skipped (in the
//! reference they reproduce the parent, which is already closed with a lower
//! cost, so they are always skipped there too).
//!
//! **Deterministic tie-break (our choice).** The reference breaks equal-cost
//! ties by Python's per-process randomised `hash()` of the level string, which
//! is not reproducible (and the reference only uses nondeterministic A* for
//! Sokoban). Here the state that is smaller in the lexicographic order of
//! `(worker cell index, sorted box cell indices)` wins, with cell index
//! `x + y·width` — the row-major analogue of the maze rule.
//!
//! Token format: prompt `worker x y (box x y)* (dock x y)* (wall x y)*` with
//! only boxes off docks and only open docks (a dock under the worker is open),
//! each group sorted by the string `"x-y"`; a step is
//! `(create|close) worker x y (box x y)* c<g> c<h>` listing only boxes off
//! docks (sorted by `"x-y"`); the plan is `plan x y` for the worker of each
//! plan node, start to goal inclusive.

use serde::{Deserialize, Serialize};

use crate::astar::{AStar, Action, SearchMode, SearchSpace, INF};
use crate::error::{Error, Result};
use crate::grid::Pos;
use crate::rng::Rng;
use crate::sokoban::{Board, Direction, SokobanLevel};
use crate::tokens::TokenSequence;
use crate::trace::{Trace, TraceStep};
use crate::vocab::{Keyword, Vocabulary, VocabularySpec};

/// Default A* node budget for Sokoban (`close` steps). A 7×7 level with two
/// boxes has well under 10,000 states; the budget only matters for larger
/// custom levels, where it bounds time and memory (roughly 100 bytes a node).
pub const DEFAULT_MAX_EXPANSIONS: usize = 1_000_000;

/// A Sokoban search state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SokobanState {
    /// Worker cell.
    pub worker: Pos,
    /// Box cells, row-major.
    pub boxes: Vec<Pos>,
}

const EMPTY: u32 = u32::MAX;

/// FxHash-style hash of a state.
#[inline]
fn hash_state(key: &[u16]) -> u64 {
    let mut h = 0u64;
    for &k in key {
        h = (h.rotate_left(5) ^ k as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    h
}

/// A* view of a level; states are interned as they are met.
pub(crate) struct SokobanSpace<'a> {
    board: &'a Board,
    stride: usize,
    states: Vec<u16>,
    h: Vec<u32>,
    goal: Vec<bool>,
    /// Open-addressing table of state ids keyed by the arena contents.
    slots: Vec<u32>,
    start: Vec<u16>,
    scratch: Vec<u16>,
    parent: Vec<u16>,
}

impl<'a> SokobanSpace<'a> {
    pub(crate) fn new(board: &'a Board, level: &SokobanLevel) -> Self {
        let mut start = vec![level.worker().index(level.width()) as u16];
        start.extend(level.box_cells());
        SokobanSpace {
            board,
            stride: start.len(),
            states: Vec::new(),
            h: Vec::new(),
            goal: Vec::new(),
            slots: vec![EMPTY; 1024],
            start,
            scratch: Vec::new(),
            parent: Vec::new(),
        }
    }

    fn intern(&mut self, key: &[u16], h: u32) -> u32 {
        if 2 * (self.h.len() + 1) > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = hash_state(key) as usize & mask;
        loop {
            let id = self.slots[i];
            if id == EMPTY {
                break;
            }
            if self.state(id) == key {
                return id;
            }
            i = (i + 1) & mask;
        }
        let id = self.h.len() as u32;
        self.slots[i] = id;
        self.states.extend_from_slice(key);
        self.h.push(h);
        self.goal.push(self.board.is_complete(&key[1..]));
        id
    }

    fn grow(&mut self) {
        let n = self.slots.len() * 2;
        self.slots = vec![EMPTY; n];
        let mask = n - 1;
        for id in 0..self.h.len() as u32 {
            let mut i = hash_state(self.state(id)) as usize & mask;
            while self.slots[i] != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = id;
        }
    }

    pub(crate) fn state(&self, id: u32) -> &[u16] {
        let b = id as usize * self.stride;
        &self.states[b..b + self.stride]
    }
}

impl SearchSpace for SokobanSpace<'_> {
    fn num_states(&self) -> usize {
        self.h.len()
    }
    fn start(&mut self) -> u32 {
        let start = std::mem::take(&mut self.start);
        let h = self.board.heuristic(&start[1..]);
        let id = self.intern(&start, h);
        self.start = start;
        id
    }
    fn heuristic(&self, s: u32) -> u32 {
        self.h[s as usize]
    }
    fn is_goal(&self, s: u32) -> bool {
        self.goal[s as usize]
    }
    fn children(&mut self, s: u32, out: &mut Vec<u32>) {
        let mut key = std::mem::take(&mut self.scratch);
        let mut parent = std::mem::take(&mut self.parent);
        parent.clear();
        parent.extend_from_slice(self.state(s));
        for d in Direction::ALL {
            key.clear();
            key.extend_from_slice(&parent);
            let Some(worker) = self.board.step(parent[0], &mut key[1..], d) else {
                continue;
            };
            key[0] = worker;
            let h = self.board.heuristic(&key[1..]);
            if h == INF {
                continue;
            }
            out.push(self.intern(&key, h));
        }
        self.scratch = key;
        self.parent = parent;
    }
    fn tie_less(&self, a: u32, b: u32) -> bool {
        self.state(a) < self.state(b)
    }
}

/// Sorts cells by the reference key, the string `"x-y"`.
pub(crate) fn sort_xy_string(cells: &mut [(u32, u32)]) {
    fn key(c: (u32, u32)) -> String {
        format!("{}-{}", c.0, c.1)
    }
    if cells.iter().all(|&(x, y)| x < 10 && y < 10) {
        // Single digits: the string order is the (x, y) order.
        cells.sort_unstable();
    } else {
        cells.sort_by_cached_key(|&c| key(c));
    }
}

/// Reusable Sokoban A* + tokenizer.
#[derive(Default)]
pub struct SokobanSolver {
    engine: AStar,
}

impl SokobanSolver {
    /// A new solver.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs A* and returns the full trace. A level with more boxes than docks is
    /// [`Error::BoxesWithoutDocks`], not [`Error::Unsolvable`].
    pub fn solve(
        &mut self,
        level: &SokobanLevel,
        mode: SearchMode,
        rng: &mut Rng,
        max_expansions: usize,
    ) -> Result<Trace<SokobanState>> {
        level.check_box_dock_counts()?;
        let board = Board::new(level);
        let mut space = SokobanSpace::new(&board, level);
        self.engine.run(&mut space, mode, rng, max_expansions)?;
        let w = level.width();
        let to_state = |id: u32| {
            let s = space.state(id);
            SokobanState {
                worker: Pos::from_index(s[0] as usize, w),
                boxes: s[1..]
                    .iter()
                    .map(|&c| Pos::from_index(c as usize, w))
                    .collect(),
            }
        };
        let e = &self.engine;
        let steps = e
            .log()
            .iter()
            .map(|st| {
                let n = e.node(st.node);
                TraceStep {
                    action: st.action,
                    state: to_state(n.state),
                    g: n.g,
                    h: n.h,
                }
            })
            .collect();
        let plan = e
            .plan()
            .iter()
            .map(|&n| to_state(e.node(n).state))
            .collect();
        Ok(Trace { steps, plan })
    }

    /// Runs A* and returns the tokens and the number of plan nodes. Fails with
    /// [`Error::NotInVocabulary`] if a cost has no token (reference: ≥ 40,000).
    pub fn solve_tokens(
        &mut self,
        level: &SokobanLevel,
        vocab: &Vocabulary,
        mode: SearchMode,
        rng: &mut Rng,
        max_expansions: usize,
    ) -> Result<(TokenSequence, usize)> {
        check_vocab(vocab, level)?;
        level.check_box_dock_counts()?;
        let board = Board::new(level);
        let mut space = SokobanSpace::new(&board, level);
        self.engine.run(&mut space, mode, rng, max_expansions)?;
        let mut seq = TokenSequence::default();
        write_prompt(vocab, level, &board, &mut seq.prompt)?;
        let e = &self.engine;
        let (create, close, plan) = (
            vocab.kw(Keyword::Create),
            vocab.kw(Keyword::Close),
            vocab.kw(Keyword::Plan),
        );
        let mut cells = Vec::new();
        for st in e.log() {
            let n = e.node(st.node);
            seq.reasoning.push(match st.action {
                Action::Create => create,
                Action::Close => close,
            });
            let s = space.state(n.state);
            write_worker_boxes(vocab, &board, s, &mut cells, &mut seq.reasoning)?;
            seq.reasoning.push(vocab.cost(n.g)?);
            seq.reasoning.push(vocab.cost(n.h)?);
        }
        for &p in e.plan() {
            let (x, y) = board.xy(space.state(e.node(p).state)[0]);
            seq.plan
                .extend_from_slice(&[plan, vocab.num(x)?, vocab.num(y)?]);
        }
        Ok((seq, e.plan().len()))
    }
}

fn check_vocab(vocab: &Vocabulary, level: &SokobanLevel) -> Result<()> {
    match vocab.spec() {
        VocabularySpec::Sokoban { width, height, .. }
            if width.max(height) >= level.width().max(level.height()) =>
        {
            Ok(())
        }
        VocabularySpec::Sokoban { width, height, .. } => Err(Error::Config {
            field: "vocabulary",
            reason: format!(
                "Sokoban vocabulary for {width}x{height} cannot spell a {}x{} level",
                level.width(),
                level.height()
            ),
        }),
        VocabularySpec::Maze { .. } => Err(Error::WrongDomain {
            expected: "sokoban",
            got: "maze",
        }),
    }
}

fn push_group(
    vocab: &Vocabulary,
    kw: Keyword,
    cells: &mut [(u32, u32)],
    out: &mut Vec<u32>,
) -> Result<()> {
    sort_xy_string(cells);
    let k = vocab.kw(kw);
    for &(x, y) in cells.iter() {
        out.extend_from_slice(&[k, vocab.num(x)?, vocab.num(y)?]);
    }
    Ok(())
}

/// `worker x y (box x y)*` for a state `[worker, boxes...]` (boxes off docks only).
fn write_worker_boxes(
    vocab: &Vocabulary,
    board: &Board,
    state: &[u16],
    cells: &mut Vec<(u32, u32)>,
    out: &mut Vec<u32>,
) -> Result<()> {
    let (wx, wy) = board.xy(state[0]);
    out.extend_from_slice(&[vocab.kw(Keyword::Worker), vocab.num(wx)?, vocab.num(wy)?]);
    cells.clear();
    cells.extend(
        state[1..]
            .iter()
            .filter(|&&b| !board.is_dock(b))
            .map(|&b| board.xy(b)),
    );
    push_group(vocab, Keyword::Box, cells, out)
}

/// The Sokoban prompt for a level.
pub(crate) fn write_prompt(
    vocab: &Vocabulary,
    level: &SokobanLevel,
    board: &Board,
    out: &mut Vec<u32>,
) -> Result<()> {
    let mut state = vec![level.worker().index(level.width()) as u16];
    let boxes = level.box_cells();
    state.extend_from_slice(&boxes);
    let mut cells = Vec::new();
    write_worker_boxes(vocab, board, &state, &mut cells, out)?;
    cells.clear();
    cells.extend(
        board
            .dock_cells()
            .iter()
            .filter(|d| !boxes.contains(d))
            .map(|&d| board.xy(d)),
    );
    push_group(vocab, Keyword::Dock, &mut cells, out)?;
    cells.clear();
    cells.extend(level.walls().iter().map(|p| (p.x, p.y)));
    push_group(vocab, Keyword::Wall, &mut cells, out)
}

/// The prompt tokens of a level.
pub fn sokoban_prompt(level: &SokobanLevel, vocab: &Vocabulary) -> Result<Vec<u32>> {
    check_vocab(vocab, level)?;
    let board = Board::new(level);
    let mut out = Vec::new();
    write_prompt(vocab, level, &board, &mut out)?;
    Ok(out)
}

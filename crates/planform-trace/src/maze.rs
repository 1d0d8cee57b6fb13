//! Maze navigation tasks (reference `searchformer/maze.py`).
//!
//! A `width × height` grid without a boundary ring, a start, a goal and a set
//! of wall cells. Moves go to the 4-neighbours; A* uses unit costs and the
//! Manhattan heuristic, children in the order `up (y+1)`, `down (y−1)`,
//! `left (x−1)`, `right (x+1)`, and the deterministic tie-break "smaller
//! `x + 100000·y`" (equivalently: smaller row-major cell index).

use serde::{Deserialize, Serialize};

use crate::astar::{AStar, SearchMode, SearchSpace};
use crate::error::{Error, Result};
use crate::grid::{check_pos, check_size, Pos};
use crate::rng::Rng;
use crate::trace::{Trace, TraceStep};

/// A validated maze task.
///
/// Invariants (checked by [`MazeTask::new`] and by deserialisation): both
/// sides in `1..=100`, start and goal in bounds, distinct and not on a wall,
/// walls in bounds, distinct and sorted row-major (`x + y·width`).
///
/// JSON form (the golden files' field names; unknown extra fields are ignored on input,
/// duplicate keys and Sokoban fields are errors in [`MazeTask::from_json`]):
/// `{"width": 10, "height": 10, "start": [x, y], "goal": [x, y], "walls": [[x, y], ...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawMaze")]
pub struct MazeTask {
    width: u32,
    height: u32,
    start: Pos,
    goal: Pos,
    walls: Vec<Pos>,
}

#[derive(Deserialize)]
pub(crate) struct RawMaze {
    pub(crate) width: i64,
    pub(crate) height: i64,
    pub(crate) start: [i64; 2],
    pub(crate) goal: [i64; 2],
    pub(crate) walls: Vec<[i64; 2]>,
}

impl TryFrom<RawMaze> for MazeTask {
    type Error = Error;
    fn try_from(r: RawMaze) -> Result<Self> {
        let (w, h) = check_size(r.width, r.height, 2)?;
        let start = check_pos("start", r.start, w, h)?;
        let goal = check_pos("goal", r.goal, w, h)?;
        let walls = r
            .walls
            .iter()
            .map(|&p| check_pos("wall", p, w, h))
            .collect::<Result<Vec<_>>>()?;
        MazeTask::new(w, h, start, goal, walls)
    }
}

impl MazeTask {
    /// Validates and builds a task; walls may come in any order and are
    /// stored sorted row-major.
    pub fn new(
        width: u32,
        height: u32,
        start: Pos,
        goal: Pos,
        mut walls: Vec<Pos>,
    ) -> Result<Self> {
        let (width, height) = check_size(width as i64, height as i64, 2)?;
        let inb = |what, p: Pos| check_pos(what, [p.x as i64, p.y as i64], width, height);
        inb("start", start)?;
        inb("goal", goal)?;
        for &w in &walls {
            inb("wall", w)?;
        }
        walls.sort_by_key(|p| p.index(width));
        for pair in walls.windows(2) {
            if pair[0] == pair[1] {
                return Err(Error::Duplicate {
                    what: "wall",
                    x: pair[0].x,
                    y: pair[0].y,
                });
            }
        }
        let task = MazeTask {
            width,
            height,
            start,
            goal,
            walls,
        };
        for (what, p) in [("start", start), ("goal", goal)] {
            if task.is_wall(p) {
                return Err(Error::Overlap {
                    what,
                    other: "wall",
                    x: p.x,
                    y: p.y,
                });
            }
        }
        if start == goal {
            return Err(Error::StartIsGoal {
                x: start.x,
                y: start.y,
            });
        }
        Ok(task)
    }

    /// Builds a task from already validated parts (generator hot path).
    pub(crate) fn from_parts_unchecked(
        width: u32,
        height: u32,
        start: Pos,
        goal: Pos,
        walls: Vec<Pos>,
    ) -> Self {
        MazeTask {
            width,
            height,
            start,
            goal,
            walls,
        }
    }

    /// Parses a JSON object. Unknown extra fields (such as `prompt`) are ignored; a key
    /// given twice, or a Sokoban field (`worker`, `boxes`, `docks`) next to the maze ones,
    /// is an error.
    pub fn from_json(line: &str) -> Result<Self> {
        let raw = crate::json::RawTask::parse(line)?;
        match raw.domain()? {
            crate::task::Domain::Maze => raw.into_maze(),
            crate::task::Domain::Sokoban => Err(Error::WrongDomain {
                expected: "maze",
                got: "sokoban",
            }),
        }
    }

    /// Grid width.
    pub fn width(&self) -> u32 {
        self.width
    }
    /// Grid height.
    pub fn height(&self) -> u32 {
        self.height
    }
    /// Start cell.
    pub fn start(&self) -> Pos {
        self.start
    }
    /// Goal cell.
    pub fn goal(&self) -> Pos {
        self.goal
    }
    /// Walls, sorted row-major.
    pub fn walls(&self) -> &[Pos] {
        &self.walls
    }

    /// `true` if `p` is a wall.
    pub fn is_wall(&self, p: Pos) -> bool {
        let w = self.width;
        self.walls
            .binary_search_by_key(&p.index(w), |q| q.index(w))
            .is_ok()
    }

    /// `true` if `(x, y)` lies inside the grid.
    pub fn in_bounds(&self, x: i64, y: i64) -> bool {
        x >= 0 && y >= 0 && x < self.width as i64 && y < self.height as i64
    }

    /// The reference task id `"w-h-startIdx-goalIdx-wallIdx-..."` (`MazeSpec.id`).
    pub fn reference_id(&self) -> String {
        let w = self.width;
        let mut s = format!(
            "{}-{}-{}-{}",
            w,
            self.height,
            self.start.index(w),
            self.goal.index(w)
        );
        for p in &self.walls {
            s.push('-');
            s.push_str(&p.index(w).to_string());
        }
        s
    }

    /// Runs A* and returns the full trace (for display and inspection).
    pub fn solve(&self, mode: SearchMode, rng: &mut Rng) -> Result<Trace<Pos>> {
        let graph = MazeGraph::new(self.width, self.height, &self.walls);
        let mut space = graph.space(
            self.start.index(self.width) as u32,
            self.goal.index(self.width) as u32,
        );
        let mut engine = AStar::new();
        engine.run(&mut space, mode, rng, usize::MAX)?;
        let pos = |n: u32| graph.pos(engine.node(n).state);
        let steps = engine
            .log()
            .iter()
            .map(|s| {
                let node = engine.node(s.node);
                TraceStep {
                    action: s.action,
                    state: pos(s.node),
                    g: node.g,
                    h: node.h,
                }
            })
            .collect();
        let plan = engine.plan().iter().map(|&n| pos(n)).collect();
        Ok(Trace { steps, plan })
    }
}

/// Static maze structure shared by all start/goal pairs of one wall layout.
pub(crate) struct MazeGraph {
    xs: Vec<u16>,
    ys: Vec<u16>,
    adj: Vec<[u32; 4]>,
    deg: Vec<u8>,
}

impl MazeGraph {
    /// Builds adjacency (reference child order) for a layout.
    pub(crate) fn new(width: u32, height: u32, walls: &[Pos]) -> Self {
        let n = (width * height) as usize;
        let mut wall = vec![false; n];
        for p in walls {
            wall[p.index(width)] = true;
        }
        let mut xs = Vec::with_capacity(n);
        let mut ys = Vec::with_capacity(n);
        let mut adj = vec![[0u32; 4]; n];
        let mut deg = vec![0u8; n];
        for i in 0..n {
            let p = Pos::from_index(i, width);
            xs.push(p.x as u16);
            ys.push(p.y as u16);
            let (x, y) = (p.x as i64, p.y as i64);
            for (dx, dy) in [(0i64, 1i64), (0, -1), (-1, 0), (1, 0)] {
                let (nx, ny) = (x + dx, y + dy);
                if nx < 0 || ny < 0 || nx >= width as i64 || ny >= height as i64 {
                    continue;
                }
                let j = (nx + ny * width as i64) as usize;
                if wall[j] {
                    continue;
                }
                adj[i][deg[i] as usize] = j as u32;
                deg[i] += 1;
            }
        }
        MazeGraph { xs, ys, adj, deg }
    }

    pub(crate) fn pos(&self, idx: u32) -> Pos {
        Pos::new(self.xs[idx as usize] as u32, self.ys[idx as usize] as u32)
    }

    #[inline]
    pub(crate) fn xy(&self, idx: u32) -> (u32, u32) {
        (self.xs[idx as usize] as u32, self.ys[idx as usize] as u32)
    }

    /// Connected-component labels (4-connectivity over free cells).
    pub(crate) fn components(&self, is_free: &[bool]) -> Vec<u32> {
        let n = self.xs.len();
        let mut comp = vec![u32::MAX; n];
        let mut stack = Vec::new();
        let mut next = 0u32;
        for s in 0..n {
            if !is_free[s] || comp[s] != u32::MAX {
                continue;
            }
            comp[s] = next;
            stack.push(s as u32);
            while let Some(c) = stack.pop() {
                let c = c as usize;
                for &nb in &self.adj[c][..self.deg[c] as usize] {
                    if comp[nb as usize] == u32::MAX {
                        comp[nb as usize] = next;
                        stack.push(nb);
                    }
                }
            }
            next += 1;
        }
        comp
    }

    pub(crate) fn space(&self, start: u32, goal: u32) -> MazeSpace<'_> {
        let (gx, gy) = self.xy(goal);
        MazeSpace {
            graph: self,
            start,
            goal,
            gx: gx as u16,
            gy: gy as u16,
        }
    }
}

/// A* view of one maze task.
pub(crate) struct MazeSpace<'a> {
    graph: &'a MazeGraph,
    start: u32,
    goal: u32,
    gx: u16,
    gy: u16,
}

impl SearchSpace for MazeSpace<'_> {
    #[inline]
    fn num_states(&self) -> usize {
        self.graph.xs.len()
    }
    #[inline]
    fn start(&mut self) -> u32 {
        self.start
    }
    #[inline]
    fn heuristic(&self, s: u32) -> u32 {
        let s = s as usize;
        (self.graph.xs[s].abs_diff(self.gx) + self.graph.ys[s].abs_diff(self.gy)) as u32
    }
    #[inline]
    fn is_goal(&self, s: u32) -> bool {
        s == self.goal
    }
    #[inline]
    fn children(&mut self, s: u32, out: &mut Vec<u32>) {
        let s = s as usize;
        out.extend_from_slice(&self.graph.adj[s][..self.graph.deg[s] as usize]);
    }
    #[inline]
    fn tie_less(&self, a: u32, b: u32) -> bool {
        // hash(GridPos) = x + 100000·y orders like the row-major index.
        a < b
    }
}

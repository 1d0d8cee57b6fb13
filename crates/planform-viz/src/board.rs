//! Boards to draw: a maze task or a Sokoban level, and signed cells.
//!
//! Drawing convention for both domains: column `x` left to right, row `y` top
//! to bottom (row 0 is the first line of a Sokoban level). The maze "up" move
//! (`y+1`) therefore points down on screen; only the picture is affected.

use std::collections::BTreeSet;

use planform_trace::grid::Pos;
use planform_trace::maze::MazeTask;
use planform_trace::sokoban::SokobanLevel;
use planform_trace::task::Task;
use serde::Serialize;

use crate::error::{Error, Result};

/// A cell with signed coordinates: a model's response may name cells outside
/// the board (or negative ones), which must still be representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize)]
pub struct Cell {
    /// Column.
    pub x: i64,
    /// Row.
    pub y: i64,
}

impl Cell {
    /// A cell.
    pub const fn new(x: i64, y: i64) -> Self {
        Cell { x, y }
    }

    /// Manhattan distance.
    pub fn manhattan(self, other: Cell) -> u64 {
        self.x.abs_diff(other.x) + self.y.abs_diff(other.y)
    }
}

impl From<Pos> for Cell {
    fn from(p: Pos) -> Self {
        Cell::new(p.x as i64, p.y as i64)
    }
}

/// A Sokoban level: walls (border included), boxes, docks and the worker.
///
/// Boxes and docks are kept sorted row-major; a box standing on a dock is in
/// both lists (legend `*`), a worker on a dock is legend `+`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SokobanBoard {
    width: u32,
    height: u32,
    worker: Pos,
    boxes: Vec<Pos>,
    docks: Vec<Pos>,
    walls: Vec<Pos>,
}

impl SokobanBoard {
    /// Validates and builds a board: every object in bounds; worker and boxes
    /// off walls; worker off boxes; no duplicates; as many docks as boxes is
    /// not required (a model-visualisation input need not be solvable).
    pub fn new(
        width: u32,
        height: u32,
        worker: Pos,
        boxes: Vec<Pos>,
        docks: Vec<Pos>,
        walls: Vec<Pos>,
    ) -> Result<Self> {
        if width == 0 || height == 0 || width > 100 || height > 100 {
            return Err(Error::Board(format!(
                "size {width}x{height} must be 1..=100 per side"
            )));
        }
        let check = |what: &str, list: &[Pos]| -> Result<Vec<Pos>> {
            let mut seen = BTreeSet::new();
            for p in list {
                if p.x >= width || p.y >= height {
                    return Err(Error::Board(format!(
                        "{what} ({}, {}) lies outside the {width}x{height} board",
                        p.x, p.y
                    )));
                }
                if !seen.insert((p.y, p.x)) {
                    return Err(Error::Board(format!(
                        "duplicate {what} at ({}, {})",
                        p.x, p.y
                    )));
                }
            }
            Ok(seen.into_iter().map(|(y, x)| Pos::new(x, y)).collect())
        };
        let walls = check("wall", &walls)?;
        let boxes = check("box", &boxes)?;
        let docks = check("dock", &docks)?;
        check("worker", &[worker])?;
        let on_wall = |p: &Pos| {
            walls
                .binary_search_by_key(&(p.y, p.x), |w| (w.y, w.x))
                .is_ok()
        };
        for (what, p) in std::iter::once(("worker", &worker))
            .chain(boxes.iter().map(|b| ("box", b)))
            .chain(docks.iter().map(|d| ("dock", d)))
        {
            if on_wall(p) {
                return Err(Error::Board(format!(
                    "{what} at ({}, {}) is on a wall",
                    p.x, p.y
                )));
            }
        }
        if boxes.contains(&worker) {
            return Err(Error::Board(format!(
                "worker at ({}, {}) is on a box",
                worker.x, worker.y
            )));
        }
        Ok(SokobanBoard {
            width,
            height,
            worker,
            boxes,
            docks,
            walls,
        })
    }

    /// Parses the reference ASCII level (legend: ` ` floor, `#` wall, `.` dock,
    /// `@` worker, `+` worker on dock, `$` box, `*` box on dock). Rows may have
    /// different lengths (short rows are padded with floor); exactly one worker.
    pub fn from_level(text: &str) -> Result<Self> {
        let rows: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
        let rows: Vec<&str> = {
            let end = rows
                .iter()
                .rposition(|r| !r.trim().is_empty())
                .map_or(0, |i| i + 1);
            rows[..end].to_vec()
        };
        let height = rows.len();
        let width = rows.iter().map(|r| r.chars().count()).max().unwrap_or(0);
        if height == 0 || width == 0 {
            return Err(Error::Board("empty level text".into()));
        }
        let (mut worker, mut boxes, mut docks, mut walls) =
            (None, Vec::new(), Vec::new(), Vec::new());
        for (y, row) in rows.iter().enumerate() {
            for (x, ch) in row.chars().enumerate() {
                let p = Pos::new(x as u32, y as u32);
                match ch {
                    ' ' | '-' | '_' => {}
                    '#' => walls.push(p),
                    '.' => docks.push(p),
                    '$' => boxes.push(p),
                    '*' => {
                        boxes.push(p);
                        docks.push(p);
                    }
                    '@' | '+' => {
                        if worker.replace(p).is_some() {
                            return Err(Error::Board(format!("second worker at ({x}, {y})")));
                        }
                        if ch == '+' {
                            docks.push(p);
                        }
                    }
                    other => {
                        return Err(Error::Board(format!(
                            "unknown level character {other:?} at ({x}, {y})"
                        )));
                    }
                }
            }
        }
        let worker =
            worker.ok_or_else(|| Error::Board("level has no worker (`@` or `+`)".into()))?;
        SokobanBoard::new(width as u32, height as u32, worker, boxes, docks, walls)
    }

    /// Parses reference prompt tokens `worker x y (box x y)* (dock x y)* (wall x y)*`
    /// (groups in any order). The board size is the bounding box of all
    /// objects (the border walls). Note that the reference prompt omits boxes
    /// already on docks, so such boxes cannot be recovered from a prompt.
    pub fn from_prompt<S: AsRef<str>>(tokens: &[S]) -> Result<Self> {
        let toks: Vec<&str> = tokens
            .iter()
            .map(|t| t.as_ref())
            .filter(|t| !matches!(*t, "bos" | "eos"))
            .collect();
        if toks.len() % 3 != 0 {
            return Err(Error::Board(format!(
                "prompt has {} tokens, not a multiple of 3 (`kind x y` triples)",
                toks.len()
            )));
        }
        let (mut worker, mut boxes, mut docks, mut walls) =
            (None, Vec::new(), Vec::new(), Vec::new());
        let (mut w, mut h) = (0u32, 0u32);
        for (i, t) in toks.chunks(3).enumerate() {
            let num = |s: &str| {
                s.parse::<u32>().map_err(|_| {
                    Error::Board(format!("prompt triple {i}: {s:?} is not a coordinate"))
                })
            };
            let p = Pos::new(num(t[1])?, num(t[2])?);
            w = w.max(p.x + 1);
            h = h.max(p.y + 1);
            match t[0] {
                "worker" => {
                    if worker.replace(p).is_some() {
                        return Err(Error::Board("prompt names two workers".into()));
                    }
                }
                "box" => boxes.push(p),
                "dock" => docks.push(p),
                "wall" => walls.push(p),
                other => {
                    return Err(Error::Board(format!(
                        "prompt triple {i}: unknown kind {other:?}"
                    )))
                }
            }
        }
        let worker = worker.ok_or_else(|| Error::Board("prompt has no `worker x y`".into()))?;
        SokobanBoard::new(w, h, worker, boxes, docks, walls)
    }

    /// The reference ASCII level, rows joined by `\n` (no trailing newline).
    pub fn to_level(&self) -> String {
        let mut rows = Vec::with_capacity(self.height as usize);
        for y in 0..self.height {
            let row: String = (0..self.width)
                .map(|x| self.glyph(Pos::new(x, y), self.worker, &self.boxes))
                .collect();
            rows.push(row);
        }
        rows.join("\n")
    }

    /// Legend character of `p` for a given worker and box placement.
    pub(crate) fn glyph(&self, p: Pos, worker: Pos, boxes: &[Pos]) -> char {
        let dock = self.is_dock(p);
        if self.is_wall(p) {
            '#'
        } else if p == worker {
            if dock {
                '+'
            } else {
                '@'
            }
        } else if boxes.contains(&p) {
            if dock {
                '*'
            } else {
                '$'
            }
        } else if dock {
            '.'
        } else {
            ' '
        }
    }

    /// Board width.
    pub fn width(&self) -> u32 {
        self.width
    }
    /// Board height.
    pub fn height(&self) -> u32 {
        self.height
    }
    /// Worker start cell.
    pub fn worker(&self) -> Pos {
        self.worker
    }
    /// Box cells (row-major).
    pub fn boxes(&self) -> &[Pos] {
        &self.boxes
    }
    /// Dock cells (row-major).
    pub fn docks(&self) -> &[Pos] {
        &self.docks
    }
    /// Wall cells (row-major).
    pub fn walls(&self) -> &[Pos] {
        &self.walls
    }
    /// `true` if `p` is a wall.
    pub fn is_wall(&self, p: Pos) -> bool {
        self.walls
            .binary_search_by_key(&(p.y, p.x), |w| (w.y, w.x))
            .is_ok()
    }
    /// `true` if `p` is a dock.
    pub fn is_dock(&self, p: Pos) -> bool {
        self.docks
            .binary_search_by_key(&(p.y, p.x), |w| (w.y, w.x))
            .is_ok()
    }
}

/// Either domain's board.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Board {
    /// A maze task.
    Maze(MazeTask),
    /// A Sokoban level.
    Sokoban(SokobanBoard),
}

impl Board {
    /// Width in cells.
    pub fn width(&self) -> u32 {
        match self {
            Board::Maze(m) => m.width(),
            Board::Sokoban(s) => s.width(),
        }
    }

    /// Height in cells.
    pub fn height(&self) -> u32 {
        match self {
            Board::Maze(m) => m.height(),
            Board::Sokoban(s) => s.height(),
        }
    }

    /// The board position of `c`, or `None` when it lies outside the board.
    pub fn pos(&self, c: Cell) -> Option<Pos> {
        let inside =
            c.x >= 0 && c.y >= 0 && c.x < self.width() as i64 && c.y < self.height() as i64;
        inside.then(|| Pos::new(c.x as u32, c.y as u32))
    }

    /// `true` if `p` is a wall.
    pub fn is_wall(&self, p: Pos) -> bool {
        match self {
            Board::Maze(m) => m.is_wall(p),
            Board::Sokoban(s) => s.is_wall(p),
        }
    }

    /// All wall cells (row-major).
    pub fn walls(&self) -> &[Pos] {
        match self {
            Board::Maze(m) => m.walls(),
            Board::Sokoban(s) => s.walls(),
        }
    }

    /// The agent's start cell (maze start, Sokoban worker).
    pub fn start(&self) -> Pos {
        match self {
            Board::Maze(m) => m.start(),
            Board::Sokoban(s) => s.worker(),
        }
    }

    /// Short domain name (`maze` / `sokoban`).
    pub fn domain_name(&self) -> &'static str {
        match self {
            Board::Maze(_) => "maze",
            Board::Sokoban(_) => "sokoban",
        }
    }
}

impl From<&SokobanLevel> for SokobanBoard {
    /// A validated level is always a valid board (same invariants).
    fn from(l: &SokobanLevel) -> Self {
        let rm = |v: &[Pos]| {
            let mut v = v.to_vec();
            v.sort_by_key(|p| (p.y, p.x));
            v
        };
        SokobanBoard {
            width: l.width(),
            height: l.height(),
            worker: l.worker(),
            boxes: rm(l.boxes()),
            docks: rm(l.docks()),
            walls: rm(l.walls()),
        }
    }
}

impl From<&Task> for Board {
    fn from(t: &Task) -> Self {
        match t {
            Task::Maze(m) => Board::Maze(m.clone()),
            Task::Sokoban(l) => Board::Sokoban(SokobanBoard::from(l)),
        }
    }
}

impl From<MazeTask> for Board {
    fn from(m: MazeTask) -> Self {
        Board::Maze(m)
    }
}

impl From<SokobanBoard> for Board {
    fn from(s: SokobanBoard) -> Self {
        Board::Sokoban(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "#######\n#  .  #\n#  #  #\n# @   #\n# $$. #\n#  #  #\n#######";

    #[test]
    fn level_round_trip_and_prompt() {
        let b = SokobanBoard::from_level(EXAMPLE).unwrap();
        assert_eq!((b.width(), b.height()), (7, 7));
        assert_eq!(b.worker(), Pos::new(2, 3));
        assert_eq!(b.boxes(), &[Pos::new(2, 4), Pos::new(3, 4)]);
        assert_eq!(b.docks(), &[Pos::new(3, 1), Pos::new(4, 4)]);
        assert_eq!(b.walls().len(), 26);
        assert_eq!(b.to_level(), EXAMPLE);
        // Reference prompt prefix of static/sokoban/example-7722.txt.
        let mut prompt: Vec<String> = "worker 2 3 box 2 4 box 3 4 dock 3 1 dock 4 4"
            .split(' ')
            .map(String::from)
            .collect();
        for w in b.walls() {
            prompt.extend(["wall".to_string(), w.x.to_string(), w.y.to_string()]);
        }
        assert_eq!(SokobanBoard::from_prompt(&prompt).unwrap(), b);
    }

    #[test]
    fn bad_levels_are_errors() {
        assert!(SokobanBoard::from_level("").is_err());
        assert!(SokobanBoard::from_level("#@@#").is_err());
        assert!(SokobanBoard::from_level("# $ #").is_err());
        assert!(SokobanBoard::from_level("#@x#").is_err());
        assert!(SokobanBoard::from_prompt(&["worker", "1"]).is_err());
        assert!(SokobanBoard::from_prompt(&["worker", "a", "1"]).is_err());
    }
}

//! Boards to draw: a maze task or a Sokoban level, and signed cells.
//!
//! Both domains are planform-trace's validated types ([`MazeTask`],
//! [`SokobanLevel`]); this crate parses no task format of its own (build a
//! level with [`SokobanLevel::from_ascii`], [`SokobanLevel::from_json`] or
//! [`planform_trace::task::Task::from_json`]).
//!
//! Drawing convention for both domains: column `x` left to right, row `y` top
//! to bottom (row 0 is the first line of a Sokoban level). The maze "up" move
//! (`y+1`) therefore points down on screen; only the picture is affected.

use planform_trace::grid::Pos;
use planform_trace::maze::MazeTask;
use planform_trace::sokoban::SokobanLevel;
use planform_trace::task::Task;
use serde::Serialize;

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

/// Either domain's board.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Board {
    /// A maze task.
    Maze(MazeTask),
    /// A Sokoban level.
    Sokoban(SokobanLevel),
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
            Board::Sokoban(s) => sorted_contains(s.walls(), s.width(), p),
        }
    }

    /// `true` if `p` is a Sokoban dock (always `false` for a maze).
    pub fn is_dock(&self, p: Pos) -> bool {
        match self {
            Board::Maze(_) => false,
            Board::Sokoban(s) => sorted_contains(s.docks(), s.width(), p),
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

impl From<&Task> for Board {
    fn from(t: &Task) -> Self {
        match t {
            Task::Maze(m) => Board::Maze(m.clone()),
            Task::Sokoban(l) => Board::Sokoban(l.clone()),
        }
    }
}

impl From<MazeTask> for Board {
    fn from(m: MazeTask) -> Self {
        Board::Maze(m)
    }
}

impl From<SokobanLevel> for Board {
    fn from(s: SokobanLevel) -> Self {
        Board::Sokoban(s)
    }
}

/// `true` if `p` is in `list`, a list sorted row-major on a board `width`
/// cells wide (the order planform-trace keeps its lists in).
fn sorted_contains(list: &[Pos], width: u32, p: Pos) -> bool {
    list.binary_search_by_key(&p.index(width), |q| q.index(width))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sokoban_board_queries_use_the_level() {
        let level =
            SokobanLevel::from_ascii("#######\n#  .  #\n#  #  #\n# @   #\n# $*. #\n#######")
                .unwrap();
        let b = Board::from(level);
        assert_eq!((b.width(), b.height()), (7, 6));
        assert_eq!(b.start(), Pos::new(2, 3));
        assert!(b.is_wall(Pos::new(3, 2)) && !b.is_wall(Pos::new(2, 2)));
        assert!(b.is_dock(Pos::new(3, 1)) && b.is_dock(Pos::new(3, 4)));
        assert!(!b.is_dock(Pos::new(2, 4)));
        assert_eq!(b.domain_name(), "sokoban");
        assert_eq!(b.pos(Cell::new(-1, 0)), None);
        assert_eq!(b.pos(Cell::new(6, 5)), Some(Pos::new(6, 5)));
    }
}

//! Sokoban levels and dynamics (reference `searchformer/sokoban.py`).
//!
//! Coordinates: `x` is the column, `y` the row, and **`up` is `y − 1`** (the
//! opposite of the maze convention). A move first tries to push a box in the
//! next cell one further (the box moves only onto floor or a dock), then tries
//! to move the worker, who only enters floor or a dock; otherwise the move is
//! a no-op. ASCII legend (`CellState`): ` ` floor, `#` wall, `.` dock,
//! `@` worker, `+` worker on dock, `$` box, `*` box on dock.

use serde::{Deserialize, Serialize};

use crate::astar::INF;
use crate::error::{Error, Result};
use crate::grid::{check_pos, check_size, Pos};

/// A move of the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// `y − 1`.
    Up,
    /// `y + 1`.
    Down,
    /// `x − 1`.
    Left,
    /// `x + 1`.
    Right,
}

impl Direction {
    /// Reference child order: up, down, left, right.
    pub const ALL: [Direction; 4] = [
        Direction::Up,
        Direction::Down,
        Direction::Left,
        Direction::Right,
    ];

    /// `(dx, dy)`.
    pub fn delta(self) -> (i64, i64) {
        match self {
            Direction::Up => (0, -1),
            Direction::Down => (0, 1),
            Direction::Left => (-1, 0),
            Direction::Right => (1, 0),
        }
    }

    /// The direction moving from `a` to `b` if they are 4-neighbours
    /// (reference `Sokoban.action_from_position_change`).
    pub fn between(a: (i64, i64), b: (i64, i64)) -> Option<Direction> {
        match (b.0 - a.0, b.1 - a.1) {
            (0, 1) => Some(Direction::Down),
            (0, -1) => Some(Direction::Up),
            (1, 0) => Some(Direction::Right),
            (-1, 0) => Some(Direction::Left),
            _ => None,
        }
    }
}

/// A validated Sokoban level.
///
/// Invariants: sides in `1..=100`; everything in bounds; walls, boxes and
/// docks each distinct and sorted row-major; no box or dock on a wall; the
/// worker on neither a wall nor a box. Boxes may start on docks and the worker
/// may stand on a dock.
///
/// JSON form: `{"width": 7, "height": 7, "worker": [x, y], "boxes": [[x, y], ...],
/// "docks": [[x, y], ...], "walls": [[x, y], ...]}` (walls include the border).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawLevel")]
pub struct SokobanLevel {
    width: u32,
    height: u32,
    worker: Pos,
    boxes: Vec<Pos>,
    docks: Vec<Pos>,
    walls: Vec<Pos>,
}

#[derive(Deserialize)]
pub(crate) struct RawLevel {
    pub(crate) width: i64,
    pub(crate) height: i64,
    pub(crate) worker: [i64; 2],
    pub(crate) boxes: Vec<[i64; 2]>,
    pub(crate) docks: Vec<[i64; 2]>,
    pub(crate) walls: Vec<[i64; 2]>,
}

impl TryFrom<RawLevel> for SokobanLevel {
    type Error = Error;
    fn try_from(r: RawLevel) -> Result<Self> {
        let (w, h) = check_size(r.width, r.height, 1)?;
        let list = |what, v: &[[i64; 2]]| {
            v.iter()
                .map(|&p| check_pos(what, p, w, h))
                .collect::<Result<Vec<_>>>()
        };
        let worker = check_pos("worker", r.worker, w, h)?;
        SokobanLevel::new(
            w,
            h,
            worker,
            list("box", &r.boxes)?,
            list("dock", &r.docks)?,
            list("wall", &r.walls)?,
        )
    }
}

fn sort_unique(what: &'static str, v: &mut [Pos], width: u32) -> Result<()> {
    v.sort_by_key(|p| p.index(width));
    for pair in v.windows(2) {
        if pair[0] == pair[1] {
            return Err(Error::Duplicate {
                what,
                x: pair[0].x,
                y: pair[0].y,
            });
        }
    }
    Ok(())
}

impl SokobanLevel {
    /// Validates and builds a level (lists may come in any order).
    pub fn new(
        width: u32,
        height: u32,
        worker: Pos,
        mut boxes: Vec<Pos>,
        mut docks: Vec<Pos>,
        mut walls: Vec<Pos>,
    ) -> Result<Self> {
        let (width, height) = check_size(width as i64, height as i64, 1)?;
        let inb = |what, p: Pos| check_pos(what, [p.x as i64, p.y as i64], width, height);
        inb("worker", worker)?;
        for (what, list) in [("box", &boxes), ("dock", &docks), ("wall", &walls)] {
            for &p in list.iter() {
                inb(what, p)?;
            }
        }
        sort_unique("wall", &mut walls, width)?;
        sort_unique("box", &mut boxes, width)?;
        sort_unique("dock", &mut docks, width)?;
        let on = |list: &[Pos], p: Pos| {
            list.binary_search_by_key(&p.index(width), |q| q.index(width))
                .is_ok()
        };
        let overlap = |what, other, p: Pos| Error::Overlap {
            what,
            other,
            x: p.x,
            y: p.y,
        };
        for &b in &boxes {
            if on(&walls, b) {
                return Err(overlap("box", "wall", b));
            }
        }
        for &d in &docks {
            if on(&walls, d) {
                return Err(overlap("dock", "wall", d));
            }
        }
        if on(&walls, worker) {
            return Err(overlap("worker", "wall", worker));
        }
        if on(&boxes, worker) {
            return Err(overlap("worker", "box", worker));
        }
        Ok(SokobanLevel {
            width,
            height,
            worker,
            boxes,
            docks,
            walls,
        })
    }

    /// Parses a JSON object. Unknown extra fields are ignored; a key given twice, or a
    /// maze field (`start`, `goal`) next to the Sokoban ones, is an error.
    pub fn from_json(line: &str) -> Result<Self> {
        let raw = crate::json::RawTask::parse(line)?;
        match raw.domain()? {
            crate::task::Domain::Sokoban => raw.into_sokoban(),
            crate::task::Domain::Maze => Err(Error::WrongDomain {
                expected: "sokoban",
                got: "maze",
            }),
        }
    }

    /// Parses an ASCII level (reference legend). Lines may end in `\r`;
    /// short lines are padded with floor; trailing empty lines are ignored.
    pub fn from_ascii(text: &str) -> Result<Self> {
        let mut rows: Vec<&str> = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        while rows.last().is_some_and(|r| r.is_empty()) {
            rows.pop();
        }
        let height = rows.len();
        let width = rows.iter().map(|r| r.chars().count()).max().unwrap_or(0);
        let (w, _) = check_size(width as i64, height as i64, 1)?;
        let (mut walls, mut boxes, mut docks, mut workers) = (vec![], vec![], vec![], vec![]);
        for (y, row) in rows.iter().enumerate() {
            for (x, ch) in row.chars().enumerate() {
                let p = Pos::new(x as u32, y as u32);
                match ch {
                    ' ' => {}
                    '#' => walls.push(p),
                    '.' => docks.push(p),
                    '@' => workers.push(p),
                    '+' => {
                        workers.push(p);
                        docks.push(p);
                    }
                    '$' => boxes.push(p),
                    '*' => {
                        boxes.push(p);
                        docks.push(p);
                    }
                    other => {
                        return Err(Error::Level(format!(
                            "unknown character {other:?} at line {}, column {}",
                            y + 1,
                            x + 1
                        )))
                    }
                }
            }
        }
        let worker = match workers.as_slice() {
            [p] => *p,
            [] => return Err(Error::Level("no worker ('@' or '+')".into())),
            _ => {
                return Err(Error::Level(format!(
                    "{} workers, expected one",
                    workers.len()
                )))
            }
        };
        SokobanLevel::new(w, height as u32, worker, boxes, docks, walls)
    }

    /// The ASCII picture, rows joined by `\n` (no trailing newline).
    pub fn to_ascii(&self) -> String {
        self.rows().join("\n")
    }

    /// The reference state string: rows joined by `-` (`sokoban_state_to_string`).
    pub fn state_string(&self) -> String {
        self.rows().join("-")
    }

    fn rows(&self) -> Vec<String> {
        let w = self.width;
        let has = |list: &[Pos], p: Pos| {
            list.binary_search_by_key(&p.index(w), |q| q.index(w))
                .is_ok()
        };
        (0..self.height)
            .map(|y| {
                (0..w)
                    .map(|x| {
                        let p = Pos::new(x, y);
                        let dock = has(&self.docks, p);
                        if has(&self.walls, p) {
                            '#'
                        } else if has(&self.boxes, p) {
                            if dock {
                                '*'
                            } else {
                                '$'
                            }
                        } else if p == self.worker {
                            if dock {
                                '+'
                            } else {
                                '@'
                            }
                        } else if dock {
                            '.'
                        } else {
                            ' '
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// Grid width.
    pub fn width(&self) -> u32 {
        self.width
    }
    /// Grid height.
    pub fn height(&self) -> u32 {
        self.height
    }
    /// Worker position.
    pub fn worker(&self) -> Pos {
        self.worker
    }
    /// Boxes (row-major).
    pub fn boxes(&self) -> &[Pos] {
        &self.boxes
    }
    /// Docks (row-major).
    pub fn docks(&self) -> &[Pos] {
        &self.docks
    }
    /// Walls including any border (row-major).
    pub fn walls(&self) -> &[Pos] {
        &self.walls
    }

    /// Fails with [`Error::BoxesWithoutDocks`] when there are more boxes than docks: such
    /// a level can never be completed. (Fewer boxes than docks is allowed, as in the
    /// reference: the level is complete when every box is on a dock. The generator can
    /// produce such levels when interior walls take the cells boxes may use.)
    pub fn check_box_dock_counts(&self) -> Result<()> {
        if self.boxes.len() > self.docks.len() {
            return Err(Error::BoxesWithoutDocks {
                boxes: self.boxes.len(),
                docks: self.docks.len(),
            });
        }
        Ok(())
    }

    /// `true` if every box is on a dock (reference `is_complete`: no `$` cell).
    pub fn is_complete(&self) -> bool {
        let b = Board::new(self);
        b.is_complete(&self.box_cells())
    }

    /// Applies moves from the initial state; returns the final level.
    /// Blocked moves are no-ops, as in the reference.
    pub fn apply_moves(&self, moves: &[Direction]) -> SokobanLevel {
        let board = Board::new(self);
        let mut worker = self.worker.index(self.width) as u16;
        let mut boxes = self.box_cells();
        for &d in moves {
            if let Some(nw) = board.step(worker, &mut boxes, d) {
                worker = nw;
            }
        }
        let mut out = self.clone();
        out.worker = Pos::from_index(worker as usize, self.width);
        out.boxes = boxes
            .iter()
            .map(|&c| Pos::from_index(c as usize, self.width))
            .collect();
        out
    }

    /// The same board with another worker and box placement (validated).
    pub fn with_state(&self, worker: Pos, boxes: Vec<Pos>) -> Result<Self> {
        SokobanLevel::new(
            self.width,
            self.height,
            worker,
            boxes,
            self.docks.clone(),
            self.walls.clone(),
        )
    }

    /// Heuristic of the initial state ([`INF`] if a box is stuck).
    pub fn heuristic(&self) -> u32 {
        Board::new(self).heuristic(&self.box_cells())
    }

    pub(crate) fn box_cells(&self) -> Vec<u16> {
        self.boxes
            .iter()
            .map(|p| p.index(self.width) as u16)
            .collect()
    }
}

/// Static board (walls and docks) with the dynamics on cell indices.
pub(crate) struct Board {
    pub(crate) width: u32,
    pub(crate) height: u32,
    wall: Vec<bool>,
    dock: Vec<bool>,
    docks: Vec<u16>,
    xy: Vec<(u32, u32)>,
}

impl Board {
    pub(crate) fn new(level: &SokobanLevel) -> Self {
        let n = (level.width * level.height) as usize;
        let mut wall = vec![false; n];
        let mut dock = vec![false; n];
        for p in &level.walls {
            wall[p.index(level.width)] = true;
        }
        for p in &level.docks {
            dock[p.index(level.width)] = true;
        }
        Board {
            width: level.width,
            height: level.height,
            wall,
            dock,
            docks: level
                .docks
                .iter()
                .map(|p| p.index(level.width) as u16)
                .collect(),
            xy: (0..n)
                .map(|i| (i as u32 % level.width, i as u32 / level.width))
                .collect(),
        }
    }

    #[inline]
    pub(crate) fn xy(&self, c: u16) -> (u32, u32) {
        self.xy[c as usize]
    }

    #[inline]
    fn neighbor(&self, c: u16, d: Direction) -> Option<u16> {
        let (x, y) = self.xy(c);
        let (dx, dy) = d.delta();
        let (nx, ny) = (x as i64 + dx, y as i64 + dy);
        if nx < 0 || ny < 0 || nx >= self.width as i64 || ny >= self.height as i64 {
            return None;
        }
        Some((nx + ny * self.width as i64) as u16)
    }

    /// One move: push then walk. Returns the new worker cell, or `None` for a
    /// no-op. `boxes` stays sorted.
    pub(crate) fn step(&self, worker: u16, boxes: &mut [u16], d: Direction) -> Option<u16> {
        let n1 = self.neighbor(worker, d)?;
        if let Some(bi) = boxes.iter().position(|&b| b == n1) {
            if let Some(n2) = self.neighbor(n1, d) {
                if !self.wall[n2 as usize] && !boxes.contains(&n2) {
                    boxes[bi] = n2;
                    boxes.sort_unstable();
                }
            }
        }
        if self.wall[n1 as usize] || boxes.contains(&n1) {
            return None;
        }
        Some(n1)
    }

    #[inline]
    pub(crate) fn is_dock(&self, c: u16) -> bool {
        self.dock[c as usize]
    }

    pub(crate) fn dock_cells(&self) -> &[u16] {
        &self.docks
    }

    /// `true` when no box is off a dock.
    pub(crate) fn is_complete(&self, boxes: &[u16]) -> bool {
        boxes.iter().all(|&b| self.dock[b as usize])
    }

    /// Reference `is_box_movable`: a box can move horizontally if it is not
    /// on the left/right border and neither side is a wall; likewise vertically.
    fn movable(&self, c: u16) -> bool {
        let (x, y) = self.xy(c);
        let free = |xx: u32, yy: u32| !self.wall[(xx + yy * self.width) as usize];
        let horizontal = x > 0 && x + 1 < self.width && free(x - 1, y) && free(x + 1, y);
        let vertical = y > 0 && y + 1 < self.height && free(x, y - 1) && free(x, y + 1);
        horizontal || vertical
    }

    /// Reference heuristic: 0 without unplaced boxes or open docks; [`INF`]
    /// if an unplaced box is immovable; else the sum over unplaced boxes of
    /// the Manhattan distance to the nearest open dock (docks may be shared).
    pub(crate) fn heuristic(&self, boxes: &[u16]) -> u32 {
        let unplaced = boxes.iter().filter(|&&b| !self.dock[b as usize]);
        let open = || self.docks.iter().filter(|d| !boxes.contains(d));
        if open().next().is_none() || unplaced.clone().next().is_none() {
            return 0;
        }
        if unplaced.clone().any(|&b| !self.movable(b)) {
            return INF;
        }
        unplaced
            .map(|&b| {
                let (bx, by) = self.xy(b);
                open()
                    .map(|&d| {
                        let (dx, dy) = self.xy(d);
                        bx.abs_diff(dx) + by.abs_diff(dy)
                    })
                    .min()
                    .unwrap_or(0)
            })
            .sum()
    }
}

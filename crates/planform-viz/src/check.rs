//! Step-by-step plan checks used to colour a (possibly invalid) plan.
//!
//! These statuses are for drawing only. They follow the reference validity
//! rules (maze: start, goal, no wall, unit steps; Sokoban: unit steps turned
//! into moves and simulated from the start state) but report *per step* what
//! is wrong. Two deliberate differences from the reference evaluator, both
//! only affecting colours: a Sokoban plan whose first cell is not the worker
//! gets [`StepStatus::WrongStart`] (the reference does not check it), and a
//! Sokoban move that bumps into a wall or an unpushable box is
//! [`StepStatus::Blocked`] (the reference silently ignores it).

use planform_trace::grid::Pos;
use serde::Serialize;

use planform_trace::sokoban::SokobanLevel;

use crate::board::{Board, Cell};

/// What is wrong with one plan step (relative to the previous one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// A legal step.
    Ok,
    /// The first step is not the start (worker) cell.
    WrongStart,
    /// The cell lies outside the board.
    OffBoard,
    /// The cell is a wall.
    Wall,
    /// Not a unit step from the previous plan cell.
    Jump,
    /// Sokoban: the move is a no-op (wall or unpushable box ahead).
    Blocked,
}

impl StepStatus {
    /// `true` for [`StepStatus::Ok`].
    pub fn is_ok(self) -> bool {
        self == StepStatus::Ok
    }

    /// Short human name.
    pub fn name(self) -> &'static str {
        match self {
            StepStatus::Ok => "ok",
            StepStatus::WrongStart => "wrong start",
            StepStatus::OffBoard => "off board",
            StepStatus::Wall => "wall",
            StepStatus::Jump => "jump",
            StepStatus::Blocked => "blocked",
        }
    }
}

/// The per-step check of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanCheck {
    /// One status per plan cell.
    pub steps: Vec<StepStatus>,
    /// Every step is [`StepStatus::Ok`] and the plan ends at the goal (maze)
    /// or with every box on a dock (Sokoban). An empty plan is not solved.
    pub solved: bool,
    /// Sokoban: box cells after simulating the plan (empty for mazes).
    pub final_boxes: Vec<Cell>,
    /// Sokoban: box cells (row-major) after each plan step, one entry per
    /// step (empty for mazes).
    pub box_frames: Vec<Vec<Cell>>,
}

impl PlanCheck {
    /// Number of steps that are not [`StepStatus::Ok`].
    pub fn invalid(&self) -> usize {
        self.steps.iter().filter(|s| !s.is_ok()).count()
    }
}

/// Checks `plan` on `board`. Never panics, whatever the cells.
pub fn check_plan(board: &Board, plan: &[Cell]) -> PlanCheck {
    match board {
        Board::Maze(m) => {
            let steps: Vec<StepStatus> = plan
                .iter()
                .enumerate()
                .map(|(i, &c)| match board.pos(c) {
                    None => StepStatus::OffBoard,
                    Some(p) if m.is_wall(p) => StepStatus::Wall,
                    Some(p) if i == 0 && p != m.start() => StepStatus::WrongStart,
                    Some(_) if i > 0 && plan[i - 1].manhattan(c) != 1 => StepStatus::Jump,
                    Some(_) => StepStatus::Ok,
                })
                .collect();
            let solved = !plan.is_empty()
                && steps.iter().all(|s| s.is_ok())
                && plan.last().copied() == Some(Cell::from(m.goal()));
            PlanCheck {
                steps,
                solved,
                final_boxes: Vec::new(),
                box_frames: Vec::new(),
            }
        }
        Board::Sokoban(s) => check_sokoban(board, s, plan),
    }
}

fn check_sokoban(board: &Board, s: &SokobanLevel, plan: &[Cell]) -> PlanCheck {
    let mut worker = s.worker();
    let mut boxes: Vec<Pos> = s.boxes().to_vec();
    let free = |p: Pos, boxes: &[Pos]| !board.is_wall(p) && !boxes.contains(&p);
    let step_to = |p: Pos, dx: i64, dy: i64| board.pos(Cell::new(p.x as i64 + dx, p.y as i64 + dy));
    let mut steps = Vec::with_capacity(plan.len());
    let mut box_frames = Vec::with_capacity(plan.len());
    let sorted = |b: &[Pos]| {
        let mut v: Vec<Cell> = b.iter().map(|&p| Cell::from(p)).collect();
        v.sort_by_key(|c| (c.y, c.x));
        v
    };
    for (i, &c) in plan.iter().enumerate() {
        let status = match board.pos(c) {
            None => StepStatus::OffBoard,
            Some(p) if board.is_wall(p) => StepStatus::Wall,
            Some(p) if i == 0 => {
                if p == s.worker() {
                    StepStatus::Ok
                } else {
                    StepStatus::WrongStart
                }
            }
            Some(_) if plan[i - 1].manhattan(c) != 1 => StepStatus::Jump,
            Some(_) => {
                // Reference: the delta between consecutive plan cells is the move.
                let (dx, dy) = (c.x - plan[i - 1].x, c.y - plan[i - 1].y);
                match step_to(worker, dx, dy) {
                    None => StepStatus::Blocked,
                    Some(next) if board.is_wall(next) => StepStatus::Blocked,
                    Some(next) => {
                        if let Some(k) = boxes.iter().position(|&b| b == next) {
                            match step_to(next, dx, dy) {
                                Some(beyond) if free(beyond, &boxes) => {
                                    boxes[k] = beyond;
                                    worker = next;
                                    StepStatus::Ok
                                }
                                _ => StepStatus::Blocked,
                            }
                        } else {
                            worker = next;
                            StepStatus::Ok
                        }
                    }
                }
            }
        };
        steps.push(status);
        box_frames.push(sorted(&boxes));
    }
    let solved = !plan.is_empty()
        && steps.iter().all(|s| s.is_ok())
        && boxes.iter().all(|&b| board.is_dock(b));
    PlanCheck {
        steps,
        solved,
        final_boxes: sorted(&boxes),
        box_frames,
    }
}

/// Sokoban move string for a plan (LURD notation: `u` = `y−1`, `d` = `y+1`,
/// `l`, `r`; upper case when the move pushes a box; `?` for a step that is
/// not a legal unit move). One character per step after the first.
pub fn move_string(board: &Board, plan: &[Cell]) -> String {
    let check = check_plan(board, plan);
    let mut boxes: Vec<Cell> = match board {
        Board::Sokoban(s) => s.boxes().iter().map(|&b| Cell::from(b)).collect(),
        Board::Maze(_) => Vec::new(),
    };
    let mut out = String::new();
    for i in 1..plan.len() {
        let (a, b) = (plan[i - 1], plan[i]);
        let ch = match (b.x - a.x, b.y - a.y) {
            (0, -1) => 'u',
            (0, 1) => 'd',
            (-1, 0) => 'l',
            (1, 0) => 'r',
            _ => '?',
        };
        if ch == '?' || !check.steps[i].is_ok() {
            out.push('?');
            continue;
        }
        if let Some(k) = boxes.iter().position(|&x| x == b) {
            boxes[k] = Cell::new(2 * b.x - a.x, 2 * b.y - a.y);
            out.push(ch.to_ascii_uppercase());
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use planform_trace::maze::MazeTask;

    fn cells(v: &[(i64, i64)]) -> Vec<Cell> {
        v.iter().map(|&(x, y)| Cell::new(x, y)).collect()
    }

    #[test]
    fn maze_statuses() {
        // 3x3, start (0,0), goal (0,2), walls (0,1), (1,1) (reference fixture).
        let m = MazeTask::new(
            3,
            3,
            Pos::new(0, 0),
            Pos::new(0, 2),
            vec![Pos::new(0, 1), Pos::new(1, 1)],
        )
        .unwrap();
        let b = Board::Maze(m);
        let good = cells(&[(0, 0), (1, 0), (2, 0), (2, 1), (2, 2), (1, 2), (0, 2)]);
        let c = check_plan(&b, &good);
        assert!(c.solved && c.invalid() == 0);
        let bad = cells(&[(1, 0), (1, 1), (2, 2), (-1, 2), (0, 2)]);
        let c = check_plan(&b, &bad);
        use StepStatus::*;
        // (-1,2) -> (0,2) is a unit step onto a free cell: Ok (only the previous step is off board).
        assert_eq!(c.steps, vec![WrongStart, Wall, Jump, OffBoard, Ok]);
        assert!(!c.solved);
        assert!(!check_plan(&b, &[]).solved);
    }

    #[test]
    fn sokoban_simulation_and_moves() {
        let s = SokobanLevel::from_ascii("#####\n#@$.#\n#####").unwrap();
        let b = Board::Sokoban(s);
        let push = cells(&[(1, 1), (2, 1)]);
        let c = check_plan(&b, &push);
        assert!(c.solved, "{c:?}");
        assert_eq!(c.final_boxes, cells(&[(3, 1)]));
        assert_eq!(c.box_frames, vec![cells(&[(2, 1)]), cells(&[(3, 1)])]);
        assert_eq!(move_string(&b, &push), "R");
        // Pushing again would move the box into the wall: blocked.
        let c = check_plan(&b, &cells(&[(1, 1), (2, 1), (3, 1)]));
        assert_eq!(c.steps[2], StepStatus::Blocked);
        assert!(!c.solved);
        assert_eq!(move_string(&b, &cells(&[(1, 1), (2, 1), (3, 1)])), "R?");
        let c = check_plan(&b, &cells(&[(2, 1), (0, 0), (5, 5)]));
        use StepStatus::*;
        assert_eq!(c.steps, vec![WrongStart, Wall, OffBoard]);
    }
}

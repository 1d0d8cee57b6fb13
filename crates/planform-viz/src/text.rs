//! Terminal rendering (for `planform show`).

use std::collections::HashSet;
use std::fmt::Write;

use planform_trace::astar::Action;
use planform_trace::grid::Pos;

use crate::board::{Board, Cell};
use crate::check::{check_plan, move_string, StepStatus};
use crate::search::{action_name, Search};

/// Terminal rendering options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextOptions {
    /// Emit ANSI colour codes (set it when stdout is a TTY). Default `false`.
    pub color: bool,
    /// Most clauses [`render_listing`] prints before eliding the middle; `None`
    /// prints all. Default `Some(40)`.
    pub max_clauses: Option<usize>,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            color: false,
            max_clauses: Some(40),
        }
    }
}

const RESET: &str = "\x1b[0m";

/// Cell marks of the maze view, in drawing priority order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Wall,
    Start,
    Goal,
    BadPlan,
    Plan,
    Closed,
    Created,
    Free,
}

impl Mark {
    fn glyph(self) -> char {
        match self {
            Mark::Wall => '#',
            Mark::Start => 'S',
            Mark::Goal => 'G',
            Mark::BadPlan => '!',
            Mark::Plan => '*',
            Mark::Closed => 'o',
            Mark::Created => '+',
            Mark::Free => '.',
        }
    }

    fn ansi(self) -> &'static str {
        match self {
            Mark::Wall => "\x1b[90m",
            Mark::Start | Mark::Goal => "\x1b[1;35m",
            Mark::BadPlan => "\x1b[1;31m",
            Mark::Plan => "\x1b[1;32m",
            Mark::Closed => "\x1b[33m",
            Mark::Created => "\x1b[36m",
            Mark::Free => "\x1b[2m",
        }
    }
}

fn paint(out: &mut String, color: bool, code: &str, text: &str) {
    if color {
        out.push_str(code);
        out.push_str(text);
        out.push_str(RESET);
    } else {
        out.push_str(text);
    }
}

/// Renders the board with the search on top.
///
/// Maze: a grid (`#` wall, `.` free, `S` start, `G` goal, `*` plan, `!` an
/// invalid plan step, `o` closed, `+` created but never closed), with x/y
/// axes and a legend line. Sokoban: the level in the reference legend, the
/// plan as a LURD move string (see [`move_string`]) and whether it solves the
/// level. Invalid plan steps are counted; off-board steps cannot be drawn.
pub fn render_board(board: &Board, search: Option<&Search>, opts: &TextOptions) -> String {
    match board {
        Board::Maze(_) => render_maze(board, search, opts),
        Board::Sokoban(s) => {
            let mut out = String::new();
            let _ = writeln!(out, "sokoban {}x{}", s.width(), s.height());
            for line in s.to_ascii().lines() {
                for ch in line.chars() {
                    let code = match ch {
                        '#' => "\x1b[90m",
                        '@' | '+' => "\x1b[1;32m",
                        '$' => "\x1b[33m",
                        '*' => "\x1b[1;33m",
                        '.' => "\x1b[35m",
                        _ => "",
                    };
                    paint(
                        &mut out,
                        opts.color && !code.is_empty(),
                        code,
                        &ch.to_string(),
                    );
                }
                out.push('\n');
            }
            if let Some(search) = search {
                plan_summary(&mut out, board, search, opts);
            }
            out
        }
    }
}

fn plan_summary(out: &mut String, board: &Board, search: &Search, opts: &TextOptions) {
    let check = check_plan(board, &search.plan);
    let moves = move_string(board, &search.plan);
    let _ = write!(out, "plan ({} cells): ", search.plan.len());
    for ch in moves.chars() {
        let code = if ch == '?' {
            Mark::BadPlan.ansi()
        } else {
            Mark::Plan.ansi()
        };
        paint(out, opts.color, code, &ch.to_string());
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "{} invalid steps, {}",
        check.invalid(),
        if check.solved { "solved" } else { "not solved" }
    );
}

fn render_maze(board: &Board, search: Option<&Search>, opts: &TextOptions) -> String {
    let Board::Maze(m) = board else {
        return String::new();
    };
    let (w, h) = (m.width() as usize, m.height() as usize);
    let mut marks = vec![Mark::Free; w * h];
    let idx = |p: Pos| p.y as usize * w + p.x as usize;
    let mut invalid = 0;
    let mut off_board = 0;
    for p in m.walls() {
        marks[idx(*p)] = Mark::Wall;
    }
    if let Some(s) = search {
        for c in &s.clauses {
            if let Some(p) = board.pos(c.cell).filter(|p| !m.is_wall(*p)) {
                let m = &mut marks[idx(p)];
                match c.action {
                    Action::Close => *m = Mark::Closed,
                    Action::Create if *m == Mark::Free => *m = Mark::Created,
                    Action::Create => {}
                }
            }
        }
        let check = check_plan(board, &s.plan);
        for (c, st) in s.plan.iter().zip(&check.steps) {
            if !st.is_ok() {
                invalid += 1;
            }
            match board.pos(*c) {
                Some(p) => {
                    let m = &mut marks[idx(p)];
                    if *m != Mark::BadPlan {
                        *m = if st.is_ok() {
                            Mark::Plan
                        } else {
                            Mark::BadPlan
                        };
                    }
                }
                None => off_board += 1,
            }
        }
    }
    marks[idx(m.start())] = Mark::Start;
    marks[idx(m.goal())] = Mark::Goal;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "maze {}x{}  start ({}, {})  goal ({}, {})",
        w,
        h,
        m.start().x,
        m.start().y,
        m.goal().x,
        m.goal().y
    );
    let lw = (h.saturating_sub(1)).to_string().len();
    out.push_str(&" ".repeat(lw));
    for x in 0..w {
        let _ = write!(out, " {}", x % 10);
    }
    out.push('\n');
    for y in 0..h {
        let _ = write!(out, "{y:>lw$}");
        for x in 0..w {
            let mk = marks[y * w + x];
            out.push(' ');
            paint(&mut out, opts.color, mk.ansi(), &mk.glyph().to_string());
        }
        out.push('\n');
    }
    out.push_str(
        "# wall  . free  S start  G goal  * plan  ! invalid plan step  o closed  + created\n",
    );
    if let Some(s) = search {
        let _ = writeln!(
            out,
            "plan: {} cells, {} invalid ({} off board); trace: {} clauses, {} closed",
            s.plan.len(),
            invalid,
            off_board,
            s.clauses.len(),
            s.closes()
        );
    }
    out
}

fn cell_text(c: Cell) -> String {
    format!("({},{})", c.x, c.y)
}

/// A compact listing of the trace clauses, the plan and any parse issues.
///
/// One numbered line per clause (`create (x,y) g=.. h=..`, Sokoban adds the
/// boxes `B(x,y)`); with [`TextOptions::max_clauses`] set, only the first and
/// last halves are listed. Plan steps that fail [`check_plan`] carry a
/// `!status` suffix.
pub fn render_listing(board: &Board, search: &Search, opts: &TextOptions) -> String {
    let mut out = String::new();
    let creates = search.clauses.len() - search.closes();
    let _ = writeln!(
        out,
        "trace: {} clauses ({} create, {} close), plan: {} cells",
        search.clauses.len(),
        creates,
        search.closes(),
        search.plan.len()
    );
    let n = search.clauses.len();
    let (head, tail) = match opts.max_clauses {
        Some(k) if n > k => (k.div_ceil(2), k / 2),
        _ => (n, 0),
    };
    let width = n.saturating_sub(1).to_string().len();
    let seen: HashSet<usize> = (0..head).chain(n - tail..n).collect();
    for (i, c) in search.clauses.iter().enumerate() {
        if !seen.contains(&i) {
            if i == head {
                let _ = writeln!(out, "{:>width$} ... {} clauses elided", "", n - head - tail);
            }
            continue;
        }
        let _ = write!(out, "{i:>width$} ");
        let code = if c.action == Action::Close {
            Mark::Closed.ansi()
        } else {
            Mark::Created.ansi()
        };
        paint(
            &mut out,
            opts.color,
            code,
            &format!("{:<6}", action_name(c.action)),
        );
        let _ = write!(out, " {}", cell_text(c.cell));
        for b in &c.boxes {
            let _ = write!(out, " B{}", cell_text(*b));
        }
        if let Some(g) = c.g {
            let _ = write!(out, " g={g}");
        }
        if let Some(h) = c.h {
            let _ = write!(out, " h={h}");
        }
        out.push('\n');
    }
    let check = check_plan(board, &search.plan);
    out.push_str("plan:");
    for (c, st) in search.plan.iter().zip(&check.steps) {
        out.push(' ');
        if *st == StepStatus::Ok {
            out.push_str(&cell_text(*c));
        } else {
            let bad = format!("{}!{}", cell_text(*c), st.name().replace(' ', "-"));
            paint(&mut out, opts.color, Mark::BadPlan.ansi(), &bad);
        }
    }
    out.push('\n');
    for issue in &search.issues {
        let _ = writeln!(
            out,
            "parse issue at token {}: {}",
            issue.token, issue.message
        );
    }
    out
}

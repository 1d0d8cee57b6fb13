//! One self-contained HTML file that animates, on the board, the A* trace and
//! a model's trace side by side, step by step, then the plans.
//!
//! The page (template `assets/viewer.html`) holds all CSS, JS and data inline;
//! it loads nothing from the network. Data is embedded as JSON in a
//! `<script type="application/json" id="pf-data">` element.
//!
//! Timeline: each side has `clauses + plan cells` frames; the global step `k`
//! shows the first `min(k, clauses)` clauses of each side, then its plan grows
//! one cell per step. The slider runs to the longest side.
//!
//! Each board has its grid coordinates around it (x along the top, y down the
//! left; elements `.ax-x[data-x]` / `.ax-y[data-y]` in `#axes-<side>`), and
//! under it the side's raw token sequence (`#tokens-<side>`; the parsed tokens
//! of a model response, or the reference tokenization of a typed A* trace) in
//! which the clause or plan step on screen is highlighted (class `cur`) and
//! the tokens before it are greyed (class `done`). The legend shows the board
//! objects with the glyphs of the board (Sokoban: worker, box, dock, box on
//! dock; maze: start, goal).
//!
//! URL fragment options (combine with `&`): `task=K` selects task `K`
//! (0-based), `step=S` jumps to step `S`, `autoplay-end` jumps to the last step
//! and sets `document.title` to `planform-viewer:ready:<steps>` (a marker for
//! headless tests), `play` starts playing, `notokens` hides the token panels
//! (as does unticking "raw tokens").

use serde::Serialize;

use crate::board::{Board, Cell};
use crate::check::{check_plan, StepStatus};
use crate::color;
use crate::escape::html;
use crate::search::Search;

const TEMPLATE: &str = include_str!("../assets/viewer.html");

/// One task to show: the board, the A* reference search and optionally a
/// model's response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerTask {
    /// Name shown in the dropdown and header (e.g. the task id).
    pub name: String,
    /// The board.
    pub board: Board,
    /// The A* trace and plan.
    pub reference: Search,
    /// The model's response (parsed with [`Search::parse`]); `None` shows
    /// only the A* side.
    pub model: Option<Search>,
    /// Label of the model side. Default `"model"`.
    pub model_label: String,
    /// Whether the model's plan is correct, as scored by the caller.
    pub correct: Option<bool>,
    /// Whether the model's plan is optimal, as scored by the caller.
    pub optimal: Option<bool>,
    /// Free text shown in the header (e.g. decoding mode, sample index).
    pub note: Option<String>,
}

impl ViewerTask {
    /// A task with only the A* side; set the other fields directly.
    pub fn new(name: impl Into<String>, board: Board, reference: Search) -> Self {
        ViewerTask {
            name: name.into(),
            board,
            reference,
            model: None,
            model_label: "model".into(),
            correct: None,
            optimal: None,
            note: None,
        }
    }
}

/// Everything the viewer page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerInput {
    /// Page title.
    pub title: String,
    /// Tasks (a dropdown selects one). May be empty (the page says so).
    pub tasks: Vec<ViewerTask>,
}

#[derive(Serialize)]
struct Data<'a> {
    title: &'a str,
    ramp: &'a [&'a str],
    colors: Colors,
    tasks: Vec<TaskData<'a>>,
}

#[derive(Serialize)]
struct Colors {
    plan: &'static str,
    invalid: &'static str,
    created: &'static str,
    wall: &'static str,
    floor: &'static str,
    grid: &'static str,
    start: &'static str,
    goal: &'static str,
    r#box: &'static str,
    box_docked: &'static str,
    dock: &'static str,
}

#[derive(Serialize)]
struct TaskData<'a> {
    name: &'a str,
    domain: &'static str,
    width: u32,
    height: u32,
    walls: Vec<[i64; 2]>,
    start: [i64; 2],
    goal: Option<[i64; 2]>,
    boxes: Vec<[i64; 2]>,
    docks: Vec<[i64; 2]>,
    sides: Vec<SideData<'a>>,
    correct: Option<bool>,
    optimal: Option<bool>,
    note: Option<&'a str>,
}

/// One clause as `[action, x, y, g, h, boxes]` (`action`: 0 create, 1 close;
/// `g`/`h` null when dropped).
type ClauseData = (u8, i64, i64, Option<u64>, Option<u64>, Vec<[i64; 2]>);

#[derive(Serialize)]
struct SideData<'a> {
    label: &'a str,
    clauses: Vec<ClauseData>,
    plan: Vec<[i64; 2]>,
    status: Vec<StepStatus>,
    box_frames: Vec<Vec<[i64; 2]>>,
    solved: bool,
    trace_tokens: usize,
    closed_cells: usize,
    issues: Vec<String>,
    /// The raw tokens, and the token range of each clause and plan step.
    tokens: Vec<String>,
    clause_tokens: Vec<[usize; 2]>,
    plan_tokens: Vec<[usize; 2]>,
}

fn xy(c: Cell) -> [i64; 2] {
    [c.x, c.y]
}

fn side<'a>(label: &'a str, board: &Board, s: &Search) -> SideData<'a> {
    let check = check_plan(board, &s.plan);
    let raw = s.raw_tokens(matches!(board, Board::Sokoban(_)));
    let (ranks, _) = crate::svg::close_ranks(board, s);
    SideData {
        label,
        clauses: s
            .clauses
            .iter()
            .map(|c| {
                (
                    u8::from(c.action == planform_trace::astar::Action::Close),
                    c.cell.x,
                    c.cell.y,
                    c.g,
                    c.h,
                    c.boxes.iter().map(|&b| xy(b)).collect(),
                )
            })
            .collect(),
        plan: s.plan.iter().map(|&c| xy(c)).collect(),
        status: check.steps,
        box_frames: check
            .box_frames
            .iter()
            .map(|f| f.iter().map(|&b| xy(b)).collect())
            .collect(),
        solved: check.solved,
        trace_tokens: s.reasoning_tokens(matches!(board, Board::Sokoban(_))),
        closed_cells: ranks.len(),
        issues: s
            .issues
            .iter()
            .map(|i| format!("token {}: {}", i.token, i.message))
            .collect(),
        tokens: raw.tokens,
        clause_tokens: raw.clauses,
        plan_tokens: raw.plan,
    }
}

fn task_data(t: &ViewerTask) -> TaskData<'_> {
    let cells =
        |v: &[planform_trace::grid::Pos]| v.iter().map(|&p| xy(Cell::from(p))).collect::<Vec<_>>();
    let mut sides = vec![side("A*", &t.board, &t.reference)];
    if let Some(m) = &t.model {
        sides.push(side(&t.model_label, &t.board, m));
    }
    let (goal, boxes, docks) = match &t.board {
        Board::Maze(m) => (Some(xy(Cell::from(m.goal()))), Vec::new(), Vec::new()),
        Board::Sokoban(s) => (None, cells(s.boxes()), cells(s.docks())),
    };
    TaskData {
        name: &t.name,
        domain: t.board.domain_name(),
        width: t.board.width(),
        height: t.board.height(),
        walls: cells(t.board.walls()),
        start: xy(Cell::from(t.board.start())),
        goal,
        boxes,
        docks,
        sides,
        correct: t.correct,
        optimal: t.optimal,
        note: t.note.as_deref(),
    }
}

/// JSON that is safe inside a `<script>` element (no `</`, `<!--`, or
/// U+2028/2029 line separators).
fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// Renders the viewer page. The same input always gives the same bytes.
pub fn render_viewer(input: &ViewerInput) -> String {
    let data = Data {
        title: &input.title,
        ramp: &color::RAMP,
        colors: Colors {
            plan: color::PLAN,
            invalid: color::INVALID,
            created: color::CREATED,
            wall: color::WALL,
            floor: color::FLOOR,
            grid: color::GRID,
            start: color::START,
            goal: color::GOAL,
            r#box: color::BOX,
            box_docked: color::BOX_DOCKED,
            dock: color::DOCK,
        },
        tasks: input.tasks.iter().map(task_data).collect(),
    };
    // Serialising plain structs of strings, numbers and vectors cannot fail.
    let json = serde_json::to_string(&data).unwrap_or_else(|_| "{\"tasks\":[]}".into());
    fill(
        TEMPLATE,
        &[
            ("__PF_TITLE__", &html(&input.title)),
            ("__PF_DATA__", &script_safe(&json)),
        ],
    )
}

/// Replaces placeholders found in `template` itself (never inside inserted values).
fn fill(template: &str, subs: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + subs.iter().map(|s| s.1.len()).sum::<usize>());
    let mut rest = template;
    loop {
        let next = subs
            .iter()
            .filter_map(|(k, v)| rest.find(k).map(|i| (i, *k, *v)))
            .min_by_key(|t| t.0);
        match next {
            Some((i, k, v)) => {
                out.push_str(&rest[..i]);
                out.push_str(v);
                rest = &rest[i + k.len()..];
            }
            None => {
                out.push_str(rest);
                return out;
            }
        }
    }
}

//! Hand-written, deterministic SVG pictures of a board with a search on top.

use std::collections::HashMap;
use std::fmt::Write;

use planform_trace::astar::Action;
use planform_trace::grid::Pos;

use crate::board::{Board, Cell};
use crate::check::{check_plan, StepStatus};
use crate::color;
use crate::search::Search;

/// SVG options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SvgOptions {
    /// Cell side in pixels. Default 28.
    pub cell: u32,
    /// Optional title drawn above the board. Default `None`.
    pub title: Option<String>,
    /// Prefix for element ids (the gradient), so several pictures can be
    /// inlined in one HTML page. Default `"pf"`.
    pub id_prefix: String,
    /// Draw x/y coordinate labels. Default `true`.
    pub axes: bool,
}

impl Default for SvgOptions {
    fn default() -> Self {
        SvgOptions {
            cell: 28,
            title: None,
            id_prefix: "pf".into(),
            axes: true,
        }
    }
}

/// XML-escapes text content and attribute values (the crate's one HTML
/// escaper, [`crate::escape::html`], under its older name).
pub use crate::escape::html as escape;

struct Layout {
    cell: f64,
    ox: f64,
    oy: f64,
    w: u32,
    h: u32,
}

impl Layout {
    fn x(&self, x: u32) -> f64 {
        self.ox + x as f64 * self.cell
    }
    fn y(&self, y: u32) -> f64 {
        self.oy + y as f64 * self.cell
    }
    fn centre(&self, p: Pos) -> (f64, f64) {
        (self.x(p.x) + self.cell / 2.0, self.y(p.y) + self.cell / 2.0)
    }
    fn rect(&self, out: &mut String, p: Pos, inset: f64, attrs: &str) {
        let s = self.cell - 2.0 * inset;
        let _ = writeln!(
            out,
            r#"<rect x="{:.1}" y="{:.1}" width="{s:.1}" height="{s:.1}" {attrs}/>"#,
            self.x(p.x) + inset,
            self.y(p.y) + inset
        );
    }
}

/// First-close rank of every in-board cell that was closed, and the set of
/// cells that were created but never closed.
pub(crate) fn close_ranks(board: &Board, search: &Search) -> (HashMap<Pos, usize>, Vec<Pos>) {
    let mut rank = HashMap::new();
    for c in search.clauses.iter().filter(|c| c.action == Action::Close) {
        if let Some(p) = board.pos(c.cell) {
            let n = rank.len();
            rank.entry(p).or_insert(n);
        }
    }
    let mut created: Vec<Pos> = search
        .clauses
        .iter()
        .filter(|c| c.action == Action::Create)
        .filter_map(|c| board.pos(c.cell))
        .filter(|p| !rank.contains_key(p))
        .collect();
    created.sort_by_key(|p| (p.y, p.x));
    created.dedup();
    (rank, created)
}

/// Renders `board` with an optional search (an A* trace or a model response).
///
/// Cells closed by the search are shaded on [`color::RAMP`] by the order of
/// their *first* close (Sokoban: the worker cell of each closed state);
/// created-but-never-closed cells get a dashed orange outline; the plan is a
/// dark polyline through cell centres, and every invalid plan step (see
/// [`check_plan`]) is a red dashed segment plus a red cross. Steps off the
/// board cannot be placed and are counted in the caption. The same input
/// always gives the same bytes.
pub fn render_svg(board: &Board, search: Option<&Search>, opts: &SvgOptions) -> String {
    let cell = opts.cell.max(4) as f64;
    let font = (cell * 0.45).clamp(8.0, 14.0);
    let (w, h) = (board.width(), board.height());
    let title_h = if opts.title.is_some() { 26.0 } else { 0.0 };
    let axis = if opts.axes { font * 2.2 } else { 0.0 };
    let lay = Layout {
        cell,
        ox: 10.0 + axis,
        oy: 10.0 + title_h + axis,
        w,
        h,
    };
    let grid_w = w as f64 * cell;
    // Object row (start/goal or Sokoban objects), then the search legend and caption.
    let legend_h = if search.is_some() { 86.0 } else { 30.0 };
    let min_w = if search.is_some() { 430.0 } else { 120.0 };
    let width = (lay.ox + grid_w + 10.0).max(min_w).ceil();
    let height = (lay.oy + h as f64 * cell + legend_h + 10.0).ceil();
    let id = escape(&opts.id_prefix);

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="{font:.1}">"#
    );
    out.push_str("<defs>");
    let _ = write!(
        out,
        r#"<linearGradient id="{id}-ramp" x1="0" x2="1" y1="0" y2="0">"#
    );
    for (i, c) in color::RAMP.iter().enumerate() {
        let _ = write!(
            out,
            r#"<stop offset="{:.3}" stop-color="{c}"/>"#,
            i as f64 / (color::RAMP.len() - 1) as f64
        );
    }
    out.push_str("</linearGradient></defs>\n");
    let _ = writeln!(
        out,
        r##"<rect width="{width}" height="{height}" fill="#fafafa"/>"##
    );
    if let Some(t) = &opts.title {
        let _ = writeln!(
            out,
            r#"<text x="10" y="20" font-size="15" font-weight="bold">{}</text>"#,
            escape(t)
        );
    }
    // Floor and walls.
    let _ = writeln!(
        out,
        r#"<rect x="{:.1}" y="{:.1}" width="{grid_w:.1}" height="{:.1}" fill="{}"/>"#,
        lay.ox,
        lay.oy,
        h as f64 * cell,
        color::FLOOR
    );
    for p in board.walls() {
        lay.rect(&mut out, *p, 0.0, &format!(r#"fill="{}""#, color::WALL));
    }
    // Search shading.
    let (ranks, created) = match search {
        Some(s) => close_ranks(board, s),
        None => (HashMap::new(), Vec::new()),
    };
    let mut ranked: Vec<(&Pos, &usize)> = ranks.iter().collect();
    ranked.sort_by_key(|(_, r)| **r);
    for (p, r) in &ranked {
        let fill = color::ramp_rank(**r, ranked.len());
        lay.rect(&mut out, **p, 0.0, &format!(r#"fill="{fill}""#));
    }
    for p in &created {
        lay.rect(
            &mut out,
            *p,
            cell * 0.12,
            &format!(
                r#"fill="none" stroke="{}" stroke-width="2" stroke-dasharray="3 2""#,
                color::CREATED
            ),
        );
    }
    grid_lines(&mut out, &lay);
    if opts.axes {
        axes(&mut out, &lay, font);
    }
    objects(&mut out, board, &lay, search);
    let mut caption = Vec::new();
    let mut crosses = String::new();
    let off = search.map_or(0, |s| {
        plan_lines(&mut out, &mut crosses, board, &lay, &s.plan)
    });
    markers(&mut out, board, &lay);
    out.push_str(&crosses);
    object_legend(&mut out, board, lay.y(lay.h) + 10.0);
    if let Some(s) = search {
        legend(&mut out, &lay, &id, ranked.len(), width);
        caption.push(format!(
            "trace {} clauses ({} closed cells), plan {} cells",
            s.clauses.len(),
            ranked.len(),
            s.plan.len()
        ));
        let check = check_plan(board, &s.plan);
        if check.invalid() > 0 {
            caption.push(format!("{} invalid steps", check.invalid()));
        }
        if off > 0 {
            caption.push(format!("{off} off board, not drawn"));
        }
        if !s.issues.is_empty() {
            caption.push(format!("{} parse issues", s.issues.len()));
        }
        let _ = writeln!(
            out,
            r##"<text x="10" y="{:.1}" font-size="11" fill="#333">{}</text>"##,
            height - 8.0,
            escape(&caption.join("; "))
        );
    }
    out.push_str("</svg>\n");
    out
}

fn grid_lines(out: &mut String, lay: &Layout) {
    let mut d = String::new();
    let (x1, y1) = (lay.x(lay.w), lay.y(lay.h));
    for x in 0..=lay.w {
        let _ = write!(d, "M{:.1} {:.1}V{:.1}", lay.x(x), lay.oy, y1);
    }
    for y in 0..=lay.h {
        let _ = write!(d, "M{:.1} {:.1}H{:.1}", lay.ox, lay.y(y), x1);
    }
    let _ = writeln!(
        out,
        r#"<path d="{d}" stroke="{}" stroke-width="0.6" fill="none"/>"#,
        color::GRID
    );
}

fn axes(out: &mut String, lay: &Layout, font: f64) {
    let step = if lay.cell < font * 1.2 { 5 } else { 1 };
    for x in (0..lay.w).step_by(step) {
        let (cx, _) = lay.centre(Pos::new(x, 0));
        let _ = writeln!(
            out,
            r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" fill="#666">{x}</text>"##,
            lay.oy - font * 0.5
        );
    }
    for y in (0..lay.h).step_by(step) {
        let (_, cy) = lay.centre(Pos::new(0, y));
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#666">{y}</text>"##,
            lay.ox - font * 0.4,
            cy + font * 0.35
        );
    }
}

/// Start/goal (maze) or worker (Sokoban) discs, drawn on top of the plan.
fn markers(out: &mut String, board: &Board, lay: &Layout) {
    let r = lay.cell * 0.32;
    let label = |out: &mut String, p: Pos, fill: &str, text: &str| {
        let (cx, cy) = lay.centre(p);
        let _ = writeln!(
            out,
            r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="{r:.1}" fill="{fill}" stroke="white" stroke-width="1.5"/>"#
        );
        let _ = writeln!(
            out,
            r#"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" font-size="{:.1}" font-weight="bold" fill="white">{text}</text>"#,
            cy + r * 0.45,
            r * 1.25
        );
    };
    match board {
        Board::Maze(m) => {
            label(out, m.start(), color::START, "S");
            label(out, m.goal(), color::GOAL, "G");
        }
        Board::Sokoban(s) => label(out, s.worker(), color::START, "W"),
    }
}

/// A dock: a purple target (ring and centre dot) centred at `(cx, cy)` in a
/// cell of side `size` — round, so it cannot be read as the square "created"
/// outline or a box.
fn dock_glyph(out: &mut String, cx: f64, cy: f64, size: f64) {
    let _ = writeln!(
        out,
        r#"<circle class="dock" cx="{cx:.1}" cy="{cy:.1}" r="{:.1}" fill="none" stroke="{d}" stroke-width="{:.1}"/><circle cx="{cx:.1}" cy="{cy:.1}" r="{:.1}" fill="{d}"/>"#,
        size * 0.3,
        (size * 0.08).max(1.5),
        size * 0.08,
        d = color::DOCK
    );
}

/// A box: a filled crate (square with a cross) at the cell whose top-left is
/// `(x, y)`; on a dock it is gold with the dock's ring on top.
fn box_glyph(out: &mut String, x: f64, y: f64, size: f64, docked: bool) {
    let k = size * 0.18;
    let s = size - 2.0 * k;
    let fill = if docked {
        color::BOX_DOCKED
    } else {
        color::BOX
    };
    let (x0, y0, x1, y1) = (x + k, y + k, x + k + s, y + k + s);
    let _ = writeln!(
        out,
        r##"<rect class="{}" x="{x0:.1}" y="{y0:.1}" width="{s:.1}" height="{s:.1}" fill="{fill}" stroke="#4e342e" stroke-width="1.5"/><path d="M{x0:.1} {y0:.1}L{x1:.1} {y1:.1}M{x0:.1} {y1:.1}L{x1:.1} {y0:.1}" stroke="#4e342e" stroke-width="1" opacity="0.6"/>"##,
        if docked { "box-on-dock" } else { "box" }
    );
    if docked {
        let _ = writeln!(
            out,
            r#"<circle cx="{:.1}" cy="{:.1}" r="{:.1}" fill="none" stroke="{}" stroke-width="{:.1}"/>"#,
            x + size / 2.0,
            y + size / 2.0,
            size * 0.17,
            color::DOCK,
            (size * 0.07).max(1.2)
        );
    }
}

/// Sokoban docks, boxes and (dashed) final box cells after the plan.
fn objects(out: &mut String, board: &Board, lay: &Layout, search: Option<&Search>) {
    let Board::Sokoban(s) = board else {
        return;
    };
    for d in s.docks() {
        if !s.boxes().contains(d) {
            let (cx, cy) = lay.centre(*d);
            dock_glyph(out, cx, cy, lay.cell);
        }
    }
    for b in s.boxes() {
        box_glyph(out, lay.x(b.x), lay.y(b.y), lay.cell, board.is_dock(*b));
    }
    if let Some(search) = search {
        let check = check_plan(board, &search.plan);
        for b in &check.final_boxes {
            if let Some(p) = board.pos(*b) {
                if !s.boxes().contains(&p) {
                    lay.rect(
                        out,
                        p,
                        lay.cell * 0.18,
                        &format!(
                            r#"fill="none" stroke="{}" stroke-width="1.5" stroke-dasharray="3 2""#,
                            color::BOX
                        ),
                    );
                }
            }
        }
    }
}

/// A point in SVG user units.
type Pt = (f64, f64);

/// Draws the plan into `out` and red crosses at invalid steps into `crosses`
/// (drawn later, above the markers); returns the number of off-board steps.
fn plan_lines(
    out: &mut String,
    crosses: &mut String,
    board: &Board,
    lay: &Layout,
    plan: &[Cell],
) -> usize {
    let check = check_plan(board, plan);
    let sw = (lay.cell * 0.16).max(1.5);
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut run: Vec<(f64, f64)> = Vec::new();
    let mut bad: Vec<(Option<Pt>, Pt)> = Vec::new();
    let mut prev: Option<(f64, f64)> = None;
    let mut off = 0;
    for (c, st) in plan.iter().zip(&check.steps) {
        let Some(p) = board.pos(*c) else {
            off += 1;
            runs.push(std::mem::take(&mut run));
            prev = None;
            continue;
        };
        let pt = lay.centre(p);
        if *st == StepStatus::Ok {
            if run.is_empty() {
                if let Some(q) = prev {
                    run.push(q);
                }
            }
            run.push(pt);
        } else {
            runs.push(std::mem::take(&mut run));
            bad.push((prev, pt));
            run.push(pt);
        }
        prev = Some(pt);
    }
    runs.push(run);
    for r in runs.iter().filter(|r| r.len() >= 2) {
        let pts: Vec<String> = r.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = writeln!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="{sw:.1}" stroke-linecap="round" stroke-linejoin="round" opacity="0.85"/>"#,
            pts.join(" "),
            color::PLAN
        );
    }
    let k = lay.cell * 0.22;
    for (from, (x, y)) in bad {
        if let Some((fx, fy)) = from {
            let _ = writeln!(
                out,
                r#"<line x1="{fx:.1}" y1="{fy:.1}" x2="{x:.1}" y2="{y:.1}" stroke="{}" stroke-width="{sw:.1}" stroke-dasharray="4 3"/>"#,
                color::INVALID
            );
        }
        let _ = writeln!(
            crosses,
            r#"<path d="M{:.1} {:.1}L{:.1} {:.1}M{:.1} {:.1}L{:.1} {:.1}" stroke="{}" stroke-width="{:.1}"/>"#,
            x - k,
            y - k,
            x + k,
            y + k,
            x - k,
            y + k,
            x + k,
            y - k,
            color::INVALID,
            sw * 1.2
        );
    }
    off
}

/// The board's objects, one legend row at `y`: start/goal (maze) or worker,
/// box, dock and box on dock (Sokoban).
fn object_legend(out: &mut String, board: &Board, y: f64) {
    let disc = |out: &mut String, x: f64, fill: &str, letter: &str, name: &str| {
        let _ = writeln!(
            out,
            r#"<circle cx="{:.1}" cy="{:.1}" r="6" fill="{fill}"/><text x="{:.1}" y="{:.1}" font-size="8" font-weight="bold" fill="white" text-anchor="middle">{letter}</text><text x="{:.1}" y="{:.1}" font-size="10">{name}</text>"#,
            x + 6.0,
            y + 6.0,
            x + 6.0,
            y + 9.0,
            x + 16.0,
            y + 10.0
        );
    };
    let label = |out: &mut String, x: f64, name: &str| {
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-size="10">{name}</text>"#,
            x + 18.0,
            y + 10.0
        );
    };
    match board {
        Board::Maze(_) => {
            disc(out, 10.0, color::START, "S", "start");
            disc(out, 64.0, color::GOAL, "G", "goal");
        }
        Board::Sokoban(_) => {
            disc(out, 10.0, color::START, "W", "worker");
            box_glyph(out, 72.0 - 2.0, y - 2.0, 16.0, false);
            label(out, 72.0, "box");
            dock_glyph(out, 118.0 + 6.0, y + 6.0, 16.0);
            label(out, 118.0, "dock");
            box_glyph(out, 168.0 - 2.0, y - 2.0, 16.0, true);
            label(out, 168.0, "box on dock");
        }
    }
}

fn legend(out: &mut String, lay: &Layout, id: &str, closed: usize, width: f64) {
    let y = lay.y(lay.h) + 34.0;
    let bar_w = 120.0;
    let _ = writeln!(
        out,
        r##"<rect x="10" y="{y:.1}" width="{bar_w}" height="12" fill="url(#{id}-ramp)" stroke="#999" stroke-width="0.5"/>"##
    );
    let _ = writeln!(
        out,
        r#"<text x="10" y="{:.1}" font-size="10">first close</text><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">last ({closed})</text>"#,
        y + 24.0,
        10.0 + bar_w,
        y + 24.0
    );
    let x = 10.0 + bar_w + 14.0;
    if x + 200.0 > width {
        return;
    }
    let _ = writeln!(
        out,
        r#"<rect x="{x:.1}" y="{:.1}" width="10" height="10" fill="none" stroke="{}" stroke-width="2" stroke-dasharray="3 2"/><text x="{:.1}" y="{:.1}" font-size="10">created</text>"#,
        y + 1.0,
        color::CREATED,
        x + 14.0,
        y + 10.0
    );
    let x2 = x + 64.0;
    let _ = writeln!(
        out,
        r#"<line x1="{x2:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" stroke-width="3"/><text x="{:.1}" y="{:.1}" font-size="10">plan</text>"#,
        y + 6.0,
        x2 + 14.0,
        y + 6.0,
        color::PLAN,
        x2 + 18.0,
        y + 10.0
    );
    let x3 = x2 + 50.0;
    let _ = writeln!(
        out,
        r#"<line x1="{x3:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" stroke-width="3" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" font-size="10">invalid</text>"#,
        y + 6.0,
        x3 + 14.0,
        y + 6.0,
        color::INVALID,
        x3 + 18.0,
        y + 10.0
    );
}

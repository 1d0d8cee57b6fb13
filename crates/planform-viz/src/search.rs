//! A search to draw: trace clauses and a plan, from typed A* traces or from
//! (possibly malformed) model token strings.
//!
//! Token grammar accepted by [`Search::parse`] (reference `SimpleMazeTokenizer`
//! and `WithBoxSokobanTokenizer`, plus the Dualformer reductions):
//!
//! * clause: `create|close [worker] x y (box x y)* [cG [cH]]` — costs may be
//!   missing (Dualformer levels 2–3), `close` clauses may be absent entirely;
//! * plan: `plan x y`, repeated.
//!
//! Parsing never fails: malformed pieces are skipped and reported as
//! [`ParseIssue`]s so that a model's broken response can still be drawn. Plan
//! steps are delimited by the `plan` keyword (re-synchronising after a broken
//! step), which is more forgiving than the reference evaluator's triplet
//! reading; correctness scoring is not this crate's job.

use planform_trace::astar::Action;
use planform_trace::grid::Pos;
use planform_trace::task::TaskTrace;
use planform_trace::trace::Trace;
use serde::Serialize;

use crate::board::{Board, Cell};

/// One `create`/`close` clause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Clause {
    /// `create` or `close`.
    #[serde(serialize_with = "ser_action")]
    pub action: Action,
    /// The maze cell, or the Sokoban worker cell.
    pub cell: Cell,
    /// Sokoban boxes listed in the clause (boxes on docks are not listed by
    /// the reference tokenizer); empty for mazes.
    pub boxes: Vec<Cell>,
    /// Cost from start, when present.
    pub g: Option<u64>,
    /// Heuristic, when present.
    pub h: Option<u64>,
}

fn ser_action<S: serde::Serializer>(a: &Action, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(action_name(*a))
}

/// `create` / `close`.
pub fn action_name(a: Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Close => "close",
    }
}

/// A part of a token sequence that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParseIssue {
    /// Index of the first offending token in the input.
    pub token: usize,
    /// What is wrong.
    pub message: String,
}

/// The raw token sequence a [`Search`] was parsed from, and where each clause
/// and plan step sits in it (half-open token ranges `[start, end)`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RawTokens {
    /// Every token, as given (including `bos`, `eos` and unreadable ones).
    pub tokens: Vec<String>,
    /// The token range of each clause of [`Search::clauses`].
    pub clauses: Vec<[usize; 2]>,
    /// The token range of each step of [`Search::plan`].
    pub plan: Vec<[usize; 2]>,
}

/// Trace clauses and a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Search {
    /// Clauses in order.
    pub clauses: Vec<Clause>,
    /// Plan cells (maze cell / Sokoban worker), start to goal.
    pub plan: Vec<Cell>,
    /// What could not be parsed (empty for typed traces).
    pub issues: Vec<ParseIssue>,
    /// The tokens it was parsed from ([`Search::parse`]); `None` for typed
    /// traces (see [`Search::raw_tokens`]).
    pub raw: Option<RawTokens>,
}

impl Search {
    /// From a typed maze A* trace.
    pub fn from_maze_trace(trace: &Trace<Pos>) -> Self {
        Search::from_trace(trace, |p| (Cell::from(*p), Vec::new()))
    }

    /// From a typed trace of either domain. Sokoban clauses list only the
    /// boxes that are not on a dock of `board`, as the reference tokenizer
    /// writes them (so [`Search::reasoning_tokens`] matches the token count).
    pub fn from_task_trace(trace: &TaskTrace, board: &Board) -> Self {
        match trace {
            TaskTrace::Maze(t) => Search::from_maze_trace(t),
            TaskTrace::Sokoban(t) => {
                Search::from_trace(t, |s| {
                    let mut boxes: Vec<Cell> = s
                        .boxes
                        .iter()
                        .filter(|b| !board.is_dock(**b))
                        .map(|&b| Cell::from(b))
                        .collect();
                    // Reference clause order: sorted by the string "x-y".
                    boxes.sort_by_cached_key(|c| format!("{}-{}", c.x, c.y));
                    (Cell::from(s.worker), boxes)
                })
            }
        }
    }

    /// From any typed trace, given how to split a state into the agent cell
    /// and the listed boxes (for Sokoban: the worker and the boxes not on docks).
    pub fn from_trace<S>(trace: &Trace<S>, split: impl Fn(&S) -> (Cell, Vec<Cell>)) -> Self {
        let clauses = trace
            .steps
            .iter()
            .map(|s| {
                let (cell, boxes) = split(&s.state);
                Clause {
                    action: s.action,
                    cell,
                    boxes,
                    g: Some(s.g as u64),
                    h: Some(s.h as u64),
                }
            })
            .collect();
        let plan = trace.plan.iter().map(|s| split(s).0).collect();
        Search {
            clauses,
            plan,
            issues: Vec::new(),
            raw: None,
        }
    }

    /// The token sequence of this search: the parsed tokens when it was
    /// parsed, else the reference tokenization of its clauses and plan
    /// (`create|close [worker] x y (box x y)* [cG [cH]]`, `plan x y`; with
    /// `worker` and boxes when `sokoban`).
    pub fn raw_tokens(&self, sokoban: bool) -> RawTokens {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        let mut out = RawTokens::default();
        for c in &self.clauses {
            let start = out.tokens.len();
            out.tokens.push(action_name(c.action).to_string());
            if sokoban {
                out.tokens.push("worker".into());
            }
            out.tokens
                .extend([c.cell.x.to_string(), c.cell.y.to_string()]);
            for b in &c.boxes {
                out.tokens
                    .extend(["box".to_string(), b.x.to_string(), b.y.to_string()]);
            }
            out.tokens
                .extend(c.g.iter().chain(&c.h).map(|v| format!("c{v}")));
            out.clauses.push([start, out.tokens.len()]);
        }
        for p in &self.plan {
            let start = out.tokens.len();
            out.tokens
                .extend(["plan".to_string(), p.x.to_string(), p.y.to_string()]);
            out.plan.push([start, out.tokens.len()]);
        }
        out
    }

    /// Parses a token sequence: an optional leading `bos`, the reasoning, the
    /// plan, and an optional `eos` (anything after the first `eos` is ignored
    /// and reported). Works for the reasoning alone, the plan alone, or both.
    pub fn parse<S: AsRef<str>>(tokens: &[S]) -> Self {
        let toks: Vec<&str> = tokens.iter().map(|t| t.as_ref()).collect();
        let mut out = Search {
            raw: Some(RawTokens {
                tokens: toks.iter().map(|t| t.to_string()).collect(),
                ..RawTokens::default()
            }),
            ..Search::default()
        };
        let mut i = usize::from(toks.first() == Some(&"bos"));
        let end = toks.iter().position(|t| *t == "eos").unwrap_or(toks.len());
        while i < end {
            let seg_end = (i + 1..end).find(|&j| is_keyword(toks[j])).unwrap_or(end);
            let seg = &toks[i..seg_end];
            match seg[0] {
                "create" | "close" => out.clause(i, seg),
                "plan" => out.plan_step(i, seg),
                other => out.issue(
                    i,
                    format!("stray token {other:?} ({} tokens skipped)", seg.len()),
                ),
            }
            i = seg_end;
        }
        if end + 1 < toks.len() {
            out.issue(
                end + 1,
                format!("{} tokens after `eos` ignored", toks.len() - end - 1),
            );
        }
        out
    }

    fn issue(&mut self, token: usize, message: String) {
        self.issues.push(ParseIssue { token, message });
    }

    fn clause(&mut self, at: usize, seg: &[&str]) {
        if !self.plan.is_empty() {
            self.issue(at, format!("`{}` clause after the plan started", seg[0]));
        }
        match read_clause(seg) {
            Ok(c) => {
                self.clauses.push(c);
                if let Some(raw) = &mut self.raw {
                    raw.clauses.push([at, at + seg.len()]);
                }
            }
            Err(why) => self.issue(at, format!("malformed clause `{}`: {why}", seg.join(" "))),
        }
    }

    fn plan_step(&mut self, at: usize, seg: &[&str]) {
        match seg {
            [_, x, y] => match (num(x), num(y)) {
                (Some(x), Some(y)) => {
                    self.plan.push(Cell::new(x, y));
                    if let Some(raw) = &mut self.raw {
                        raw.plan.push([at, at + 3]);
                    }
                }
                _ => self.issue(at, format!("malformed plan step `{}`", seg.join(" "))),
            },
            _ => self.issue(
                at,
                format!("malformed plan step `{}` (want `plan x y`)", seg.join(" ")),
            ),
        }
    }

    /// Number of `close` clauses.
    pub fn closes(&self) -> usize {
        self.clauses
            .iter()
            .filter(|c| c.action == Action::Close)
            .count()
    }

    /// Reasoning length in tokens as the reference tokenizer would write these
    /// clauses (keyword, optional `worker`, coordinates, boxes, costs).
    pub fn reasoning_tokens(&self, sokoban: bool) -> usize {
        self.clauses
            .iter()
            .map(|c| {
                1 + usize::from(sokoban)
                    + 2
                    + 3 * c.boxes.len()
                    + usize::from(c.g.is_some())
                    + usize::from(c.h.is_some())
            })
            .sum()
    }
}

fn is_keyword(t: &str) -> bool {
    matches!(t, "create" | "close" | "plan")
}

fn num(t: &str) -> Option<i64> {
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

fn cost(t: &str) -> Option<u64> {
    t.strip_prefix('c').and_then(num).map(|v| v as u64)
}

fn read_clause(seg: &[&str]) -> std::result::Result<Clause, String> {
    let action = if seg[0] == "create" {
        Action::Create
    } else {
        Action::Close
    };
    let mut i = 1;
    if seg.get(i) == Some(&"worker") {
        i += 1;
    }
    let xy = |i: usize| -> std::result::Result<Cell, String> {
        match (seg.get(i).copied(), seg.get(i + 1).copied()) {
            (Some(a), Some(b)) => match (num(a), num(b)) {
                (Some(x), Some(y)) => Ok(Cell::new(x, y)),
                _ => Err(format!("`{a} {b}` is not a coordinate pair")),
            },
            _ => Err("missing coordinates".to_string()),
        }
    };
    let cell = xy(i)?;
    i += 2;
    let mut boxes = Vec::new();
    while seg.get(i) == Some(&"box") {
        boxes.push(xy(i + 1)?);
        i += 3;
    }
    let mut costs = Vec::new();
    while let Some(t) = seg.get(i) {
        match cost(t) {
            Some(c) if costs.len() < 2 => costs.push(c),
            _ => return Err(format!("unexpected token {t:?}")),
        }
        i += 1;
    }
    Ok(Clause {
        action,
        cell,
        boxes,
        g: costs.first().copied(),
        h: costs.get(1).copied(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<&str> {
        s.split_whitespace().collect()
    }

    #[test]
    fn parses_full_and_dropped_maze_traces() {
        let s = Search::parse(&toks(
            "bos create 0 0 c0 c2 close 0 0 c0 c2 create 1 0 create 2 0 c5 plan 0 0 plan 1 0 eos",
        ));
        assert!(s.issues.is_empty(), "{:?}", s.issues);
        assert_eq!(s.clauses.len(), 4);
        assert_eq!(s.clauses[1].action, Action::Close);
        assert_eq!((s.clauses[0].g, s.clauses[0].h), (Some(0), Some(2)));
        assert_eq!((s.clauses[2].g, s.clauses[2].h), (None, None));
        assert_eq!((s.clauses[3].g, s.clauses[3].h), (Some(5), None));
        assert_eq!(s.plan, vec![Cell::new(0, 0), Cell::new(1, 0)]);
        assert_eq!(s.closes(), 1);
        // 5 + 5 + 3 + 4 tokens.
        assert_eq!(s.reasoning_tokens(false), 17);
    }

    #[test]
    fn parses_sokoban_clauses() {
        let s = Search::parse(&toks(
            "create worker 2 3 box 2 4 box 3 4 c0 c3 close worker 2 3 c0 c0 plan 2 3",
        ));
        assert!(s.issues.is_empty(), "{:?}", s.issues);
        assert_eq!(s.clauses[0].cell, Cell::new(2, 3));
        assert_eq!(s.clauses[0].boxes, vec![Cell::new(2, 4), Cell::new(3, 4)]);
        assert!(s.clauses[1].boxes.is_empty());
        assert_eq!(s.reasoning_tokens(true), 12 + 6);
    }

    #[test]
    fn malformed_pieces_become_issues() {
        let s = Search::parse(&toks(
            "junk create 1 c2 close 1 1 c1 c1 c1 create 4 4 plan 0 plan 1 1 wall 3 plan 2 1 eos plan 9 9",
        ));
        // junk, create 1 c2, close with 3 costs, `plan 0`, `plan 1 1 wall 3`, after-eos.
        assert_eq!(s.issues.len(), 6, "{:?}", s.issues);
        assert_eq!(s.clauses.len(), 1);
        assert_eq!(s.plan, vec![Cell::new(2, 1)]);
        let at: Vec<usize> = s.issues.iter().map(|i| i.token).collect();
        assert_eq!(at, vec![0, 1, 4, 13, 15, 24]);
    }

    #[test]
    fn raw_tokens_locate_clauses_and_steps() {
        let t = toks("bos junk create 0 0 c0 c2 close 0 0 c0 c2 plan 0 0 plan 1 eos");
        let s = Search::parse(&t);
        let raw = s.raw.clone().unwrap();
        assert_eq!(raw.tokens.len(), t.len());
        assert_eq!(raw.clauses, vec![[2, 7], [7, 12]]);
        assert_eq!(raw.plan, vec![[12, 15]]);
        assert_eq!(&raw.tokens[12..15], ["plan", "0", "0"]);
        // A typed search gets the reference tokenization.
        let typed = Search {
            raw: None,
            ..s.clone()
        };
        let r = typed.raw_tokens(false);
        assert_eq!(
            r.tokens.join(" "),
            "create 0 0 c0 c2 close 0 0 c0 c2 plan 0 0"
        );
        assert_eq!((r.clauses, r.plan), (vec![[0, 5], [5, 10]], vec![[10, 13]]));
        let sok = Search::parse(&toks("create worker 2 3 box 2 4 c0 c3 plan 2 3"));
        let r = Search { raw: None, ..sok }.raw_tokens(true);
        assert_eq!(
            r.tokens.join(" "),
            "create worker 2 3 box 2 4 c0 c3 plan 2 3"
        );
    }

    #[test]
    fn out_of_range_numbers_are_kept() {
        let s = Search::parse(&toks("plan 0 0 plan 99 1234"));
        assert_eq!(s.plan[1], Cell::new(99, 1234));
    }
}

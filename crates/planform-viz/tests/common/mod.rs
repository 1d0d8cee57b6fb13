//! Shared fixtures for the integration tests.
#![allow(dead_code)]

use planform_trace::astar::SearchMode;
use planform_trace::grid::Pos;
use planform_trace::maze::MazeTask;
use planform_trace::rng::Rng;
use planform_viz::{Board, Search, SokobanLevel};

/// Reference fixture `test/trace_maze_walls.json` (searchformer.md, example A):
/// 3×3, start (0,0), goal (0,2), walls (0,1), (1,1).
pub fn example_a_task() -> MazeTask {
    MazeTask::new(
        3,
        3,
        Pos::new(0, 0),
        Pos::new(0, 2),
        vec![Pos::new(0, 1), Pos::new(1, 1)],
    )
    .unwrap()
}

/// Example A decoder tokens, hand-tokenized in searchformer.md.
pub const EXAMPLE_A_TOKENS: &str =
    "bos create 0 0 c0 c2 close 0 0 c0 c2 create 1 0 c1 c3 close 1 0 c1 c3 \
    create 2 0 c2 c4 close 2 0 c2 c4 create 2 1 c3 c3 close 2 1 c3 c3 \
    create 2 2 c4 c2 close 2 2 c4 c2 create 1 2 c5 c1 close 1 2 c5 c1 \
    create 0 2 c6 c0 close 0 2 c6 c0 \
    plan 0 0 plan 1 0 plan 2 0 plan 2 1 plan 2 2 plan 1 2 plan 0 2 eos";

pub fn tokens(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

/// The first task of the reference golden file `maze-10-det.jsonl`.
pub const GOLDEN_10: &str = include_str!("../data/maze-10-first.json");

pub fn golden_10() -> (Board, Search) {
    let task = MazeTask::from_json(GOLDEN_10).unwrap();
    let trace = task
        .solve(SearchMode::Deterministic, &mut Rng::new(0))
        .unwrap();
    (Board::Maze(task), Search::from_maze_trace(&trace))
}

/// Golden reasoning + plan tokens of `GOLDEN_10`.
pub fn golden_10_tokens() -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(GOLDEN_10).unwrap();
    let mut out = Vec::new();
    for k in ["reasoning", "plan"] {
        for t in v[k].as_array().unwrap() {
            out.push(t.as_str().unwrap().to_string());
        }
    }
    out
}

/// A Sokoban level with a trace from a simple A* (see `data/gen_sokoban_fixture.py`).
pub fn sokoban() -> (Board, Search) {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../data/sokoban-7722.json")).unwrap();
    let board = SokobanLevel::from_ascii(v["level"].as_str().unwrap()).unwrap();
    let mut toks: Vec<String> = Vec::new();
    for k in ["reasoning", "plan"] {
        for t in v[k].as_array().unwrap() {
            toks.push(t.as_str().unwrap().to_string());
        }
    }
    (Board::Sokoban(board), Search::parse(&toks))
}

/// A broken model response for `golden_10`: a Dualformer-style trace (no
/// closes, some costs dropped) and a plan that jumps, hits a wall and leaves
/// the board.
pub fn broken_model_response() -> Vec<String> {
    "bos create 5 7 c0 c3 create 5 8 create 4 7 c1 create 5 9 c2 c5 bogus 1 \
     plan 5 7 plan 5 8 plan 6 8 plan 7 8 plan 7 7 plan 9 9 plan 12 3 plan 5 4 eos"
        .split_whitespace()
        .map(String::from)
        .collect()
}

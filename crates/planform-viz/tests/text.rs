//! Terminal rendering against hand-worked examples.

mod common;

use common::*;
use planform_trace::astar::SearchMode;
use planform_trace::rng::Rng;
use planform_viz::{render_board, render_listing, Board, Search, TextOptions};

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\x1b' {
            for d in it.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn example_a() -> (Board, Search) {
    let task = example_a_task();
    let trace = task
        .solve(SearchMode::Deterministic, &mut Rng::new(0))
        .unwrap();
    (Board::Maze(task), Search::from_maze_trace(&trace))
}

#[test]
fn typed_trace_equals_parsed_reference_tokens() {
    // The typed A* trace and the hand-tokenized reference sequence describe the same search.
    let (_, typed) = example_a();
    let parsed = Search::parse(&tokens(EXAMPLE_A_TOKENS));
    assert!(parsed.issues.is_empty(), "{:?}", parsed.issues);
    assert_eq!(typed, without_raw(&parsed));
    let (_, golden) = golden_10();
    let golden_parsed = Search::parse(&golden_10_tokens());
    assert_eq!(golden, without_raw(&golden_parsed));
    // The typed trace's token view is the reference tokenization, range for range.
    assert_eq!(golden.raw_tokens(false), golden_parsed.raw.unwrap());
    let a = typed.raw_tokens(false);
    let p = parsed.raw.unwrap();
    assert_eq!(
        a.tokens[..],
        p.tokens[1..p.tokens.len() - 1],
        "bos/eos aside"
    );
}

/// The parsed search without its raw tokens (a typed trace has none).
fn without_raw(s: &Search) -> Search {
    Search {
        raw: None,
        ..s.clone()
    }
}

#[test]
fn maze_grid_example_a() {
    let (board, search) = example_a();
    let plain = render_board(&board, Some(&search), &TextOptions::default());
    let want = "maze 3x3  start (0, 0)  goal (0, 2)\n  0 1 2\n0 S * *\n1 # # *\n2 G * *\n\
                # wall  . free  S start  G goal  * plan  ! invalid plan step  o closed  + created\n\
                plan: 7 cells, 0 invalid (0 off board); trace: 14 clauses, 7 closed\n";
    assert_eq!(plain, want);
    let color = render_board(
        &board,
        Some(&search),
        &TextOptions {
            color: true,
            ..Default::default()
        },
    );
    assert!(color.contains("\x1b[1;32m*\x1b[0m"));
    assert_eq!(strip_ansi(&color), plain);
}

#[test]
fn maze_grid_marks_closed_created_and_invalid_cells() {
    let (board, search) = golden_10();
    let out = render_board(&board, Some(&search), &TextOptions::default());
    let grid: Vec<&str> = out.lines().skip(2).take(10).collect();
    let count = |ch: char| {
        grid.iter()
            .map(|l| l[2..].chars().filter(|&c| c == ch).count())
            .sum::<usize>()
    };
    // Independent count: closed cells minus plan cells (start and goal are on the plan).
    let closed: std::collections::HashSet<_> = search
        .clauses
        .iter()
        .filter(|c| c.action == planform_trace::astar::Action::Close)
        .map(|c| c.cell)
        .collect();
    let plan: std::collections::HashSet<_> = search.plan.iter().copied().collect();
    assert_eq!(count('o'), closed.difference(&plan).count());
    assert_eq!(count('*'), plan.len() - 2);
    assert_eq!(count('#'), 35);
    assert_eq!(count('!'), 0);

    let model = Search::parse(&broken_model_response());
    let out = render_board(&board, Some(&model), &TextOptions::default());
    let grid: Vec<&str> = out.lines().skip(2).take(10).collect();
    // (9,9) is a wall -> `!` wins over `#`; (5,4) is the goal (jump) -> stays `G`.
    assert_eq!(grid[9].chars().nth(2 + 2 * 9), Some('!'));
    // `create 5 9 c2 c5 bogus 1` is malformed and skipped.
    assert!(
        out.contains("plan: 8 cells, 3 invalid (1 off board); trace: 3 clauses, 0 closed"),
        "{out}"
    );
    // `create 4 7` is a created-only cell; (5,9) was never created.
    assert_eq!(grid[7].chars().nth(2 + 2 * 4), Some('+'));
    assert_eq!(grid[9].chars().nth(2 + 2 * 5), Some('.'));
}

#[test]
fn listing_example_a() {
    let (board, search) = example_a();
    let out = render_listing(
        &board,
        &search,
        &TextOptions {
            color: false,
            max_clauses: Some(4),
        },
    );
    let want = "trace: 14 clauses (7 create, 7 close), plan: 7 cells\n 0 create (0,0) g=0 h=2\n 1 close  (0,0) g=0 h=2\n\
                \x20  ... 10 clauses elided\n12 create (0,2) g=6 h=0\n13 close  (0,2) g=6 h=0\n\
                plan: (0,0) (1,0) (2,0) (2,1) (2,2) (1,2) (0,2)\n";
    assert_eq!(out, want);
    let model = Search::parse(&tokens("create 0 0 plan 0 0 plan 1 1 plan 9 9 plan 2 junk"));
    let out = render_listing(&board, &model, &TextOptions::default());
    assert!(out.contains("\n0 create (0,0)\n"), "{out}");
    assert!(
        out.contains("plan: (0,0) (1,1)!wall (9,9)!off-board\n"),
        "{out}"
    );
    assert!(
        out.contains("parse issue at token 12: malformed plan step `plan 2 junk`"),
        "{out}"
    );
}

#[test]
fn sokoban_board_and_move_string() {
    let (board, search) = sokoban();
    let out = render_board(&board, Some(&search), &TextOptions::default());
    let level = "#######\n#  .  #\n#  #  #\n# @   #\n# $$. #\n#  #  #\n#######\n";
    // Hand-worked: l d d r, push up, push right, l, push up twice, l, u, push right.
    let want =
        format!("sokoban 7x7\n{level}plan (13 cells): lddrURlUUluR\n0 invalid steps, solved\n");
    assert_eq!(out, want);
    let listing = render_listing(&board, &search, &TextOptions::default());
    assert!(listing.starts_with(&format!("trace: {} clauses", search.clauses.len())));
    assert!(
        listing.contains(" 0 create (2,3) B(2,4) B(3,4) g=0 h=3\n"),
        "{listing}"
    );
    let color = render_board(
        &board,
        Some(&search),
        &TextOptions {
            color: true,
            ..Default::default()
        },
    );
    assert_eq!(strip_ansi(&color), out);
}

#[test]
fn typed_sokoban_trace_equals_parsed_tokens() {
    use planform_trace::task::Task;
    let level = planform_trace::sokoban::SokobanLevel::from_ascii(
        "#######\n#  .  #\n#  #  #\n# @   #\n# $$. #\n#  #  #\n#######",
    )
    .unwrap();
    let task = Task::Sokoban(level);
    let board = Board::from(&task);
    let (sok_board, _) = sokoban();
    assert_eq!(
        board, sok_board,
        "SokobanLevel converts to the same board as the ASCII parser"
    );
    let vocab = task.vocabulary().unwrap();
    for seed in 0..3 {
        let trace = task
            .solve(SearchMode::Nondeterministic, &mut Rng::new(seed))
            .unwrap();
        let typed = Search::from_task_trace(&trace, &board);
        let (seq, _) = task
            .solve_tokens(&vocab, SearchMode::Nondeterministic, &mut Rng::new(seed))
            .unwrap();
        let strings = seq.to_strings(&vocab).unwrap();
        let toks: Vec<&String> = strings.reasoning.iter().chain(&strings.plan).collect();
        let parsed = Search::parse(&toks);
        assert!(parsed.issues.is_empty(), "{:?}", parsed.issues);
        assert_eq!(typed, without_raw(&parsed), "seed {seed}");
        assert_eq!(
            typed.raw_tokens(true),
            parsed.raw.clone().unwrap(),
            "seed {seed}"
        );
        assert_eq!(typed.reasoning_tokens(true), strings.reasoning.len());
        let check = planform_viz::check_plan(&board, &typed.plan);
        assert!(check.solved && check.invalid() == 0);
    }
}

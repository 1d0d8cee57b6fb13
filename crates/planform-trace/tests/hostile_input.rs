//! Inputs that used to be silently reinterpreted or misreported, generated hostile:
//! duplicate JSON keys (serde_json keeps the last), objects with fields of both domains
//! (were solved as mazes), Sokoban levels with more boxes than docks (were reported as
//! "A* cannot solve"), and generator settings that can never finish.

use planform_trace::astar::SearchMode;
use planform_trace::error::Error;
use planform_trace::maze::MazeTask;
use planform_trace::maze_gen::{MazeGenConfig, MazeGenerator, MAX_ATTEMPTS};
use planform_trace::rng::Rng;
use planform_trace::sokoban::SokobanLevel;
use planform_trace::sokoban_gen::SokobanGenConfig;
use planform_trace::sokoban_search::{SokobanSolver, DEFAULT_MAX_EXPANSIONS};
use planform_trace::task::Task;
use planform_trace::vocab::Vocabulary;
use planform_trace::Pos;
use proptest::prelude::*;

const MAZE: &str =
    r#"{"width": 4, "height": 3, "start": [0, 0], "goal": [3, 2], "walls": [[1, 1], [2, 1]]}"#;
const SOKOBAN: &str = r#"{"width": 5, "height": 3, "worker": [1, 1], "boxes": [[2, 1]], "docks": [[3, 1]], "walls": [[0, 0], [1, 0], [2, 0], [3, 0], [4, 0], [0, 1], [4, 1], [0, 2], [1, 2], [2, 2], [3, 2], [4, 2]]}"#;

/// `base` with `"key": value` appended as one more member (a repeat when `key` exists).
fn append_member(base: &str, key: &str, value: &str) -> String {
    let body = base.trim_end().strip_suffix('}').expect("an object");
    format!("{body}, \"{key}\": {value}}}")
}

fn is_json_err(e: &Error, needle: &str) -> bool {
    matches!(e, Error::Json(m) if m.contains(needle))
}

#[test]
fn duplicate_keys_are_errors_in_every_parser() {
    // Same value or a different one, first key or last, known or unknown field.
    for (base, key, value) in [
        (MAZE, "start", "[3, 0]"),
        (MAZE, "start", "[0, 0]"),
        (MAZE, "walls", "[]"),
        (MAZE, "width", "4"),
        (SOKOBAN, "docks", "[[2, 1]]"),
        (SOKOBAN, "worker", "[1, 1]"),
    ] {
        let line = append_member(base, key, value);
        let e = Task::from_json(&line).unwrap_err();
        assert!(is_json_err(&e, "duplicate key"), "{line}: {e}");
        assert!(is_json_err(&e, key), "names the key: {e}");
    }
    let twice = append_member(&append_member(MAZE, "prompt", "[]"), "prompt", "[]");
    assert!(is_json_err(
        &Task::from_json(&twice).unwrap_err(),
        "duplicate key `prompt`"
    ));
    let e = MazeTask::from_json(&append_member(MAZE, "goal", "[3, 1]")).unwrap_err();
    assert!(is_json_err(&e, "duplicate key `goal`"), "{e}");
    let e = SokobanLevel::from_json(&append_member(SOKOBAN, "boxes", "[]")).unwrap_err();
    assert!(is_json_err(&e, "duplicate key `boxes`"), "{e}");
    // Through serde as well (e.g. a Task inside another JSON document).
    let e = serde_json::from_str::<Task>(&append_member(MAZE, "goal", "[3, 1]")).unwrap_err();
    assert!(e.to_string().contains("duplicate key"), "{e}");
}

#[test]
fn fields_of_both_domains_are_errors() {
    let mixed = [
        append_member(MAZE, "worker", "[1, 1]"),
        append_member(MAZE, "boxes", "[]"),
        append_member(MAZE, "docks", "[[2, 0]]"),
        append_member(SOKOBAN, "start", "[1, 1]"),
        append_member(SOKOBAN, "goal", "[3, 1]"),
    ];
    for line in &mixed {
        let e = Task::from_json(line).unwrap_err();
        assert!(
            is_json_err(&e, "maze fields") && is_json_err(&e, "Sokoban fields"),
            "{line}: {e}"
        );
        assert!(MazeTask::from_json(line).is_err(), "{line}");
        assert!(SokobanLevel::from_json(line).is_err(), "{line}");
    }
    // Each parser refuses the other domain instead of misreading it.
    assert!(matches!(
        MazeTask::from_json(SOKOBAN),
        Err(Error::WrongDomain {
            expected: "maze",
            ..
        })
    ));
    assert!(matches!(
        SokobanLevel::from_json(MAZE),
        Err(Error::WrongDomain {
            expected: "sokoban",
            ..
        })
    ));
    // Unknown extra fields are still fine (e.g. the token fields `solve` writes).
    assert!(Task::from_json(&append_member(MAZE, "prompt", "[\"start\"]")).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Repeating any key of a valid task, anywhere in the member list, with any value,
    /// is always an error (never a silently different task); a duplicate-key error
    /// whenever both values have the right type (otherwise the type error may come first).
    #[test]
    fn any_repeated_key_is_refused(sokoban in any::<bool>(), pick in any::<prop::sample::Index>(),
                                   at in any::<prop::sample::Index>(), value in 0u32..3) {
        let base = if sokoban { SOKOBAN } else { MAZE };
        let v: serde_json::Value = serde_json::from_str(base).unwrap();
        let obj = v.as_object().unwrap();
        let keys: Vec<&String> = obj.keys().collect();
        let key = keys[pick.index(keys.len())];
        let dup = match value { 0 => obj[key].to_string(), 1 => "[]".into(), _ => "7".into() };
        let mut members: Vec<String> = obj.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
        members.insert(at.index(members.len() + 1), format!("\"{key}\": {dup}"));
        let line = format!("{{{}}}", members.join(", "));
        let e = Task::from_json(&line).unwrap_err();
        if value == 0 {
            prop_assert!(is_json_err(&e, &format!("duplicate key `{key}`")), "{} -> {}", line, e);
        } else {
            prop_assert!(matches!(e, Error::Json(_)), "{} -> {}", line, e);
        }
    }

    /// Random levels with more boxes than docks are malformed, in every entry point, and
    /// never "unsolvable".
    #[test]
    fn more_boxes_than_docks_is_malformed(w in 4u32..8, h in 3u32..7, boxes in 1usize..4,
                                          docks in 0usize..3, seed in any::<u64>()) {
        prop_assume!(docks < boxes);
        let mut rng = Rng::new(seed);
        let mut cells: Vec<Pos> = (0..h).flat_map(|y| (0..w).map(move |x| Pos::new(x, y))).collect();
        prop_assume!(cells.len() > boxes + docks);
        rng.shuffle(&mut cells);
        let worker = cells[0];
        let b = cells[1..=boxes].to_vec();
        let d = cells[boxes + 1..=boxes + docks].to_vec();
        let level = SokobanLevel::new(w, h, worker, b, d, vec![]).unwrap();
        let want = Error::BoxesWithoutDocks { boxes, docks };
        let vocab = Vocabulary::sokoban(w, h, 40_000).unwrap();
        let mut solver = SokobanSolver::new();
        for mode in [SearchMode::Deterministic, SearchMode::Nondeterministic] {
            prop_assert_eq!(solver.solve(&level, mode, &mut Rng::new(1), DEFAULT_MAX_EXPANSIONS).unwrap_err(), want.clone());
            prop_assert_eq!(solver.solve_tokens(&level, &vocab, mode, &mut Rng::new(1), DEFAULT_MAX_EXPANSIONS).unwrap_err(), want.clone());
            let task = Task::Sokoban(level.clone());
            prop_assert_eq!(task.solve(mode, &mut Rng::new(1)).unwrap_err(), want.clone());
        }
        let msg = want.to_string();
        prop_assert!(msg.contains("malformed") && msg.contains(&format!("more boxes ({boxes}) than docks ({docks})")), "{}", msg);
    }
}

#[test]
fn the_issue_level_two_boxes_one_dock() {
    let level = SokobanLevel::from_ascii("######\n#@$$.#\n#    #\n######").unwrap();
    let e = Task::Sokoban(level)
        .solve(SearchMode::Deterministic, &mut Rng::new(0))
        .unwrap_err();
    assert_eq!(e, Error::BoxesWithoutDocks { boxes: 2, docks: 1 });
    // Fewer boxes than docks stays solvable, as in the reference.
    let level = SokobanLevel::from_ascii("######\n#@$.##\n#  . #\n######").unwrap();
    assert!(Task::Sokoban(level)
        .solve(SearchMode::Deterministic, &mut Rng::new(0))
        .is_ok());
}

/// Independent count of the distinct wall sets of a tiny maze by enumerating the
/// generator's output over many seeds.
#[test]
fn maze_capacity_bounds_what_the_generator_draws() {
    for (w, h) in [(2u32, 2u32), (3, 3), (2, 5), (4, 3)] {
        let cfg = MazeGenConfig::reference(w, h, SearchMode::Deterministic);
        let cap = cfg.capacity();
        let vocab = Vocabulary::maze(w, h).unwrap();
        let mut g = MazeGenerator::new(cfg).unwrap();
        let mut layouts = std::collections::HashSet::new();
        let mut most_tasks = 0;
        for i in 0..400 {
            let l = g.generate_layout(&vocab, &mut Rng::stream(9, i)).unwrap();
            most_tasks = most_tasks.max(l.tasks.len());
            layouts.insert(l.walls);
        }
        let n = u64::from(w * h);
        let (lo, hi) = cfg.wall_range();
        // Hand count: sum of C(n, k) over the wall-count range.
        let binom = |n: u64, k: u64| (0..k).fold(1u64, |c, i| c * (n - i) / (i + 1));
        let want: u64 = (lo..=hi).map(|k| binom(n, k)).sum();
        assert_eq!(cap.layouts, want as f64, "{w}x{h}");
        assert!(layouts.len() as f64 <= cap.layouts, "{w}x{h}");
        assert!(most_tasks as f64 <= cap.tasks_per_layout, "{w}x{h}");
        assert!(cap.tasks >= most_tasks as f64);
    }
    // 3x3 and 2x2 draw no walls: one layout only.
    assert_eq!(
        MazeGenConfig::reference(3, 3, SearchMode::Deterministic)
            .capacity()
            .layouts,
        1.0
    );
    assert_eq!(
        MazeGenConfig::reference(2, 2, SearchMode::Deterministic)
            .capacity()
            .layouts,
        1.0
    );
    // Large grids are unbounded in practice.
    assert!(
        MazeGenConfig::reference(30, 30, SearchMode::Deterministic)
            .capacity()
            .tasks
            > 1e18
    );
}

#[test]
fn generator_settings_out_of_range_are_refused() {
    let mut cfg = MazeGenConfig::reference(10, 10, SearchMode::Deterministic);
    cfg.attempts = MAX_ATTEMPTS;
    assert!(cfg.validate().is_ok());
    for bad in [0, MAX_ATTEMPTS + 1, u32::MAX] {
        cfg.attempts = bad;
        let e = cfg.validate().unwrap_err();
        assert!(
            matches!(
                &e,
                Error::Config {
                    field: "attempts",
                    ..
                }
            ),
            "{e}"
        );
    }
    // Boxes go at least 2 cells from the border: 5x5 has one such cell, 6x5 two.
    let mut s = SokobanGenConfig {
        width: 5,
        height: 5,
        interior_walls: 0,
        boxes: 2,
        ..SokobanGenConfig::default()
    };
    let e = s.validate().unwrap_err();
    assert!(e.to_string().contains("only 1 such cells"), "{e}");
    s.width = 6;
    assert!(s.validate().is_ok());
    // The paper setting is far from its bound.
    assert!(SokobanGenConfig::default().capacity().tasks > 1e6);
}

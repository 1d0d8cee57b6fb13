//! The task JSON parser never panics and reports typed errors.

use planform_trace::error::Error;
use planform_trace::maze::MazeTask;
use planform_trace::task::Task;
use proptest::prelude::*;

fn golden_lines() -> Vec<String> {
    let path = format!(
        "{}/tests/golden/maze-10-det.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path)
        .expect("golden file")
        .lines()
        .take(20)
        .map(str::to_string)
        .collect()
}

fn base() -> String {
    r#"{"width": 4, "height": 3, "start": [0, 0], "goal": [3, 2], "walls": [[1, 1], [2, 1]]}"#
        .to_string()
}

fn with(field: &str, value: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&base()).unwrap();
    v[field] = serde_json::from_str(value).unwrap();
    v.to_string()
}

#[test]
fn typed_errors() {
    let t = MazeTask::from_json(&base()).unwrap();
    assert_eq!(t.walls().len(), 2);
    type Check = fn(&Error) -> bool;
    let cases: Vec<(String, Check)> = vec![
        (
            with("width", "0"),
            |e| matches!(e, Error::Json(m) if m.contains("grid size")),
        ),
        (
            with("width", "101"),
            |e| matches!(e, Error::Json(m) if m.contains("at most 100")),
        ),
        (with("height", "-3"), |e| matches!(e, Error::Json(_))),
        (
            with("start", "[4, 0]"),
            |e| matches!(e, Error::Json(m) if m.contains("start (4, 0) lies outside")),
        ),
        (
            with("goal", "[0, -1]"),
            |e| matches!(e, Error::Json(m) if m.contains("goal (0, -1)")),
        ),
        (
            with("start", "[1, 1]"),
            |e| matches!(e, Error::Json(m) if m.contains("start at (1, 1) overlaps a wall")),
        ),
        (
            with("walls", "[[1, 1], [1, 1]]"),
            |e| matches!(e, Error::Json(m) if m.contains("duplicate wall")),
        ),
        (
            with("walls", "[[9, 9]]"),
            |e| matches!(e, Error::Json(m) if m.contains("wall (9, 9)")),
        ),
        (
            with("goal", "[0, 0]"),
            |e| matches!(e, Error::Json(m) if m.contains("same cell")),
        ),
        (with("walls", "[[1]]"), |e| matches!(e, Error::Json(_))),
        (with("width", "2.5"), |e| matches!(e, Error::Json(_))),
        ("[1, 2]".to_string(), |e| matches!(e, Error::Json(_))),
        (
            "{\"width\": 3}".to_string(),
            |e| matches!(e, Error::Json(m) if m.contains("neither")),
        ),
        ("not json".to_string(), |e| matches!(e, Error::Json(_))),
    ];
    for (line, ok) in cases {
        let err = Task::from_json(&line).unwrap_err();
        assert!(ok(&err), "{line} -> {err}");
    }
    // direct constructor errors are typed
    use planform_trace::grid::Pos;
    assert!(matches!(
        MazeTask::new(3, 3, Pos::new(0, 0), Pos::new(0, 0), vec![]),
        Err(Error::StartIsGoal { x: 0, y: 0 })
    ));
    assert!(matches!(
        MazeTask::new(1, 1, Pos::new(0, 0), Pos::new(0, 0), vec![]),
        Err(Error::GridSize { .. })
    ));
    // extra fields are ignored; walls come back sorted row-major
    let t = MazeTask::from_json(
        &with("walls", "[[2, 1], [1, 1], [0, 2]]").replace('}', ", \"prompt\": [\"x\"]}"),
    )
    .unwrap();
    assert_eq!(t.walls(), &[Pos::new(1, 1), Pos::new(2, 1), Pos::new(0, 2)]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let s = String::from_utf8_lossy(&bytes);
        let _ = Task::from_json(&s);
    }

    #[test]
    fn mutated_lines_never_panic(line in 0usize..20, edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..6)) {
        let lines = golden_lines();
        let mut b = lines[line].clone().into_bytes();
        for (pos, byte, op) in edits {
            if b.is_empty() { break; }
            let i = pos % b.len();
            let c = b"0123456789-,[]{}\": e.x"[byte as usize % 22];
            match op {
                0 => b[i] = c,
                1 => b.insert(i, c),
                _ => { b.remove(i); }
            }
        }
        let s = String::from_utf8_lossy(&b);
        if let Ok(Task::Maze(m)) = Task::from_json(&s) {
            // anything accepted satisfies the invariants
            let again = MazeTask::new(m.width(), m.height(), m.start(), m.goal(), m.walls().to_vec()).unwrap();
            prop_assert_eq!(again, m);
        }
    }

    #[test]
    fn random_numbers_in_valid_shape(w in -3i64..120, h in -3i64..120, sx in -2i64..120, sy in -2i64..120,
                                     gx in -2i64..120, gy in -2i64..120, walls in proptest::collection::vec((-2i64..120, -2i64..120), 0..30)) {
        let walls: Vec<[i64; 2]> = walls.into_iter().map(|(x, y)| [x, y]).collect();
        let line = serde_json::json!({"width": w, "height": h, "start": [sx, sy], "goal": [gx, gy], "walls": walls}).to_string();
        match Task::from_json(&line) {
            Ok(Task::Maze(m)) => {
                prop_assert!(m.start() != m.goal());
                prop_assert!(!m.is_wall(m.start()) && !m.is_wall(m.goal()));
            }
            Ok(Task::Sokoban(_)) => prop_assert!(false, "maze line parsed as Sokoban"),
            Err(e) => prop_assert!(matches!(e, Error::Json(_))),
        }
    }
}

#[test]
fn sokoban_typed_errors() {
    let ok = r#"{"width": 5, "height": 3, "worker": [1, 1], "boxes": [[2, 1]], "docks": [[3, 1]], "walls": [[0, 0], [0, 1]], "prompt": []}"#;
    assert!(matches!(Task::from_json(ok), Ok(Task::Sokoban(_))));
    let bad = [
        (
            r#"{"width": 5, "height": 3, "worker": [0, 1], "boxes": [], "docks": [], "walls": [[0, 1]]}"#,
            "worker at (0, 1) overlaps a wall",
        ),
        (
            r#"{"width": 5, "height": 3, "worker": [1, 1], "boxes": [[0, 0]], "docks": [], "walls": [[0, 0]]}"#,
            "box at (0, 0) overlaps a wall",
        ),
        (
            r#"{"width": 5, "height": 3, "worker": [1, 1], "boxes": [[2, 1], [2, 1]], "docks": [], "walls": []}"#,
            "duplicate box",
        ),
        (
            r#"{"width": 5, "height": 3, "worker": [1, 1], "boxes": [], "docks": [[5, 1]], "walls": []}"#,
            "dock (5, 1) lies outside",
        ),
        (
            r#"{"width": 5, "height": 3, "worker": [2, 1], "boxes": [[2, 1]], "docks": [], "walls": []}"#,
            "worker at (2, 1) overlaps a box",
        ),
        (
            r#"{"width": 5, "height": 3, "worker": [2, 1], "boxes": [], "walls": []}"#,
            "missing field `docks`",
        ),
    ];
    for (line, msg) in bad {
        match Task::from_json(line) {
            Err(Error::Json(m)) => assert!(m.contains(msg), "{m} should mention {msg}"),
            other => panic!("{line}: {other:?}"),
        }
    }
}

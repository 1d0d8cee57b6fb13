//! Settings that used to hang or abort get a clear error, up front where the reason is
//! knowable and after a bounded search otherwise: `gen --width 3 -n 2` (every layout the
//! same, so no test layout can exist) ran forever, as did any request for more tasks
//! than a small domain holds.

mod common;

use std::time::{Duration, Instant};

use planform_data::{generate, DataError, Domain, GenerateConfig, TStarConfig};

fn maze(w: u32, h: u32, n: u64, test_fraction: f64) -> GenerateConfig {
    let mut c = GenerateConfig::new(Domain::maze(w, h), n);
    c.test_fraction = test_fraction;
    c
}

/// Runs `generate` into a fresh directory and returns its error, checking that it came
/// quickly and left nothing behind.
fn refused(c: &GenerateConfig, limit: Duration) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let t = Instant::now();
    let e = generate(c, &out, 2, |_, _| {}).unwrap_err();
    assert!(t.elapsed() < limit, "took {:?}: {e}", t.elapsed());
    assert!(matches!(e, DataError::InvalidConfig(_)), "{e}");
    assert!(!out.exists(), "nothing is created");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "no leftovers"
    );
    e.to_string()
}

const UP_FRONT: Duration = Duration::from_secs(2);

#[test]
fn single_layout_domains_cannot_have_two_splits() {
    for w in [2, 3] {
        let e = refused(&maze(w, w, 2, 0.1), UP_FRONT);
        assert!(e.contains(&format!("maze-{w}x{w}")), "{e}");
        assert!(e.contains("test-fraction"), "says what to do: {e}");
        // One split is fine.
        let tmp = tempfile::tempdir().unwrap();
        let m = common::gen(&maze(w, w, 2, 0.0), &tmp.path().join("ds"), 1);
        assert_eq!(m.train.tasks, 2);
    }
}

#[test]
fn more_tasks_than_the_domain_holds() {
    // 4x4 mazes: 6748 wall sets × at most 100 tasks.
    let e = refused(&maze(4, 4, 1_000_000, 0.1), UP_FRONT);
    assert!(e.contains("at most 674800"), "{e}");
    // Sokoban 5x5, no interior walls, 1 box: 56 levels.
    let mut c = GenerateConfig::new(
        Domain::Sokoban {
            width: 5,
            height: 5,
            walls: 0,
            boxes: 1,
        },
        1000,
    );
    let e = refused(&c, UP_FRONT);
    assert!(e.contains("at most 56"), "{e}");
    // Boxes that cannot be placed.
    c.domain = Domain::Sokoban {
        width: 5,
        height: 6,
        walls: 0,
        boxes: 3,
    };
    let e = refused(&c, UP_FRONT);
    assert!(e.contains("only 2 such cells"), "{e}");
}

#[test]
fn filters_no_task_can_pass() {
    let mut c = maze(10, 10, 100, 0.1);
    c.filters.max_reasoning_length = Some(50);
    let e = refused(&c, UP_FRONT);
    assert!(e.contains("at least 100 tokens"), "{e}");
}

#[test]
fn advertised_ranges_hold() {
    for (w, h) in [(1, 5), (101, 10), (10, 1000), (0, 0)] {
        let e = refused(&maze(w, h, 10, 0.1), UP_FRONT);
        assert!(e.contains("2..=100"), "{w}x{h}: {e}");
    }
    let mut c = maze(5, 5, 10, 0.1);
    c.tstar = Some(TStarConfig { runs: 10_001 });
    assert!(refused(&c, UP_FRONT).contains("1..=10000"));
    c.tstar = None;
    c.test_fraction = f64::NAN;
    assert!(refused(&c, UP_FRONT).contains("test_fraction"));
    let mut c = maze(5, 5, 10, 0.1);
    c.domain = Domain::Maze {
        width: 5,
        height: 5,
        attempts_per_layout: 1_000_000,
    };
    assert!(refused(&c, UP_FRONT).contains("attempts"));
}

/// Within the bound but still impossible (3x3: 72 ordered pairs, but pairs closer than
/// 3 plan nodes are filtered): the search stops after a bounded number of layouts that
/// add nothing, with a message saying so.
#[test]
fn bounded_search_gives_up_with_a_reason() {
    let e = refused(&maze(3, 3, 72, 0.0), Duration::from_secs(120));
    assert!(e.contains("gave up after 100000 layouts"), "{e}");
    assert!(e.contains("repeated an earlier layout"), "{e}");
}

//! Maze A*: reference fixtures, hand example, and property tests against an
//! independent BFS.

use std::collections::VecDeque;

use planform_trace::astar::{Action, SearchMode};
use planform_trace::error::Error;
use planform_trace::grid::Pos;
use planform_trace::maze::MazeTask;
use planform_trace::maze_gen::{MazeGenConfig, MazeGenerator, MazeSolver, MinPlanNodes, WallCount};
use planform_trace::rng::Rng;
use planform_trace::vocab::Vocabulary;
use proptest::prelude::*;

fn p(x: u32, y: u32) -> Pos {
    Pos::new(x, y)
}

/// `(action, x, y, g, h)` rows of a reference fixture; `plan` rows last.
fn check_fixture(task: &MazeTask, rows: &[(&str, u32, u32, u32, u32)]) {
    let trace = task
        .solve(SearchMode::Deterministic, &mut Rng::new(0))
        .expect("solvable");
    let mut got: Vec<(&str, u32, u32, u32, u32)> = trace
        .steps
        .iter()
        .map(|s| {
            let a = if s.action == Action::Create {
                "create"
            } else {
                "close"
            };
            (a, s.state.x, s.state.y, s.g, s.h)
        })
        .collect();
    // plan rows: g = index, h = Manhattan distance to the goal
    for (i, q) in trace.plan.iter().enumerate() {
        got.push(("plan", q.x, q.y, i as u32, q.manhattan(task.goal())));
    }
    assert_eq!(got, rows);
}

/// `test/trace_maze_walls.json` (reference `test_astar_walls`).
#[test]
fn reference_fixture_walls() {
    let task = MazeTask::new(3, 3, p(0, 0), p(0, 2), vec![p(0, 1), p(1, 1)]).unwrap();
    check_fixture(
        &task,
        &[
            ("create", 0, 0, 0, 2),
            ("close", 0, 0, 0, 2),
            ("create", 1, 0, 1, 3),
            ("close", 1, 0, 1, 3),
            ("create", 2, 0, 2, 4),
            ("close", 2, 0, 2, 4),
            ("create", 2, 1, 3, 3),
            ("close", 2, 1, 3, 3),
            ("create", 2, 2, 4, 2),
            ("close", 2, 2, 4, 2),
            ("create", 1, 2, 5, 1),
            ("close", 1, 2, 5, 1),
            ("create", 0, 2, 6, 0),
            ("close", 0, 2, 6, 0),
            ("plan", 0, 0, 0, 2),
            ("plan", 1, 0, 1, 3),
            ("plan", 2, 0, 2, 4),
            ("plan", 2, 1, 3, 3),
            ("plan", 2, 2, 4, 2),
            ("plan", 1, 2, 5, 1),
            ("plan", 0, 2, 6, 0),
        ],
    );
    assert_eq!(task.reference_id(), "3-3-0-6-3-4");
}

/// `test/trace_maze_short.json` (reference `test_astar_walls_short`).
#[test]
fn reference_fixture_short() {
    let task = MazeTask::new(3, 3, p(0, 0), p(0, 2), vec![p(0, 1)]).unwrap();
    check_fixture(
        &task,
        &[
            ("create", 0, 0, 0, 2),
            ("close", 0, 0, 0, 2),
            ("create", 1, 0, 1, 3),
            ("close", 1, 0, 1, 3),
            ("create", 1, 1, 2, 2),
            ("create", 2, 0, 2, 4),
            ("close", 1, 1, 2, 2),
            ("create", 1, 2, 3, 1),
            ("create", 2, 1, 3, 3),
            ("close", 1, 2, 3, 1),
            ("create", 0, 2, 4, 0),
            ("create", 2, 2, 4, 2),
            ("close", 0, 2, 4, 0),
            ("plan", 0, 0, 0, 2),
            ("plan", 1, 0, 1, 3),
            ("plan", 1, 1, 2, 2),
            ("plan", 1, 2, 3, 1),
            ("plan", 0, 2, 4, 0),
        ],
    );
}

/// `test/trace_maze.json` (reference `test_astar`, no walls, goal (2, 2)).
#[test]
fn reference_fixture_open() {
    let task = MazeTask::new(3, 3, p(0, 0), p(2, 2), vec![]).unwrap();
    check_fixture(
        &task,
        &[
            ("create", 0, 0, 0, 4),
            ("close", 0, 0, 0, 4),
            ("create", 0, 1, 1, 3),
            ("create", 1, 0, 1, 3),
            ("close", 1, 0, 1, 3),
            ("create", 1, 1, 2, 2),
            ("create", 2, 0, 2, 2),
            ("close", 2, 0, 2, 2),
            ("create", 2, 1, 3, 1),
            ("close", 0, 1, 1, 3),
            ("create", 0, 2, 2, 2),
            ("close", 1, 1, 2, 2),
            ("create", 1, 2, 3, 1),
            ("close", 2, 1, 3, 1),
            ("create", 2, 2, 4, 0),
            ("close", 0, 2, 2, 2),
            ("close", 1, 2, 3, 1),
            ("close", 2, 2, 4, 0),
            ("plan", 0, 0, 0, 4),
            ("plan", 1, 0, 1, 3),
            ("plan", 2, 0, 2, 2),
            ("plan", 2, 1, 3, 1),
            ("plan", 2, 2, 4, 0),
        ],
    );
}

/// Reference `test_astar_rail`: a full wall row makes the task unsolvable.
#[test]
fn reference_rail_is_unsolvable() {
    let task = MazeTask::new(3, 3, p(0, 0), p(0, 2), vec![p(0, 1), p(1, 1), p(2, 1)]).unwrap();
    for mode in [SearchMode::Deterministic, SearchMode::Nondeterministic] {
        let err = task.solve(mode, &mut Rng::new(1)).unwrap_err();
        assert!(matches!(err, Error::Unsolvable { .. }), "{err}");
    }
}

/// Example A of searchformer.md: encoder and decoder token strings.
#[test]
fn hand_example_a_tokens() {
    let task = MazeTask::new(3, 3, p(0, 0), p(0, 2), vec![p(0, 1), p(1, 1)]).unwrap();
    let vocab = Vocabulary::maze(3, 3).unwrap();
    let (seq, plan_len) = MazeSolver::new()
        .solve_tokens(&task, &vocab, SearchMode::Deterministic, &mut Rng::new(0))
        .unwrap();
    assert_eq!(plan_len, 7);
    let enc = vocab.decode(&seq.encoder_input()).unwrap().join(" ");
    assert_eq!(enc, "bos start 0 0 goal 0 2 wall 0 1 wall 1 1 eos");
    let dec = vocab
        .decode(&seq.search_augmented_target())
        .unwrap()
        .join(" ");
    let want = "bos create 0 0 c0 c2 close 0 0 c0 c2 create 1 0 c1 c3 close 1 0 c1 c3 \
        create 2 0 c2 c4 close 2 0 c2 c4 create 2 1 c3 c3 close 2 1 c3 c3 \
        create 2 2 c4 c2 close 2 2 c4 c2 create 1 2 c5 c1 close 1 2 c5 c1 \
        create 0 2 c6 c0 close 0 2 c6 c0 \
        plan 0 0 plan 1 0 plan 2 0 plan 2 1 plan 2 2 plan 1 2 plan 0 2 eos";
    assert_eq!(dec, want);
    let sol = vocab.decode(&seq.solution_only_target()).unwrap().join(" ");
    assert_eq!(
        sol,
        "bos plan 0 0 plan 1 0 plan 2 0 plan 2 1 plan 2 2 plan 1 2 plan 0 2 eos"
    );
}

/// Independent BFS distances from `start` (None = unreachable).
fn bfs(task: &MazeTask, start: Pos) -> Vec<Option<u32>> {
    let (w, h) = (task.width(), task.height());
    let mut dist = vec![None; (w * h) as usize];
    let mut q = VecDeque::new();
    dist[start.index(w)] = Some(0);
    q.push_back(start);
    while let Some(c) = q.pop_front() {
        let d = dist[c.index(w)].unwrap();
        let cands = [
            (c.x as i64 + 1, c.y as i64),
            (c.x as i64 - 1, c.y as i64),
            (c.x as i64, c.y as i64 + 1),
            (c.x as i64, c.y as i64 - 1),
        ];
        for (x, y) in cands {
            if !task.in_bounds(x, y) {
                continue;
            }
            let n = Pos::new(x as u32, y as u32);
            if task.is_wall(n) || dist[n.index(w)].is_some() {
                continue;
            }
            dist[n.index(w)] = Some(d + 1);
            q.push_back(n);
        }
    }
    dist
}

fn arb_maze() -> impl Strategy<Value = MazeTask> {
    (2u32..9, 2u32..9, any::<u64>(), 0.0f64..0.5).prop_filter_map(
        "needs two free cells",
        |(w, h, seed, density)| {
            let mut rng = Rng::new(seed);
            let n = (w * h) as usize;
            let mut cells: Vec<usize> = (0..n).collect();
            rng.shuffle(&mut cells);
            let k = ((n as f64) * density) as usize;
            if n - k < 2 {
                return None;
            }
            let walls = cells[..k].iter().map(|&i| Pos::from_index(i, w)).collect();
            MazeTask::new(
                w,
                h,
                Pos::from_index(cells[k], w),
                Pos::from_index(cells[k + 1], w),
                walls,
            )
            .ok()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Plans are optimal (BFS), valid, and traces are consistent in both modes.
    #[test]
    fn astar_matches_bfs(task in arb_maze(), seed in any::<u64>()) {
        let dist = bfs(&task, task.start());
        let goal_d = dist[task.goal().index(task.width())];
        let mut plan_lens = vec![];
        for (mode, s) in [(SearchMode::Deterministic, 0), (SearchMode::Nondeterministic, seed), (SearchMode::Nondeterministic, seed ^ 1)] {
            let res = task.solve(mode, &mut Rng::new(s));
            match goal_d {
                None => { let unsolvable = matches!(res, Err(Error::Unsolvable { .. })); prop_assert!(unsolvable) }
                Some(d) => {
                    let trace = res.unwrap();
                    prop_assert_eq!(trace.plan.len() as u32, d + 1);
                    prop_assert_eq!(trace.plan[0], task.start());
                    prop_assert_eq!(*trace.plan.last().unwrap(), task.goal());
                    for w in trace.plan.windows(2) {
                        prop_assert_eq!(w[0].manhattan(w[1]), 1);
                        prop_assert!(!task.is_wall(w[1]));
                    }
                    // first step creates the start, last step closes the goal
                    prop_assert_eq!(trace.steps[0].action, Action::Create);
                    prop_assert_eq!(trace.steps[0].state, task.start());
                    let last = trace.steps.last().unwrap();
                    prop_assert_eq!(last.action, Action::Close);
                    prop_assert_eq!(last.state, task.goal());
                    let mut created = std::collections::HashSet::new();
                    for st in &trace.steps {
                        // h is the Manhattan distance to the goal
                        prop_assert_eq!(st.h, st.state.manhattan(task.goal()));
                        // g is at least the true distance
                        let bd = dist[st.state.index(task.width())].unwrap();
                        prop_assert!(st.g >= bd);
                        match st.action {
                            Action::Create => { created.insert((st.state, st.g)); }
                            Action::Close => {
                                // each close is preceded by the matching create,
                                // and (consistent heuristic) closes at the true distance
                                prop_assert!(created.contains(&(st.state, st.g)));
                                prop_assert_eq!(st.g, bd);
                            }
                        }
                    }
                    // plan g values follow the path
                    plan_lens.push(trace.plan.len());
                }
            }
        }
        if !plan_lens.is_empty() {
            prop_assert!(plan_lens.iter().all(|&l| l == plan_lens[0]));
        }
    }
}

#[test]
fn nondeterministic_runs_vary_and_are_seeded() {
    let task = MazeTask::new(6, 6, p(0, 0), p(5, 5), vec![]).unwrap();
    let a = task
        .solve(SearchMode::Nondeterministic, &mut Rng::new(1))
        .unwrap();
    let b = task
        .solve(SearchMode::Nondeterministic, &mut Rng::new(1))
        .unwrap();
    assert_eq!(a, b, "same seed, same trace");
    let distinct: std::collections::HashSet<_> = (0..20)
        .map(|s| {
            format!(
                "{:?}",
                task.solve(SearchMode::Nondeterministic, &mut Rng::new(s))
                    .unwrap()
                    .steps
            )
        })
        .collect();
    assert!(
        distinct.len() > 5,
        "open 6x6 grid should give many different traces"
    );
}

#[test]
fn generator_follows_reference_rules() {
    for (size, mode) in [
        (10, SearchMode::Deterministic),
        (10, SearchMode::Nondeterministic),
        (20, SearchMode::Deterministic),
    ] {
        let vocab = Vocabulary::maze(size, size).unwrap();
        let mut gen = MazeGenerator::new(MazeGenConfig::reference(size, size, mode)).unwrap();
        let mut total = 0;
        for i in 0..40 {
            let layout = gen.generate_layout(&vocab, &mut Rng::stream(7, i)).unwrap();
            let again = gen.generate_layout(&vocab, &mut Rng::stream(7, i)).unwrap();
            assert_eq!(layout, again, "deterministic per stream");
            let n = size * size;
            let nw = layout.walls.len() as u32;
            assert!((n / 10 * 3..=n / 10 * 5).contains(&nw));
            assert!(layout.tasks.len() <= 100);
            let mut pairs = std::collections::HashSet::new();
            for s in &layout.tasks {
                assert_eq!(s.task.walls(), layout.walls.as_slice());
                assert!(
                    pairs.insert((s.task.start(), s.task.goal())),
                    "unique pairs"
                );
                assert!(s.optimal_plan_len >= size as usize);
                let d = bfs(&s.task, s.task.start())[s.task.goal().index(size)].unwrap();
                assert_eq!(s.optimal_plan_len as u32, d + 1);
                assert_eq!(s.tokens.plan.len(), 3 * s.optimal_plan_len);
                if mode == SearchMode::Deterministic {
                    let (seq, _) = MazeSolver::new()
                        .solve_tokens(&s.task, &vocab, mode, &mut Rng::new(0))
                        .unwrap();
                    assert_eq!(seq, s.tokens);
                }
                // the stored task round-trips through JSON
                let json = serde_json::to_string(&s.task).unwrap();
                assert_eq!(MazeTask::from_json(&json).unwrap(), s.task);
            }
            total += layout.tasks.len();
        }
        assert!(total > 40, "layouts should yield tasks ({total})");
    }
}

#[test]
fn generator_config_options() {
    let vocab = Vocabulary::maze(5, 4).unwrap();
    let cfg = MazeGenConfig {
        width: 5,
        height: 4,
        walls: WallCount::Range { min: 2, max: 3 },
        attempts: 30,
        min_plan: MinPlanNodes::Nodes(2),
        mode: SearchMode::Deterministic,
    };
    let mut gen = MazeGenerator::new(cfg).unwrap();
    let layout = gen.generate_layout(&vocab, &mut Rng::new(3)).unwrap();
    assert!((2..=3).contains(&layout.walls.len()));
    assert!(!layout.tasks.is_empty());
    let bad = MazeGenConfig {
        walls: WallCount::Range { min: 5, max: 19 },
        ..cfg
    };
    assert!(MazeGenerator::new(bad).is_err());
    // vocabulary of the wrong size is rejected
    let wrong = Vocabulary::maze(10, 10).unwrap();
    assert!(gen.generate_layout(&wrong, &mut Rng::new(3)).is_err());
}

//! Sokoban: reference fixture, dynamics, heuristic, tokens, A* optimality
//! against an independent BFS, and the generator.

use std::collections::{HashMap, VecDeque};

use planform_trace::astar::{Action, SearchMode, INF};
use planform_trace::error::Error;
use planform_trace::eval::{evaluate_response, sokoban_plan_correct};
use planform_trace::grid::Pos;
use planform_trace::rng::Rng;
use planform_trace::sokoban::{Direction, SokobanLevel};
use planform_trace::sokoban_gen::{SokobanGenConfig, SokobanGenerator};
use planform_trace::sokoban_search::{sokoban_prompt, SokobanSolver, DEFAULT_MAX_EXPANSIONS};
use planform_trace::task::Task;
use planform_trace::vocab::Vocabulary;
use proptest::prelude::*;

const EXAMPLE_7722: &str = "#######\n#  .  #\n#  #  #\n# @   #\n# $$. #\n#  #  #\n#######\n";

/// Reference `test_astar_sokoban` / `test/trace_sokoban.json`.
#[test]
fn reference_fixture() {
    let level = SokobanLevel::from_ascii("#####\n#@$.#\n#####").unwrap();
    let trace = SokobanSolver::new()
        .solve(
            &level,
            SearchMode::Deterministic,
            &mut Rng::new(0),
            DEFAULT_MAX_EXPANSIONS,
        )
        .unwrap();
    let render = |s: &planform_trace::sokoban_search::SokobanState| {
        level
            .with_state(s.worker, s.boxes.clone())
            .unwrap()
            .state_string()
    };
    let got: Vec<(Action, String, u32, u32)> = trace
        .steps
        .iter()
        .map(|s| (s.action, render(&s.state), s.g, s.h))
        .collect();
    assert_eq!(
        got,
        vec![
            (Action::Create, "#####-#@$.#-#####".to_string(), 0, 1),
            (Action::Close, "#####-#@$.#-#####".to_string(), 0, 1),
            (Action::Create, "#####-# @*#-#####".to_string(), 1, 0),
            (Action::Close, "#####-# @*#-#####".to_string(), 1, 0),
        ]
    );
    let plan: Vec<String> = trace.plan.iter().map(render).collect();
    assert_eq!(plan, vec!["#####-#@$.#-#####", "#####-# @*#-#####"]);
}

#[test]
fn ascii_round_trip_and_legend() {
    let level = SokobanLevel::from_ascii(EXAMPLE_7722).unwrap();
    assert_eq!(level.to_ascii() + "\n", EXAMPLE_7722);
    assert_eq!(level.worker(), Pos::new(2, 3));
    assert_eq!(level.boxes(), &[Pos::new(2, 4), Pos::new(3, 4)]);
    assert_eq!(level.docks(), &[Pos::new(3, 1), Pos::new(4, 4)]);
    assert_eq!(level.walls().len(), 26);
    let all = SokobanLevel::from_ascii("#####\n#+*$#\n#. .#\n#####").unwrap();
    assert_eq!(all.to_ascii(), "#####\n#+*$#\n#. .#\n#####");
    // JSON round trip
    let json = serde_json::to_string(&all).unwrap();
    assert_eq!(SokobanLevel::from_json(&json).unwrap(), all);
    assert!(matches!(
        SokobanLevel::from_ascii("#@x#"),
        Err(Error::Level(_))
    ));
    assert!(matches!(
        SokobanLevel::from_ascii("# #"),
        Err(Error::Level(_))
    ));
    assert!(matches!(
        SokobanLevel::from_ascii("@@"),
        Err(Error::Level(_))
    ));
}

#[test]
fn moves_push_then_walk_and_noops() {
    let level = SokobanLevel::from_ascii("######\n#@$$.#\n#  . #\n######").unwrap();
    // pushing two boxes in a row is blocked: no-op
    assert_eq!(level.apply_moves(&[Direction::Right]), level);
    // up is y-1: into the wall, no-op
    assert_eq!(level.apply_moves(&[Direction::Up]), level);
    let l = level.apply_moves(&[Direction::Down]);
    assert_eq!(l.worker(), Pos::new(1, 2));
    let l = level.apply_moves(&[
        Direction::Down,
        Direction::Right,
        Direction::Right,
        Direction::Up,
    ]);
    // worker at (3,2) pushes the box at (3,1) up into the wall: blocked, no-op
    assert_eq!(l.worker(), Pos::new(3, 2));
    let single = SokobanLevel::from_ascii("#####\n#@$.#\n#####").unwrap();
    let done = single.apply_moves(&[Direction::Right]);
    assert!(done.is_complete());
    assert_eq!(done.to_ascii(), "#####\n# @*#\n#####");
    // pushing a box off a dock
    let off = SokobanLevel::from_ascii("######\n#@* .#\n######").unwrap();
    let moved = off.apply_moves(&[Direction::Right]);
    assert_eq!(moved.to_ascii(), "######\n# +$.#\n######");
}

#[test]
fn heuristic_values() {
    let level = SokobanLevel::from_ascii(EXAMPLE_7722).unwrap();
    assert_eq!(level.heuristic(), 3);
    // a box in a corner off a dock is immovable
    let stuck = SokobanLevel::from_ascii("#####\n#$ .#\n# @ #\n#####").unwrap();
    assert_eq!(stuck.heuristic(), INF);
    // no open dock -> 0 (even with a stuck box)
    let placed = SokobanLevel::from_ascii("#####\n#$ *#\n# @ #\n#####").unwrap();
    assert_eq!(placed.heuristic(), 0);
    // two boxes may share the nearest dock
    let share =
        SokobanLevel::from_ascii("#######\n#     #\n# $.$ #\n#  @  #\n#.    #\n#######").unwrap();
    assert_eq!(share.heuristic(), 2);
}

/// Prompt and first clause of `static/sokoban/example-7722.txt` (searchformer.md §2.3).
#[test]
fn example_7722_tokens() {
    let level = SokobanLevel::from_ascii(EXAMPLE_7722).unwrap();
    let vocab = Vocabulary::sokoban(7, 7, 40_000).unwrap();
    assert_eq!(vocab.len(), 40_016);
    let prompt = vocab
        .decode(&sokoban_prompt(&level, &vocab).unwrap())
        .unwrap();
    assert_eq!(prompt.len(), 93);
    assert_eq!(
        prompt[..21].join(" "),
        "worker 2 3 box 2 4 box 3 4 dock 3 1 dock 4 4 wall 0 0 wall 0 1"
    );
    // walls sorted by the string "x-y": all x = 0 first, then x = 1 ...
    let walls: Vec<(u32, u32)> = prompt[15..]
        .chunks(3)
        .map(|c| (c[1].parse().unwrap(), c[2].parse().unwrap()))
        .collect();
    let mut sorted = walls.clone();
    sorted.sort();
    assert_eq!(walls, sorted);
    let (seq, plan_len) = SokobanSolver::new()
        .solve_tokens(
            &level,
            &vocab,
            SearchMode::Nondeterministic,
            &mut Rng::new(4),
            DEFAULT_MAX_EXPANSIONS,
        )
        .unwrap();
    let reasoning = vocab.decode(&seq.reasoning).unwrap();
    assert_eq!(
        reasoning[..12].join(" "),
        "create worker 2 3 box 2 4 box 3 4 c0 c3"
    );
    assert_eq!(
        reasoning[12..24].join(" "),
        "close worker 2 3 box 2 4 box 3 4 c0 c3"
    );
    // the plan replays to a solved level and scores as correct and optimal
    let task = Task::Sokoban(level.clone());
    let mut response = vec![0u32];
    response.extend_from_slice(&seq.reasoning);
    response.extend_from_slice(&seq.plan);
    response.push(1);
    let ev = evaluate_response(&task, &vocab, &response, plan_len);
    assert!(ev.correct && ev.optimal, "{ev:?}");
    assert_eq!(ev.trace_tokens, seq.reasoning.len());
    assert_eq!(bfs_plan_nodes(&level), Some(plan_len));
}

/// Sorting by the string "x-y" differs from numeric order beyond one digit.
#[test]
fn string_order_for_two_digit_coordinates() {
    let mut rows = vec!["############".to_string()];
    rows.push("#@        .#".to_string());
    rows.push("#          #".to_string());
    rows.push("#  $       #".to_string());
    for _ in 0..6 {
        rows.push("#          #".to_string());
    }
    rows.push("#         $#".to_string());
    rows.push("#.         #".to_string());
    rows.push("############".to_string());
    let level = SokobanLevel::from_ascii(&rows.join("\n")).unwrap();
    let vocab = Vocabulary::sokoban(12, 13, 100).unwrap();
    let prompt = vocab
        .decode(&sokoban_prompt(&level, &vocab).unwrap())
        .unwrap();
    // boxes (3,3) and (10,10): "10-10" < "3-3"
    assert_eq!(prompt[3..9].join(" "), "box 10 10 box 3 3");
    // docks (10,1) and (1,11): "1-11" < "10-1"
    assert_eq!(prompt[9..15].join(" "), "dock 1 11 dock 10 1");
    // walls: "0-0" < "0-1" < "0-10" < "0-11" < "0-12" < "0-2"
    let walls: Vec<String> = prompt[15..33]
        .chunks(3)
        .map(|c| format!("{}-{}", c[1], c[2]))
        .collect();
    assert_eq!(walls, vec!["0-0", "0-1", "0-10", "0-11", "0-12", "0-2"]);
}

/// Independent BFS over (worker, boxes) on a char grid; returns plan nodes.
fn bfs_plan_nodes(level: &SokobanLevel) -> Option<usize> {
    let (w, h) = (level.width() as i64, level.height() as i64);
    let wall = |x: i64, y: i64| {
        x < 0 || y < 0 || x >= w || y >= h || level.walls().contains(&Pos::new(x as u32, y as u32))
    };
    let docks: Vec<(i64, i64)> = level
        .docks()
        .iter()
        .map(|p| (p.x as i64, p.y as i64))
        .collect();
    let mut boxes: Vec<(i64, i64)> = level
        .boxes()
        .iter()
        .map(|p| (p.x as i64, p.y as i64))
        .collect();
    boxes.sort();
    let start = ((level.worker().x as i64, level.worker().y as i64), boxes);
    let done = |b: &Vec<(i64, i64)>| b.iter().all(|x| docks.contains(x));
    let mut dist = HashMap::new();
    dist.insert(start.clone(), 1usize);
    let mut q = VecDeque::from([start]);
    while let Some((wk, bx)) = q.pop_front() {
        let d = dist[&(wk, bx.clone())];
        if done(&bx) {
            return Some(d);
        }
        for (dx, dy) in [(0, -1), (0, 1), (-1, 0), (1, 0)] {
            let n1 = (wk.0 + dx, wk.1 + dy);
            let n2 = (wk.0 + 2 * dx, wk.1 + 2 * dy);
            let mut nb = bx.clone();
            if wall(n1.0, n1.1) {
                continue;
            }
            if let Some(i) = nb.iter().position(|&b| b == n1) {
                if wall(n2.0, n2.1) || nb.contains(&n2) {
                    continue;
                }
                nb[i] = n2;
                nb.sort();
            }
            let key = (n1, nb);
            if !dist.contains_key(&key) {
                dist.insert(key.clone(), d + 1);
                q.push_back(key);
            }
        }
    }
    None
}

fn arb_level() -> impl Strategy<Value = SokobanLevel> {
    (4u32..7, 4u32..7, 1usize..3, 0usize..3, any::<u64>()).prop_filter_map(
        "fits",
        |(w, h, nb, nw, seed)| {
            let mut rng = Rng::new(seed);
            let mut interior: Vec<Pos> = (1..h - 1)
                .flat_map(|y| (1..w - 1).map(move |x| Pos::new(x, y)))
                .collect();
            if interior.len() < nw + 2 * nb + 1 {
                return None;
            }
            rng.shuffle(&mut interior);
            let mut walls: Vec<Pos> = (0..h)
                .flat_map(|y| (0..w).map(move |x| Pos::new(x, y)))
                .filter(|p| p.x == 0 || p.y == 0 || p.x == w - 1 || p.y == h - 1)
                .collect();
            walls.extend_from_slice(&interior[..nw]);
            let boxes = interior[nw..nw + nb].to_vec();
            let worker = interior[nw + nb];
            let docks = interior[nw + nb + 1..nw + 2 * nb + 1].to_vec();
            SokobanLevel::new(w, h, worker, boxes, docks, walls).ok()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    /// A* plans are optimal (== BFS) and replay to a solved level, in both modes.
    #[test]
    fn astar_is_optimal(level in arb_level(), seed in any::<u64>()) {
        let best = bfs_plan_nodes(&level);
        for mode in [SearchMode::Deterministic, SearchMode::Nondeterministic] {
            let res = SokobanSolver::new().solve(&level, mode, &mut Rng::new(seed), DEFAULT_MAX_EXPANSIONS);
            match best {
                None => {
                    let unsolvable = matches!(res, Err(Error::Unsolvable { .. }));
                    prop_assert!(unsolvable);
                }
                Some(n) => {
                    let trace = res.unwrap();
                    prop_assert_eq!(trace.plan.len(), n);
                    let plan: Vec<Pos> = trace.plan.iter().map(|s| s.worker).collect();
                    prop_assert!(sokoban_plan_correct(&level, &plan));
                    let last = trace.steps.last().unwrap();
                    prop_assert_eq!(last.action, Action::Close);
                    // g values of plan nodes count moves
                    for st in &trace.steps {
                        prop_assert!(st.h != INF);
                    }
                }
            }
        }
    }
}

#[test]
fn generator_paper_setting() {
    let cfg = SokobanGenConfig::default();
    let mut gen = SokobanGenerator::new(cfg).unwrap();
    assert_eq!(gen.vocabulary().len(), 40_016);
    let vocab = gen.vocabulary().clone();
    for i in 0..4 {
        let s = gen.generate(&mut Rng::stream(11, i)).unwrap();
        let again = gen.generate(&mut Rng::stream(11, i)).unwrap();
        assert_eq!(s, again, "deterministic per stream");
        let l = &s.level;
        assert_eq!((l.width(), l.height()), (7, 7));
        assert_eq!(l.walls().len(), 24 + 2);
        assert_eq!(l.boxes().len(), 2);
        assert_eq!(l.docks().len(), 2);
        for b in l.boxes() {
            assert!((2..=4).contains(&b.x) && (2..=4).contains(&b.y));
        }
        assert_eq!(s.tokens.prompt.len(), 93);
        assert!(s.tokens.reasoning.len() < 10_000);
        assert_eq!(s.tokens.plan.len(), 3 * s.optimal_plan_len);
        assert_eq!(bfs_plan_nodes(l), Some(s.optimal_plan_len));
        let task = Task::Sokoban(l.clone());
        let mut resp = vec![0u32];
        resp.extend_from_slice(&s.tokens.plan);
        let ev = evaluate_response(&task, &vocab, &resp, s.optimal_plan_len);
        assert!(ev.correct && ev.optimal);
        assert_eq!(ev.trace_tokens, 0);
    }
    let bad = SokobanGenConfig {
        interior_walls: 21,
        ..cfg
    };
    assert!(SokobanGenerator::new(bad).is_err());
}

#[test]
fn budget_is_a_typed_error() {
    let level = SokobanLevel::from_ascii(EXAMPLE_7722).unwrap();
    let err = SokobanSolver::new()
        .solve(&level, SearchMode::Deterministic, &mut Rng::new(0), 3)
        .unwrap_err();
    assert_eq!(err, Error::SearchBudget { max_expansions: 3 });
}

#[test]
fn cost_out_of_vocabulary_is_an_error() {
    let level = SokobanLevel::from_ascii(EXAMPLE_7722).unwrap();
    let vocab = Vocabulary::sokoban(7, 7, 3).unwrap();
    let err = SokobanSolver::new()
        .solve_tokens(
            &level,
            &vocab,
            SearchMode::Deterministic,
            &mut Rng::new(0),
            DEFAULT_MAX_EXPANSIONS,
        )
        .unwrap_err();
    assert!(
        matches!(err, Error::NotInVocabulary { what: "cost", .. }),
        "{err}"
    );
}

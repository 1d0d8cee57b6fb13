//! Parsing, validation and metrics on hand-worked examples.

use planform_trace::eval::{evaluate_response_strings, parse_response_strings, ResponseEval};
use planform_trace::grid::Pos;
use planform_trace::maze::MazeTask;
use planform_trace::metrics::{astar_reference_length, fraction_at_least, Summary, TaskScore};
use planform_trace::sokoban::SokobanLevel;
use planform_trace::task::Task;
use planform_trace::vocab::Vocabulary;

/// Example A: 3×3, start (0,0), goal (0,2), walls (0,1), (1,1); optimal plan 7 nodes.
fn example_a() -> (Task, Vocabulary) {
    let m = MazeTask::new(
        3,
        3,
        Pos::new(0, 0),
        Pos::new(0, 2),
        vec![Pos::new(0, 1), Pos::new(1, 1)],
    )
    .unwrap();
    (Task::Maze(m), Vocabulary::maze(3, 3).unwrap())
}

fn ev(task: &Task, vocab: &Vocabulary, s: &str) -> ResponseEval {
    let toks: Vec<&str> = s.split_whitespace().collect();
    evaluate_response_strings(task, vocab, &toks, 7)
}

const OPTIMAL: &str = "plan 0 0 plan 1 0 plan 2 0 plan 2 1 plan 2 2 plan 1 2 plan 0 2";

#[test]
fn maze_response_rules() {
    let (t, v) = example_a();
    // optimal with a 5-token trace; a leading bos is not counted
    let a = ev(&t, &v, &format!("bos create 0 0 c0 c2 {OPTIMAL} eos"));
    assert!(a.correct && a.optimal && a.has_eos && a.syntax_correct);
    assert_eq!((a.trace_tokens, a.plan_length), (5, 7));
    // without bos every token before `plan` counts
    let a2 = ev(&t, &v, &format!("create 0 0 c0 c2 {OPTIMAL}"));
    assert_eq!(a2.trace_tokens, 5);
    assert!(!a2.has_eos && a2.optimal);
    // a detour (revisiting cells) is correct but not optimal
    let b = ev(
        &t,
        &v,
        "bos plan 0 0 plan 1 0 plan 0 0 plan 1 0 plan 2 0 plan 2 1 plan 2 2 plan 1 2 plan 0 2 eos",
    );
    assert!(b.correct && !b.optimal);
    assert_eq!(b.plan_length, 9);
    // the keyword of a triplet is not checked for correctness
    let c = ev(
        &t,
        &v,
        "bos create 0 0 plan 1 0 plan 2 0 plan 2 1 plan 2 2 plan 1 2 plan 0 2 eos",
    );
    // the first `plan` starts the plan: `create 0 0` is trace, the plan misses the start
    assert_eq!((c.plan_length, c.trace_tokens, c.correct), (6, 3, false));
    let c = ev(
        &t,
        &v,
        "bos plan 0 0 create 1 0 plan 2 0 plan 2 1 plan 2 2 plan 1 2 plan 0 2 eos",
    );
    assert!(c.correct && c.optimal && !c.syntax_correct);
    // wrong start / wall / jump / goal
    assert!(
        !ev(
            &t,
            &v,
            "bos plan 1 0 plan 2 0 plan 2 1 plan 2 2 plan 1 2 plan 0 2 eos"
        )
        .correct
    );
    assert!(!ev(&t, &v, "bos plan 0 0 plan 0 1 plan 0 2 eos").correct);
    assert!(
        !ev(
            &t,
            &v,
            "bos plan 0 0 plan 2 0 plan 2 1 plan 2 2 plan 1 2 plan 0 2 eos"
        )
        .correct
    );
    assert!(!ev(&t, &v, "bos plan 0 0 plan 1 0 plan 2 0 eos").correct);
    // parse failures: no plan, ragged triplets, non-numbers, unknown strings, empty
    for bad in [
        "bos create 0 0 c0 c2 eos",
        "bos plan 0 0 plan 1 eos",
        "bos plan 0 c1 eos",
        "bos plan 0 zebra eos",
        "",
        "eos",
        "bos plan 0 0 eos plan 1 0 eos",
    ] {
        let e = ev(&t, &v, bad);
        assert!(
            !e.correct && e.plan_length == 0 && e.trace_tokens == 0,
            "{bad:?} -> {e:?}"
        );
    }
    let p = parse_response_strings(&v, &["bos", "create", "plan", "0", "0", "eos"]);
    assert_eq!(p.trace_tokens, 1);
    assert_eq!(p.plan, Some(vec![Pos::new(0, 0)]));
}

#[test]
fn maze_out_of_bounds_is_incorrect_not_a_panic() {
    // a 4×2 maze: the vocabulary has digits 0..3, so y = 3 is out of bounds
    let m = MazeTask::new(4, 2, Pos::new(0, 0), Pos::new(0, 1), vec![]).unwrap();
    let t = Task::Maze(m);
    let v = Vocabulary::maze(4, 2).unwrap();
    let e = evaluate_response_strings(
        &t,
        &v,
        &["plan", "0", "0", "plan", "0", "3", "plan", "0", "1"],
        2,
    );
    assert!(!e.correct);
}

#[test]
fn sokoban_response_rules() {
    let level = SokobanLevel::from_ascii("######\n#@$ .#\n######").unwrap();
    let t = Task::Sokoban(level);
    let v = Vocabulary::sokoban(6, 6, 100).unwrap();
    let e = |s: &str| {
        let toks: Vec<&str> = s.split_whitespace().collect();
        evaluate_response_strings(&t, &v, &toks, 3)
    };
    assert!(e("bos plan 1 1 plan 2 1 plan 3 1 eos").optimal);
    // the first position is not checked: only deltas matter
    assert!(e("bos plan 3 3 plan 4 3 plan 5 3 eos").optimal);
    // wall bumps are ignored (no-ops), so a longer plan can still be correct
    let bump = e("bos plan 1 1 plan 1 0 plan 1 1 plan 2 1 plan 3 1 eos");
    assert!(bump.correct && !bump.optimal);
    // a jump is incorrect, as is stopping early
    assert!(!e("bos plan 1 1 plan 3 1 eos").correct);
    assert!(!e("bos plan 1 1 plan 2 1 eos").correct);
}

/// Hand-worked metrics over three tasks.
#[test]
fn metrics_hand_example() {
    let (t, v) = example_a();
    let opt = |trace: usize| {
        ev(
            &t,
            &v,
            &format!("bos {} {OPTIMAL} eos", "create 0 0 c0 c2 ".repeat(trace)),
        )
    };
    let detour = |trace: usize| {
        ev(
            &t,
            &v,
            &format!(
                "bos {} plan 0 0 plan 1 0 plan 0 0 plan 1 0 plan 2 0 plan 2 1 plan 2 2 plan 1 2 plan 0 2 eos",
                "create 0 0 c0 c2 ".repeat(trace)
            ),
        )
    };
    let wrong = ev(&t, &v, "bos plan 0 0 plan 0 1 eos");
    // task 1: optimal (trace 5), detour (trace 10), wrong; t* = 30
    let s1 = TaskScore::new(&[opt(1), detour(2), wrong.clone()], 7, Some(30.0));
    assert_eq!(
        (s1.n_correct, s1.n_optimal, s1.shortest_correct),
        (2, 1, Some(7))
    );
    assert_eq!(s1.swc(), 1.0);
    assert_eq!(s1.ilr_solved(), Some(30.0 / 7.5));
    assert_eq!(s1.ilr_optimal(), Some(30.0 / 5.0));
    assert_eq!(s1.unique_correct_plans, 2);
    // task 2: only a detour (trace 20); t* = 10
    let s2 = TaskScore::new(&[detour(4), wrong.clone()], 7, Some(10.0));
    assert_eq!(s2.swc(), 7.0 / 9.0);
    assert_eq!(s2.ilr_solved(), Some(0.5));
    assert_eq!(s2.ilr_optimal(), Some(0.0));
    // task 3: nothing correct
    let s3 = TaskScore::new(&[wrong.clone(), wrong], 7, Some(10.0));
    assert_eq!(
        (s3.swc(), s3.ilr_solved(), s3.ilr_optimal()),
        (0.0, Some(0.0), Some(0.0))
    );
    let sum = Summary::new(&[s1.clone(), s2.clone(), s3.clone()]);
    assert_eq!(sum.tasks, 3);
    assert!((sum.solved - 2.0 / 3.0).abs() < 1e-12);
    assert!((sum.optimal - 1.0 / 3.0).abs() < 1e-12);
    assert!((sum.swc - (1.0 + 7.0 / 9.0) / 3.0).abs() < 1e-12);
    assert!((sum.ilr_on_solved.unwrap() - (4.0 + 0.5) / 3.0).abs() < 1e-12);
    assert!((sum.ilr_on_optimal.unwrap() - 6.0 / 3.0).abs() < 1e-12);
    assert_eq!(
        fraction_at_least(&[s1.clone(), s2.clone(), s3], 2, false),
        1.0 / 3.0
    );
    // a solution-only model (no trace tokens) has no ILR
    let s4 = TaskScore::new(&[opt(0)], 7, Some(30.0));
    assert_eq!(s4.ilr_solved(), None);
    assert_eq!(Summary::new(&[s1, s4]).ilr_on_solved, None);
}

#[test]
fn astar_reference_length_is_mean_over_runs() {
    let (t, v) = example_a();
    // a corridor: every run has the same 14-step trace (70 tokens)
    assert_eq!(astar_reference_length(&t, &v, 8, 1).unwrap(), 70.0);
    let open = Task::Maze(MazeTask::new(5, 5, Pos::new(0, 0), Pos::new(4, 4), vec![]).unwrap());
    let v5 = Vocabulary::maze(5, 5).unwrap();
    let a = astar_reference_length(&open, &v5, 16, 3).unwrap();
    assert_eq!(a, astar_reference_length(&open, &v5, 16, 3).unwrap());
    assert!(a >= 5.0 * 18.0, "at least 9 creates and 9 closes: {a}");
    assert!(astar_reference_length(&open, &v5, 0, 3).is_err());
}

//! The reduction rule on hand-made response sets for real maze tasks: the shortest optimal
//! response wins, ties go to the first, non-optimal responses are never kept, and without
//! an optimal response the fallback target stays. Statistics checked by hand.

mod common;

use planform_bootstrap::{reduce, PromptOutcome, TrainingStats};
use planform_data::{Example, Split};
use planform_eval::{score_task, Response, Retention, TaskInput};
use planform_trace::vocab::{Vocabulary, BOS, EOS};

fn rows() -> (Vocabulary, Vec<Example>) {
    let dir = tempfile::tempdir().unwrap();
    let ds = common::maze_dataset(&dir.path().join("d"), 5, 60, 3);
    let mut rows = ds.read_split(Split::Train).unwrap();
    rows.sort_by_key(|e| e.id);
    // Tasks whose plan has at least three nodes and whose trace has a few clauses.
    rows.retain(|e| e.plan.len() >= 9 && e.reasoning.len() >= 20);
    assert!(rows.len() >= 3);
    (ds.vocabulary().clone(), rows)
}

/// `bos reasoning plan eos`.
fn seq(reasoning: &[u32], plan: &[u32]) -> Vec<u32> {
    let mut v = vec![BOS];
    v.extend_from_slice(reasoning);
    v.extend_from_slice(plan);
    v.push(EOS);
    v
}

/// The plan with a detour (start, second cell, start again, rest): correct, two nodes
/// longer than optimal.
fn detour(plan: &[u32]) -> Vec<u32> {
    let mut p = plan[..6].to_vec();
    p.extend_from_slice(&plan[..6]);
    p.extend_from_slice(&plan[6..]);
    p
}

/// The plan with its last node replaced by the start (parses, wrong goal).
fn wrong_goal(plan: &[u32]) -> Vec<u32> {
    let mut p = plan.to_vec();
    let n = p.len();
    p[n - 2] = plan[1];
    p[n - 1] = plan[2];
    p
}

fn scored(
    e: &Example,
    vocab: &Vocabulary,
    responses: Vec<Vec<u32>>,
    keep: Retention,
) -> planform_eval::TaskResult {
    let input = TaskInput::from_example(e).unwrap();
    let responses = responses.into_iter().map(Response::from_tokens).collect();
    score_task(&input, vocab, responses, keep)
}

#[test]
fn shortest_optimal_is_kept_and_non_optimal_never() {
    let (vocab, rows) = rows();
    let e = &rows[0];
    let (r, p) = (&e.reasoning, &e.plan);
    // A clause is 5 tokens (`create x y cG cH`); shorter traces by whole clauses.
    let responses = vec![
        seq(r, p),                    // 0: A*: optimal, |r| trace tokens
        seq(&r[..10], &detour(p)),    // 1: correct, not optimal, shortest trace
        seq(&r[..15], p),             // 2: optimal, 15 tokens
        seq(&r[..5], &wrong_goal(p)), // 3: incorrect
        seq(&r[..20], p),             // 4: optimal, 20 tokens
        seq(&[], &detour(p)),         // 5: correct, not optimal, empty trace
    ];
    for keep in [Retention::ShortestOptimal, Retention::All] {
        let res = scored(e, &vocab, responses.clone(), keep);
        let red = reduce(&res, &vocab, 999).unwrap();
        assert_eq!(
            red.outcome,
            PromptOutcome {
                id: e.id,
                samples: 6,
                correct: 5,
                optimal: 3,
                kept_sample: Some(2),
                kept_reasoning: 15,
                astar_reasoning: r.len(),
            }
        );
        assert_eq!(red.target, Some((r[..15].to_vec(), p.clone())));
    }
}

#[test]
fn ties_go_to_the_first_sample() {
    let (vocab, rows) = rows();
    let e = &rows[1];
    let (r, p) = (&e.reasoning, &e.plan);
    // Two optimal responses with 10 trace tokens but different tokens; a longer one first.
    let responses = vec![seq(&r[..15], p), seq(&r[5..15], p), seq(&r[..10], p)];
    let res = scored(e, &vocab, responses, Retention::ShortestOptimal);
    let red = reduce(&res, &vocab, 0).unwrap();
    assert_eq!(red.outcome.kept_sample, Some(1));
    assert_eq!(red.target, Some((r[5..15].to_vec(), p.clone())));
}

#[test]
fn without_an_optimal_response_the_fallback_stays() {
    let (vocab, rows) = rows();
    let e = &rows[2];
    let (r, p) = (&e.reasoning, &e.plan);
    let responses = vec![
        seq(&[], &detour(p)),
        seq(r, &wrong_goal(p)),
        vec![BOS, EOS],
        seq(&r[..7], &[]), // no plan at all
    ];
    let res = scored(e, &vocab, responses, Retention::ShortestOptimal);
    let red = reduce(&res, &vocab, 42).unwrap();
    assert_eq!(red.target, None);
    assert_eq!(
        red.outcome,
        PromptOutcome {
            id: e.id,
            samples: 4,
            correct: 1,
            optimal: 0,
            kept_sample: None,
            kept_reasoning: 42,
            astar_reasoning: r.len(),
        }
    );
}

#[test]
fn dropped_tokens_are_an_error_not_a_panic() {
    let (vocab, rows) = rows();
    let e = &rows[0];
    let res = scored(e, &vocab, vec![seq(&e.reasoning, &e.plan)], Retention::None);
    let err = reduce(&res, &vocab, 0).unwrap_err();
    assert!(err.to_string().contains("were not kept"), "{err}");
}

#[test]
fn training_stats_by_hand() {
    let o = |id, correct, optimal, kept: Option<usize>, kept_len, astar| PromptOutcome {
        id,
        samples: 4,
        correct,
        optimal,
        kept_sample: kept,
        kept_reasoning: kept_len,
        astar_reasoning: astar,
    };
    let outcomes = [
        o(0, 2, 1, Some(3), 60, 100),  // improved, shorter
        o(1, 1, 1, Some(0), 120, 100), // improved, longer than A*
        o(2, 1, 0, None, 100, 100),    // solved, not optimal: fallback
        o(3, 0, 0, None, 200, 200),    // unsolved: fallback
    ];
    let s = TrainingStats::of(&outcomes);
    assert_eq!(
        (
            s.prompts,
            s.samples,
            s.solved,
            s.improved,
            s.shorter,
            s.kept_fallback
        ),
        (4, 4, 3, 2, 1, 2)
    );
    assert_eq!((s.improved_fraction, s.shorter_fraction), (0.5, 0.25));
    // kept: (60 + 120 + 100 + 200) / 4 = 120; A*: (100 + 100 + 100 + 200) / 4 = 125.
    assert_eq!(
        (s.kept_mean_reasoning, s.astar_mean_reasoning),
        (120.0, 125.0)
    );
    assert_eq!(s.kept_relative, Some(120.0 / 125.0));
    // Improved prompts only: (60 + 120) / 2 over (100 + 100) / 2.
    assert_eq!(s.improved_relative, Some(0.9));
    let empty = TrainingStats::of(&[]);
    assert_eq!(
        (empty.prompts, empty.kept_relative, empty.improved_relative),
        (0, None, None)
    );
}

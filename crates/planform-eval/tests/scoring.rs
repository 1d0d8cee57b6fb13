//! Scoring without a model: oracle A* responses are perfect, corrupted ones fail, and a
//! hand-made mix of responses gives hand-computed metrics.

mod common;

use common::{maze_dataset, oracle, oracle_fast, test_rows};
use planform_data::Example;
use planform_eval::{
    score_task, score_tasks, EvalMetrics, ModeChoice, Response, Retention, StopReason, TaskInput,
};
use planform_trace::vocab::{Keyword, Vocabulary, BOS, EOS};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 * b.abs().max(1.0)
}

fn inputs(rows: &[Example]) -> Vec<TaskInput> {
    rows.iter()
        .map(|e| TaskInput::from_example(e).unwrap())
        .collect()
}

/// Plan with a detour: start, second cell, start again, then the rest (two nodes more,
/// still correct).
fn detour(e: &Example) -> Vec<u32> {
    let p = &e.plan;
    assert!(p.len() >= 6, "plan of at least two nodes");
    let mut plan = p[..6].to_vec();
    plan.extend_from_slice(&p[..6]);
    plan.extend_from_slice(&p[6..]);
    let mut v = vec![BOS];
    v.extend_from_slice(&e.reasoning);
    v.extend_from_slice(&plan);
    v.push(EOS);
    v
}

/// The oracle with the last plan node moved to the start cell (parses, incorrect).
fn wrong_goal(e: &Example) -> Vec<u32> {
    let mut v = oracle(e);
    let n = v.len();
    // ... plan x y eos: the goal's x, y are at n-3, n-2; the start's at plan[1], plan[2].
    v[n - 3] = e.plan[1];
    v[n - 2] = e.plan[2];
    v
}

#[test]
fn oracle_responses_score_perfectly() {
    let dir = tempfile::tempdir().unwrap();
    let ds = maze_dataset(&dir.path().join("data"), 5, 48, Some(8), 1);
    let rows = test_rows(&ds);
    assert!(rows.len() >= 10, "{} test rows", rows.len());
    let vocab = ds.vocabulary();
    let tasks = inputs(&rows);
    let k = 3;
    let responses = rows
        .iter()
        .map(|e| (0..k).map(|_| Response::from_tokens(oracle(e))).collect())
        .collect();
    let results = score_tasks(&tasks, vocab, responses, Retention::All).unwrap();
    let m = EvalMetrics::compute(&results);
    let s = &m.summary;
    assert_eq!(
        (s.tasks, m.responses, m.samples_per_task),
        (rows.len(), rows.len() * k, k)
    );
    assert_eq!((s.solved, s.optimal, s.swc), (1.0, 1.0, 1.0));
    assert_eq!((m.solved_3, m.optimal_3), (Some(1.0), Some(1.0)));
    assert_eq!((m.correct_responses, m.optimal_responses), (1.0, 1.0));
    // ILR = mean over tasks of t* / (stored trace length).
    let want: f64 = rows
        .iter()
        .map(|e| e.astar_mean_reasoning.unwrap() / e.reasoning.len() as f64)
        .sum::<f64>()
        / rows.len() as f64;
    assert!(close(s.ilr_on_solved.unwrap(), want));
    assert!(close(s.ilr_on_optimal.unwrap(), want));
    // Every oracle response: eos, parsed, slow (`create` first), trace = A* trace.
    assert_eq!(
        (m.stops.eos, m.stops.max_len, m.stops.parse_failed),
        (rows.len() * k, 0, 0)
    );
    assert_eq!(m.modes.slow.responses, rows.len() * k);
    assert_eq!(m.modes.slow.optimal, rows.len() * k);
    assert_eq!(m.unique_correct_plans, 1.0);
    let astar_mean = rows.iter().map(|e| e.reasoning.len() as f64).sum::<f64>() / rows.len() as f64;
    assert!(close(m.astar_mean, astar_mean) && close(m.trace.mean, astar_mean));
    assert_eq!(
        m.trace.max,
        rows.iter().map(|e| e.reasoning.len()).max().unwrap()
    );
    assert!(close(m.trace_ratio.unwrap(), 1.0));
    assert!(close(m.optimal_trace.ratio.unwrap(), 1.0));
    assert_eq!(m.optimal_trace.tasks, rows.len());
    // Bootstrapping view: the kept sequence splits back into reasoning and plan.
    for (r, e) in results.iter().zip(&rows) {
        let best = r.shortest_optimal().unwrap();
        assert_eq!(
            best.reasoning_and_plan(vocab).unwrap(),
            (e.reasoning.clone(), e.plan.clone())
        );
    }

    // Solution-only oracles: optimal, fast, no trace, so ILR is undefined.
    let responses = rows
        .iter()
        .map(|e| vec![Response::from_tokens(oracle_fast(e))])
        .collect();
    let m = EvalMetrics::compute(&score_tasks(&tasks, vocab, responses, Retention::None).unwrap());
    assert_eq!(
        (m.summary.solved, m.summary.optimal, m.summary.swc),
        (1.0, 1.0, 1.0)
    );
    assert_eq!(
        (m.summary.ilr_on_solved, m.summary.ilr_on_optimal),
        (None, None)
    );
    assert_eq!(m.modes.fast.responses, rows.len());
    assert_eq!((m.solved_3, m.trace.mean), (None, 0.0)); // k = 1 < 3
}

#[test]
fn corrupted_responses_score_as_incorrect() {
    let dir = tempfile::tempdir().unwrap();
    let ds = maze_dataset(&dir.path().join("data"), 5, 40, None, 2);
    let rows = test_rows(&ds);
    let vocab = ds.vocabulary();
    for (e, t) in rows.iter().zip(inputs(&rows)) {
        let plan_kw = vocab.keyword(Keyword::Plan).unwrap();
        let mut truncated = oracle(e);
        truncated.truncate(truncated.len() - 2); // drops y of the goal and eos
        let mut no_plan = oracle(e);
        no_plan.truncate(1 + e.reasoning.len());
        let mut non_adjacent = oracle_fast(e);
        non_adjacent.drain(4..7); // skip the second node
        let mut no_keyword = oracle(e);
        let first_plan = 1 + e.reasoning.len();
        no_keyword[first_plan] = EOS; // the plan no longer starts at a `plan` token
        assert_eq!(no_keyword[first_plan + 3], plan_kw);
        let cases = [
            (wrong_goal(e), true),
            (truncated, false),
            (no_plan, false),
            (non_adjacent, true),
            (no_keyword, true),
            (vec![BOS, EOS], false),
            (vec![], false),
        ];
        let responses: Vec<Response> = cases
            .iter()
            .map(|(tokens, _)| Response::from_tokens(tokens.clone()))
            .collect();
        let r = score_task(&t, vocab, responses, Retention::None);
        assert_eq!(
            (r.score.n_correct, r.score.n_optimal),
            (0, 0),
            "task {}",
            e.id
        );
        for (s, (_, parses)) in r.samples.iter().zip(&cases) {
            assert_eq!(s.parsed(), *parses, "task {}", e.id);
            assert!(s.tokens.is_empty(), "Retention::None drops tokens");
        }
        assert_eq!(r.score.swc(), 0.0);
    }
}

/// Four tasks with hand-made responses (see the comments) and metrics worked out by hand.
#[test]
fn mixed_responses_give_hand_computed_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let ds = maze_dataset(&dir.path().join("data"), 5, 40, None, 3);
    let rows = test_rows(&ds);
    let (a, b, c, d) = (&rows[0], &rows[1], &rows[2], &rows[3]);
    let vocab: &Vocabulary = ds.vocabulary();
    let tstar = [10.0, 20.0, 30.0, 40.0];
    let mut tasks = inputs(&rows[..4]);
    for (t, s) in tasks.iter_mut().zip(tstar) {
        t.tstar = Some(s);
    }
    let (ta, tc, td) = (
        a.reasoning.len() as f64,
        c.reasoning.len() as f64,
        d.reasoning.len() as f64,
    );
    let lstar_d = d.plan_length as f64;
    let mut reasoning_only = vec![BOS];
    reasoning_only.extend_from_slice(&b.reasoning);
    let mut truncated = oracle(b);
    truncated.remove(truncated.len() - 2);
    let responses = vec![
        // A: optimal (slow), correct detour (slow, same trace), empty answer (other).
        vec![oracle(a), detour(a), vec![BOS, EOS]],
        // B: wrong goal (parses), truncated plan (fails), trace cut off without eos.
        vec![wrong_goal(b), truncated, reasoning_only],
        // C: optimal without trace (fast) and with trace (slow).
        vec![oracle_fast(c), oracle(c)],
        // D: only a detour: correct, not optimal.
        vec![detour(d)],
    ];
    let responses = responses
        .into_iter()
        .map(|v| v.into_iter().map(Response::from_tokens).collect())
        .collect();
    let results = score_tasks(&tasks, vocab, responses, Retention::All).unwrap();
    let m = EvalMetrics::compute(&results);
    let s = &m.summary;

    assert_eq!((m.tasks, m.responses, m.samples_per_task), (4, 9, 3));
    assert!(close(s.solved, 0.75) && close(s.optimal, 0.5));
    assert!(close(
        s.swc,
        (1.0 + 0.0 + 1.0 + lstar_d / (lstar_d + 2.0)) / 4.0
    ));
    // ILR-on-solved: A t*/T_A (both correct have trace T_A), B 0, C t*/(T_C/2), D t*/T_D.
    let ilr_s = (10.0 / ta + 0.0 + 30.0 / (tc / 2.0) + 40.0 / td) / 4.0;
    let ilr_o = (10.0 / ta + 0.0 + 30.0 / (tc / 2.0) + 0.0) / 4.0;
    assert!(
        close(s.ilr_on_solved.unwrap(), ilr_s),
        "{:?} vs {ilr_s}",
        s.ilr_on_solved
    );
    assert!(close(s.ilr_on_optimal.unwrap(), ilr_o));
    assert_eq!((m.solved_3, m.optimal_3), (Some(0.0), Some(0.0)));
    assert!(close(m.correct_responses, 5.0 / 9.0) && close(m.optimal_responses, 3.0 / 9.0));
    // Distinct correct plans: A 2, B 0, C 1, D 1.
    assert!(close(m.unique_correct_plans, 1.0));
    assert_eq!(results[0].score.unique_correct_plans, 2);
    // Stops: only B's cut-off trace lacks eos; A's empty answer, B's truncated plan and
    // B's cut-off trace fail to parse.
    assert_eq!(
        (m.stops.eos, m.stops.max_len, m.stops.parse_failed),
        (8, 1, 3)
    );
    assert_eq!(results[1].samples[2].stop, StopReason::MaxLen);
    // Modes: fast = C's first; other = A's empty answer; slow = the remaining 7.
    assert_eq!(
        (
            m.modes.fast.responses,
            m.modes.fast.correct,
            m.modes.fast.optimal
        ),
        (1, 1, 1)
    );
    assert_eq!(
        (
            m.modes.slow.responses,
            m.modes.slow.correct,
            m.modes.slow.optimal
        ),
        (7, 4, 2)
    );
    assert_eq!((m.modes.other.responses, m.modes.other.correct), (1, 0));
    assert_eq!(results[0].samples[2].mode, ModeChoice::Other);
    // Trace lengths of the 6 parsed responses: T_A, T_A, T_B, 0, T_C, T_D.
    let mut traces = [ta, ta, b.reasoning.len() as f64, 0.0, tc, td];
    assert_eq!(m.trace.count, 6);
    assert!(close(m.trace.mean, traces.iter().sum::<f64>() / 6.0));
    traces.sort_by(f64::total_cmp);
    assert_eq!(m.trace.median as f64, traces[2]);
    assert_eq!(m.trace.max as f64, traces[5]);
    // Optimal responses vs A*: tasks A (T_A) and C (T_C / 2) against their A* traces.
    assert_eq!(m.optimal_trace.tasks, 2);
    assert!(close(m.optimal_trace.response_mean, (ta + tc / 2.0) / 2.0));
    assert!(close(m.optimal_trace.astar_mean, (ta + tc) / 2.0));
    assert!(close(m.optimal_trace.tstar_mean.unwrap(), 20.0));
    // Per-task records.
    let rec = results[3].record();
    assert_eq!(
        rec.best_correct_plan_length,
        Some(d.plan_length as usize + 2)
    );
    assert!(rec.solved && !rec.optimal && rec.ilr_optimal == Some(0.0));
    assert!(close(rec.swc, lstar_d / (lstar_d + 2.0)));
    // Shortest optimal of C is the fast one (trace 0).
    assert_eq!(results[2].shortest_optimal().unwrap().eval.trace_tokens, 0);
    let err = score_tasks(&tasks, vocab, vec![vec![]; 4], Retention::None).unwrap_err();
    assert!(err.to_string().contains("no responses"), "{err}");
}

//! End to end with a tiny trained checkpoint: files, consistent counts, determinism,
//! forced modes, bad inputs.

mod common;

use std::path::Path;

use common::{maze_dataset, tiny_checkpoint};
use planform_eval::{
    evaluate, evaluate_to, DeviceChoice, EvalConfig, EvalError, EvalReport, MaxLen, Mode,
    ModeChoice, Progress, ResponseLine, Sampler, StopReason, TStarSource, TaskRecord,
    RESPONSES_JSONL, SUMMARY_JSON, SUMMARY_MD, TASKS_JSONL,
};

fn config(run: &Path, data: &Path) -> EvalConfig {
    let mut c = EvalConfig::new(run, data);
    c.tasks = 4;
    c.samples = 3;
    c.batch_rows = 2; // several generate calls (chunks of ceil(8·2/3) = 6 tasks ≥ 4: one)
    c.device = DeviceChoice::Cpu;
    c.seed = 7;
    c.tstar_runs = 4;
    c
}

#[test]
fn end_to_end_files_modes_and_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let run = tmp.path().join("run");
    let ds = maze_dataset(&data, 5, 40, None, 5);
    tiny_checkpoint(&ds, &run);

    // Auto mode, written out.
    let out = tmp.path().join("eval");
    let cfg = config(&run, &data);
    let mut seen: Vec<Progress> = Vec::new();
    let ev = evaluate_to(&cfg, &out, &mut |p| seen.push(*p)).unwrap();
    assert_eq!(seen.first().map(|p| p.tasks_done), Some(0));
    assert_eq!(
        seen.last().map(|p| (p.tasks_done, p.tasks_total)),
        Some((4, 4))
    );
    for f in [SUMMARY_MD, SUMMARY_JSON, TASKS_JSONL] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let report: EvalReport =
        serde_json::from_str(&std::fs::read_to_string(out.join(SUMMARY_JSON)).unwrap()).unwrap();
    assert_eq!(report, ev.report);
    let h = &report.header;
    assert_eq!((h.tasks, h.samples, h.mode, h.step), (4, 3, Mode::Auto, 2));
    // No t* column in this dataset: computed here, for every task.
    assert_eq!(
        h.tstar,
        TStarSource::Computed {
            tasks: 4,
            runs: 4,
            seed: 7
        }
    );
    assert_eq!(h.max_len, (h.longest_target as f64 * 1.5).ceil() as usize);
    let records: Vec<TaskRecord> = std::fs::read_to_string(out.join(TASKS_JSONL))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 4);
    let ids: Vec<u64> = records.iter().map(|r| r.id).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted);
    let m = &report.metrics;
    assert_eq!((m.tasks, m.responses), (4, 12));
    assert!(records
        .iter()
        .all(|r| r.samples.len() == 3 && r.tstar.is_some()));
    let all = || records.iter().flat_map(|r| r.samples.iter());
    assert_eq!(m.stops.eos + m.stops.max_len, 12);
    assert_eq!(m.stops.parse_failed, all().filter(|s| !s.parsed).count());
    assert_eq!(
        m.stops.max_len,
        all().filter(|s| s.stop == StopReason::MaxLen).count()
    );
    assert!(all().all(|s| s.length <= h.max_len));
    assert!(all()
        .filter(|s| s.stop == StopReason::MaxLen)
        .all(|s| s.length == h.max_len));
    assert_eq!(
        m.modes.fast.responses + m.modes.slow.responses + m.modes.other.responses,
        12
    );
    assert_eq!(
        m.modes.slow.responses,
        all().filter(|s| s.mode == ModeChoice::Slow).count()
    );
    let solved = records.iter().filter(|r| r.solved).count() as f64 / 4.0;
    assert_eq!(m.summary.solved, solved);
    let correct = all().filter(|s| s.correct).count() as f64 / 12.0;
    assert_eq!(m.correct_responses, correct);
    assert_eq!(
        report.timing.generated_tokens,
        all().map(|s| s.length - 1).sum::<usize>()
    );
    let md = std::fs::read_to_string(out.join(SUMMARY_MD)).unwrap();
    assert!(
        md.contains("| solved (1 of 3) |") && md.contains("auto mode chose"),
        "{md}"
    );
    assert!(md.contains("computed on the fly for 4 of 4 tasks"), "{md}");

    // Same seed, other batch size and chunking: the same responses.
    let mut cfg2 = config(&run, &data);
    cfg2.batch_rows = 1; // chunks of 8 rows → 3 tasks per generate call
    cfg2.save_responses = true;
    let out2 = tmp.path().join("eval2");
    let ev2 = evaluate_to(&cfg2, &out2, &mut |_| {}).unwrap();
    let records2: Vec<TaskRecord> = ev2.results.iter().map(|r| r.record()).collect();
    assert_eq!(records2, records);
    // Saved responses: one line per response, tokens as strings from `bos`.
    let lines: Vec<ResponseLine> = std::fs::read_to_string(out2.join(RESPONSES_JSONL))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 12);
    for (line, (r, s)) in lines.iter().zip(
        ev2.results
            .iter()
            .flat_map(|r| r.samples.iter().map(move |s| (r, s))),
    ) {
        assert_eq!((line.id, line.correct), (r.id, s.eval.correct));
        assert_eq!(line.tokens.split(' ').count(), s.length);
        assert!(line.tokens.starts_with("bos"));
    }
    assert!(!out.join(RESPONSES_JSONL).exists());

    // Forced modes: every response starts with the forced token.
    for (mode, want) in [
        (Mode::Fast, ModeChoice::Fast),
        (Mode::Slow, ModeChoice::Slow),
    ] {
        let mut c = config(&run, &data);
        c.mode = mode;
        c.sampler = Sampler::Greedy;
        c.max_len = MaxLen::Fixed(40);
        let ev = evaluate(&c, &mut |_| {}).unwrap();
        let m = &ev.report.metrics;
        assert!(ev
            .results
            .iter()
            .flat_map(|r| &r.samples)
            .all(|s| s.mode == want));
        assert!(ev
            .results
            .iter()
            .flat_map(|r| &r.samples)
            .all(|s| s.length <= 40));
        let md = ev.report.to_markdown();
        assert!(!md.contains("auto mode chose"), "{md}");
        if mode == Mode::Fast {
            assert_eq!(m.trace.max, 0, "fast responses have no trace");
        }
    }

    // Bad inputs.
    let mut c = config(&run, &data);
    c.samples = 0;
    assert!(matches!(
        evaluate(&c, &mut |_| {}),
        Err(EvalError::Config {
            field: "samples",
            ..
        })
    ));
    let c = config(&tmp.path().join("missing"), &data);
    let err = evaluate(&c, &mut |_| {}).unwrap_err();
    assert!(matches!(err, EvalError::MissingCheckpoint(_)), "{err}");
    assert!(err.to_string().contains("missing"), "{err}");
    let err = evaluate(&config(&data, &data), &mut |_| {}).unwrap_err();
    assert!(matches!(err, EvalError::MissingCheckpoint(_)), "{err}");
    // A corrupt checkpoint: truncated weights.
    let step = run.join("checkpoints/step-000002/model.safetensors");
    let bytes = std::fs::read(&step).unwrap();
    std::fs::write(&step, &bytes[..bytes.len() / 2]).unwrap();
    let err = evaluate(&config(&run, &data), &mut |_| {}).unwrap_err();
    assert!(matches!(err, EvalError::Model(_)), "{err}");
    std::fs::write(&step, &bytes).unwrap();
    let other = tmp.path().join("data6");
    maze_dataset(&other, 6, 20, None, 1);
    let err = evaluate(&config(&run, &other), &mut |_| {}).unwrap_err();
    assert!(matches!(err, EvalError::VocabMismatch { .. }), "{err}");
    assert!(err.to_string().contains("data6"), "{err}");
}

#[test]
fn dataset_tstar_is_used_when_present() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let run = tmp.path().join("run");
    let ds = maze_dataset(&data, 5, 40, Some(6), 9);
    tiny_checkpoint(&ds, &run);
    let mut c = config(&run, &data);
    c.tasks = 1000; // more than the split holds: all of it
    c.samples = 1;
    c.max_len = MaxLen::Fixed(30);
    let ev = evaluate(&c, &mut |_| {}).unwrap();
    let test = common::test_rows(&ds);
    assert_eq!(ev.report.header.tasks, test.len());
    assert_eq!(
        ev.report.header.tstar,
        TStarSource::Dataset { runs: Some(6) }
    );
    for (r, e) in ev.results.iter().zip(&test) {
        assert_eq!((r.id, r.tstar), (e.id, e.astar_mean_reasoning));
    }
}

#[test]
fn eval_tasks_are_the_first_by_hashed_id_spread_over_layouts() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = maze_dataset(&tmp.path().join("data"), 5, 400, None, 3);
    let all = common::test_rows(&ds);
    assert!(all.len() > 12, "{} test rows", all.len());
    // Brute force: sort every test row by (hash, id), take 12, back to id order.
    let mut expect: Vec<u64> = all.iter().map(|e| e.id).collect();
    expect.sort_by_key(|&id| (planform_core::rng::id_hash(id), id));
    expect.truncate(12);
    expect.sort_unstable();
    let got: Vec<u64> = planform_eval::hashed_examples(&ds, planform_data::Split::Test, 12)
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(got, expect);
    // More than the split holds: all of it, in id order.
    let every = planform_eval::hashed_examples(&ds, planform_data::Split::Test, 100_000).unwrap();
    let mut ids: Vec<u64> = all.iter().map(|e| e.id).collect();
    ids.sort_unstable();
    assert_eq!(every.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
    // Not simply the lowest ids (those come from the first wall layouts generated).
    let first: Vec<u64> = ids[..12].to_vec();
    assert_ne!(got, first);
}

#[test]
fn a_decoder_only_checkpoint_evaluates_in_every_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let run = tmp.path().join("run");
    let ds = maze_dataset(&data, 5, 40, None, 5);
    common::tiny_decoder_checkpoint(&ds, &run);
    let plan = ds.vocabulary().id("plan").unwrap();
    for mode in [Mode::Fast, Mode::Slow, Mode::Auto] {
        let mut cfg = config(&run, &data);
        cfg.mode = mode;
        cfg.save_responses = true;
        let a = evaluate(&cfg, &mut |_| {}).unwrap();
        let b = evaluate(&cfg, &mut |_| {}).unwrap();
        assert_eq!(a.results, b.results, "{mode:?}: same seed, same responses");
        let m = &a.report.metrics;
        assert_eq!((m.tasks, m.responses), (4, 12));
        assert_eq!(m.stops.eos + m.stops.max_len, 12);
        for r in &a.results {
            for s in &r.samples {
                // bos, then the forced prefix of the mode.
                assert_eq!(s.tokens.first(), Some(&0));
                if mode == Mode::Fast {
                    assert_eq!(s.tokens.get(1), Some(&plan), "{mode:?}");
                }
            }
        }
    }
}

//! End to end on 5×5 mazes with a small base model: a 2-iteration bootstrap writes its
//! datasets, checkpoints and result lines; a bootstrap killed at many points and resumed
//! writes the same bytes as an uninterrupted one; bad state and changed configs are clear
//! errors.

mod common;

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use planform_bootstrap::{
    read_jsonl, read_provenance, run, BootstrapError, Event, IterationRecord, Phase, StartMode,
    State, JSONL_FILE, MARKDOWN_FILE, STATE_FILE,
};
use planform_data::{Dataset, Split};
use planform_train::checkpoint::read_state;

/// The uninterrupted reference run (once per test binary).
fn uninterrupted() -> &'static PathBuf {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        common::fixture();
        let _g = common::lock();
        let out = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap()
            .keep()
            .join("boot");
        let t0 = std::time::Instant::now();
        let outcome = run(common::small_config(&out), StartMode::Auto, &mut |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
        eprintln!(
            "uninterrupted bootstrap: {:.1}s",
            t0.elapsed().as_secs_f64()
        );
        assert!(outcome.completed);
        out
    })
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn final_weights(out: &Path) -> Vec<u8> {
    let st = State::load(out).unwrap().unwrap();
    let rel = st.iterations[2].checkpoint.clone().unwrap();
    read(&out.join(rel).join("model.safetensors"))
}

#[test]
fn two_iterations_write_datasets_checkpoints_and_results() {
    let out = uninterrupted();
    let (data, base) = common::fixture();
    let records: Vec<IterationRecord> = read_jsonl(&out.join(JSONL_FILE)).unwrap();
    assert_eq!(
        records.iter().map(|r| r.iteration).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert_eq!(records[0].step, common::BASE_STEPS);
    assert!(records[0].train.is_none() && records[0].finetune.is_none());
    let md = String::from_utf8(read(&out.join(MARKDOWN_FILE))).unwrap();
    assert_eq!(
        md.lines().filter(|l| l.starts_with("| ")).count(),
        4,
        "{md}"
    );

    let original = Dataset::open(data).unwrap();
    let mut test = original.read_split(Split::Test).unwrap();
    test.sort_by_key(|e| e.id);
    let by_id: HashMap<u64, _> = original
        .read_split(Split::Train)
        .unwrap()
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    let state = State::load(out).unwrap().unwrap();
    for (i, r) in records.iter().enumerate().skip(1).take(2) {
        let stats = r.train.expect("training stats");
        assert_eq!(stats.prompts, 24);
        assert_eq!(stats.samples, 4);
        assert_eq!(stats.improved + stats.kept_fallback, 24);
        assert!(stats.shorter <= stats.improved && stats.improved <= stats.solved);
        let ft = r.finetune.clone().expect("fine-tune summary");
        assert_eq!((ft.steps, ft.warmup_steps, ft.batch), (6, 1, 4));
        assert_eq!(r.step, 6);
        assert!(ft.train_loss.is_some_and(f64::is_finite));
        assert_eq!(r.test.tasks, 6);
        assert_eq!(r.test.samples, 2);

        // The improved dataset: same vocabulary, the original test split, one row per
        // prompt; fallback rows are the A* rows, improved rows keep the prompt.
        let dir = out.join(format!("iter-{i}/data"));
        let ds = Dataset::open(&dir).unwrap();
        assert_eq!(ds.vocabulary().tokens(), original.vocabulary().tokens());
        let mut t = ds.read_split(Split::Test).unwrap();
        t.sort_by_key(|e| e.id);
        assert_eq!(t, test);
        let rows = ds.read_split(Split::Train).unwrap();
        assert_eq!(rows.len(), 24);
        let (mut same, mut kept_total) = (0, 0usize);
        for row in &rows {
            let orig = &by_id[&row.id];
            assert_eq!(
                (&row.prompt, row.plan_length),
                (&orig.prompt, orig.plan_length)
            );
            same += usize::from(row == orig);
            kept_total += row.reasoning.len();
        }
        assert!(same >= stats.kept_fallback);
        assert!((kept_total as f64 / 24.0 - stats.kept_mean_reasoning).abs() < 1e-9);
        let prov = read_provenance(&dir).unwrap();
        assert_eq!((prov.iteration, prov.samples_per_prompt), (i, 4));
        assert_eq!(prov.train, stats);

        // The fine-tune started from the previous checkpoint with a fresh schedule.
        let ck = out.join(state.iterations[i].checkpoint.clone().unwrap());
        let st = read_state(&ck).unwrap();
        let init = st.config.init_from.clone().expect("init_from");
        let want = if i == 1 {
            state.base_checkpoint.clone()
        } else {
            out.join(state.iterations[1].checkpoint.clone().unwrap())
        };
        assert_eq!(init.checkpoint, want);
        assert!(init.optimizer);
        assert_eq!(st.config.data_dir, dir);
        assert_eq!((st.step, st.config.optim.lr), (6, 7.5e-5));
    }
    assert!(state.base_checkpoint.starts_with(base));
    for i in 0..=2 {
        assert!(out.join(format!("iter-{i}/eval/summary.json")).is_file());
    }
}

/// Stops the bootstrap at the `n`-th event that `stop` selects.
fn run_until(out: &Path, stop: &dyn Fn(&Event) -> bool, n: usize) -> bool {
    let mut seen = 0;
    let outcome = run(common::small_config(out), StartMode::Auto, &mut |e| {
        if stop(e) {
            seen += 1;
            if seen == n {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    outcome.completed
}

/// When to stop a run (the predicate on events) and on which of its matches.
type Stop = (Box<dyn Fn(&Event) -> bool>, usize);

#[test]
fn killed_and_resumed_matches_uninterrupted() {
    let reference = uninterrupted();
    let _g = common::lock();
    let out = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
        .keep()
        .join("boot");
    // A kill after the first saved chunk (mid-sampling), after the reduction, in the
    // middle of fine-tune 1 (after its step-2 checkpoint, at step 3), after the base
    // evaluation of ... each time resumed by running the same config again.
    let stops: Vec<Stop> = vec![
        (
            Box::new(|e| matches!(e, Event::PhaseDone { iteration: 0, .. })),
            1,
        ),
        (
            Box::new(|e| matches!(e, Event::ChunkSaved { iteration: 1, .. })),
            1,
        ),
        (
            Box::new(|e| matches!(e, Event::ChunkSaved { iteration: 1, .. })),
            1,
        ),
        (
            Box::new(|e| {
                matches!(
                    e,
                    Event::PhaseDone {
                        phase: Phase::Reduced,
                        ..
                    }
                )
            }),
            1,
        ),
        (
            Box::new(|e| matches!(e, Event::Training { progress, .. } if progress.step == 3)),
            1,
        ),
        (
            Box::new(|e| {
                matches!(
                    e,
                    Event::PhaseDone {
                        phase: Phase::FineTuned,
                        ..
                    }
                )
            }),
            1,
        ),
        (
            Box::new(|e| {
                matches!(
                    e,
                    Event::PhaseDone {
                        iteration: 2,
                        phase: Phase::DatasetWritten
                    }
                )
            }),
            1,
        ),
        (
            Box::new(|e| matches!(e, Event::Training { iteration: 2, .. })),
            5,
        ),
    ];
    for (k, (stop, n)) in stops.iter().enumerate() {
        assert!(!run_until(&out, stop.as_ref(), *n), "stop {k} did not stop");
    }
    assert!(run_until(&out, &|_| false, 1));
    for f in [JSONL_FILE, MARKDOWN_FILE] {
        assert_eq!(read(&out.join(f)), read(&reference.join(f)), "{f}");
    }
    assert_eq!(final_weights(&out), final_weights(reference));
    for i in 1..=2 {
        let shard = format!("iter-{i}/data/train-00000.parquet");
        assert_eq!(
            read(&out.join(&shard)),
            read(&reference.join(&shard)),
            "{shard}"
        );
    }
    // Running a finished bootstrap again changes nothing.
    assert!(run_until(&out, &|_| false, 1));
    assert_eq!(
        read(&out.join(JSONL_FILE)),
        read(&reference.join(JSONL_FILE))
    );
}

#[test]
fn bad_state_and_changed_config_are_clear_errors() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("boot");
    std::fs::create_dir_all(&out).unwrap();
    let cfg = common::small_config(&out);
    let err = |mode| run(cfg.clone(), mode, &mut |_| ControlFlow::Continue(())).unwrap_err();

    // Nothing to resume.
    assert!(matches!(
        err(StartMode::Resume),
        BootstrapError::NothingToResume(_)
    ));
    // A directory holding something else.
    std::fs::write(out.join("notes.txt"), "x").unwrap();
    assert!(matches!(
        err(StartMode::Auto),
        BootstrapError::NotABootstrapDir(_)
    ));
    std::fs::remove_file(out.join("notes.txt")).unwrap();

    // Corrupt state.json: not JSON, wrong format, inconsistent phases.
    let state_path = out.join(STATE_FILE);
    for (text, want) in [
        ("{ truncated", "not valid JSON"),
        ("{\"format\": \"other\", \"version\": 1}", "`format` is not"),
    ] {
        std::fs::write(&state_path, text).unwrap();
        let e = err(StartMode::Auto);
        let msg = e.to_string();
        assert!(matches!(e, BootstrapError::State { .. }), "{msg}");
        assert!(
            msg.contains(want) && msg.contains("state.json") && msg.contains("corrupt"),
            "{msg}"
        );
    }
    let mut st = State::new(cfg.clone(), PathBuf::from("base/checkpoints/step-000001"));
    st.iterations[1].phase = Phase::Reduced; // before iteration 0 is evaluated
    st.save(&out).unwrap();
    let msg = err(StartMode::Auto).to_string();
    assert!(msg.contains("before iteration 0 was evaluated"), "{msg}");
    st.iterations[1].phase = Phase::Started;
    st.iterations[0].phase = Phase::Evaluated; // evaluated without a record
    st.save(&out).unwrap();
    let msg = err(StartMode::Auto).to_string();
    assert!(msg.contains("has no record"), "{msg}");

    // A changed config names the field.
    st.iterations[0].phase = Phase::FineTuned;
    st.save(&out).unwrap();
    let mut changed = cfg.clone();
    changed.finetune.steps = 7;
    changed.sample.samples = 5;
    let e = run(changed, StartMode::Auto, &mut |_| ControlFlow::Continue(())).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, BootstrapError::ConfigChanged { .. }), "{msg}");
    assert!(
        msg.contains("finetune.steps: 6 → 7") && msg.contains("sample.samples: 4 → 5"),
        "{msg}"
    );
}

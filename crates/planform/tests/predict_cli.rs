//! `planform predict` as a user runs it: a tiny checkpoint (trained 2 steps here, each
//! family) on a few maze tasks. Every line of output parses; the counts agree with the
//! samples and with `planform solve`'s A*; a bad line gets an error record while the others
//! are processed and the exit status names it; the same seed gives the same output, also
//! with another `--batch-rows`, and another seed another; `-o` writes the file whole.

use std::path::Path;

use planform_eval::{LineError, PredictionRecord};
use serde_json::Value;

mod common;
use common::{ok, run, s, tiny_checkpoint};

const TASKS: [&str; 3] = [
    r#"{"width": 5, "height": 5, "start": [0, 0], "goal": [4, 4], "walls": [[1, 1], [2, 2], [3, 3]]}"#,
    r#"{"width": 5, "height": 5, "start": [0, 4], "goal": [4, 0], "walls": [[2, 0], [2, 1], [2, 2]]}"#,
    r#"{"width": 5, "height": 5, "start": [1, 2], "goal": [3, 2], "walls": [[2, 2]]}"#,
];

/// The output lines: records and error records, in order.
fn lines(out: &[u8]) -> Vec<Result<PredictionRecord, LineError>> {
    String::from_utf8(out.to_vec())
        .expect("utf-8 output")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            if v.get("error").is_some() {
                Err(serde_json::from_value(v).expect("error record"))
            } else {
                Ok(serde_json::from_value(v).expect("prediction record"))
            }
        })
        .collect()
}

fn write(dir: &Path, name: &str, lines: &[&str]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, lines.join("\n") + "\n").expect("write tasks");
    s(&p).to_string()
}

/// Checks a record against itself and `planform solve`'s A* for the same task.
fn check_record(r: &PredictionRecord, k: usize, task_line: &str, dir: &Path) {
    assert_eq!(r.samples.len(), k);
    assert_eq!(r.domain, "maze");
    assert_eq!(r.n_valid, r.samples.iter().filter(|s| s.valid).count());
    assert_eq!(r.n_optimal, r.samples.iter().filter(|s| s.optimal).count());
    assert_eq!(r.solved, r.n_valid > 0);
    assert_eq!(r.optimal, r.n_optimal > 0);
    for (i, smp) in r.samples.iter().enumerate() {
        assert_eq!(smp.sample, i);
        assert!(!smp.optimal || smp.valid);
        assert!(smp.trace.len() + smp.plan.len() < r.max_len);
        if smp.plan_length > 0 {
            assert_eq!(smp.plan.len(), 3 * smp.plan_length);
            assert_eq!(smp.trace_tokens, smp.trace.len());
        }
        if smp.optimal {
            assert_eq!(smp.plan_length, r.optimal_plan_length);
        }
    }
    // The optimal plan length and A* trace are those of `planform solve`.
    let file = write(dir, "one.jsonl", &[task_line]);
    let solved: Value = serde_json::from_slice(&ok(&["solve", &file]).stdout).expect("solve");
    let plan = solved["plan"].as_array().expect("plan").len();
    let reasoning = solved["reasoning"].as_array().expect("reasoning").len();
    assert_eq!(r.optimal_plan_length * 3, plan);
    assert_eq!(r.astar_trace_tokens, reasoning);
    assert_eq!(
        serde_json::to_value(&r.task).unwrap(),
        serde_json::from_str::<Value>(task_line).unwrap()
    );
}

#[test]
fn predicts_scores_reports_bad_lines_and_is_deterministic() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let ck = tiny_checkpoint(dir, "tiny");
    let input = write(
        dir,
        "tasks.jsonl",
        &[
            TASKS[0],
            "{not json",
            "",
            r#"{"width": 7, "height": 7, "start": [0, 0], "goal": [6, 6], "walls": []}"#,
            TASKS[1],
            r#"{"width": 5, "height": 5, "start": [0, 0], "goal": [2, 0], "walls": [[1, 0], [1, 1], [1, 2], [1, 3], [1, 4]]}"#,
            TASKS[2],
        ],
    );
    let base = [
        "predict",
        "--checkpoint",
        &ck,
        "--device",
        "cpu",
        "-k",
        "3",
        "--sampler",
        "temperature",
        "--seed",
        "5",
    ];
    let out = run(&[&base[..], &[input.as_str()]].concat());
    assert_eq!(
        out.status.code(),
        Some(1),
        "bad lines make the exit status 1"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("3 of 6 task lines failed (lines 2, 4, 6)"),
        "stderr names the failed lines: {stderr}"
    );
    let got = lines(&out.stdout);
    assert_eq!(got.len(), 6, "one output line per non-blank input line");
    let errors: Vec<&LineError> = got.iter().filter_map(|l| l.as_ref().err()).collect();
    let lines_failed: Vec<usize> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines_failed, vec![2, 4, 6]);
    assert!(
        errors[0].error.contains("invalid task JSON"),
        "{}",
        errors[0].error
    );
    assert!(errors[1].error.contains("7x7 maze") && errors[1].error.contains("5x5 mazes"));
    assert!(
        errors[2].error.contains("A* cannot solve"),
        "{}",
        errors[2].error
    );
    let records: Vec<&PredictionRecord> = got.iter().filter_map(|l| l.as_ref().ok()).collect();
    assert_eq!(
        records.iter().map(|r| r.line).collect::<Vec<_>>(),
        vec![1, 5, 7]
    );
    for (r, task) in records.iter().zip(TASKS) {
        check_record(r, 3, task, dir);
        assert_eq!(r.sampler, "temperature 1");
    }

    // Same seed, same output; also with fewer rows at once.
    let again = run(&[&base[..], &[input.as_str(), "--batch-rows", "2"]].concat());
    assert_eq!(again.stdout, out.stdout, "same seed and input, same output");
    // Another seed samples other responses.
    let other = run(&[&base[..10], &["9", input.as_str()]].concat());
    assert_ne!(other.stdout, out.stdout);

    // -o writes the same lines into a file (and nothing on stdout).
    let good = write(dir, "good.jsonl", &TASKS);
    let file = dir.join("pred.jsonl");
    let o = ok(&[&base[..], &[good.as_str(), "-o", s(&file)]].concat());
    assert!(o.stdout.is_empty());
    let from_file = lines(&std::fs::read(&file).expect("output file"));
    assert_eq!(from_file.len(), 3);
    assert!(from_file.iter().all(|r| r.is_ok()));
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(names.is_empty(), "no temporary file left: {names:?}");
}

#[test]
fn decoder_only_checkpoints_and_modes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let ck = tiny_checkpoint(dir, "decoder-only:tiny");
    let input = write(dir, "tasks.jsonl", &TASKS);
    for (mode, first) in [("fast", "plan"), ("slow", "create")] {
        let out = ok(&[
            "predict",
            "--checkpoint",
            &ck,
            "--device",
            "cpu",
            "--mode",
            mode,
            &input,
        ]);
        for r in lines(&out.stdout) {
            let r = r.expect("no error records");
            check_record(&r, 1, TASKS[r.line - 1], dir);
            let smp = &r.samples[0];
            let forced = if first == "plan" {
                &smp.plan
            } else {
                &smp.trace
            };
            assert_eq!(
                forced.first().map(String::as_str),
                Some(first),
                "{mode} mode"
            );
        }
    }
    // A fixed limit applies to every task.
    let out = ok(&[
        "predict",
        "--checkpoint",
        &ck,
        "--device",
        "cpu",
        "--max-len",
        "12",
        &input,
    ]);
    for r in lines(&out.stdout) {
        let r = r.expect("record");
        assert_eq!(r.max_len, 12);
        assert!(r.samples[0].trace.len() + r.samples[0].plan.len() < 12);
    }
}

#[test]
fn bad_settings_and_inputs_are_named() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let missing = dir.join("nothing-here");
    let out = run(&["predict", "--checkpoint", s(&missing), "-"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing-here"), "{err}");
    let out = run(&["predict", "--checkpoint", s(&missing), "-k", "2", "-"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("greedy") && err.contains("samples"), "{err}");
    let out = run(&[
        "predict",
        "--checkpoint",
        s(dir),
        s(&dir.join("no-tasks.jsonl")),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-tasks.jsonl"), "{err}");
}

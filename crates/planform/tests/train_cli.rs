//! `planform train` as a user runs it: a run killed with SIGKILL mid-training and resumed
//! with `--resume` ends with the same metrics and the same final weights as an
//! uninterrupted run (CPU, one thread), and resume/fresh misuse gets a clear error.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;
use common::{ok, planform, run, s};

const STEPS: &str = "300";

/// `planform train` arguments for a tiny deterministic run into `out`.
fn train_args<'a>(data: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--data",
        data,
        "-o",
        out,
        "--model",
        "tiny",
        "--steps",
        STEPS,
        "--warmup",
        "5",
        "--batch",
        "8",
        "--seed",
        "3",
        "--device",
        "cpu",
        "--set",
        "threads=1",
        "--set",
        "log.log_every=10",
        "--set",
        "log.eval_every=50",
        "--set",
        "log.checkpoint_every=20",
    ]
}

/// The metrics lines without their wall-clock fields.
fn metrics(run: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).expect("metrics.jsonl");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("metrics line");
            if let Some(o) = v.as_object_mut() {
                for k in ["tokens_per_sec", "elapsed_secs", "secs"] {
                    o.remove(k);
                }
            }
            v
        })
        .collect()
}

fn checkpoint(run: &Path, step: u64) -> PathBuf {
    run.join("checkpoints").join(format!("step-{step:06}"))
}

/// Every file of a checkpoint directory, name and bytes (weights, optimizer, state).
fn checkpoint_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("checkpoint dir")
        .map(|e| {
            let p = e.expect("entry").path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read"))
        })
        // Wall-clock values (elapsed time) may live in the JSON state; compare tensors.
        .filter(|(n, _)| n.ends_with(".safetensors"))
        .collect();
    files.sort();
    files
}

#[test]
fn sigkilled_run_resumes_to_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&[
        "gen",
        "--domain",
        "maze",
        "--width",
        "5",
        "-n",
        "400",
        "--seed",
        "2",
        "-o",
        s(&data),
    ]);

    // Uninterrupted.
    let whole = tmp.path().join("whole");
    ok(&train_args(s(&data), s(&whole)));

    // Killed (SIGKILL) as soon as its second checkpoint is on disk, then resumed.
    let cut = tmp.path().join("cut");
    let mut child = planform()
        .args(train_args(s(&data), s(&cut)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    while !checkpoint(&cut, 40).exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no checkpoint"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let last = 300;
    assert!(
        !checkpoint(&cut, last).exists(),
        "the killed run had already finished"
    );
    ok(&["train", "-c", s(&cut.join("config.toml")), "--resume"]);

    assert_eq!(metrics(&cut), metrics(&whole));
    let a = checkpoint_files(&checkpoint(&whole, last));
    let b = checkpoint_files(&checkpoint(&cut, last));
    assert!(!a.is_empty());
    assert!(a == b, "final checkpoints differ");

    // Misuse: --resume where nothing was started, --fresh over existing checkpoints.
    let none = tmp.path().join("none");
    let mut args = train_args(s(&data), s(&none));
    args.push("--resume");
    let out = run(&args);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("checkpoint"), "{err}");
    let mut args = train_args(s(&data), s(&whole));
    args.push("--fresh");
    let out = run(&args);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("checkpoint"));
}

//! Helpers the command-line tests share: run the built `planform` binary and check how it
//! ended. Each test file uses the ones it needs.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// The `planform` binary this test build made.
pub fn planform() -> Command {
    Command::new(env!("CARGO_BIN_EXE_planform"))
}

/// Runs `planform ARGS` to the end.
pub fn run(args: &[&str]) -> Output {
    planform().args(args).output().expect("spawn planform")
}

/// Runs `planform ARGS`, which must succeed (else its stderr is shown).
pub fn ok(args: &[&str]) -> Output {
    let out = run(args);
    assert!(
        out.status.success(),
        "planform {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `planform ARGS`, which must fail: its stderr and exit code.
pub fn fails(args: &[&str]) -> (String, i32) {
    let out = run(args);
    assert!(!out.status.success(), "planform {args:?} succeeded");
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A 5×5 maze dataset and a checkpoint of `model` trained 2 steps on it, in `dir`.
pub fn tiny_checkpoint(dir: &Path, model: &str) -> String {
    let data = dir.join("data");
    if !data.exists() {
        ok(&[
            "gen",
            "--domain",
            "maze",
            "--width",
            "5",
            "-n",
            "200",
            "--seed",
            "1",
            "-o",
            s(&data),
        ]);
    }
    let run_dir = dir.join(model.replace(':', "-"));
    ok(&[
        "train",
        "--data",
        s(&data),
        "-o",
        s(&run_dir),
        "--model",
        model,
        "--steps",
        "2",
        "--warmup",
        "1",
        "--batch",
        "4",
        "--seed",
        "3",
        "--device",
        "cpu",
        "--set",
        "threads=1",
        "--set",
        "log.eval_at_start=false",
        "--set",
        "data.eval_examples=4",
    ]);
    run_dir.to_str().expect("utf-8").to_string()
}

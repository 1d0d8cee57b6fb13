//! `planform eval --quant`: simulated SpinQuant settings on a tiny decoder-only checkpoint.
//! Rotations alone (with the online R3/R4) leave greedy decoding unchanged — the same
//! per-task results as the model as trained; malformed settings and encoder–decoder
//! checkpoints are refused with a message that names the problem.

use std::path::Path;

use serde_json::Value;

mod common;
use common::{fails, ok, s, tiny_checkpoint};

fn eval(dir: &Path, ck: &str, name: &str, extra: &[&str]) -> Vec<Value> {
    let out = dir.join(name);
    let data = dir.join("data");
    let mut args = vec![
        "eval",
        "--checkpoint",
        ck,
        "--data",
        s(&data),
        "--tasks",
        "6",
        "-k",
        "1",
        "--greedy",
        "--mode",
        "slow",
        "--max-len",
        "120",
        "--device",
        "cpu",
        "-o",
        s(&out),
    ];
    args.extend_from_slice(extra);
    ok(&args);
    std::fs::read_to_string(out.join("tasks.jsonl"))
        .expect("tasks.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

#[test]
fn rotations_keep_greedy_outputs_and_bad_settings_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let ck = tiny_checkpoint(dir, "decoder-only:tiny");
    let plain = eval(dir, &ck, "plain", &[]);
    let rotated = eval(
        dir,
        &ck,
        "rotated",
        &[
            "--quant",
            "fp",
            "--rotation",
            "hadamard+online",
            "--rotation-seed",
            "3",
        ],
    );
    assert_eq!(plain.len(), 6);
    assert_eq!(
        plain, rotated,
        "full-precision rotations changed greedy outputs"
    );
    let summary = std::fs::read_to_string(dir.join("rotated/summary.json")).expect("summary");
    assert!(
        summary.contains("hadamard+online"),
        "the setting is recorded"
    );
    // A quantized run completes and records its setting.
    eval(dir, &ck, "w4a4kv4", &["--quant", "w4a4kv4"]);
    let summary = std::fs::read_to_string(dir.join("w4a4kv4/summary.json")).expect("summary");
    assert!(summary.contains("w4a4kv4"));

    let data = dir.join("data");
    for (args, want) in [
        (vec!["--quant", "w9"], "bits 2..=8"),
        (
            vec!["--quant", "w4", "--rotation", "spin"],
            "rotation `spin`",
        ),
        (vec!["--rotation", "hadamard"], "--quant"),
    ] {
        let mut a = vec!["eval", "--checkpoint", &ck, "--data", s(&data), "-o", "x"];
        a.extend_from_slice(&args);
        let (err, _) = fails(&a);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let encdec = tiny_checkpoint(dir, "tiny");
    let (err, _) = fails(&[
        "eval",
        "--checkpoint",
        &encdec,
        "--data",
        s(&data),
        "--quant",
        "w8",
        "--device",
        "cpu",
        "-o",
        s(&dir.join("encdec")),
    ]);
    assert!(err.contains("decoder-only"), "{err}");
}

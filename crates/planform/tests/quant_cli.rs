//! `planform eval --quant`: simulated SpinQuant settings on a tiny decoder-only checkpoint.
//! Rotations alone (with the online R3/R4) leave greedy decoding unchanged — the same
//! per-task results as the model as trained, in both families; malformed settings are
//! refused with a message that names the problem.

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
    // The encoder–decoder: full-precision rotations keep its greedy outputs too.
    let encdec = tiny_checkpoint(dir, "tiny");
    let plain = eval(dir, &encdec, "ed-plain", &[]);
    let rotated = eval(
        dir,
        &encdec,
        "ed-rotated",
        &["--quant", "fp", "--rotation", "random+online"],
    );
    assert_eq!(plain, rotated, "encoder–decoder: rotations changed outputs");
}

fn model_bytes(ck: &Path) -> u64 {
    let dir = planform_model::resolve_checkpoint(ck).expect("checkpoint");
    std::fs::metadata(dir.join("model.safetensors"))
        .expect("model file")
        .len()
}

/// `planform quantize` stores integer weights; evaluating the quantized checkpoint gives
/// the same per-task results as the simulated setting on the source (the stored codes
/// dequantize to the fake-quantized weights bit for bit), in a smaller file. Misuse is
/// refused with a message naming the problem.
#[test]
fn quantized_checkpoints_run_as_their_simulation_and_are_smaller() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let ck = tiny_checkpoint(dir, "decoder-only:tiny");
    let settings: [(&str, &[&str]); 2] = [
        (
            "w4a8kv8",
            &["--rotation", "hadamard+online", "--rotation-seed", "1"],
        ),
        ("w8", &["--weight-group", "16", "--weight-asym"]),
    ];
    for (i, (bits, extra)) in settings.iter().enumerate() {
        let q = dir.join(format!("q{i}"));
        let mut args = vec![
            "quantize",
            "--checkpoint",
            &ck,
            "--quant",
            bits,
            "-o",
            s(&q),
        ];
        args.extend_from_slice(extra);
        ok(&args);
        let mut sim_args = vec!["--quant", *bits];
        sim_args.extend_from_slice(extra);
        let simulated = eval(dir, &ck, &format!("sim{i}"), &sim_args);
        let real = eval(dir, s(&q), &format!("real{i}"), &[]);
        assert_eq!(simulated.len(), 6);
        assert_eq!(
            simulated, real,
            "{bits}: stored weights differ from the simulation"
        );
        let summary =
            std::fs::read_to_string(dir.join(format!("real{i}/summary.json"))).expect("summary");
        assert!(summary.contains(bits), "{bits}: setting not recorded");
        let (src, dst) = (model_bytes(Path::new(&ck)), model_bytes(&q));
        assert!(dst < src, "{bits}: {dst} bytes, source {src}");
    }
    // 4-bit codes pack two to a byte: the 4-bit file is smaller than the 8-bit one.
    assert!(model_bytes(&dir.join("q0")) < model_bytes(&dir.join("q1")));
    // The encoder–decoder stores and runs the same way.
    let encdec = tiny_checkpoint(dir, "tiny");
    let q = dir.join("q-ed");
    ok(&[
        "quantize",
        "--checkpoint",
        &encdec,
        "--quant",
        "w4a8kv8",
        "--rotation",
        "hadamard",
        "-o",
        s(&q),
    ]);
    let simulated = eval(
        dir,
        &encdec,
        "sim-ed",
        &["--quant", "w4a8kv8", "--rotation", "hadamard"],
    );
    assert_eq!(simulated, eval(dir, s(&q), "real-ed", &[]));
    assert!(model_bytes(&q) < model_bytes(Path::new(&encdec)));

    let q = s(&dir.join("q0")).to_string();
    let data = dir.join("data");
    let (err, _) = fails(&[
        "eval",
        "--checkpoint",
        &q,
        "--data",
        s(&data),
        "--quant",
        "w8",
        "--device",
        "cpu",
        "-o",
        s(&dir.join("twice")),
    ]);
    assert!(err.contains("already quantized"), "{err}");
    let (err, _) = fails(&["export", "--checkpoint", &q, "-o", s(&dir.join("hf"))]);
    assert!(err.contains("quantized checkpoint"), "{err}");
    let (err, _) = fails(&[
        "quantize",
        "--checkpoint",
        &q,
        "--quant",
        "w4",
        "-o",
        s(&dir.join("qq")),
    ]);
    assert!(err.contains("quantized checkpoint"), "{err}");
    let (err, _) = fails(&["quantize", "--checkpoint", &ck, "--quant", "w4", "-o", &q]);
    assert!(err.contains("--overwrite"), "{err}");
    let (err, _) = fails(&[
        "quantize",
        "--checkpoint",
        &ck,
        "--quant",
        "w4",
        "--weight-group",
        "24",
        "-o",
        s(&dir.join("g24")),
    ]);
    assert!(err.contains("groups of 24"), "{err}");
    assert!(
        !dir.join("g24").exists(),
        "a refused quantization left a directory"
    );
}

/// `planform quantize --rotation learned+online --data`: rotations trained by Cayley SGD,
/// stored with the report of how; evaluating the stored checkpoint's held-out loss gives the
/// report's number (same sequences, same batches). Learned rotations without data, and data
/// without learned rotations, are refused.
#[test]
fn learned_rotations_are_trained_stored_and_reported() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let ck = tiny_checkpoint(dir, "tiny");
    let data = dir.join("data");
    let q = dir.join("learned");
    ok(&[
        "quantize",
        "--checkpoint",
        &ck,
        "--quant",
        "w4a8kv8",
        "--rotation",
        "learned+online",
        "--data",
        s(&data),
        "--learn-steps",
        "3",
        "--learn-batch",
        "4",
        "--learn-examples",
        "16",
        "--heldout-examples",
        "16",
        "-o",
        s(&q),
    ]);
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(q.join("state.json")).expect("state"))
            .expect("json");
    let learned = &state["quant"]["learned"];
    assert_eq!(
        learned["losses"].as_array().map(Vec::len),
        Some(3),
        "{learned}"
    );
    assert!(learned["orthogonality_error"].as_f64().expect("number") < 1e-10);
    assert!(q.join("rotations.safetensors").is_file());
    let want = learned["heldout_learned"].as_f64().expect("number");
    let out = dir.join("eval-learned");
    ok(&[
        "eval",
        "--checkpoint",
        s(&q),
        "--data",
        s(&data),
        "--tasks",
        "4",
        "-k",
        "1",
        "--greedy",
        "--max-len",
        "120",
        "--device",
        "cpu",
        "--heldout-loss",
        "16",
        "-o",
        s(&out),
    ]);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary"))
            .expect("json");
    let got = summary["heldout"]["loss"].as_f64().expect("held-out loss");
    assert!(
        (got - want).abs() < 1e-6,
        "eval {got}, learning report {want}"
    );
    assert_eq!(summary["heldout"]["sequences"].as_u64(), Some(16));
    // `predict` runs a quantized checkpoint on your own tasks.
    let tasks = dir.join("tasks.jsonl");
    std::fs::write(
        &tasks,
        r#"{"width": 5, "height": 5, "start": [0, 0], "goal": [4, 4], "walls": [[1, 1]]}"#,
    )
    .expect("write tasks");
    let out = ok(&[
        "predict",
        "--checkpoint",
        s(&q),
        "--device",
        "cpu",
        s(&tasks),
    ]);
    let line: Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert!(line.get("error").is_none(), "{line}");

    let (err, _) = fails(&[
        "quantize",
        "--checkpoint",
        &ck,
        "--quant",
        "w4",
        "--rotation",
        "learned",
        "-o",
        s(&dir.join("x")),
    ]);
    assert!(err.contains("--data"), "{err}");
    let (err, _) = fails(&[
        "quantize",
        "--checkpoint",
        &ck,
        "--quant",
        "w4",
        "--data",
        s(&data),
        "-o",
        s(&dir.join("y")),
    ]);
    assert!(err.contains("learned"), "{err}");
    let (err, _) = fails(&[
        "eval",
        "--checkpoint",
        &ck,
        "--data",
        s(&data),
        "--quant",
        "w4",
        "--rotation",
        "learned",
        "--device",
        "cpu",
        "-o",
        s(&dir.join("z")),
    ]);
    assert!(err.contains("--data"), "{err}");
}

/// `planform eval --attention lsh:…`: with a local window that covers every cached key the
/// LSH kernel is exact attention (the same per-task results, both families); with a small
/// window it samples, and the summary records the keys it read.
#[test]
fn lsh_decoding_attention_is_exact_with_a_wide_window_and_samples_with_a_narrow_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    for model in ["decoder-only:tiny", "tiny"] {
        let ck = tiny_checkpoint(dir, model);
        let tag = model.replace(':', "-");
        let exact = eval(dir, &ck, &format!("{tag}-exact"), &[]);
        let wide = eval(
            dir,
            &ck,
            &format!("{tag}-wide"),
            &["--attention", "lsh:10,150,4,1000"],
        );
        assert_eq!(
            exact, wide,
            "{model}: a window covering the cache changed outputs"
        );
        eval(
            dir,
            &ck,
            &format!("{tag}-narrow"),
            &["--attention", "lsh:6,40,2,8"],
        );
        let summary: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{tag}-narrow/summary.json")))
                .expect("summary"),
        )
        .expect("json");
        let a = &summary["header"]["attention"];
        assert_eq!(a["setting"], "lsh:6,40,2,8,0", "{a}");
        let (off, read) = (
            a["offloaded_keys"].as_u64().expect("offloaded"),
            a["read_keys"].as_u64().expect("read"),
        );
        assert!(off > 0 && read <= off, "{model}: {a}");
    }
    let (err, _) = fails(&[
        "eval",
        "--checkpoint",
        "x",
        "--data",
        "y",
        "--attention",
        "topk:10",
        "-o",
        "z",
    ]);
    assert!(err.contains("lsh:K,L"), "{err}");
}

/// `--int8-matmul`: a stored W8A8 checkpoint multiplied as integers (`torch._int_mm`) gives
/// the per-task results and the held-out loss of the dequantizing path, in both families;
/// checkpoints whose arithmetic it would change are refused.
#[test]
fn int8_matmul_runs_stored_w8a8_checkpoints_as_the_dequantized_path() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let loss = |name: &str| -> f64 {
        let j: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(name).join("summary.json")).expect("summary"),
        )
        .expect("json");
        j["heldout"]["loss"].as_f64().expect("held-out loss")
    };
    for (family, extra) in [
        ("decoder-only:tiny", &["--rotation", "hadamard+online"][..]),
        ("tiny", &["--rotation", "hadamard"][..]),
    ] {
        let ck = tiny_checkpoint(dir, family);
        let q = dir.join(format!("q-{family}"));
        let mut args = vec![
            "quantize",
            "--checkpoint",
            &ck,
            "--quant",
            "w8a8kv8",
            "-o",
            s(&q),
        ];
        args.extend_from_slice(extra);
        let said = String::from_utf8_lossy(&ok(&args).stdout).to_string();
        assert!(said.contains("--int8-matmul"), "{said}");
        let held = ["--heldout-loss", "12"];
        let deq = eval(dir, s(&q), &format!("deq-{family}"), &held);
        let mut int_args = held.to_vec();
        int_args.push("--int8-matmul");
        let int = eval(dir, s(&q), &format!("int-{family}"), &int_args);
        assert_eq!(deq.len(), 6);
        assert_eq!(deq, int, "{family}: integer matmul changed the outputs");
        let (a, b) = (
            loss(&format!("deq-{family}")),
            loss(&format!("int-{family}")),
        );
        assert!(
            (a - b).abs() <= 1e-5 * a.abs(),
            "{family}: losses {a} vs {b}"
        );
        let md = std::fs::read_to_string(dir.join(format!("int-{family}/summary.md"))).unwrap();
        assert!(md.contains("integer matmul"), "{md}");
        // Full precision and 4-bit weights are refused, naming why.
        let w4 = dir.join(format!("w4-{family}"));
        let said = ok(&[
            "quantize",
            "--checkpoint",
            &ck,
            "--quant",
            "w4a8",
            "-o",
            s(&w4),
        ]);
        assert!(!String::from_utf8_lossy(&said.stdout).contains("--int8-matmul"));
        for bad in [ck.as_str(), s(&w4)] {
            let (err, _) = fails(&[
                "eval",
                "--checkpoint",
                bad,
                "--data",
                s(&dir.join("data")),
                "--int8-matmul",
                "--device",
                "cpu",
                "-o",
                s(&dir.join("refused")),
            ]);
            assert!(err.contains("8-bit symmetric per-row"), "{err}");
        }
    }
}

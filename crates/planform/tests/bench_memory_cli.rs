//! The small memory benchmark CI runs: `planform bench memory` on the tiny decoder, every
//! optimizer in its own child process. Checked against the formulas of the optimizers, not
//! against recorded numbers: AdamW holds 2 fp32 moments per parameter; 8-bit AdamW about a
//! quarter of that; GaLore's low-rank moments less than AdamW's; per-layer updates keep at
//! most one layer's gradients; every run measured a peak RSS and finite losses.

use std::path::Path;
use std::process::{Command, Output};

/// `planform bench memory ARGS --out OUT` on the tiny decoder.
fn bench_memory(out: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_planform"))
        .args([
            "bench",
            "memory",
            "--models",
            "decoder:tiny",
            "--threads",
            "1",
        ])
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// The JSON report written next to `out`, after checking the run succeeded.
fn report_json(out: &Path, run: &Output) -> serde_json::Value {
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(out.with_extension("json")).unwrap()).unwrap()
}

#[test]
fn bench_memory_on_the_tiny_decoder_shows_the_savings() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("memory.md");
    let json = report_json(&out, &bench_memory(&out, &["--steps", "2"]));
    let rows = json["rows"].as_array().unwrap();
    let row = |optimizer: &str| {
        rows.iter()
            .find(|r| r["case"]["optimizer"] == optimizer)
            .unwrap_or_else(|| panic!("no {optimizer} row"))
    };
    let measured = |optimizer: &str, field: &str| {
        let r = row(optimizer);
        assert_eq!(r["outcome"]["outcome"], "measured", "{optimizer}: {r}");
        r["outcome"][field].as_u64().unwrap()
    };
    assert_eq!(rows.len(), 6, "one row per optimizer");
    let params = row("adamw")["params"].as_u64().unwrap();
    // AdamW: exp_avg and exp_avg_sq in fp32 for every parameter.
    assert_eq!(measured("adamw", "state_bytes"), 2 * 4 * params);
    // 8-bit AdamW: one byte per moment value plus block scales (and small tensors kept in
    // fp32 below bitsandbytes' min_8bit_size): well under half of AdamW's.
    assert!(measured("adamw8bit", "state_bytes") * 2 < measured("adamw", "state_bytes"));
    assert!(measured("galore", "state_bytes") < measured("adamw", "state_bytes"));
    assert!(measured("galore8bit", "state_bytes") <= measured("galore", "state_bytes"));
    assert!(measured("galore", "svd_count") > 0);
    for r in rows {
        let o = &r["outcome"];
        assert!(o["vm_hwm"].as_u64().unwrap() >= o["rss_start"].as_u64().unwrap());
        for loss in o["losses"].as_array().unwrap() {
            assert!(loss.as_f64().unwrap().is_finite(), "{r}");
        }
    }
    // Q-GaLore's block matrices compute from their int8 codes; the steps' own peak is
    // measured after a reset and is at most the process's.
    assert!(measured("q-galore", "int8_layers") > 0);
    for r in rows {
        let o = &r["outcome"];
        if let Some(h) = o["hwm_steps"].as_u64() {
            assert!(h <= o["vm_hwm"].as_u64().unwrap(), "{r}");
        }
    }
    let table = std::fs::read_to_string(&out).unwrap();
    assert!(
        table.contains("| decoder:tiny | fp32 | Q-GaLore (per-layer) |"),
        "{table}"
    );
}

/// `--malloc-mmap-threshold` reaches the measured processes (each records the threshold in
/// effect) and the report says so; a threshold below a page is refused.
#[test]
fn a_fixed_mmap_threshold_reaches_the_measured_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("memory.md");
    let run = |threshold: &str| {
        let args = ["--steps", "1", "--optimizers", "adamw"];
        bench_memory(
            &out,
            &[&args[..], &["--malloc-mmap-threshold", threshold]].concat(),
        )
    };
    let json = report_json(&out, &run("65536"));
    assert_eq!(
        json["rows"][0]["outcome"]["malloc_mmap_threshold"], 65536,
        "{json}"
    );
    let md = std::fs::read_to_string(&out).unwrap();
    assert!(md.contains("mmap threshold fixed at 65536 bytes"), "{md}");
    let bad = run("100");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("malloc-mmap-threshold"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

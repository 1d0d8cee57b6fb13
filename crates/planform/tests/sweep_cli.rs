//! `planform sweep` end to end on a two-point, two-step grid (what CI runs; the studies are
//! far larger): points run as child processes in parallel and share one dataset, the
//! summary aggregates them, a second run skips finished points, and a claim gets a verdict.

use std::path::Path;
use std::process::Command;

fn planform() -> Command {
    Command::new(env!("CARGO_BIN_EXE_planform"))
}

const BASE: &str = r#"
name = "sweep-base"
description = "tiny sweep base"
[data]
name = "maze4"
domain = { kind = "maze", width = 4, height = 4 }
num_tasks = 200
[train]
threads = 1
device = "cpu"
model = { decoder-only = { preset = "tiny", dim = 16, layers = 1, heads = 2 } }
[train.batch]
sequences = 4
[train.optim]
lr = 1e-3
warmup_steps = 1
total_steps = 2
[train.log]
log_every = 1
eval_every = 2
checkpoint_every = 2
[train.data]
eval_examples = 8
[[eval]]
name = "test"
tasks = 2
samples = 1
"#;

const SWEEP: &str = r#"
name = "tiny-sweep"
description = "two points, two steps"
recipe = "base.toml"
seeds = [0]
parallel = 2
[[axis]]
name = "width"
field = "train.model.decoder-only.dim"
values = [16, 32]
[[claim]]
name = "wider is better"
metric = "final_eval_loss"
a = { width = "32" }
b = { width = "16" }
"#;

fn run(dir: &Path, extra: &[&str]) -> (bool, String) {
    let out = planform()
        .arg("sweep")
        .arg(dir.join("sweep.toml"))
        .arg("--runs-dir")
        .arg(dir.join("runs"))
        .args(extra)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn a_two_point_sweep_runs_resumes_and_summarizes() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("base.toml"), BASE).unwrap();
    std::fs::write(tmp.path().join("sweep.toml"), SWEEP).unwrap();
    let (ok, text) = run(tmp.path(), &[]);
    assert!(ok, "{text}");
    assert!(text.contains("2/2 done"), "{text}");
    assert!(text.contains("wider is better: "), "{text}");
    let root = tmp.path().join("runs/tiny-sweep");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["points_done"], 2);
    let groups = summary["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    for g in groups {
        let loss = g["metrics"]["final_eval_loss"]["mean"].as_f64().unwrap();
        assert!(loss.is_finite() && loss > 0.0, "{g}");
        assert_eq!(g["metrics"]["steps"]["mean"], 2.0);
    }
    // One shared dataset; every point's recipe written; figures present.
    assert!(root.join("data/maze4/manifest.json").is_file());
    assert!(
        root.join("points/p-16-s0.toml").is_file() && root.join("points/p-32-s0.toml").is_file()
    );
    assert!(root.join("fig-final_eval_loss.svg").is_file());
    let md = std::fs::read_to_string(root.join("summary.md")).unwrap();
    assert!(
        md.contains("| width |") && md.contains("wider is better"),
        "{md}"
    );

    // Run again: nothing left to do; the summary is the same.
    let (ok, text) = run(tmp.path(), &[]);
    assert!(ok, "{text}");
    assert!(text.contains("0 of 2 points to run"), "{text}");
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("summary.json")).unwrap()).unwrap();
    assert_eq!(again, summary);
    // --list shows both done.
    let (ok, text) = run(tmp.path(), &["--list"]);
    assert!(ok && text.matches("done\t").count() == 2, "{text}");
}

#[test]
fn a_bad_sweep_is_refused_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("base.toml"), BASE).unwrap();
    let bad = SWEEP.replace(
        "train.model.decoder-only.dim",
        "train.model.decoder-only.dimm",
    );
    std::fs::write(tmp.path().join("sweep.toml"), bad).unwrap();
    let (ok, text) = run(tmp.path(), &[]);
    assert!(!ok, "{text}");
    assert!(text.contains("dimm"), "{text}");
    assert!(!tmp.path().join("runs/tiny-sweep/data").exists());
}

#[test]
fn archived_points_survive_a_lost_runs_directory() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("base.toml"), BASE).unwrap();
    std::fs::write(tmp.path().join("sweep.toml"), SWEEP).unwrap();
    let report = tmp.path().join("report");
    let report_arg = report.to_str().unwrap();
    let (ok, text) = run(tmp.path(), &["--report-to", report_arg]);
    assert!(ok, "{text}");
    let archived: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("points/p-32-s0.json")).unwrap())
            .unwrap();
    assert!(
        archived["recipe"]
            .as_str()
            .unwrap()
            .contains("name = \"p-32-s0\""),
        "{archived}"
    );
    assert!(
        archived["result"]["metrics"]["final_eval_loss"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let summary = std::fs::read_to_string(report.join("summary.json")).unwrap();

    // A fresh clone: the runs directory (checkpoints, datasets) is gone, the report is not.
    std::fs::remove_dir_all(tmp.path().join("runs")).unwrap();
    let (ok, text) = run(tmp.path(), &["--report-to", report_arg, "--list"]);
    assert!(ok && text.matches("done\t").count() == 2, "{text}");
    let (ok, text) = run(tmp.path(), &["--report-to", report_arg]);
    assert!(ok, "{text}");
    assert!(text.contains("0 of 2 points to run"), "{text}");
    assert_eq!(
        std::fs::read_to_string(report.join("summary.json")).unwrap(),
        summary
    );

    // A changed recipe makes the archived results stale: both points run again.
    std::fs::write(
        tmp.path().join("sweep.toml"),
        SWEEP.replace(
            "parallel = 2",
            "parallel = 2\nset = [\"train.optim.lr=2e-3\"]",
        ),
    )
    .unwrap();
    std::fs::remove_dir_all(tmp.path().join("runs")).unwrap();
    let (ok, text) = run(tmp.path(), &["--report-to", report_arg]);
    assert!(ok, "{text}");
    assert!(
        text.contains("2 archived with a different recipe")
            && text.contains("2 of 2 points to run"),
        "{text}"
    );
    let archived: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("points/p-32-s0.json")).unwrap())
            .unwrap();
    assert!(
        archived["recipe"].as_str().unwrap().contains("2e-3")
            || archived["recipe"].as_str().unwrap().contains("0.002"),
        "{archived}"
    );
}

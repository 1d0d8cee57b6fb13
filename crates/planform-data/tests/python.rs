//! Runs `crates/planform-data/scripts/check_parquet.py` on a generated dataset and on one
//! built from a task file: the shards must open as-is in pyarrow and pandas (and Hugging
//! Face `datasets` when importable). Skipped, with a
//! printed reason, when `python3` or pyarrow is unavailable; `make setup` provides both
//! in `<workspace>/.torch`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use planform_data::TStarConfig;

#[test]
fn python_reads_dataset() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let torch = crate_dir.join("../../.torch");
    let mut pythonpath = torch.display().to_string();
    if let Ok(extra) = std::env::var("PYTHONPATH") {
        pythonpath = format!("{pythonpath}:{extra}");
    }
    let probe = Command::new("python3")
        .args(["-c", "import pyarrow, pandas"])
        .env("PYTHONPATH", &pythonpath)
        .output();
    match probe {
        Err(e) => {
            println!("SKIPPED python_reads_dataset: python3 not runnable: {e}");
            return;
        }
        Ok(o) if !o.status.success() => {
            println!(
                "SKIPPED python_reads_dataset: pyarrow/pandas not importable with PYTHONPATH={pythonpath}: {}",
                String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("")
            );
            return;
        }
        Ok(_) => {}
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let mut c = common::small_maze(400, 9);
    c.tstar = Some(TStarConfig { runs: 2 });
    common::gen(&c, &out, 2);
    // A dataset built from task lines (format version 2).
    let golden = crate_dir.join("../planform-trace/tests/golden/maze-20-det.jsonl");
    let from = tmp.path().join("from");
    planform_data::generate_from_tasks(
        "maze-20-det.jsonl",
        &std::fs::read(golden).unwrap(),
        &planform_data::FromTasks::default(),
        &from,
        1,
        |_, _| {},
    )
    .unwrap();
    let script = crate_dir.join("scripts/check_parquet.py");
    for dir in [&out, &from] {
        let o = Command::new("python3")
            .arg(&script)
            .arg(dir)
            .env("PYTHONPATH", &pythonpath)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout);
        let stderr = String::from_utf8_lossy(&o.stderr);
        println!("{stdout}{stderr}");
        assert!(
            o.status.success(),
            "check_parquet.py failed on {}:\n{stdout}\n{stderr}",
            dir.display()
        );
        assert!(stdout.contains("check_parquet: OK"));
    }
}

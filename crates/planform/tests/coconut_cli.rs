//! `planform coconut` argument handling as a user meets it: a generated ProsQA-style file
//! inspects; `analyze` and `eval` refuse zero token budgets and unknown devices before
//! touching a checkpoint.

mod common;
use common::{fails, ok, s};

#[test]
fn gen_inspect_and_bad_decode_settings() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("q.json");
    ok(&[
        "coconut",
        "gen",
        "-o",
        s(&file),
        "--count",
        "20",
        "--seed",
        "1",
    ]);
    let out = ok(&["coconut", "inspect", s(&file)]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("nodes"));
    let missing = tmp.path().join("no-run");
    for cmd in ["analyze", "eval"] {
        let (err, _) = fails(&[
            "coconut",
            cmd,
            s(&missing),
            s(&file),
            "--max-new-tokens",
            "0",
        ]);
        assert!(
            err.contains("--max-new-tokens must be >= 1"),
            "{cmd}: {err}"
        );
        let (err, _) = fails(&["coconut", cmd, s(&missing), s(&file), "--device", "tpu"]);
        assert!(err.contains("tpu"), "{cmd}: {err}");
    }
}

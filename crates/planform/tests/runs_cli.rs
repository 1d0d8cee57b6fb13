//! Run directories as a user meets them through the CLI: one writer per run, SIGTERM
//! saves a checkpoint and the resumed run ends where an uninterrupted one does, output
//! paths planform did not make are refused, divergence and libtorch failures are clear
//! errors, progress lines appear when stderr is not a terminal, defaults fit a CPU, and
//! runs can be extended and fine-tuned from the command line.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{fails, ok, planform, s};

fn dataset(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    ok(&[
        "gen",
        "--domain",
        "maze",
        "--width",
        "5",
        "-n",
        "300",
        "--seed",
        "2",
        "-o",
        s(&data),
    ]);
    data
}

/// A tiny deterministic training run into `out` for `steps` steps.
fn train_args<'a>(data: &'a str, out: &'a str, steps: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--data",
        data,
        "-o",
        out,
        "--model",
        "tiny",
        "--steps",
        steps,
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
        "log.eval_every=40",
        "--set",
        "log.checkpoint_every=1000",
    ]
}

fn metrics(run: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).expect("metrics.jsonl");
    text.lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("metrics line");
            let o = v.as_object_mut().unwrap();
            for k in ["tokens_per_sec", "elapsed_secs", "secs"] {
                o.remove(k);
            }
            v
        })
        .collect()
}

fn newest_step(run: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(run.join("checkpoints/latest")).ok()?;
    text.trim().strip_prefix("step-")?.parse().ok()
}

fn wait_for(child: &mut Child, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(child.try_wait().unwrap().is_none(), "ended before {what}");
        assert!(started.elapsed() < Duration::from_secs(300), "no {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn one_writer_and_sigterm_checkpoints_then_resumes_to_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let steps = "120";
    let whole = tmp.path().join("whole");
    ok(&train_args(s(&data), s(&whole), steps));

    let cut = tmp.path().join("cut");
    let mut child = planform()
        .args(train_args(s(&data), s(&cut), steps))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Mid-run: some records written, no periodic checkpoint (every 1000 steps).
    wait_for(&mut child, "step 30", || {
        std::fs::read_to_string(cut.join("metrics.jsonl")).is_ok_and(|t| t.contains("\"step\":30"))
    });

    // A second writer on the same run is refused, naming the first.
    let (err, _) = fails(&train_args(s(&data), s(&cut), steps));
    assert!(
        err.contains(&format!(
            "run directory {} is in use by pid {} (planform train",
            cut.display(),
            child.id()
        )),
        "{err}"
    );

    // SIGTERM: a checkpoint of the step reached, then a non-zero exit saying how to resume.
    // SAFETY: signalling a child this test spawned and has not reaped.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(128 + 15), "{stderr}");
    assert!(stderr.contains("interrupted by SIGTERM"), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    let at = newest_step(&cut).expect("a checkpoint written on SIGTERM");
    assert!((30..120).contains(&at), "checkpoint at step {at}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cut.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["interrupted_by"], "SIGTERM");
    assert_eq!(summary["steps"], at);

    // The resume command it printed (no config: the run's own) finishes like `whole`.
    ok(&["train", "-o", s(&cut), "--resume"]);
    assert_eq!(metrics(&cut), metrics(&whole));
    let last = |r: &Path| std::fs::read(r.join("checkpoints/step-000120/model.safetensors"));
    assert!(
        last(&cut).unwrap() == last(&whole).unwrap(),
        "final weights differ"
    );
}

#[test]
fn outputs_that_planform_did_not_make_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let listing = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let before = listing(&data);
    let unrelated = tmp.path().join("thesis");
    std::fs::create_dir(&unrelated).unwrap();
    std::fs::write(unrelated.join("chapter1.tex"), "x").unwrap();
    let file = tmp.path().join("file.txt");
    std::fs::write(&file, "x").unwrap();
    let train = |out: &Path| {
        fails(&[
            "train",
            "--data",
            s(&data),
            "-o",
            s(out),
            "--steps",
            "2",
            "--device",
            "cpu",
        ])
        .0
    };
    assert!(train(&data).contains("is not a training run directory: it is a dataset"));
    assert!(train(&unrelated).contains("chapter1.tex"));
    assert!(train(&file).contains("it is a file"));
    let eval = |out: &Path| {
        fails(&[
            "eval",
            "--checkpoint",
            s(&tmp.path().join("none")),
            "--data",
            s(&data),
            "-o",
            s(out),
        ])
        .0
    };
    assert!(eval(&data).contains("is a dataset"));
    assert!(eval(&unrelated).contains("chapter1.tex"));
    assert!(eval(&file).contains("is a file"));
    // A training run is not an evaluation directory either.
    let run_dir = tmp.path().join("run");
    ok(&[
        "train",
        "--data",
        s(&data),
        "-o",
        s(&run_dir),
        "--steps",
        "2",
        "--device",
        "cpu",
        "--set",
        "threads=1",
        "--set",
        "log.eval_every=2",
    ]);
    let e = eval(&run_dir);
    assert!(e.contains("is a training run directory"), "{e}");
    // Regenerating over a dataset names the flag that allows it.
    let (e, _) = fails(&[
        "gen",
        "--domain",
        "maze",
        "--width",
        "5",
        "-n",
        "10",
        "-o",
        s(&data),
    ]);
    assert!(
        e.contains("already exists (pass `--overwrite` to `planform gen`"),
        "{e}"
    );
    // Nothing was written into any of them.
    assert_eq!(listing(&data), before);
    assert_eq!(listing(&unrelated), vec!["chapter1.tex".to_string()]);
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

#[test]
fn divergence_absurd_values_and_libtorch_failures_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let out = tmp.path().join("run");
    let call = |extra: &[&str]| {
        let mut v = vec![
            "train",
            "--data",
            s(&data),
            "-o",
            s(&out),
            "--device",
            "cpu",
            "--fresh",
        ];
        v.extend_from_slice(extra);
        fails(&v)
    };

    let (err, code) = call(&[
        "--lr",
        "1e30",
        "--warmup",
        "0",
        "--steps",
        "40",
        "--set",
        "threads=1",
        "--set",
        "log.log_every=1",
        "--set",
        "log.eval_every=1000",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("training diverged") && err.contains("1e30"),
        "{err}"
    );
    assert!(err.contains("lower `optim.lr`"), "{err}");
    std::fs::remove_dir_all(&out).unwrap();

    let (err, _) = call(&["--steps", "2", "--set", "threads=100000"]);
    assert!(
        err.contains("threads") && err.contains("available cores"),
        "{err}"
    );
    let (err, _) = call(&[
        "--steps",
        "2",
        "--batch",
        "1000000000",
        "--set",
        "threads=1",
    ]);
    assert!(
        err.contains("batch.sequences") && err.contains("1000000000"),
        "{err}"
    );
    let (err, _) = fails(&[
        "eval",
        "--checkpoint",
        "x",
        "--data",
        s(&data),
        "-o",
        s(&tmp.path().join("e")),
        "-k",
        "100000000",
    ]);
    assert!(err.contains("-k") && err.contains("4096"), "{err}");

    // A model whose feed-forward weight cannot be allocated (2^40 × 64 floats): libtorch
    // throws inside a tch call that panics; the hook turns it into a one-line error.
    let (err, code) = call(&[
        "--steps",
        "2",
        "--set",
        "threads=1",
        "--model",
        "decoder-only:tiny",
        "--set",
        "model.decoder-only.ffn_hidden=1099511627776",
    ]);
    assert_eq!(code, 1, "{err}");
    let first = err.lines().next().unwrap_or("");
    assert!(first.starts_with("error: libtorch: "), "{err}");
    assert!(err.contains("allocate"), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn progress_lines_defaults_extension_and_fine_tuning_from_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let a = tmp.path().join("a");

    // Defaults: a CPU-sized run with a warm-up that fits it.
    let out = ok(&["train", "--data", s(&data), "-o", s(&a), "--print-config"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("total_steps = 3000"), "{text}");
    assert!(
        !text.contains("warmup_steps"),
        "derived, not written: {text}"
    );
    let out = ok(&[
        "train",
        "--data",
        s(&data),
        "-o",
        s(&a),
        "--steps",
        "300",
        "--print-config",
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("total_steps = 300"));
    let help = String::from_utf8_lossy(&ok(&["train", "--help"]).stdout).into_owned();
    assert!(
        help.contains("3,000") && help.contains("min(2000, steps / 10)"),
        "{help}"
    );
    assert!(!help.contains("docs/training.md"), "{help}");
    let help = String::from_utf8_lossy(&ok(&["eval", "--help"]).stdout).into_owned();
    assert!(
        help.contains("[default: 4]") && help.contains("k = 64"),
        "{help}"
    );
    assert!(help.contains("hashed-id order"), "{help}");

    // Progress lines with stderr piped: one per training record.
    let out = ok(&train_args(s(&data), s(&a), "40"));
    let err = String::from_utf8_lossy(&out.stderr);
    for step in [10, 20, 30, 40] {
        assert!(
            err.contains(&format!("[train] step {step}/40 (")),
            "no line for step {step}: {err}"
        );
    }
    assert!(err.contains("loss ") && err.contains("tok/s"), "{err}");
    assert!(err.contains("held-out "), "{err}");

    // Extending the finished run: only the step count may change.
    let out = ok(&["train", "-o", s(&a), "--steps", "50"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("finished at step 50"));
    let (err, _) = fails(&["train", "-o", s(&a), "--steps", "60", "--lr", "1e-3"]);
    assert!(
        err.contains("optim.lr: ") && err.contains(" → 0.001"),
        "{err}"
    );
    assert!(!err.contains("{\""), "no JSON dumps: {err}");

    // Fine-tuning from it, weights only.
    let b = tmp.path().join("b");
    let out = ok(&[
        "train",
        "--data",
        s(&data),
        "-o",
        s(&b),
        "--init-from",
        s(&a),
        "--init-from-weights-only",
        "--steps",
        "6",
        "--print-config",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("[init_from]") && text.contains("optimizer = false"),
        "{text}"
    );
    let mut args = train_args(s(&data), s(&b), "6");
    args.extend(["--init-from", s(&a), "--init-from-weights-only"]);
    ok(&args);
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(b.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let trained: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(a.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .rfind(|l| l.contains("\"kind\":\"eval\""))
            .unwrap(),
    )
    .unwrap();
    // The fine-tune starts from the trained weights: its step-0 held-out loss is the
    // trained run's last one.
    assert_eq!(first["kind"], "eval");
    assert_eq!(first["loss"], trained["loss"]);
}

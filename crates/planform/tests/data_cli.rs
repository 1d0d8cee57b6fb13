//! The data commands as a user runs them (`gen`, `solve`, `inspect`): nothing but a
//! planform dataset is ever replaced, values that used to hang or abort are refused up
//! front, stale partial directories are cleaned, `solve` keeps going past bad lines,
//! and errors say what is wrong once.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use planform_data::{Dataset, Split};

/// Runs `planform args…` with `stdin`, killing it after `limit` (a hang is a failure).
fn run_with(args: &[&str], stdin: &str, limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_planform"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn planform");
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).unwrap();
    }
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("planform {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn run(args: &[&str]) -> Output {
    run_with(args, "", Duration::from_secs(60))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// All files under `dir` with their bytes.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(tree(&p));
        } else {
            out.push((
                p.display().to_string(),
                std::fs::read(&p).unwrap_or_default(),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn gen_overwrite_replaces_only_planform_datasets() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let thesis = t.join("thesis");
    std::fs::create_dir(&thesis).unwrap();
    std::fs::write(thesis.join("thesis.tex"), "\\chapter{Results}").unwrap();
    let run_dir = t.join("run");
    std::fs::create_dir_all(run_dir.join("checkpoints")).unwrap();
    std::fs::write(run_dir.join("checkpoints/step-10.safetensors"), "w").unwrap();
    let file = t.join("notes.txt");
    std::fs::write(&file, "keep").unwrap();
    let link = t.join("link");
    std::os::unix::fs::symlink(&thesis, &link).unwrap();
    let before = tree(t);
    for (out, why) in [
        (&thesis, "without manifest.json"),
        (&run_dir, "training run"),
        (&file, "is a file"),
        (&link, "symbolic link"),
    ] {
        let o = run(&[
            "gen",
            "--width",
            "5",
            "-n",
            "40",
            "-o",
            s(out),
            "--overwrite",
        ]);
        assert!(!o.status.success(), "{out:?} accepted");
        let err = stderr(&o);
        assert!(err.contains(s(out)) && err.contains(why), "{out:?}: {err}");
        assert_eq!(tree(t), before, "{out:?}: something changed");
    }
    // An empty directory is fine; a dataset is refused without --overwrite, replaced with.
    let empty = t.join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(run(&["gen", "--width", "5", "-n", "40", "-o", s(&empty)])
        .status
        .success());
    let o = run(&["gen", "--width", "5", "-n", "50", "-o", s(&empty)]);
    assert!(
        !o.status.success() && stderr(&o).contains("--overwrite"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "gen",
        "--width",
        "5",
        "-n",
        "50",
        "-o",
        s(&empty),
        "--overwrite",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(Dataset::open(&empty).unwrap().len(Split::Test), 5);
}

#[test]
fn gen_refuses_values_that_hung_or_crashed() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let cases: [(&[&str], &str); 9] = [
        (&["--width", "3", "-n", "2"], "--test-fraction 0 or 1"),
        (
            &["--width", "2", "-n", "2"],
            "train and test splits need different layouts",
        ),
        (&["--width", "4", "-n", "10000000"], "at most"),
        (&["-j", "100000"], "maximum of 256"),
        (&["--boxes", "3"], "--boxes applies to Sokoban only"),
        (
            &["--walls", "1", "--boxes", "1"],
            "--walls and --boxes apply to Sokoban only",
        ),
        (
            &["--domain", "sokoban", "--attempts", "9"],
            "--attempts applies to mazes only",
        ),
        (&["--width", "101"], "1..=100"),
        (
            &["--domain", "sokoban", "--width", "5", "--boxes", "2"],
            "only 1 such cells",
        ),
    ];
    for (flags, why) in cases {
        let mut args = vec!["gen", "-o", s(&out)];
        args.extend_from_slice(flags);
        let o = run_with(&args, "", Duration::from_secs(20));
        assert!(!o.status.success(), "{flags:?} accepted");
        assert!(stderr(&o).contains(why), "{flags:?}: {}", stderr(&o));
        assert!(!out.exists(), "{flags:?} wrote something");
    }
    // The same small sizes work when they can.
    let o = run(&[
        "gen",
        "--width",
        "3",
        "-n",
        "2",
        "--test-fraction",
        "0",
        "-o",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn gen_removes_stale_partials() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = tmp.path().join(format!("ds.partial-{dead}"));
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("train-00000.parquet"), "PAR1").unwrap();
    let o = run(&["gen", "--width", "5", "-n", "30", "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stale.exists());
    assert!(
        stderr(&o).contains(&format!("removed {}", s(&stale))),
        "{}",
        stderr(&o)
    );
}

const GOOD: &str =
    r#"{"width": 4, "height": 3, "start": [0, 0], "goal": [3, 2], "walls": [[1, 1], [2, 1]]}"#;

#[test]
fn solve_writes_error_records_and_goes_on() {
    let lines = [
        GOOD.to_string(),
        GOOD.replacen('{', "{\"goal\": [1, 0], ", 1),
        String::new(),
        "not json".to_string(),
        r#"{"width": 3, "height": 3, "start": [0, 0], "goal": [2, 2], "walls": [[1, 0], [0, 1], [1, 1]]}"#.to_string(),
        r#"{"width": 6, "height": 3, "worker": [1, 1], "boxes": [[2, 1], [3, 1]], "docks": [[4, 1]], "walls": []}"#.to_string(),
        GOOD.replacen('{', "{\"worker\": [0, 1], ", 1),
        GOOD.to_string(),
    ];
    let input = lines.join("\n") + "\n";
    let o = run_with(&["solve"], &input, Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout.clone()).unwrap();
    let records: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 7, "one record per task line:\n{out}");
    let wants = [
        (None, ""),
        (Some(2), "duplicate key `goal`"),
        (Some(4), "invalid task JSON"),
        (Some(5), "A* cannot solve"),
        (Some(6), "malformed Sokoban level"),
        (Some(7), "maze fields"),
        (None, ""),
    ];
    for (r, (line, needle)) in records.iter().zip(wants) {
        match line {
            None => assert!(r.get("plan").is_some(), "{r}"),
            Some(n) => {
                assert_eq!(r["line"], n, "{r}");
                assert!(r["error"].as_str().unwrap().contains(needle), "{r}");
            }
        }
    }
    let err = stderr(&o);
    assert!(
        err.contains("5 of 7 task lines failed (lines 2, 4, 5, 6, 7)"),
        "{err}"
    );
    // A clean batch exits 0.
    let o = run_with(
        &["solve"],
        &format!("{GOOD}\n{GOOD}\n"),
        Duration::from_secs(30),
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn inspect_and_os_errors_say_what_is_wrong_once() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("data.parquet");
    std::fs::write(&file, "PAR1").unwrap();
    let o = run(&["inspect", s(&file)]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("is not a dataset directory") && !err.contains("does not exist"),
        "{err}"
    );
    // An output below a file: the OS error text appears exactly once.
    let out = file.join("sub").join("ds");
    let o = run(&["gen", "--width", "5", "-n", "10", "-o", s(&out)]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert_eq!(err.matches("os error").count(), 1, "{err}");
}

#[test]
fn gen_from_tasks_matches_solve() {
    let tmp = tempfile::tempdir().unwrap();
    let golden = format!(
        "{}/../planform-trace/tests/golden/maze-10-det.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let text: String = std::fs::read_to_string(golden)
        .unwrap()
        .lines()
        .take(10)
        .map(|l| format!("{l}\n"))
        .collect();
    let tasks = tmp.path().join("tasks.jsonl");
    std::fs::write(&tasks, &text).unwrap();
    let out = tmp.path().join("ds");
    let o = run(&[
        "gen",
        "--from",
        s(&tasks),
        "--test-fraction",
        "0.3",
        "-o",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(run(&["inspect", s(&out)]).status.success());
    let solved = run_with(&["solve"], &text, Duration::from_secs(30));
    assert!(solved.status.success());
    let ds = Dataset::open(&out).unwrap();
    assert_eq!((ds.len(Split::Train), ds.len(Split::Test)), (7, 3));
    let rows: Vec<_> = ds
        .read_split(Split::Train)
        .unwrap()
        .into_iter()
        .chain(ds.read_split(Split::Test).unwrap())
        .collect();
    let vocab = ds.vocabulary();
    for (row, line) in rows
        .iter()
        .zip(String::from_utf8(solved.stdout).unwrap().lines())
    {
        let want: planform_trace::StringSequence = serde_json::from_str(line).unwrap();
        assert_eq!(vocab.decode_owned(&row.reasoning).unwrap(), want.reasoning);
        assert_eq!(vocab.decode_owned(&row.plan).unwrap(), want.plan);
    }
    // The other generation flags do not apply to a task file.
    let o = run(&["gen", "--from", s(&tasks), "--width", "5", "-o", s(&out)]);
    assert!(!o.status.success() && stderr(&o).contains("cannot be used with"));
}

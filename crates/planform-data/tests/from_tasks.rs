//! Datasets built from given task lines (`gen --from`): the rows are the tasks' A*
//! traces exactly as `solve` (and the reference golden files) spell them, deterministic,
//! split by fraction, with the source in the manifest; bad files are refused whole.

use std::path::Path;

use planform_data::{
    generate_from_tasks, DataError, Dataset, Domain, FromTasks, Split, TStarConfig,
    MAX_FORMAT_VERSION,
};
use planform_trace::astar::SearchMode;
use planform_trace::rng::Rng;
use planform_trace::sokoban_gen::{SokobanGenConfig, SokobanGenerator};
use planform_trace::task::Task;
use planform_trace::tokens::StringSequence;
use sha2::{Digest, Sha256};

fn golden(lines: usize) -> String {
    let path = format!(
        "{}/../planform-trace/tests/golden/maze-10-det.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().take(lines).map(|l| format!("{l}\n")).collect()
}

fn build(text: &str, opts: &FromTasks, out: &Path, threads: usize) -> Result<(), DataError> {
    generate_from_tasks(
        "tasks.jsonl",
        text.as_bytes(),
        opts,
        out,
        threads,
        |_, _| {},
    )
    .map(|_| ())
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn golden_mazes_become_a_dataset_with_their_reference_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    // Blank lines are skipped; line numbers (and A* streams) count them.
    let text = golden(40).replacen('\n', "\n\n", 1);
    build(&text, &FromTasks::default(), &out, 2).unwrap();
    let ds = Dataset::open(&out).unwrap();
    let m = ds.manifest();
    assert_eq!(m.format_version, MAX_FORMAT_VERSION);
    let source = m.config.source.as_ref().expect("source recorded");
    assert_eq!(source.file, "tasks.jsonl");
    assert_eq!(source.tasks, 40);
    let sha: String = Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(source.sha256, sha);
    assert_eq!(
        m.config.domain,
        Domain::Maze {
            width: 10,
            height: 10,
            attempts_per_layout: 1
        }
    );
    // floor(40 · 0.9) = 36 train, the rest test, in file order.
    assert_eq!((m.train.tasks, m.test.tasks), (36, 4));
    let rows: Vec<_> = ds
        .read_split(Split::Train)
        .unwrap()
        .into_iter()
        .chain(ds.read_split(Split::Test).unwrap())
        .collect();
    let vocab = ds.vocabulary();
    let want_lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    for (i, (row, line)) in rows.iter().zip(&want_lines).enumerate() {
        assert_eq!((row.id, row.layout), (i as u64, i as u64));
        let want: StringSequence = serde_json::from_str(line).unwrap();
        let got = |ids: &[u32]| vocab.decode_owned(ids).unwrap();
        assert_eq!(got(&row.prompt), want.prompt, "line {i}");
        assert_eq!(got(&row.reasoning), want.reasoning, "line {i}");
        assert_eq!(got(&row.plan), want.plan, "line {i}");
        assert_eq!(
            Task::from_json(&row.task).unwrap(),
            Task::from_json(line).unwrap()
        );
    }
    // All-test, and the same bytes whatever the thread count.
    let all_test = FromTasks {
        test_fraction: 1.0,
        ..FromTasks::default()
    };
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    build(&text, &all_test, &a, 1).unwrap();
    build(&text, &all_test, &b, 4).unwrap();
    assert_eq!(files(&a), files(&b));
    let m = Dataset::open(&a).unwrap().manifest().clone();
    assert_eq!((m.train.tasks, m.test.tasks), (0, 40));
    // A subset written under the same config (as `planform bootstrap` does) reads back.
    let mut cfg = ds.config().clone();
    cfg.num_tasks = 2;
    let sub = tmp.path().join("sub");
    let mut w = planform_data::DatasetWriter::create(&sub, &cfg, vocab).unwrap();
    for row in rows.iter().take(2) {
        w.push(Split::Train, row.clone()).unwrap();
    }
    w.finish(Default::default()).unwrap();
    let back = Dataset::open(&sub).unwrap();
    assert_eq!(back.read_split(Split::Train).unwrap(), rows[..2].to_vec());
    assert_eq!(back.manifest().format_version, MAX_FORMAT_VERSION);
}

#[test]
fn sokoban_levels_match_solve_with_the_same_seed() {
    let mut gen = SokobanGenerator::new(SokobanGenConfig::default()).unwrap();
    let levels: Vec<Task> = (0..12)
        .map(|i| Task::Sokoban(gen.generate(&mut Rng::stream(3, i)).unwrap().level))
        .collect();
    let text: String = levels
        .iter()
        .map(|t| format!("{}\n", t.to_json_line(None)))
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let opts = FromTasks {
        seed: 77,
        test_fraction: 0.25,
        tstar: Some(TStarConfig { runs: 3 }),
        ..FromTasks::default()
    };
    build(&text, &opts, &out, 2).unwrap();
    let ds = Dataset::open(&out).unwrap();
    assert_eq!(ds.config().astar, SearchMode::Nondeterministic);
    let train = ds.read_split(Split::Train).unwrap();
    let test = ds.read_split(Split::Test).unwrap();
    assert_eq!((train.len(), test.len()), (9, 3));
    assert!(train.iter().all(|r| r.astar_mean_reasoning.is_none()));
    assert!(test
        .iter()
        .all(|r| r.astar_mean_reasoning.is_some_and(|t| t > 0.0)));
    for (i, row) in train.iter().chain(&test).enumerate() {
        // `planform solve --astar nondet --seed 77`: line i+1 uses stream i.
        let (tokens, nodes) = levels[i]
            .solve_tokens(
                ds.vocabulary(),
                SearchMode::Nondeterministic,
                &mut Rng::stream(77, i as u64),
            )
            .unwrap();
        assert_eq!(row.reasoning, tokens.reasoning, "level {i}");
        assert_eq!(
            (row.plan.clone(), row.plan_length as usize),
            (tokens.plan, nodes)
        );
    }
}

#[test]
fn bad_files_are_refused_whole_naming_the_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let good = golden(3);
    let lines: Vec<&str> = good.lines().collect();
    let walled_in = r#"{"width": 3, "height": 3, "start": [0, 0], "goal": [2, 2], "walls": [[1, 0], [0, 1], [1, 1]]}"#;
    let cases: Vec<(String, Vec<&str>)> = vec![
        (format!("{}\n{{\"width\": 10\n{}\n", lines[0], lines[1]), vec!["line 2"]),
        (format!("{}\nnot json\n[]\n", lines[0]), vec!["2 of 3", "line 2", "line 3"]),
        (format!("{}\n{}\n{}\n", lines[0], lines[1], lines[0]), vec!["line 3: repeats the task of line 1"]),
        (
            format!("{}\n{}\n", lines[0], r#"{"width": 5, "height": 5, "start": [0, 0], "goal": [4, 4], "walls": []}"#),
            vec!["line 2: a 5x5 maze, but line 1 is a 10x10 maze"],
        ),
        (
            format!("{walled_in}\n{}\n", r#"{"width": 3, "height": 3, "start": [0, 0], "goal": [2, 0], "walls": []}"#),
            vec!["line 1: A* cannot solve"],
        ),
        (
            "{\"width\": 6, \"height\": 3, \"worker\": [1, 1], \"boxes\": [[2, 1], [3, 1]], \"docks\": [[4, 1]], \"walls\": []}\n".to_string(),
            vec!["line 1: malformed Sokoban level: more boxes (2) than docks (1)"],
        ),
        (format!("{}\n", lines[0].replacen('{', "{\"start\": [0, 0], ", 1)), vec!["duplicate key `start`"]),
        ("\n  \n".to_string(), vec!["holds no tasks"]),
    ];
    for (text, needles) in cases {
        let e = build(&text, &FromTasks::default(), &out, 1).unwrap_err();
        let msg = e.to_string();
        for n in needles {
            assert!(msg.contains(n), "{text:?}: `{n}` not in {msg}");
        }
        if !msg.contains("no tasks") {
            assert!(msg.starts_with("tasks.jsonl:"), "names the file: {msg}");
        }
        assert!(!out.exists(), "nothing written for {text:?}");
    }
    // Many failures: the first few, then a count.
    let many: String = (0..9).map(|_| "oops\n").collect();
    let msg = build(&many, &FromTasks::default(), &out, 1)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("9 of 9") && msg.contains("line 5:") && msg.contains("and 4 more"),
        "{msg}"
    );
    assert!(!msg.contains("line 6:"), "{msg}");
}

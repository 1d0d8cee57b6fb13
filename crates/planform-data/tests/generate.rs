//! Generation: determinism across thread counts, split by layout, counts and stats,
//! round trip, agreement with the trace crate, t*.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use planform_data::{
    Dataset, DatasetWriter, Domain, Example, GenerateConfig, GenerationCounts, LengthStats,
    SearchMode, Split, TStarConfig,
};
use planform_trace::maze::MazeTask;
use planform_trace::maze_gen::{MazeGenConfig, MazeGenerator, MazeSolver};
use planform_trace::rng::Rng;
use planform_trace::vocab::Vocabulary;

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn byte_identical_for_1_2_4_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = common::small_maze(1500, 7);
    c.tstar = Some(TStarConfig { runs: 3 });
    let mut outs = Vec::new();
    for threads in [1, 2, 4] {
        let out = tmp.path().join(format!("t{threads}"));
        common::gen(&c, &out, threads);
        outs.push(files(&out));
    }
    assert!(
        outs[0].len() > 10,
        "expected many shards: {:?}",
        outs[0].keys()
    );
    assert!(outs[0].contains_key("manifest.json"));
    assert_eq!(outs[0], outs[1], "1 vs 2 threads");
    assert_eq!(outs[0], outs[2], "1 vs 4 threads");
    // A different seed gives different data.
    let mut c2 = c.clone();
    c2.seed = 8;
    let out = tmp.path().join("seed8");
    common::gen(&c2, &out, 2);
    assert_ne!(
        files(&out)["train-00000.parquet"],
        outs[0]["train-00000.parquet"]
    );
}

/// Independent nearest-rank statistics from a list of lengths.
fn brute_stats(mut v: Vec<u32>) -> LengthStats {
    v.sort_unstable();
    let n = v.len();
    let pct = |p: usize| v[((p * n).div_ceil(100)).max(1) - 1];
    LengthStats {
        count: n as u64,
        min: v[0],
        max: v[n - 1],
        mean: v.iter().map(|&x| x as f64).sum::<f64>() / n as f64,
        p50: pct(50),
        p90: pct(90),
        p99: pct(99),
    }
}

fn assert_stats_eq(a: LengthStats, b: LengthStats, what: &str) {
    assert_eq!(
        (a.count, a.min, a.max, a.p50, a.p90, a.p99),
        (b.count, b.min, b.max, b.p50, b.p90, b.p99),
        "{what}"
    );
    assert!(
        (a.mean - b.mean).abs() < 1e-9,
        "{what}: {} vs {}",
        a.mean,
        b.mean
    );
}

#[test]
fn split_by_layout_counts_and_stats() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let c = common::small_maze(1234, 3);
    let m = common::gen(&c, &out, 2);
    let ds = Dataset::open(&out).unwrap();
    ds.verify().unwrap();
    let train = ds.read_split(Split::Train).unwrap();
    let test = ds.read_split(Split::Test).unwrap();
    // Exact counts: floor(1234 * 0.8) = 987 train.
    assert_eq!((train.len(), test.len()), (987, 247));
    assert_eq!((m.train.tasks, m.test.tasks), (987, 247));
    // No layout in both splits; train layouts all precede test layouts.
    let lt: HashSet<u64> = train.iter().map(|e| e.layout).collect();
    let ls: HashSet<u64> = test.iter().map(|e| e.layout).collect();
    assert!(lt.is_disjoint(&ls));
    assert!(lt.iter().max() < ls.iter().min());
    assert_eq!(
        (m.train.layouts, m.test.layouts),
        (lt.len() as u64, ls.len() as u64)
    );
    // Ids 0.. in file order; layouts non-decreasing.
    let all: Vec<&Example> = train.iter().chain(&test).collect();
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.id, i as u64);
        assert_eq!(e.reasoning_length as usize, e.reasoning.len());
        assert_eq!(e.plan.len(), 3 * e.plan_length as usize);
        assert!(
            e.plan_length >= 5,
            "reference filter plan nodes >= max(w, h)"
        );
        assert!(e.astar_mean_reasoning.is_none());
    }
    assert!(all.windows(2).all(|w| w[0].layout <= w[1].layout));
    // Stats match an independent recomputation.
    for (info, rows) in [(&m.train, &train), (&m.test, &test)] {
        let get = |f: fn(&Example) -> usize| rows.iter().map(|e| f(e) as u32).collect::<Vec<_>>();
        assert_stats_eq(
            info.lengths.prompt,
            brute_stats(get(|e| e.prompt.len())),
            "prompt",
        );
        assert_stats_eq(
            info.lengths.reasoning,
            brute_stats(get(|e| e.reasoning.len())),
            "reasoning",
        );
        assert_stats_eq(
            info.lengths.plan,
            brute_stats(get(|e| e.plan.len())),
            "plan",
        );
        let dec = get(|e| e.reasoning.len() + e.plan.len() + 2);
        assert_stats_eq(info.lengths.decoder, brute_stats(dec), "decoder");
        let shard_rows: Vec<u64> = info.shards.iter().map(|s| s.rows).collect();
        assert!(
            shard_rows.iter().rev().skip(1).all(|&r| r == 97),
            "{shard_rows:?}"
        );
    }
    // Streaming batches give the same rows.
    let streamed: Vec<Example> = ds
        .batches(Split::Test, 50)
        .map(|b| b.unwrap())
        .inspect(|b| assert!(!b.is_empty() && b.len() <= 50))
        .flatten()
        .collect();
    assert_eq!(streamed, test);
    // Bookkeeping adds up: the layouts consumed hold every stored or dropped task.
    let g = m.generation;
    assert_eq!(g.duplicate_layouts, 0);
    assert!(g.layouts_consumed >= m.train.layouts + m.test.layouts);
}

#[test]
fn rows_agree_with_trace_generator() {
    // Layout 0 regenerated directly from Rng::stream(seed, 0) must equal the first rows.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let c = common::small_maze(300, 11);
    common::gen(&c, &out, 2);
    let ds = Dataset::open(&out).unwrap();
    let train = ds.read_split(Split::Train).unwrap();
    let vocab = Vocabulary::maze(5, 5).unwrap();
    assert_eq!(ds.vocabulary().tokens(), vocab.tokens());
    let mut g =
        MazeGenerator::new(MazeGenConfig::reference(5, 5, SearchMode::Deterministic)).unwrap();
    let layout = g.generate_layout(&vocab, &mut Rng::stream(11, 0)).unwrap();
    let first: Vec<&Example> = train.iter().filter(|e| e.layout == 0).collect();
    assert_eq!(first.len(), layout.tasks.len());
    let mut solver = MazeSolver::new();
    for (e, s) in first.iter().zip(&layout.tasks) {
        assert_eq!(e.prompt, s.tokens.prompt);
        assert_eq!(e.reasoning, s.tokens.reasoning);
        assert_eq!(e.plan, s.tokens.plan);
        // The stored task JSON parses and re-solves to the same tokens.
        let task = MazeTask::from_json(&e.task).unwrap();
        assert_eq!(task, s.task);
        let (seq, plan_len) = solver
            .solve_tokens(&task, &vocab, SearchMode::Deterministic, &mut Rng::new(0))
            .unwrap();
        assert_eq!(
            (seq.prompt, seq.reasoning, seq.plan),
            (e.prompt.clone(), e.reasoning.clone(), e.plan.clone())
        );
        assert_eq!(plan_len as u32, e.plan_length);
    }
}

#[test]
fn tstar_on_test_split_only() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let mut c = common::small_maze(200, 5);
    c.tstar = Some(TStarConfig { runs: 8 });
    let m = common::gen(&c, &out, 2);
    assert!(m.has_astar_mean_reasoning);
    assert_eq!(m.astar_mean_runs, Some(8));
    let ds = Dataset::open(&out).unwrap();
    assert!(ds
        .read_split(Split::Train)
        .unwrap()
        .iter()
        .all(|e| e.astar_mean_reasoning.is_none()));
    let test = ds.read_split(Split::Test).unwrap();
    assert_eq!(test.len(), 40);
    for e in &test {
        let t = e.astar_mean_reasoning.expect("t* present on test rows");
        // Sum over 8 runs of 5-token clauses: an integer multiple of 5.
        let sum = t * 8.0;
        assert!(
            (sum - sum.round()).abs() < 1e-9 && (sum.round() as u64) % 5 == 0,
            "{t}"
        );
        // Every plan node is created and closed at least once: >= 10 tokens per node.
        assert!(
            t >= 10.0 * e.plan_length as f64,
            "{t} vs plan {}",
            e.plan_length
        );
    }
}

/// A valid 5x5 maze row (start `(0, id % 5)`, goal `(4, 4)`, no walls) with the given
/// reasoning tokens and a one-node plan.
fn example(id: u64, layout: u64, reasoning: Vec<u32>, tstar: Option<f64>) -> Example {
    let vocab = Vocabulary::maze(5, 5).unwrap();
    let task = planform_trace::Task::Maze(
        MazeTask::new(
            5,
            5,
            planform_trace::Pos::new(0, (id % 5) as u32),
            planform_trace::Pos::new(4, 4),
            vec![],
        )
        .unwrap(),
    );
    Example {
        id,
        layout,
        task: serde_json::to_string(&task).unwrap(),
        prompt: task.prompt(&vocab).unwrap(),
        reasoning_length: reasoning.len() as u32,
        reasoning,
        plan: vec![
            vocab.id("plan").unwrap(),
            vocab.num(0).unwrap(),
            vocab.num(0).unwrap(),
        ],
        plan_length: 1,
        astar_mean_reasoning: tstar,
    }
}

#[test]
fn writer_round_trip_and_validation() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let vocab = Vocabulary::maze(5, 5).unwrap();
    let mut c = GenerateConfig::new(Domain::maze(5, 5), 10);
    c.shard_rows = 3;
    let mut w = DatasetWriter::create(&out, &c, &vocab).unwrap();
    let train: Vec<Example> = (0..7)
        .map(|i| example(i, i / 2, (2..2 + i as u32).collect(), None))
        .collect();
    let test: Vec<Example> = (7..10)
        .map(|i| example(i, 100 + i, vec![37; i as usize], Some(i as f64 * 0.5)))
        .collect();
    for e in &train {
        w.push(Split::Train, e.clone()).unwrap();
    }
    for e in &test {
        w.push(Split::Test, e.clone()).unwrap();
    }
    // Invalid rows are rejected with typed errors and do not poison the writer.
    let mut bad = example(20, 0, vec![38], None);
    assert!(matches!(
        w.push(Split::Test, bad.clone()),
        Err(planform_data::DataError::TokenOutOfRange { token: 38, .. })
    ));
    // `bos`/`eos` inside a row (the one-pass token check fails, the detailed one names it).
    for framing in [planform_trace::vocab::BOS, planform_trace::vocab::EOS] {
        let framed = example(20, 0, vec![2, framing, 3], None);
        let e = w.push(Split::Test, framed).unwrap_err().to_string();
        assert!(e.contains("position 1 of the reasoning"), "{e}");
    }
    bad.reasoning = vec![1];
    bad.reasoning_length = 2;
    assert!(w.push(Split::Test, bad.clone()).is_err());
    bad.reasoning_length = 1;
    bad.id = 5;
    assert!(w.push(Split::Test, bad).is_err(), "ids must increase");
    assert!(!out.exists(), "nothing visible before finish");
    w.finish(GenerationCounts::default()).unwrap();
    let ds = Dataset::open(&out).unwrap();
    assert_eq!(ds.read_split(Split::Train).unwrap(), train);
    assert_eq!(ds.read_split(Split::Test).unwrap(), test);
    let m = ds.manifest();
    assert_eq!(m.train.shards.len(), 3);
    assert_eq!(m.train.layouts, 4);
    assert_eq!(m.test.layouts, 3);
    assert_eq!(m.train.lengths.reasoning.max, 6);
    assert_eq!(m.train.lengths.reasoning.min, 0);
    assert_eq!(m.test.lengths.decoder.min, 7 + 3 + 2);
}

#[test]
fn empty_test_split() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let mut c = common::small_maze(50, 2);
    c.test_fraction = 0.0;
    let m = common::gen(&c, &out, 1);
    assert_eq!((m.train.tasks, m.test.tasks), (50, 0));
    assert!(m.test.shards.is_empty());
    let ds = Dataset::open(&out).unwrap();
    assert!(ds.read_split(Split::Test).unwrap().is_empty());
    assert_eq!(ds.batches(Split::Test, 10).count(), 0);
}

#[test]
fn progress_and_inspect() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let c = common::small_maze(500, 4);
    let mut calls = Vec::new();
    let m = planform_data::generate(&c, &out, 2, |done, total| calls.push((done, total))).unwrap();
    assert_eq!(calls.first(), Some(&(0, 500)));
    assert_eq!(calls.last(), Some(&(500, 500)));
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0 && w[1].1 == 500));
    let ins = Dataset::open(&out).unwrap().inspect(8).unwrap();
    assert_eq!(ins.domain, "maze-5x5");
    assert_eq!(ins.vocab_size, Vocabulary::maze(5, 5).unwrap().len());
    for (s, info) in ins.splits.iter().zip([&m.train, &m.test]) {
        assert_eq!(s.info.tasks, info.tasks);
        // Histograms recomputed from the rows agree with the manifest statistics.
        assert_eq!(s.histograms.stats(), info.lengths);
        let binned = s.histograms.reasoning.binned(8);
        assert!(binned.len() <= 8);
        assert_eq!(binned.iter().map(|b| b.count).sum::<u64>(), info.tasks);
    }
    let text = ins.to_string();
    assert!(text.contains("train: 400 tasks"), "{text}");
    assert!(text.contains("test: 100 tasks"), "{text}");
}

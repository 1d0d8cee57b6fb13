//! `bench gen`: trace-generation throughput of the `planform-trace` generators (wall layout,
//! start/goal attempts, A*, filters and tokenization, like the reference generation loop),
//! on one thread and on all cores, against the Python reference re-statement
//! (`bench/reference_gen.py`) in the same run and the recorded anchors, plus
//! `planform_data::generate` end to end (Parquet, zstd) and the dataset size per million
//! tasks.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, Mutex, OnceLock};
use std::time::Instant;

use planform_data::{Domain, GenerateConfig};
use planform_trace::{
    MazeGenConfig, MazeGenerator, Rng, SearchMode, SokobanGenConfig, SokobanGenerator, Vocabulary,
};
use serde::Serialize;

use crate::anchors::Anchors;
use crate::error::{BenchError, Result};
use crate::machine::{Clock, CpuScope, Machine};
use crate::python::Reference;
use crate::report::gen::{CaseResult, GenAnchorFigures, GenReport, ParquetResult, Rate};

/// Whether and how to run the Python reference.
#[derive(Debug, Clone, PartialEq)]
pub enum PythonReference {
    /// Do not run it (e.g. where python3 is absent).
    Skip,
    /// Run `bench/reference_gen.py`.
    Run {
        /// Interpreter. Default `python3`.
        python: String,
        /// The script (default: `bench/reference_gen.py` under the current directory or the
        /// workspace).
        script: Option<PathBuf>,
        /// Use numpy in the Sokoban heuristic, like the original code (needs numpy; the
        /// default pure-Python heuristic is faster, i.e. favours the reference).
        numpy: bool,
    },
}

impl Default for PythonReference {
    fn default() -> Self {
        PythonReference::Run {
            python: "python3".into(),
            script: None,
            numpy: false,
        }
    }
}

/// What `bench gen` measures.
#[derive(Debug, Clone, PartialEq)]
pub struct GenBenchConfig {
    /// Cases to run. Default [`Case::STANDARD`].
    pub cases: Vec<Case>,
    /// Budget per case for each Rust run: CPU seconds of the thread on one thread, wall
    /// seconds on all cores. Default 3.
    pub seconds: f64,
    /// CPU-seconds budget per case for the Python reference (Sokoban gets 3×: its task costs
    /// are heavy-tailed). Default 5.
    pub py_seconds: f64,
    /// Threads for the all-core run (0 = all cores). Default 0.
    pub threads: usize,
    /// The Python reference. Default: `python3`, pure-Python heuristic.
    pub reference: PythonReference,
    /// Tasks for the end-to-end `planform_data::generate` measurement (maze 10×10, Parquet +
    /// zstd, all cores) and the size per million tasks; 0 skips it. Default 200,000.
    pub parquet_tasks: u64,
    /// Master seed (layout `i` draws from `Rng::stream(seed, i)`). Default 1.
    pub seed: u64,
    /// The command line shown in the report. Default empty.
    pub command: String,
}

impl Default for GenBenchConfig {
    fn default() -> Self {
        GenBenchConfig {
            cases: Case::STANDARD.to_vec(),
            seconds: 3.0,
            py_seconds: 5.0,
            threads: 0,
            reference: PythonReference::default(),
            parquet_tasks: 200_000,
            seed: 1,
            command: String::new(),
        }
    }
}

/// A benchmark case with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Case {
    /// Square maze.
    Maze {
        /// Side length.
        size: u32,
        /// A* mode.
        mode: SearchMode,
    },
    /// Sokoban, reference generator settings and filters.
    Sokoban {
        /// Side length including the border.
        size: u32,
        /// Interior walls.
        walls: u32,
        /// Boxes.
        boxes: u32,
    },
}

impl Case {
    /// Maze 10×10, deterministic A*.
    pub const MAZE10: Case = Case::Maze {
        size: 10,
        mode: SearchMode::Deterministic,
    };
    /// Maze 10×10, nondeterministic A*.
    pub const MAZE10_NONDET: Case = Case::Maze {
        size: 10,
        mode: SearchMode::Nondeterministic,
    };
    /// Maze 20×20, deterministic A*.
    pub const MAZE20: Case = Case::Maze {
        size: 20,
        mode: SearchMode::Deterministic,
    };
    /// Maze 30×30, deterministic A*.
    pub const MAZE30: Case = Case::Maze {
        size: 30,
        mode: SearchMode::Deterministic,
    };
    /// Sokoban 7×7, 2 interior walls, 2 boxes, nondeterministic A*, reasoning < 10,000 tokens.
    pub const SOKOBAN: Case = Case::Sokoban {
        size: 7,
        walls: 2,
        boxes: 2,
    };
    /// The standard cases, in report order (the default of [`GenBenchConfig`]).
    pub const STANDARD: [Case; 5] = [
        Case::MAZE10,
        Case::MAZE10_NONDET,
        Case::MAZE20,
        Case::MAZE30,
        Case::SOKOBAN,
    ];

    /// Short label for tables.
    pub fn label(&self) -> String {
        match *self {
            Case::Maze { size, mode } => {
                let m = match mode {
                    SearchMode::Deterministic => "det",
                    SearchMode::Nondeterministic => "nondet",
                };
                format!("maze {size}×{size} {m}")
            }
            Case::Sokoban { size, walls, boxes } => {
                format!("Sokoban {size}×{size} w{walls} b{boxes} nondet")
            }
        }
    }

    /// The reference figures recorded for this case (`anchors.toml`), if any.
    pub fn anchor(&self, anchors: &Anchors) -> Option<GenAnchorFigures> {
        match *self {
            Case::Maze { size, mode } => {
                anchors.gen_reference(size, mode).map(|a| GenAnchorFigures {
                    tasks: a.tasks_per_s,
                    tokens: a.tokens_per_s,
                })
            }
            Case::Sokoban { .. } => None,
        }
    }
}

/// One generator per thread: produces the tasks of one layout index.
enum Worker {
    Maze {
        gen: Box<MazeGenerator>,
        vocab: Vocabulary,
    },
    Sokoban(Box<SokobanGenerator>),
}

impl Worker {
    fn new(case: Case) -> Result<Self> {
        Ok(match case {
            Case::Maze { size, mode } => Worker::Maze {
                gen: Box::new(MazeGenerator::new(MazeGenConfig::reference(
                    size, size, mode,
                ))?),
                vocab: Vocabulary::maze(size, size)?,
            },
            Case::Sokoban { size, walls, boxes } => {
                Worker::Sokoban(Box::new(SokobanGenerator::new(SokobanGenConfig {
                    width: size,
                    height: size,
                    interior_walls: walls,
                    boxes,
                    ..SokobanGenConfig::default()
                })?))
            }
        })
    }

    /// `(tasks, tokens)` of layout `index`: a maze wall layout with its accepted tasks, or
    /// one accepted Sokoban level (re-drawn until A* solves it within the filters).
    /// Tokens are prompt + reasoning + plan, without `bos`/`eos`.
    fn item(&mut self, seed: u64, index: u64) -> Result<(u64, u64)> {
        let mut rng = Rng::stream(seed, index);
        Ok(match self {
            Worker::Maze { gen, vocab } => {
                let layout = gen.generate_layout(vocab, &mut rng)?;
                let tokens = layout.tasks.iter().map(|t| t.tokens.len() as u64).sum();
                (layout.tasks.len() as u64, tokens)
            }
            Worker::Sokoban(gen) => (1, gen.generate(&mut rng)?.tokens.len() as u64),
        })
    }
}

/// Single thread until the thread has used `seconds` of CPU time. The CPU clock (a `/proc`
/// read) is consulted at most every 10 ms of wall time.
pub fn measure_one_thread(case: Case, seed: u64, seconds: f64) -> Result<Rate> {
    let mut worker = Worker::new(case)?;
    let clock = Clock::start(CpuScope::Thread);
    let (mut tasks, mut tokens, mut index) = (0u64, 0u64, 0u64);
    let mut last_check = Instant::now();
    loop {
        let (a, b) = worker.item(seed, index)?;
        index += 1;
        tasks += a;
        tokens += b;
        if last_check.elapsed().as_secs_f64() >= 0.01 {
            last_check = Instant::now();
            if clock.cpu() >= seconds {
                break;
            }
        }
    }
    Ok(Rate {
        threads: 1,
        tasks,
        tokens,
        items: index,
        wall_s: clock.wall(),
        cpu_s: clock.cpu(),
    })
}

/// All threads of a rayon pool pull layout indices from a shared counter until `seconds`
/// of wall time have passed; each thread owns its generator.
pub fn measure_all_cores(case: Case, seed: u64, seconds: f64, threads: usize) -> Result<Rate> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| BenchError::Config(format!("building a pool of {threads} threads: {e}")))?;
    let threads = pool.current_num_threads();
    let next = AtomicU64::new(0);
    let totals = Mutex::new((0u64, 0u64));
    let barrier = Barrier::new(threads);
    let clock: OnceLock<Clock> = OnceLock::new();
    let results: Vec<Result<()>> = pool.broadcast(|_| {
        let worker = Worker::new(case);
        // Start the clocks once every thread has built its generator (building the
        // Sokoban vocabulary is set-up, not generation).
        barrier.wait();
        let clock = clock.get_or_init(|| Clock::start(CpuScope::Process));
        let mut worker = worker?;
        let (mut tasks, mut tokens) = (0u64, 0u64);
        while clock.wall() < seconds {
            let (a, b) = worker.item(seed, next.fetch_add(1, Ordering::Relaxed))?;
            tasks += a;
            tokens += b;
        }
        let mut t = totals.lock().map_err(|_| BenchError::WorkerPanicked)?;
        t.0 += tasks;
        t.1 += tokens;
        Ok(())
    });
    let clock = clock
        .get()
        .ok_or_else(|| BenchError::Config("no worker thread started".into()))?;
    let (wall_s, cpu_s) = (clock.wall(), clock.cpu());
    results.into_iter().collect::<Result<Vec<()>>>()?;
    let (tasks, tokens) = *totals.lock().map_err(|_| BenchError::WorkerPanicked)?;
    Ok(Rate {
        threads,
        tasks,
        tokens,
        items: next.load(Ordering::Relaxed),
        wall_s,
        cpu_s,
    })
}

/// `planform_data::generate` for maze 10×10 (deterministic, reference settings) into a
/// temporary directory: end-to-end rate and bytes on disk.
pub fn measure_parquet(tasks: u64, seed: u64, threads: usize) -> Result<ParquetResult> {
    let dir = tempfile::Builder::new()
        .prefix("planform-bench-")
        .tempdir()
        .map_err(|e| BenchError::io(std::env::temp_dir(), e))?;
    let out = dir.path().join("maze-10x10");
    let mut config = GenerateConfig::new(Domain::maze(10, 10), tasks);
    config.seed = seed;
    let clock = Clock::start(CpuScope::Process);
    let manifest = planform_data::generate(&config, &out, threads, |_, _| {})?;
    let (wall_s, cpu_s) = (clock.wall(), clock.cpu());
    let bytes = dir_bytes(&out)?;
    let stored = manifest.train.tasks + manifest.test.tasks;
    let tokens: f64 = [&manifest.train, &manifest.test]
        .iter()
        .map(|s| {
            let l = &s.lengths;
            s.tasks as f64 * (l.prompt.mean + l.reasoning.mean + l.plan.mean)
        })
        .sum();
    Ok(ParquetResult {
        tasks: stored,
        threads,
        wall_s,
        cpu_s,
        bytes,
        tokens: tokens.round() as u64,
    })
}

/// Total size of the files in a directory (not recursive: datasets are flat).
fn dir_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| BenchError::io(dir, e))? {
        let entry = entry.map_err(|e| BenchError::io(dir, e))?;
        total += entry.metadata().map(|m| m.len()).unwrap_or(0);
    }
    Ok(total)
}

/// Runs `bench gen`; `progress` receives one line per stage.
pub fn run_gen(cfg: &GenBenchConfig, progress: &mut dyn FnMut(&str)) -> Result<GenReport> {
    if !(cfg.seconds > 0.0 && cfg.py_seconds > 0.0) {
        return Err(BenchError::Config(
            "--seconds and --py-seconds must be positive".into(),
        ));
    }
    let anchors = Anchors::embedded()?;
    let mut machine = Machine::now();
    let threads = if cfg.threads == 0 {
        machine.cores
    } else {
        cfg.threads
    };
    let reference = match &cfg.reference {
        PythonReference::Skip => {
            progress("Python reference skipped (--no-reference).");
            None
        }
        PythonReference::Run {
            python,
            script,
            numpy,
        } => match Reference::locate(python, script.as_deref(), *numpy) {
            Ok(r) => Some(r),
            Err(why) => {
                progress(&format!("Python reference skipped: {why}"));
                None
            }
        },
    };
    progress(&format!(
        "{} on {} cores, load {:.2}; {} s per Rust run, {} CPU-s per Python run",
        machine.cpu_model,
        machine.cores,
        machine.load_start.unwrap_or(f64::NAN),
        cfg.seconds,
        cfg.py_seconds
    ));

    let mut results = Vec::new();
    for &case in &cfg.cases {
        progress(&format!("{}: Rust, 1 thread ...", case.label()));
        let one = measure_one_thread(case, cfg.seed, cfg.seconds)?;
        progress(&format!("{}: Rust, {threads} threads ...", case.label()));
        let all = measure_all_cores(case, cfg.seed, cfg.seconds, threads)?;
        let py = reference.as_ref().map(|r| {
            let budget = match case {
                Case::Sokoban { .. } => 3.0 * cfg.py_seconds,
                Case::Maze { .. } => cfg.py_seconds,
            };
            progress(&format!(
                "{}: Python reference ({budget} CPU-s) ...",
                case.label()
            ));
            r.run(case, budget, cfg.seed)
        });
        if let Some(Err(e)) = &py {
            progress(&format!("{}: Python reference failed: {e}", case.label()));
        }
        results.push(CaseResult {
            case: case.label(),
            anchor: case.anchor(&anchors),
            rust_one_thread: one,
            rust_all_cores: all,
            python: py.and_then(|r| r.ok()),
        });
    }

    let parquet = if cfg.parquet_tasks > 0 {
        progress(&format!(
            "planform_data::generate: {} maze 10×10 tasks, {threads} threads ...",
            cfg.parquet_tasks
        ));
        Some(measure_parquet(cfg.parquet_tasks, cfg.seed, threads)?)
    } else {
        None
    };
    machine.finish();

    Ok(GenReport {
        command: cfg.command.clone(),
        machine,
        threads,
        rust_seconds: cfg.seconds,
        python_seconds: cfg.py_seconds,
        reference: reference.as_ref().map(Reference::describe),
        cases: results,
        parquet,
        goal_factor: anchors.gen.goal_factor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_counts_match_the_generator() {
        // The bench's per-layout counts are exactly the generator's output for that stream.
        let case = Case::MAZE10;
        let mut w = Worker::new(case).unwrap();
        let vocab = Vocabulary::maze(10, 10).unwrap();
        let mut gen =
            MazeGenerator::new(MazeGenConfig::reference(10, 10, SearchMode::Deterministic))
                .unwrap();
        for i in 0..3 {
            let layout = gen.generate_layout(&vocab, &mut Rng::stream(7, i)).unwrap();
            let tokens: usize = layout.tasks.iter().map(|t| t.tokens.len()).sum();
            assert_eq!(
                w.item(7, i).unwrap(),
                (layout.tasks.len() as u64, tokens as u64)
            );
        }
    }

    #[test]
    fn maze_cases_have_their_anchors_and_sokoban_none() {
        let a = Anchors::embedded().unwrap();
        let tasks = |c: Case| c.anchor(&a).map(|x| x.tasks);
        assert_eq!(tasks(Case::MAZE10), Some(334.0));
        assert_eq!(tasks(Case::MAZE10_NONDET), Some(326.0));
        assert_eq!(tasks(Case::MAZE20), Some(75.0));
        assert_eq!(tasks(Case::MAZE30), Some(15.0));
        assert_eq!(tasks(Case::SOKOBAN), None);
        assert_eq!(Case::SOKOBAN.label(), "Sokoban 7×7 w2 b2 nondet");
    }

    #[test]
    fn a_tiny_run_reports_every_case() {
        let cfg = GenBenchConfig {
            cases: vec![Case::MAZE10],
            seconds: 0.05,
            threads: 1,
            reference: PythonReference::Skip,
            parquet_tasks: 0,
            ..GenBenchConfig::default()
        };
        let r = run_gen(&cfg, &mut |_| {}).unwrap();
        assert_eq!(r.cases.len(), 1);
        assert!(r.cases[0].rust_one_thread.tasks > 0);
        assert!(r.cases[0].anchor.is_some() && r.parquet.is_none());
        assert!(r.markdown().contains("maze 10×10 det"));
    }

    #[test]
    fn all_core_run_counts_every_pulled_index() {
        let case = Case::SOKOBAN;
        let r = measure_all_cores(case, 3, 0.2, 2).unwrap();
        // One Sokoban task per index, every pulled index finished.
        assert_eq!(r.tasks, r.items);
        assert!(r.tasks > 0 && r.tokens > 93 * r.tasks);
    }
}

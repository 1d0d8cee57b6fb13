//! `planform bench gen`: trace-generation throughput of the `planform-trace` generators
//! (wall layout + start/goal attempts + A* + filters + tokenization, like the reference
//! generation loop), on one thread and on all cores, against the Python reference
//! re-statement, plus `planform_data::generate` end to end.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, Mutex, OnceLock};
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use clap::{Args, ValueEnum};
use planform_data::{Domain, GenerateConfig};
use planform_trace::{
    MazeGenConfig, MazeGenerator, Rng, SearchMode, SokobanGenConfig, SokobanGenerator, Vocabulary,
};
use serde::Serialize;

use super::clock::{Clock, CpuScope, Machine};
use super::python::Reference;
use super::report::{self, Anchor, CaseResult, ParquetResult, Rate, Report};

/// A benchmark case on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CaseArg {
    /// Maze 10×10, deterministic A*.
    Maze10,
    /// Maze 20×20, deterministic A*.
    Maze20,
    /// Maze 30×30, deterministic A*.
    Maze30,
    /// Maze 10×10, nondeterministic A*.
    Maze10Nondet,
    /// Sokoban 7×7, 2 interior walls, 2 boxes, nondeterministic A*, reasoning < 10,000 tokens.
    Sokoban,
}

impl CaseArg {
    const ALL: [CaseArg; 5] = [
        CaseArg::Maze10,
        CaseArg::Maze10Nondet,
        CaseArg::Maze20,
        CaseArg::Maze30,
        CaseArg::Sokoban,
    ];
}

/// Arguments of `planform bench gen`.
#[derive(Debug, Args)]
pub struct GenBenchArgs {
    /// Cases to run, comma-separated (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub cases: Vec<CaseArg>,
    /// Budget per case for each Rust run: CPU seconds of the thread on one thread, wall
    /// seconds on all cores.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// CPU-seconds budget per case for the Python reference (Sokoban gets 3×: its task
    /// costs are heavy-tailed).
    #[arg(long, default_value_t = 5.0)]
    pub py_seconds: f64,
    /// Threads for the all-core run (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Skip the Python reference (e.g. where python3 is absent).
    #[arg(long)]
    pub no_reference: bool,
    /// Python interpreter for the reference.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// The reference script (default: `bench/reference_gen.py` under the current directory
    /// or the workspace).
    #[arg(long)]
    pub reference_script: Option<PathBuf>,
    /// Let the reference use numpy in the Sokoban heuristic, like the original code (needs
    /// numpy; the default pure-Python heuristic is faster, i.e. favours the reference).
    #[arg(long)]
    pub reference_numpy: bool,
    /// Tasks for the end-to-end `planform gen` measurement (maze 10×10, Parquet + zstd,
    /// all cores) and the size per million tasks; 0 skips it.
    #[arg(long, default_value_t = 200_000)]
    pub parquet_tasks: u64,
    /// Master seed (layout `i` draws from `Rng::stream(seed, i)`).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write the markdown report to FILE and the JSON report to FILE with extension
    /// `.json`.
    #[arg(long)]
    pub out: Option<PathBuf>,
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

impl From<CaseArg> for Case {
    fn from(c: CaseArg) -> Self {
        let maze = |size, mode| Case::Maze { size, mode };
        match c {
            CaseArg::Maze10 => maze(10, SearchMode::Deterministic),
            CaseArg::Maze20 => maze(20, SearchMode::Deterministic),
            CaseArg::Maze30 => maze(30, SearchMode::Deterministic),
            CaseArg::Maze10Nondet => maze(10, SearchMode::Nondeterministic),
            CaseArg::Sokoban => Case::Sokoban {
                size: 7,
                walls: 2,
                boxes: 2,
            },
        }
    }
}

impl Case {
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

    /// Reference figures from the previous measurement (`/work/shared/anchors.md`).
    pub fn anchor(&self) -> Option<Anchor> {
        let a = |tasks, tokens| Some(Anchor { tasks, tokens });
        match *self {
            Case::Maze { size: 10, mode } => match mode {
                SearchMode::Deterministic => a(334.0, 137_000.0),
                SearchMode::Nondeterministic => a(326.0, 134_000.0),
            },
            Case::Maze {
                size: 20,
                mode: SearchMode::Deterministic,
            } => a(75.0, 98_000.0),
            Case::Maze {
                size: 30,
                mode: SearchMode::Deterministic,
            } => a(15.0, 39_000.0),
            _ => None,
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
fn measure_one_thread(case: Case, seed: u64, seconds: f64) -> Result<Rate> {
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
fn measure_all_cores(case: Case, seed: u64, seconds: f64, threads: usize) -> Result<Rate> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("building the thread pool")?;
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
        let mut t = totals.lock().map_err(|_| anyhow!("a worker panicked"))?;
        t.0 += tasks;
        t.1 += tokens;
        Ok(())
    });
    let clock = clock
        .get()
        .ok_or_else(|| anyhow!("no worker thread started"))?;
    let (wall_s, cpu_s) = (clock.wall(), clock.cpu());
    results.into_iter().collect::<Result<Vec<()>>>()?;
    let (tasks, tokens) = *totals.lock().map_err(|_| anyhow!("a worker panicked"))?;
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
fn measure_parquet(tasks: u64, seed: u64, threads: usize) -> Result<ParquetResult> {
    let dir = tempfile::Builder::new()
        .prefix("planform-bench-")
        .tempdir()
        .context("creating a temporary directory")?;
    let out = dir.path().join("maze-10x10");
    let mut config = GenerateConfig::new(Domain::maze(10, 10), tasks);
    config.seed = seed;
    let clock = Clock::start(CpuScope::Process);
    let manifest = planform_data::generate(&config, &out, threads, |_, _| {})
        .with_context(|| format!("generating {tasks} maze tasks into {}", out.display()))?;
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
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        total += entry.metadata().map(|m| m.len()).unwrap_or(0);
    }
    Ok(total)
}

/// Runs `planform bench gen`.
pub fn run(args: GenBenchArgs) -> Result<()> {
    let cases: Vec<Case> = if args.cases.is_empty() {
        CaseArg::ALL.iter().map(|&c| c.into()).collect()
    } else {
        args.cases.iter().map(|&c| c.into()).collect()
    };
    if !(args.seconds > 0.0 && args.py_seconds > 0.0) {
        return Err(anyhow!("--seconds and --py-seconds must be positive"));
    }
    let mut machine = Machine::now();
    let threads = if args.threads == 0 {
        machine.cores
    } else {
        args.threads
    };
    let reference = if args.no_reference {
        eprintln!("Python reference skipped (--no-reference).");
        None
    } else {
        match Reference::locate(
            &args.python,
            args.reference_script.as_deref(),
            args.reference_numpy,
        ) {
            Ok(r) => Some(r),
            Err(why) => {
                eprintln!("Python reference skipped: {why}");
                None
            }
        }
    };
    eprintln!(
        "{} on {} cores, load {:.2}; {} s per Rust run, {} CPU-s per Python run",
        machine.cpu_model,
        machine.cores,
        machine.load_start.unwrap_or(f64::NAN),
        args.seconds,
        args.py_seconds
    );

    let mut results = Vec::new();
    for case in cases {
        eprintln!("{}: Rust, 1 thread ...", case.label());
        let one = measure_one_thread(case, args.seed, args.seconds)?;
        eprintln!("{}: Rust, {threads} threads ...", case.label());
        let all = measure_all_cores(case, args.seed, args.seconds, threads)?;
        let py = reference.as_ref().map(|r| {
            let budget = match case {
                Case::Sokoban { .. } => 3.0 * args.py_seconds,
                Case::Maze { .. } => args.py_seconds,
            };
            eprintln!("{}: Python reference ({budget} CPU-s) ...", case.label());
            r.run(case, budget, args.seed).map_err(|e| format!("{e:#}"))
        });
        if let Some(Err(e)) = &py {
            eprintln!("{}: Python reference failed: {e}", case.label());
        }
        results.push(CaseResult {
            case: case.label(),
            anchor: case.anchor(),
            rust_one_thread: one,
            rust_all_cores: all,
            python: py.and_then(|r| r.ok()),
        });
    }

    let parquet = if args.parquet_tasks > 0 {
        eprintln!(
            "planform_data::generate: {} maze 10×10 tasks, {threads} threads ...",
            args.parquet_tasks
        );
        Some(measure_parquet(args.parquet_tasks, args.seed, threads)?)
    } else {
        None
    };
    machine.finish();

    let report = Report {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine,
        threads,
        rust_seconds: args.seconds,
        python_seconds: args.py_seconds,
        reference: reference.as_ref().map(Reference::describe),
        cases: results,
        parquet,
    };
    let markdown = report::markdown(&report);
    println!("{markdown}");
    if let Some(path) = &args.out {
        let json = serde_json::to_string_pretty(&report).context("serialising the report")?;
        report::write_atomic(path, markdown.as_bytes())?;
        report::write_atomic(&path.with_extension("json"), json.as_bytes())?;
        eprintln!(
            "wrote {} and {}",
            path.display(),
            path.with_extension("json").display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_counts_match_the_generator() {
        // The bench's per-layout counts are exactly the generator's output for that stream.
        let case = Case::from(CaseArg::Maze10);
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
    fn all_core_run_counts_every_pulled_index() {
        let case = Case::from(CaseArg::Sokoban);
        let r = measure_all_cores(case, 3, 0.2, 2).unwrap();
        // One Sokoban task per index, every pulled index finished.
        assert_eq!(r.tasks, r.items);
        assert!(r.tasks > 0 && r.tokens > 93 * r.tasks);
    }
}

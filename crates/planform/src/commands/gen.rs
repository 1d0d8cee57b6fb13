//! `planform gen`: tasks + A* traces → a Parquet dataset directory; generated, or from a
//! file of task JSON lines (`--from`).

use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use planform_data::{
    Domain, FromTasks, GenerateConfig, LengthFilters, Manifest, SearchMode, TStarConfig,
    MAX_THREADS,
};

use crate::progress;

/// Planning domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DomainArg {
    /// Grid mazes (reference: 10×10, 20×20, 30×30).
    Maze,
    /// Sokoban (reference: 7×7, 2 interior walls, 2 boxes).
    Sokoban,
}

/// A* mode of the stored traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AstarArg {
    /// Fixed child order, ties to the smaller node key (maze: x + 100000·y).
    Det,
    /// Children shuffled, coin-flip tie-break among equal f (seeded).
    Nondet,
}

impl From<AstarArg> for SearchMode {
    fn from(a: AstarArg) -> Self {
        match a {
            AstarArg::Det => SearchMode::Deterministic,
            AstarArg::Nondet => SearchMode::Nondeterministic,
        }
    }
}

/// `--test-fraction`: a number in [0, 1].
fn parse_fraction(s: &str) -> std::result::Result<f64, String> {
    let f: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if !(0.0..=1.0).contains(&f) {
        return Err(format!("{s} is not in [0, 1]"));
    }
    Ok(f)
}

/// `-j`: 0 (one thread per core) up to [`MAX_THREADS`].
fn parse_threads(s: &str) -> std::result::Result<usize, String> {
    let n: usize = s.parse().map_err(|e| format!("{e}"))?;
    if n > MAX_THREADS {
        return Err(format!(
            "{n} threads is more than the maximum of {MAX_THREADS} (0 uses one per core)"
        ));
    }
    Ok(n)
}

/// Arguments of `planform gen`.
#[derive(Debug, Args)]
#[command(after_long_help = "\
From your own tasks: `planform gen --from tasks.jsonl -o DIR` turns a file of task JSON lines \
(the `planform solve` input: mazes `width, height, start, goal, walls` or Sokoban levels \
`width, height, worker, boxes, docks, walls`; `-` reads stdin) into the same dataset format. \
All tasks must share one domain and grid size and appear once; each is solved by A* exactly as \
`planform solve --astar MODE --seed SEED` would. With `--test-fraction F`, the first floor(n·(1 − F)) tasks in file order \
form the train split, the rest the test split (`--test-fraction 1`: all test). The manifest \
records the file, its sha256 and the task count. A line that does not parse or cannot be \
solved fails the whole command, naming the lines; nothing is written then.

The output directory is replaced only if it is a dataset planform wrote (with --overwrite); a \
directory holding anything else, a file or a symbolic link is refused. Leftover \
`<out>.partial-<pid>` directories of killed runs are removed.")]
pub struct GenArgs {
    /// Domain [default: maze].
    #[arg(long, value_enum)]
    pub domain: Option<DomainArg>,
    /// Grid width: mazes 2..=100 (default 10), Sokoban 5..=100 counting the wall border
    /// (default 7).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub width: Option<u32>,
    /// Grid height (same ranges; default: the width).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub height: Option<u32>,
    /// Maze only: start/goal attempts per wall layout, 1..=10000 [default: 100, the
    /// reference].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub attempts: Option<u32>,
    /// Sokoban only: interior wall cells [default: 2, the reference].
    #[arg(long)]
    pub walls: Option<u32>,
    /// Sokoban only: boxes and docks, at least 1 [default: 2, the reference]. Boxes are
    /// placed at least 2 cells from the border, so a W×H level holds at most
    /// (W−4)·(H−4).
    #[arg(long)]
    pub boxes: Option<u32>,
    /// Total tasks, train + test, at least 1 [default: 10000]. Refused up front when the
    /// domain cannot hold that many distinct tasks (e.g. tiny mazes).
    #[arg(long, short = 'n', value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Fraction of tasks in the test split, in [0, 1] (split by wall layout / level; with
    /// --from, the last tasks of the file).
    #[arg(long, default_value_t = 0.1, value_parser = parse_fraction)]
    pub test_fraction: f64,
    /// Master seed: the same seed gives the same bytes, whatever the thread count.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// A* mode (default: det for mazes, nondet for Sokoban, as the reference).
    #[arg(long, value_enum)]
    pub astar: Option<AstarArg>,
    /// Also store, per test task, t* = the mean reasoning length over this many
    /// nondeterministic A* runs (reference: 64; 1..=10000), needed for the ILR metric.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub tstar_runs: Option<u32>,
    /// Keep only tasks whose reasoning has at most this many tokens (Sokoban reference:
    /// 9999, i.e. < 10,000; `--max-reasoning 0` disables the filter).
    #[arg(long)]
    pub max_reasoning: Option<u32>,
    /// Rows per Parquet shard (at least 1).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub shard_rows: u64,
    /// Worker threads, 0..=256 (0 = one per core).
    #[arg(long, short = 'j', default_value_t = 0, value_parser = parse_threads)]
    pub threads: usize,
    /// Output dataset directory: absent, an empty directory, or (with --overwrite) a
    /// dataset planform wrote.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Replace an existing dataset at `--out` (only a dataset planform wrote; anything
    /// else there is refused).
    #[arg(long)]
    pub overwrite: bool,
    /// Build the dataset from this file of task JSON lines (`-` = stdin) instead of
    /// generating tasks; see below.
    #[arg(long, value_name = "FILE", conflicts_with_all = [
        "domain", "width", "height", "attempts", "walls", "boxes", "count", "max_reasoning",
    ])]
    pub from: Option<PathBuf>,
}

impl GenArgs {
    /// Refuses flags that do not apply to the chosen domain (they used to be ignored).
    fn check_domain_flags(&self, domain: DomainArg) -> Result<()> {
        let given = |name: &str, v: Option<u32>| v.map(|_| name.to_string());
        let misplaced: Vec<String> = match domain {
            DomainArg::Maze => [given("--walls", self.walls), given("--boxes", self.boxes)]
                .into_iter()
                .flatten()
                .collect(),
            DomainArg::Sokoban => given("--attempts", self.attempts).into_iter().collect(),
        };
        if misplaced.is_empty() {
            return Ok(());
        }
        let flags = misplaced.join(" and ");
        let verb = if misplaced.len() == 1 {
            "applies"
        } else {
            "apply"
        };
        match domain {
            DomainArg::Maze => bail!(
                "{flags} {verb} to Sokoban only (a maze's wall count is drawn from its size, \
                 30–50% of the cells); remove {flags}, or pass --domain sokoban"
            ),
            DomainArg::Sokoban => bail!(
                "{flags} applies to mazes only (Sokoban generates one level per layout); \
                 remove it, or pass --domain maze"
            ),
        }
    }

    /// Resolves the raw arguments into a validated generator config (not for `--from`).
    pub fn resolve(&self) -> Result<GenerateConfig> {
        let kind = self.domain.unwrap_or(DomainArg::Maze);
        self.check_domain_flags(kind)?;
        let domain = match kind {
            DomainArg::Maze => {
                let width = self.width.unwrap_or(10);
                Domain::Maze {
                    width,
                    height: self.height.unwrap_or(width),
                    attempts_per_layout: self.attempts.unwrap_or(100),
                }
            }
            DomainArg::Sokoban => {
                let width = self.width.unwrap_or(7);
                Domain::Sokoban {
                    width,
                    height: self.height.unwrap_or(width),
                    walls: self.walls.unwrap_or(2),
                    boxes: self.boxes.unwrap_or(2),
                }
            }
        };
        let mut config = GenerateConfig::new(domain, self.count.unwrap_or(10_000));
        config.astar = match (self.astar, kind) {
            (Some(a), _) => a.into(),
            (None, DomainArg::Maze) => SearchMode::Deterministic,
            (None, DomainArg::Sokoban) => SearchMode::Nondeterministic,
        };
        config.test_fraction = self.test_fraction;
        config.seed = self.seed;
        config.shard_rows = self.shard_rows;
        config.overwrite = self.overwrite;
        config.tstar = self.tstar_runs.map(|runs| TStarConfig { runs });
        let mut filters = LengthFilters::reference(&domain);
        match self.max_reasoning {
            Some(0) => filters.max_reasoning_length = None,
            Some(m) => filters.max_reasoning_length = Some(m),
            None => {}
        }
        config.filters = filters;
        config.validate().context("invalid generator settings")?;
        config
            .check_feasible()
            .context("impossible generator settings")?;
        Ok(config)
    }

    /// The options of a `--from` run.
    fn task_file_options(&self) -> FromTasks {
        FromTasks {
            test_fraction: self.test_fraction,
            seed: self.seed,
            astar: self.astar.map(Into::into),
            tstar: self.tstar_runs.map(|runs| TStarConfig { runs }),
            shard_rows: self.shard_rows,
            overwrite: self.overwrite,
        }
    }
}

/// Removes `<out>.partial-<pid>` leftovers of killed runs, saying so on stderr.
fn clean_stale_partials(args: &GenArgs) -> Result<()> {
    let removed = planform_data::remove_stale_partials(&args.out)
        .with_context(|| format!("cleaning up next to {}", args.out.display()))?;
    for p in removed {
        eprintln!(
            "note: removed {}, left by an interrupted `planform gen` whose process is gone",
            p.display()
        );
    }
    Ok(())
}

fn report(args: &GenArgs, manifest: &Manifest, what: &str, secs: f64) {
    let tasks = manifest.train.tasks + manifest.test.tasks;
    println!(
        "wrote {} ({} train + {} test tasks, {what}) in {:.2}s: {:.0} tasks/s",
        args.out.display(),
        manifest.train.tasks,
        manifest.test.tasks,
        secs,
        tasks as f64 / secs.max(1e-9),
    );
}

/// `planform gen --from FILE`.
fn run_from(args: &GenArgs, file: &PathBuf) -> Result<()> {
    let (name, bytes) = if file.as_os_str() == "-" {
        let mut b = Vec::new();
        std::io::stdin()
            .read_to_end(&mut b)
            .context("reading tasks from stdin")?;
        ("-".to_string(), b)
    } else {
        let b = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        (file.display().to_string(), b)
    };
    clean_stale_partials(args)?;
    let pb = progress::bar(0, "tasks");
    let started = std::time::Instant::now();
    let manifest = planform_data::generate_from_tasks(
        &name,
        &bytes,
        &args.task_file_options(),
        &args.out,
        args.threads,
        |done, total| {
            pb.set_length(total);
            pb.set_position(done);
        },
    )
    .with_context(|| format!("building dataset {} from {name}", args.out.display()))?;
    pb.finish_and_clear();
    let what = format!("{} from {name}", manifest.config.domain.name());
    report(args, &manifest, &what, started.elapsed().as_secs_f64());
    Ok(())
}

/// Runs `planform gen`.
pub fn run(args: GenArgs) -> Result<()> {
    if let Some(file) = &args.from {
        return run_from(&args, file);
    }
    let config = args.resolve()?;
    clean_stale_partials(&args)?;
    let pb = progress::bar(config.num_tasks, "tasks");
    let started = std::time::Instant::now();
    let manifest = planform_data::generate(&config, &args.out, args.threads, |done, total| {
        pb.set_length(total);
        pb.set_position(done);
    })
    .with_context(|| format!("generating dataset {}", args.out.display()))?;
    pb.finish_and_clear();
    report(
        &args,
        &manifest,
        &config.domain.name(),
        started.elapsed().as_secs_f64(),
    );
    Ok(())
}

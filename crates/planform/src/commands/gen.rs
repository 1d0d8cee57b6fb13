//! `planform gen`: tasks + A* traces → a Parquet dataset directory.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use planform_data::{Domain, GenerateConfig, LengthFilters, SearchMode, TStarConfig};

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

/// Arguments of `planform gen`.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Domain.
    #[arg(long, value_enum, default_value = "maze")]
    pub domain: DomainArg,
    /// Grid width (default: 10 for mazes, 7 for Sokoban; Sokoban counts the wall border).
    #[arg(long)]
    pub width: Option<u32>,
    /// Grid height (default: the width).
    #[arg(long)]
    pub height: Option<u32>,
    /// Maze: start/goal attempts per wall layout (reference: 100).
    #[arg(long, default_value_t = 100)]
    pub attempts: u32,
    /// Sokoban: interior wall cells (reference: 2).
    #[arg(long, default_value_t = 2)]
    pub walls: u32,
    /// Sokoban: boxes and docks (reference: 2).
    #[arg(long, default_value_t = 2)]
    pub boxes: u32,
    /// Total tasks, train + test.
    #[arg(long, short = 'n', default_value_t = 10_000)]
    pub count: u64,
    /// Fraction of tasks in the test split (split by wall layout / level).
    #[arg(long, default_value_t = 0.1)]
    pub test_fraction: f64,
    /// Master seed: the same seed gives the same bytes, whatever the thread count.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// A* mode (default: det for mazes, nondet for Sokoban, as the reference).
    #[arg(long, value_enum)]
    pub astar: Option<AstarArg>,
    /// Also store, per test task, t* = the mean reasoning length over this many
    /// nondeterministic A* runs (reference: 64), needed for the ILR metric.
    #[arg(long)]
    pub tstar_runs: Option<u32>,
    /// Keep only tasks whose reasoning has at most this many tokens (Sokoban reference:
    /// 9999, i.e. < 10,000; `--max-reasoning 0` disables the filter).
    #[arg(long)]
    pub max_reasoning: Option<u32>,
    /// Rows per Parquet shard.
    #[arg(long, default_value_t = 100_000)]
    pub shard_rows: u64,
    /// Worker threads (0 = all cores).
    #[arg(long, short = 'j', default_value_t = 0)]
    pub threads: usize,
    /// Output dataset directory.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Replace an existing dataset at `--out`.
    #[arg(long)]
    pub overwrite: bool,
}

impl GenArgs {
    /// Resolves the raw arguments into a validated generator config.
    pub fn resolve(&self) -> Result<GenerateConfig> {
        let domain = match self.domain {
            DomainArg::Maze => {
                let width = self.width.unwrap_or(10);
                Domain::Maze {
                    width,
                    height: self.height.unwrap_or(width),
                    attempts_per_layout: self.attempts,
                }
            }
            DomainArg::Sokoban => {
                let width = self.width.unwrap_or(7);
                Domain::Sokoban {
                    width,
                    height: self.height.unwrap_or(width),
                    walls: self.walls,
                    boxes: self.boxes,
                }
            }
        };
        let mut config = GenerateConfig::new(domain, self.count);
        config.astar = match (self.astar, self.domain) {
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
        Ok(config)
    }
}

/// Runs `planform gen`.
pub fn run(args: GenArgs) -> Result<()> {
    let config = args.resolve()?;
    let pb = progress::bar(config.num_tasks, "tasks");
    let started = std::time::Instant::now();
    let manifest = planform_data::generate(&config, &args.out, args.threads, |done, total| {
        pb.set_length(total);
        pb.set_position(done);
    })
    .with_context(|| format!("generating dataset {}", args.out.display()))?;
    pb.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let tasks = config.num_tasks;
    println!(
        "wrote {} ({} train + {} test tasks, {}) in {:.2}s: {:.0} tasks/s",
        args.out.display(),
        manifest.split(planform_data::Split::Train).tasks,
        manifest.split(planform_data::Split::Test).tasks,
        config.domain.name(),
        secs,
        tasks as f64 / secs.max(1e-9),
    );
    Ok(())
}

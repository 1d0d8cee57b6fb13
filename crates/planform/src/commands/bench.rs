//! `planform bench`: throughput measurements set against the reference implementation.
//!
//! * `planform bench gen` — trace-generation throughput (tasks/s, tokens/s) for the paper's
//!   maze and Sokoban settings, on one thread and on all cores, next to the Python
//!   reference re-statement (`bench/reference_gen.py`) run on the same machine in the same
//!   run, and to the recorded anchors; plus `planform_data::generate` end to end (Parquet,
//!   zstd) and the dataset size per million tasks. See `docs/benchmarks.md`.

mod clock;
mod gen;
mod python;
mod report;

use anyhow::Result;
use clap::{Args, Subcommand};

pub use gen::GenBenchArgs;

/// Arguments of `planform bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to measure.
    #[command(subcommand)]
    pub what: BenchCommand,
}

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Trace-generation throughput (maze 10/20/30, Sokoban 7×7) against the Python reference.
    Gen(GenBenchArgs),
}

/// Runs `planform bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    match args.what {
        BenchCommand::Gen(a) => gen::run(a),
    }
}

//! `planform bench`: throughput measurements set against the reference implementation.
//!
//! * `planform bench gen` — trace-generation throughput (tasks/s, tokens/s) for the paper's
//!   maze and Sokoban settings, on one thread and on all cores, next to the Python
//!   reference re-statement (`bench/reference_gen.py`) run on the same machine in the same
//!   run, and to the recorded anchors; plus `planform_data::generate` end to end (Parquet,
//!   zstd) and the dataset size per million tasks. See `docs/benchmarks.md`.
//! * `planform bench train` — training throughput (real tokens/s) of the planform training
//!   step, bucketed and reference-style random batches, next to PyTorch eager on the same
//!   batch shapes (`bench/train_pytorch.py`), plus epoch padding with and without bucketing.
//! * `planform bench decode` — batched KV-cached sampling throughput against one prompt at a
//!   time and a PyTorch re-statement of the reference rollout loop (`bench/decode_pytorch.py`).
//! * `planform bench cuda-check` — CUDA against CPU on the same weights (forward, cached
//!   decoding, generate, one training step); `scripts/gpu-check.sh` runs it on a GPU machine.

mod clock;
mod common;
mod cuda_check;
mod decode;
mod decode_report;
mod gen;
mod python;
mod report;
mod torch_py;
mod train;
mod train_report;

use anyhow::Result;
use clap::{Args, Subcommand};

pub use cuda_check::CudaCheckArgs;
pub use decode::DecodeBenchArgs;
pub use gen::GenBenchArgs;
pub use train::TrainBenchArgs;

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
    /// Training tokens/s (forward + backward + AdamW) against PyTorch eager, same batches.
    Train(TrainBenchArgs),
    /// Batched KV-cached decoding tokens/s against one prompt at a time and a PyTorch rollout.
    Decode(DecodeBenchArgs),
    /// CUDA against CPU on the same weights: forward, cached decoding, generate, training step.
    CudaCheck(CudaCheckArgs),
}

/// Runs `planform bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    match args.what {
        BenchCommand::Gen(a) => gen::run(a),
        BenchCommand::Train(a) => train::run(a),
        BenchCommand::Decode(a) => decode::run(a),
        BenchCommand::CudaCheck(a) => cuda_check::run(a),
    }
}

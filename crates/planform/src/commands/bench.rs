//! `planform bench`: throughput measurements set against the reference implementation. The
//! measurements, reports and recorded figures live in the `planform-bench` crate; this module
//! parses the flags ([`args`]), runs the library and prints or writes its reports.
//!
//! * `planform bench gen` — trace-generation throughput (tasks/s, tokens/s) for the paper's
//!   maze and Sokoban settings, on one thread and on all cores, next to the Python
//!   reference re-statement (`bench/reference_gen.py`) run on the same machine in the same
//!   run, and to the recorded anchors; plus `planform_data::generate` end to end (Parquet,
//!   zstd) and the dataset size per million tasks. See `docs/benchmarks.md`.
//! * `planform bench train` — training throughput (real tokens/s) of the planform training
//!   step (either family), bucketed and reference-style random batches, next to PyTorch eager
//!   on the same batch shapes (`bench/train_pytorch.py`), plus epoch padding with and without
//!   bucketing.
//! * `planform bench decode` — batched KV-cached sampling throughput (either family) against
//!   one prompt at a time and a PyTorch re-statement of the reference rollout loop
//!   (`bench/decode_pytorch.py`).
//! * `planform bench memory` — peak resident memory of training steps per optimizer
//!   (AdamW, 8-bit AdamW, GaLore, 8-bit GaLore, 8-bit GaLore per-layer, Q-GaLore) with the
//!   exact optimizer-state bytes, each configuration in a fresh child process
//!   (`--child`, internal), for planform's models and the GaLore paper's LLaMA shapes.
//! * `planform bench cuda-check` — CUDA against CPU on the same weights, both families
//!   (forward, cached decoding, generate, one training step); `scripts/gpu-check.sh` runs it
//!   on a GPU machine.

mod args;

use std::path::Path;

use anyhow::{anyhow, Result};
use clap::{Args, Subcommand};
use serde::Serialize;

pub use args::{CudaCheckArgs, DecodeBenchArgs, GenBenchArgs, MemoryBenchArgs, TrainBenchArgs};

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
    /// Peak memory of training steps per optimizer (AdamW … Q-GaLore), one process each.
    Memory(MemoryBenchArgs),
    /// CUDA against CPU on the same weights: forward, cached decoding, generate, training step.
    CudaCheck(CudaCheckArgs),
}

/// Runs `planform bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let mut progress = |line: &str| eprintln!("{line}");
    match args.what {
        BenchCommand::Gen(a) => {
            let report = planform_bench::run_gen(&a.config(command), &mut progress)?;
            emit(&report.markdown(), &report, a.out.as_deref())
        }
        BenchCommand::Train(a) => {
            let report = planform_bench::run_train(&a.config(command)?, &mut progress)?;
            emit(&report.markdown(), &report, a.out.as_deref())
        }
        BenchCommand::Decode(a) => {
            let report = planform_bench::run_decode(&a.config(command)?, &mut progress)?;
            emit(&report.markdown(), &report, a.out.as_deref())
        }
        BenchCommand::Memory(a) => memory(&a, command),
        BenchCommand::CudaCheck(a) => cuda_check(&a),
    }
}

/// Prints the markdown report; with `--out FILE`, writes it there and the JSON next to it.
fn emit<R: Serialize>(markdown: &str, report: &R, out: Option<&Path>) -> Result<()> {
    println!("{markdown}");
    if let Some(path) = out {
        let json = planform_bench::write_report(path, markdown, report)?;
        eprintln!("wrote {} and {}", path.display(), json.display());
    }
    Ok(())
}

/// Runs `planform bench memory`, or with `--child` one configuration in this process (its
/// measurement as one JSON line on stdout).
fn memory(a: &MemoryBenchArgs, command: String) -> Result<()> {
    if let Some(json) = &a.child {
        let case: planform_bench::MemoryCase = serde_json::from_str(json)?;
        let m = planform_bench::run_memory_child(&case)?;
        println!(
            "{}{}",
            planform_bench::memory::RESULT_PREFIX,
            serde_json::to_string(&m)?
        );
        return Ok(());
    }
    let exe = std::env::current_exe()?;
    let mut progress = |line: &str| eprintln!("{line}");
    let report = planform_bench::run_memory(&a.config(command)?, &exe, &mut progress)?;
    emit(&report.markdown(), &report, a.out.as_deref())
}

/// Runs `planform bench cuda-check`: one line per check, the JSON with `--out`, an error
/// naming the failed checks.
fn cuda_check(a: &CudaCheckArgs) -> Result<()> {
    let report = planform_bench::run_cuda_check(&a.config(), &mut |c| {
        let verdict = if c.pass { "PASS" } else { "FAIL" };
        println!("{verdict} {}: {}", c.name, c.detail);
    });
    if let Some(path) = &a.out {
        let json = serde_json::to_string_pretty(&report)?;
        planform_bench::write_atomic(path, json.as_bytes())?;
    }
    if report.passed {
        println!("all checks passed on {}", report.device);
        Ok(())
    } else {
        Err(anyhow!("failed: {:?}", report.failed()))
    }
}

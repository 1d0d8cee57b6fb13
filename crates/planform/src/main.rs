//! `planform`: a thin binary over the planform crates. Raw command-line arguments are parsed
//! by clap, resolved once into each library's validated config, and handed to the library.
//! Errors are reported with `anyhow` context naming the input; the exit status is non-zero.
//!
//! Two process-wide concerns live here: SIGINT/SIGTERM (a running training loop writes a
//! checkpoint and stops; otherwise the signal acts as usual), and panics. tch's non-`f_`
//! calls panic on a libtorch (C++) exception such as a failed allocation; each command runs
//! under `catch_unwind`, and such a panic is reported as `error: libtorch: <first line>`
//! with a non-zero exit status, without a backtrace.

mod commands;
mod panic;
mod progress;

use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: glibc malloc hands large freed blocks back to
/// the OS and page-faults them in again, which cost `planform gen` about a quarter of its
/// CPU (docs/benchmarks.md, "Parquet end to end"). libtorch's tensors are unaffected.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A command stopped by SIGINT/SIGTERM after saving its work; the process exits with
/// 128 + the signal number, printing `message` (which says how to resume).
#[derive(Debug)]
pub struct Interrupted {
    /// The signal number.
    pub signal: i32,
    /// What was saved and how to continue.
    pub message: String,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Interrupted {}

/// Teach small transformers to plan: A* search traces, Searchformer / Dualformer training,
/// decoding in fast/slow/auto modes, evaluation against A*.
#[derive(Debug, Parser)]
#[command(name = "planform", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a dataset of tasks with A* traces (maze or Sokoban) as Parquet shards.
    Gen(commands::gen::GenArgs),
    /// Solve tasks given as JSON lines; write each line back with prompt, reasoning and plan.
    Solve(commands::solve::SolveArgs),
    /// Summarize a dataset: counts, sequence-length statistics and histograms.
    Inspect(commands::inspect::InspectArgs),
    /// Show a task and its A* trace in the terminal, and optionally as an SVG.
    Show(commands::show::ShowArgs),
    /// Plot loss and accuracy curves from metrics JSONL files to SVG or PNG.
    Plot(commands::plot::PlotArgs),
    /// Train an encoder–decoder on a dataset (TOML config and/or flags; resumable).
    Train(commands::train::TrainArgs),
    /// Sample k responses per test task from a checkpoint and score them against A*.
    Eval(commands::eval::EvalArgs),
    /// Run a checkpoint on tasks of your own (JSON lines): traces, plans, validity, optimality.
    Predict(commands::predict::PredictArgs),
    /// Rotate and quantize a decoder-only checkpoint for real (SpinQuant; integer weights on disk).
    Quantize(commands::quantize::QuantizeArgs),
    /// Export a decoder-only checkpoint as a Hugging Face Llama folder (config, safetensors, tokenizer).
    Export(commands::export::ExportArgs),
    /// Measure throughput against the reference implementation (`bench gen`).
    Bench(commands::bench::BenchArgs),
    /// Searchformer bootstrapping: sample, keep the shortest optimal traces, fine-tune, repeat.
    Bootstrap(commands::bootstrap::BootstrapArgs),
    /// Write one HTML file animating A* and a model's (or a second A*'s) trace side by side.
    View(commands::view::ViewArgs),
    /// Run a recipe (one TOML = one published method, end to end, resumable), or list them.
    Recipe(commands::recipe::RecipeArgs),
    /// Run a study: a grid of recipe points (axes × seeds), resumable, aggregated across seeds.
    Sweep(commands::sweep::SweepArgs),
    /// Write the report: planform's numbers beside the papers', a verdict per claim.
    Report(commands::report::ReportArgs),
    /// The main job on built-in defaults: small mazes, a tiny model trained on CPU, evaluated.
    Demo(commands::demo::DemoArgs),
    /// Coconut: ProsQA generation/inspection, training the Table-1 arms, evaluation, study, analysis.
    Coconut(commands::coconut::CoconutArgs),
}

fn main() {
    tune_glibc_malloc();
    reset_sigpipe();
    install_signal_handlers();
    let cli = Cli::parse();
    panic::install_hook();
    let result = match std::panic::catch_unwind(move || run(cli.command)) {
        Ok(result) => result,
        Err(payload) => {
            let (message, code) = panic::report(payload.as_ref());
            eprintln!("error: {message}");
            std::process::exit(code);
        }
    };
    if let Err(err) = result {
        if let Some(i) = err.downcast_ref::<Interrupted>() {
            eprintln!("{i}");
            std::process::exit(128 + i.signal);
        }
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

/// glibc's malloc thresholds for libtorch's CPU tensors (Rust allocations go to mimalloc).
/// With glibc's dynamic defaults, tensors of a few hundred KiB and up are mmapped and
/// unmapped, or the heap top trimmed and grown again, on every step, and the kernel zeroes
/// the pages each time: CPU decoding ran at 60% of the speed of these settings, and a short
/// `mini` training run spent 11% of its CPU time in the kernel (docs/benchmarks.md,
/// "glibc malloc"). Blocks
/// under 32 MiB now come from the heap, and up to 1 GiB of free heap top is kept. Any of
/// `MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_` or `GLIBC_TUNABLES` in the
/// environment (set by the user or by `bench memory --malloc-mmap-threshold`), or
/// `PLANFORM_GLIBC_MALLOC=default`, leaves glibc as configured.
fn tune_glibc_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const MMAP_THRESHOLD: libc::c_int = 32 << 20;
        const TRIM_THRESHOLD: libc::c_int = 1 << 30;
        let configured = [
            "MALLOC_MMAP_THRESHOLD_",
            "MALLOC_TRIM_THRESHOLD_",
            "GLIBC_TUNABLES",
            "PLANFORM_GLIBC_MALLOC",
        ]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
        if !configured {
            // SAFETY: called first thing in `main`, before any other thread exists;
            // `mallopt` only changes glibc's allocation thresholds.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
                libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
            }
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Gen(args) => commands::gen::run(args),
        Command::Solve(args) => commands::solve::run(args),
        Command::Inspect(args) => commands::inspect::run(args),
        Command::Show(args) => commands::show::run(args),
        Command::Plot(args) => commands::plot::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Predict(args) => commands::predict::run(args),
        Command::Quantize(args) => commands::quantize::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Bootstrap(args) => commands::bootstrap::run(args),
        Command::View(args) => commands::view::run(args),
        Command::Recipe(args) => commands::recipe::run(args),
        Command::Sweep(args) => commands::sweep::run(args),
        Command::Report(args) => commands::report::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Coconut(args) => commands::coconut::run(args),
    }
}

/// SIGINT and SIGTERM: a running training loop takes the first one (checkpoint, then
/// stop); otherwise — no training running, or a second signal — the default action ends
/// the process at once.
fn install_signal_handlers() {
    extern "C" fn on_signal(signal: libc::c_int) {
        if !planform_train::interrupt::on_signal(signal) {
            // SAFETY: `signal` and `raise` are async-signal-safe; restoring the default
            // action and re-raising ends the process as if no handler had been installed.
            unsafe {
                libc::signal(signal, libc::SIG_DFL);
                libc::raise(signal);
            }
        }
    }
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: called once at start-up, before other threads exist; the handler only
        // touches atomics and async-signal-safe calls.
        unsafe {
            // A signal ignored at start-up (`cmd &` in a script ignores SIGINT) stays so.
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, std::ptr::null(), &mut old);
            if old.sa_sigaction == libc::SIG_IGN {
                continue;
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// Restores the default SIGPIPE action so that `planform inspect DS | head` ends quietly like
/// other Unix tools instead of panicking on a closed pipe (Rust ignores SIGPIPE by default).
fn reset_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called once at start-up, before any other thread exists; `signal` with
    // `SIG_DFL` has no other preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

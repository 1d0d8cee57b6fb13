//! `planform`: a thin binary over the planform crates. Raw command-line arguments are parsed
//! by clap, resolved once into each library's validated config, and handed to the library.
//! Errors are reported with `anyhow` context naming the input; the exit status is non-zero.

mod commands;
mod progress;

use clap::{Parser, Subcommand};

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
    reset_sigpipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Gen(args) => commands::gen::run(args),
        Command::Solve(args) => commands::solve::run(args),
        Command::Inspect(args) => commands::inspect::run(args),
        Command::Show(args) => commands::show::run(args),
        Command::Plot(args) => commands::plot::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Bootstrap(args) => commands::bootstrap::run(args),
        Command::View(args) => commands::view::run(args),
        Command::Recipe(args) => commands::recipe::run(args),
        Command::Sweep(args) => commands::sweep::run(args),
        Command::Report(args) => commands::report::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Coconut(args) => commands::coconut::run(args),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
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

//! `planform solve`: tasks as JSON lines in, the same lines with `prompt`, `reasoning` and
//! `plan` (token strings, as in the golden files) out.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use planform_trace::rng::Rng;
use planform_trace::task::Task;

use super::gen::AstarArg;

/// Arguments of `planform solve`.
#[derive(Debug, Args)]
pub struct SolveArgs {
    /// JSON-lines file of tasks (`width`, `height`, `start`, `goal`, `walls` for mazes;
    /// `width`, `height`, `worker`, `boxes`, `docks`, `walls` for Sokoban); `-` or nothing
    /// reads stdin.
    pub input: Option<PathBuf>,
    /// A* mode.
    #[arg(long, value_enum, default_value = "det")]
    pub astar: AstarArg,
    /// Seed for nondeterministic A* (line `i` uses stream `i` of this seed).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Runs `planform solve`.
pub fn run(args: SolveArgs) -> Result<()> {
    let (name, reader): (String, Box<dyn BufRead>) = match &args.input {
        None => ("<stdin>".into(), Box::new(io::stdin().lock())),
        Some(p) if p.as_os_str() == "-" => ("<stdin>".into(), Box::new(io::stdin().lock())),
        Some(p) => {
            let f = File::open(p).with_context(|| format!("opening {}", p.display()))?;
            (p.display().to_string(), Box::new(BufReader::new(f)))
        }
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for (i, line) in reader.lines().enumerate() {
        let lineno = i + 1;
        let line = line.with_context(|| format!("{name}:{lineno}: reading input"))?;
        if line.trim().is_empty() {
            continue;
        }
        let solved = solve_line(&line, args.astar, Rng::stream(args.seed, i as u64))
            .with_context(|| format!("{name}:{lineno}"))?;
        writeln!(out, "{solved}").context("writing output")?;
    }
    out.flush().context("writing output")?;
    Ok(())
}

/// Parses, validates and solves one task line; returns the output line.
fn solve_line(line: &str, astar: AstarArg, mut rng: Rng) -> Result<String> {
    let task = Task::from_json(line)?;
    let vocab = task.vocabulary()?;
    let (tokens, _plan_nodes) = task.solve_tokens(&vocab, astar.into(), &mut rng)?;
    let strings = tokens.to_strings(&vocab)?;
    Ok(task.to_json_line(Some(&strings)))
}

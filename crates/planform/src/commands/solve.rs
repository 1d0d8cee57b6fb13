//! `planform solve`: tasks as JSON lines in, the same lines with `prompt`, `reasoning` and
//! `plan` (token strings, as in the golden files) out. A line that cannot be parsed or
//! solved gets an error record in its place and the batch goes on; the exit status is
//! non-zero at the end if any line failed.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use planform_trace::rng::Rng;
use planform_trace::task::Task;
use planform_trace::vocab::Vocabulary;

use super::gen::AstarArg;

/// Arguments of `planform solve`.
#[derive(Debug, Args)]
#[command(after_long_help = "\
Output: one line per input task line, in order. A solved task is written back with \
`prompt`, `reasoning` and `plan`. A line that does not parse, is not a valid task, or \
cannot be solved (e.g. a Sokoban level with more boxes than docks, or a maze whose goal is \
walled off) is written as an error record `{\"line\": N, \"error\": \"...\"}` and the batch \
continues; at the end the failed lines are named on stderr and the exit status is 1. \
Blank lines are skipped (but counted in line numbers).")]
pub struct SolveArgs {
    /// JSON-lines file of tasks (`width`, `height`, `start`, `goal`, `walls` for mazes;
    /// `width`, `height`, `worker`, `boxes`, `docks`, `walls` for Sokoban); `-` or nothing
    /// reads stdin.
    pub input: Option<PathBuf>,
    /// A* mode.
    #[arg(long, value_enum, default_value = "det")]
    pub astar: AstarArg,
    /// Seed for nondeterministic A* (the task on line L uses stream L − 1 of this seed).
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
    let mut failed: Vec<usize> = Vec::new();
    let mut tasks = 0usize;
    let mut vocab: Option<Vocabulary> = None;
    // Lines as bytes: a line that is not UTF-8 is one failed line, not the end of input.
    for (i, line) in reader.split(b'\n').enumerate() {
        let lineno = i + 1;
        let mut line = line.with_context(|| format!("{name}:{lineno}: reading input"))?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let solved = match String::from_utf8(line) {
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => solve_line(
                &text,
                args.astar,
                Rng::stream(args.seed, i as u64),
                &mut vocab,
            ),
            Err(e) => Err(anyhow::anyhow!(
                "the line is not UTF-8 text ({})",
                e.utf8_error()
            )),
        };
        tasks += 1;
        let record = match solved {
            Ok(s) => s,
            Err(e) => {
                failed.push(lineno);
                error_record(lineno, &format!("{e:#}"))
            }
        };
        writeln!(out, "{record}").context("writing output")?;
    }
    out.flush().context("writing output")?;
    if !failed.is_empty() {
        return Err(failed_lines(&name, &failed, tasks));
    }
    Ok(())
}

/// The output line for a failed input line: `{"line": N, "error": "..."}` (the spacing
/// of the solved lines).
fn error_record(line: usize, error: &str) -> String {
    let error = serde_json::Value::String(error.to_string());
    format!("{{\"line\": {line}, \"error\": {error}}}")
}

/// Parses, validates and solves one task line; returns the output line. `cache` keeps
/// the last vocabulary (a Sokoban one has 40,000 cost tokens; rebuilding it per line
/// dominated the run time of a batch).
fn solve_line(
    line: &str,
    astar: AstarArg,
    mut rng: Rng,
    cache: &mut Option<Vocabulary>,
) -> Result<String> {
    let task = Task::from_json(line)?;
    let wanted = task.vocabulary_spec();
    let vocab = match cache.take() {
        Some(v) if v.spec() == wanted => v,
        _ => Vocabulary::new(wanted)?,
    };
    let vocab = cache.insert(vocab);
    let (tokens, _plan_nodes) = task.solve_tokens(vocab, astar.into(), &mut rng)?;
    let strings = tokens.to_strings(vocab)?;
    Ok(task.to_json_line(Some(&strings)))
}

/// Failed task lines named in one error (the first ten, then a count), for the commands
/// that write an error record per bad line and go on (`solve`, `predict`).
pub(crate) fn failed_lines(name: &str, failed: &[usize], total: usize) -> anyhow::Error {
    const NAMED_LINES: usize = 10;
    let mut named: Vec<String> = failed
        .iter()
        .take(NAMED_LINES)
        .map(|l| l.to_string())
        .collect();
    if failed.len() > NAMED_LINES {
        named.push(format!("and {} more", failed.len() - NAMED_LINES));
    }
    let word = if failed.len() == 1 { "line" } else { "lines" };
    anyhow::anyhow!(
        "{name}: {} of {total} task lines failed ({word} {}); each has an error record \
         {{\"line\": N, \"error\": ...}} in the output",
        failed.len(),
        named.join(", ")
    )
}

//! Datasets from given tasks: a JSON-lines file of tasks (the `planform solve` input,
//! maze or Sokoban) → the same dataset format [`crate::generate`] writes.
//!
//! - Every non-blank line is one task; all must be of one domain and one grid size (a
//!   dataset has one vocabulary), and no task may repeat an earlier one. Lines that do
//!   not parse, break these rules or cannot be solved are reported together (first few
//!   with their line numbers, plus a count), and nothing is written.
//! - Each task is solved by A* exactly as `planform solve --astar MODE --seed SEED` does:
//!   the task on line `L` draws from `Rng::stream(seed, L − 1)`, so the tokens equal that
//!   command's output. Mode defaults as in `gen`: deterministic for mazes,
//!   nondeterministic for Sokoban.
//! - Split: the first `floor(n·(1 − test_fraction))` tasks in file order are train, the
//!   rest test (`test_fraction = 1` puts all in test). Each task is its own layout; row
//!   ids are `0..n` in file order.
//! - The manifest's `config.source` names the file, its sha256 and the task count
//!   (format version 2); `config.domain` gives the grid size.

use std::collections::HashMap;
use std::path::Path;

use planform_trace::astar::SearchMode;
use planform_trace::metrics::astar_reference_length;
use planform_trace::rng::Rng;
use planform_trace::task::Task;
use planform_trace::tokens::TokenSequence;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::config::{Domain, GenerateConfig, LengthFilters, TStarConfig, TaskSource};
use crate::dataset_writer::DatasetWriter;
use crate::error::{DataError, Result};
use crate::generate::{thread_pool, TSTAR_KEY};
use crate::layouts::vocabulary;
use crate::manifest::{GenerationCounts, Manifest, Split};
use crate::schema::Example;
use crate::writer::hex;

/// Tasks solved and written per step (bounds memory for large files).
const CHUNK: usize = 4096;

/// Failures listed in full before "and N more".
const LISTED: usize = 5;

/// One task of a task file.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskLine {
    /// 1-based line number in the file.
    pub line: usize,
    /// The parsed task.
    pub task: Task,
}

/// Options of [`generate_from_tasks`]; the defaults match `planform gen`.
#[derive(Debug, Clone, PartialEq)]
pub struct FromTasks {
    /// Fraction of the tasks (the last ones) that go to the test split (default 0.1).
    pub test_fraction: f64,
    /// Seed of nondeterministic A* (and of t*).
    pub seed: u64,
    /// A* mode; `None` = deterministic for mazes, nondeterministic for Sokoban.
    pub astar: Option<SearchMode>,
    /// t* for the test tasks.
    pub tstar: Option<TStarConfig>,
    /// Rows per Parquet shard.
    pub shard_rows: u64,
    /// Replace an existing dataset at the output path.
    pub overwrite: bool,
}

impl Default for FromTasks {
    fn default() -> Self {
        Self {
            test_fraction: 0.1,
            seed: 0,
            astar: None,
            tstar: None,
            shard_rows: 100_000,
            overwrite: false,
        }
    }
}

/// `line N: why` for the first few failures, then a count.
fn task_lines_error(file: &str, total: usize, failures: &[(usize, String)]) -> DataError {
    let mut details: Vec<String> = failures
        .iter()
        .take(LISTED)
        .map(|(line, why)| format!("line {line}: {why}"))
        .collect();
    if failures.len() > LISTED {
        details.push(format!("and {} more", failures.len() - LISTED));
    }
    DataError::TaskLines {
        file: file.to_string(),
        failed: failures.len(),
        total,
        details: details.join("; "),
    }
}

/// Parses a JSON-lines task file (blank lines skipped). All bad lines are reported in
/// one [`DataError::TaskLines`].
pub fn read_task_lines(file: &str, text: &str) -> Result<Vec<TaskLine>> {
    let mut tasks = Vec::new();
    let mut failures = Vec::new();
    let mut total = 0;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        total += 1;
        match Task::from_json(line) {
            Ok(task) => tasks.push(TaskLine { line: i + 1, task }),
            Err(e) => failures.push((i + 1, e.to_string())),
        }
    }
    if !failures.is_empty() {
        return Err(task_lines_error(file, total, &failures));
    }
    Ok(tasks)
}

/// The dataset domain of the tasks: one domain and size for all, no task twice.
fn domain_of(file: &str, tasks: &[TaskLine]) -> Result<Domain> {
    let Some(first) = tasks.first() else {
        return Err(DataError::InvalidConfig(format!("{file} holds no tasks")));
    };
    let describe = |t: &Task| {
        let (w, h) = t.size();
        format!("a {w}x{h} {}", t.domain().name())
    };
    let mut failures = Vec::new();
    let mut seen: HashMap<&Task, usize> = HashMap::new();
    let (mut walls, mut boxes) = (0u32, 0u32);
    for t in tasks {
        if (t.task.domain(), t.task.size()) != (first.task.domain(), first.task.size()) {
            failures.push((
                t.line,
                format!(
                    "{}, but line {} is {}; a dataset holds one domain and grid size",
                    describe(&t.task),
                    first.line,
                    describe(&first.task)
                ),
            ));
        } else if let Some(&earlier) = seen.get(&t.task) {
            failures.push((t.line, format!("repeats the task of line {earlier}")));
        } else {
            seen.insert(&t.task, t.line);
        }
        if let Task::Sokoban(l) = &t.task {
            let (w, h) = (l.width(), l.height());
            let interior = l
                .walls()
                .iter()
                .filter(|p| p.x > 0 && p.y > 0 && p.x + 1 < w && p.y + 1 < h)
                .count();
            walls = walls.max(interior as u32);
            boxes = boxes.max(l.boxes().len() as u32);
        }
    }
    if !failures.is_empty() {
        return Err(task_lines_error(file, tasks.len(), &failures));
    }
    let (width, height) = first.task.size();
    Ok(match first.task {
        Task::Maze(_) => Domain::Maze {
            width,
            height,
            attempts_per_layout: 1,
        },
        Task::Sokoban(_) => Domain::Sokoban {
            width,
            height,
            walls,
            boxes,
        },
    })
}

/// Builds a dataset at `out` from the task file `file` whose bytes are `bytes` (see the
/// module docs), with `threads` workers (0 = all cores). `progress(done, total)` is
/// called with the number of tasks written. Returns the manifest written.
pub fn generate_from_tasks(
    file: &str,
    bytes: &[u8],
    options: &FromTasks,
    out: impl AsRef<Path>,
    threads: usize,
    mut progress: impl FnMut(u64, u64),
) -> Result<Manifest> {
    let text = std::str::from_utf8(bytes).map_err(|e| DataError::TaskLines {
        file: file.to_string(),
        failed: 1,
        total: 0,
        details: format!("the file is not UTF-8 text ({e})"),
    })?;
    let tasks = read_task_lines(file, text)?;
    let domain = domain_of(file, &tasks)?;
    let n = tasks.len() as u64;
    let mut config = GenerateConfig::new(domain, n);
    if let Some(mode) = options.astar {
        config.astar = mode;
    }
    config.test_fraction = options.test_fraction;
    config.seed = options.seed;
    config.filters = LengthFilters::default();
    config.tstar = options.tstar;
    config.shard_rows = options.shard_rows;
    config.overwrite = options.overwrite;
    config.source = Some(TaskSource {
        file: file.to_string(),
        sha256: hex(&Sha256::digest(bytes)),
        tasks: n,
    });
    config.validate()?;
    let vocab = vocabulary(&config.domain)?;
    let pool = thread_pool(threads)?;
    let (train, _) = config.split_targets();

    // Solve everything before creating the output, so a bad line leaves nothing behind.
    type Solved = std::result::Result<(TokenSequence, usize), String>;
    let solve = |t: &TaskLine| -> Solved {
        let mut rng = Rng::stream(config.seed, (t.line - 1) as u64);
        t.task
            .solve_tokens(&vocab, config.astar, &mut rng)
            .map_err(|e| e.to_string())
    };
    progress(0, n);
    let solved: Vec<Solved> = pool.install(|| tasks.par_iter().map(solve).collect());
    let failures: Vec<(usize, String)> = tasks
        .iter()
        .zip(&solved)
        .filter_map(|(t, r)| r.as_ref().err().map(|e| (t.line, e.clone())))
        .collect();
    if !failures.is_empty() {
        return Err(task_lines_error(file, tasks.len(), &failures));
    }
    let solved: Vec<(TokenSequence, usize)> = solved.into_iter().filter_map(|r| r.ok()).collect();

    let mut writer = DatasetWriter::create(out.as_ref(), &config, &vocab)?;
    let mut rows = tasks.iter().zip(solved).enumerate();
    let mut done = 0u64;
    loop {
        let chunk: Vec<_> = rows.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        let built: Vec<(Split, Example)> = pool.install(|| {
            chunk
                .into_par_iter()
                .map(|(i, (t, (tokens, plan_len)))| -> Result<(Split, Example)> {
                    let split = if (i as u64) < train {
                        Split::Train
                    } else {
                        Split::Test
                    };
                    let tstar = match (split, config.tstar) {
                        (Split::Test, Some(ts)) => {
                            let s = Rng::keyed(&[config.seed, TSTAR_KEY, i as u64, 0]).next_u64();
                            let mean = astar_reference_length(&t.task, &vocab, ts.runs as usize, s)
                                .map_err(|e| DataError::Generation {
                                    layout: i as u64,
                                    reason: format!(
                                        "line {}: t* ({} A* runs): {e}",
                                        t.line, ts.runs
                                    ),
                                })?;
                            Some(mean)
                        }
                        _ => None,
                    };
                    let json =
                        serde_json::to_string(&t.task).map_err(|e| DataError::Generation {
                            layout: i as u64,
                            reason: e.to_string(),
                        })?;
                    Ok((
                        split,
                        Example {
                            id: i as u64,
                            layout: i as u64,
                            task: json,
                            reasoning_length: tokens.reasoning.len() as u32,
                            prompt: tokens.prompt,
                            reasoning: tokens.reasoning,
                            plan: tokens.plan,
                            plan_length: plan_len as u32,
                            astar_mean_reasoning: tstar,
                        },
                    ))
                })
                .collect::<Result<_>>()
        })?;
        pool.install(|| {
            built
                .into_iter()
                .try_for_each(|(split, row)| writer.push_generated(split, row))
        })?;
        done = (done + CHUNK as u64).min(n);
        progress(done, n);
    }
    let counts = GenerationCounts {
        layouts_consumed: n,
        ..GenerationCounts::default()
    };
    let dir = pool.install(|| writer.finish(counts))?;
    let (manifest, _) = Manifest::load(&dir)?;
    Ok(manifest)
}

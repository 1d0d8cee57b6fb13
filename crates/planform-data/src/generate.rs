//! [`generate`]: tasks + A* traces → a dataset directory, in parallel, deterministically.
//!
//! Algorithm (the output is a pure function of the config; thread count and chunk sizes
//! change only speed):
//!
//! 1. Layout `i = 0, 1, 2, …` is generated from `Rng::stream(seed, i)` alone. Layouts are
//!    generated in chunks, each chunk in parallel (rayon), and consumed strictly in index
//!    order.
//! 2. Each layout's tasks pass the [`crate::LengthFilters`]. A layout left with no task is
//!    skipped. A layout equal to an earlier accepted one (same wall set for mazes; same
//!    level for Sokoban) is rejected whole — the reference's MongoDB `_id` dedup.
//! 3. Split by layout, like the reference: while train holds fewer than
//!    `floor(num_tasks·(1−test_fraction))` tasks, a layout goes to train, else to test.
//!    **Difference from the reference:** the reference lets the last layout overshoot
//!    (so it stores slightly more than `num_tasks`); here the layout's tasks beyond the
//!    split's target are dropped (counted in `generation.overshoot_tasks`), so the splits
//!    hold exactly the requested counts and a layout still never spans both splits.
//! 4. Row ids are `0, 1, 2, …` in file order (train, then test).
//! 5. With `tstar`, each test task gets t* = mean reasoning tokens over `runs`
//!    nondeterministic A* runs (`planform_trace::metrics::astar_reference_length`, run `r`
//!    seeded `Rng::stream(s, r)`) with `s = Rng::keyed(&[seed, TSTAR_KEY, layout, k])
//!    .next_u64()` (k = the task's position in its layout), so a task's t* does not depend
//!    on the dataset size; computed in parallel.
//! 6. Rows stream to the shard writer chunk by chunk, so memory holds one chunk, not the
//!    dataset.

use std::collections::HashSet;
use std::path::Path;

use planform_trace::metrics::astar_reference_length;
use planform_trace::rng::Rng;
use planform_trace::task::Task;
use rayon::prelude::*;

use crate::config::GenerateConfig;
use crate::dataset_writer::DatasetWriter;
use crate::error::{DataError, Result};
use crate::layouts::{vocabulary, GenLayout, LayoutGenerator};
use crate::manifest::{GenerationCounts, Manifest, Split};
use crate::schema::Example;

/// Key mixed into the t* seeds so they never coincide with layout streams.
pub const TSTAR_KEY: u64 = 0x0074_7374_6172; // "tstar"

/// Give up after this many consecutive layouts that added nothing (no accepted task, or
/// a duplicate of an earlier layout).
const MAX_IDLE_LAYOUTS: u64 = 100_000;

/// Most worker threads [`generate`] accepts (more only cost memory and start-up time;
/// a request for 100,000 used to abort the process).
pub const MAX_THREADS: usize = 256;

/// Largest chunk, in layouts per worker thread.
const MAX_CHUNK_PER_THREAD: u64 = 64;

/// A rayon pool of `threads` workers (0 = one per core), refusing more than
/// [`MAX_THREADS`].
pub(crate) fn thread_pool(threads: usize) -> Result<rayon::ThreadPool> {
    if threads > MAX_THREADS {
        return Err(DataError::InvalidConfig(format!(
            "{threads} threads is more than the maximum of {MAX_THREADS} (0 uses one per core)"
        )));
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| DataError::InvalidConfig(format!("thread pool of {threads} threads: {e}")))
}

/// A row waiting for its split writer (t* filled in later for test rows).
struct Pending {
    split: Split,
    row: Example,
    task: Option<Task>,
    key: (u64, u64),
}

/// Generate a dataset into `out` (a directory; see the crate docs), using `threads`
/// worker threads (0 = all cores, at most [`MAX_THREADS`]). `progress(done, total)` is called from the calling
/// thread after each chunk with the number of tasks stored so far and `num_tasks`.
/// Returns the manifest that was written.
pub fn generate(
    config: &GenerateConfig,
    out: impl AsRef<Path>,
    threads: usize,
    mut progress: impl FnMut(u64, u64),
) -> Result<Manifest> {
    config.validate()?;
    if config.source.is_some() {
        return Err(DataError::InvalidConfig(
            "this config describes a dataset built from a task file; use generate_from_tasks"
                .into(),
        ));
    }
    config.check_feasible()?;
    let vocab = vocabulary(&config.domain)?;
    // Fail on a bad domain config before creating any directory.
    LayoutGenerator::new(config)?;
    let pool = thread_pool(threads)?;
    let threads = pool.current_num_threads() as u64;
    let mut writer = DatasetWriter::create(out.as_ref(), config, &vocab)?;

    let (train_target, test_target) = config.split_targets();
    let targets = [train_target, test_target];
    let mut done = [0u64; 2];
    let mut counts = GenerationCounts::default();
    let mut seen: HashSet<[u8; 16]> = HashSet::new();
    let mut next_id = 0u64;
    let mut next_layout = 0u64;
    let mut idle = 0u64;
    progress(0, config.num_tasks);

    while done[0] < targets[0] || done[1] < targets[1] {
        // Chunk size from the running tasks-per-layout average (speed only).
        let accepted = done[0] + done[1];
        let per_layout = if counts.layouts_consumed == 0 {
            1.0
        } else {
            (accepted.max(1) as f64 / counts.layouts_consumed as f64).max(1e-3)
        };
        let remaining = (targets[0] - done[0]) + (targets[1] - done[1]);
        let want = (remaining as f64 / per_layout * 1.1).ceil() as u64;
        let chunk = want.clamp(threads, threads * MAX_CHUNK_PER_THREAD);
        let range = next_layout..next_layout + chunk;
        next_layout += chunk;

        let layouts: Vec<Result<GenLayout>> = pool.install(|| {
            range
                .clone()
                .into_par_iter()
                .map_init(
                    || LayoutGenerator::new(config),
                    |g, i| match g {
                        Ok(g) => g.layout(&vocab, config.seed, i),
                        Err(e) => Err(DataError::InvalidConfig(e.to_string())),
                    },
                )
                .collect()
        });

        let mut pending: Vec<Pending> = Vec::new();
        for (index, layout) in range.zip(layouts) {
            if done[0] >= targets[0] && done[1] >= targets[1] {
                break;
            }
            counts.layouts_consumed += 1;
            let layout = layout?;
            let mut tasks = layout.tasks;
            let before = tasks.len();
            tasks.retain(|t| {
                config
                    .filters
                    .accepts(t.plan_length, t.tokens.reasoning.len() as u32)
            });
            counts.filtered_tasks += (before - tasks.len()) as u64;
            let empty = tasks.is_empty();
            if empty || !seen.insert(layout.key) {
                if empty {
                    counts.empty_layouts += 1;
                } else {
                    counts.duplicate_layouts += 1;
                }
                idle += 1;
                if idle >= MAX_IDLE_LAYOUTS {
                    return Err(DataError::InvalidConfig(format!(
                        "{}: gave up after {MAX_IDLE_LAYOUTS} layouts in a row (up to index \
                         {index}) added no task ({} layouts so far were empty after the \
                         filters, {} repeated an earlier layout); {} of {} tasks were \
                         found. The filters may be too strict, or the domain too small for \
                         this many distinct layouts",
                        config.domain.name(),
                        counts.empty_layouts,
                        counts.duplicate_layouts,
                        done[0] + done[1],
                        config.num_tasks
                    )));
                }
                continue;
            }
            idle = 0;
            let s = usize::from(done[0] >= targets[0]);
            let split = Split::ALL[s];
            let keep = (targets[s] - done[s]).min(tasks.len() as u64) as usize;
            counts.overshoot_tasks += (tasks.len() - keep) as u64;
            for (k, t) in tasks.into_iter().take(keep).enumerate() {
                let want_tstar = split == Split::Test && config.tstar.is_some();
                pending.push(Pending {
                    split,
                    row: Example {
                        id: next_id,
                        layout: index,
                        task: t.json,
                        reasoning_length: t.tokens.reasoning.len() as u32,
                        prompt: t.tokens.prompt,
                        reasoning: t.tokens.reasoning,
                        plan: t.tokens.plan,
                        plan_length: t.plan_length,
                        astar_mean_reasoning: None,
                    },
                    task: want_tstar.then_some(t.task),
                    key: (index, k as u64),
                });
                next_id += 1;
            }
            done[s] += keep as u64;
        }

        if let Some(ts) = config.tstar {
            let seed = config.seed;
            pool.install(|| {
                pending.par_iter_mut().try_for_each(|p| -> Result<()> {
                    if let Some(task) = &p.task {
                        let s = Rng::keyed(&[seed, TSTAR_KEY, p.key.0, p.key.1]).next_u64();
                        let mean = astar_reference_length(task, &vocab, ts.runs as usize, s)
                            .map_err(|e| DataError::Generation {
                                layout: p.key.0,
                                reason: format!("t* ({} A* runs): {e}", ts.runs),
                            })?;
                        p.row.astar_mean_reasoning = Some(mean);
                    }
                    Ok(())
                })
            })?;
        }
        // Shard encoding runs on the same pool (row groups and columns in parallel).
        pool.install(|| {
            pending
                .into_iter()
                .try_for_each(|p| writer.push_generated(p.split, p.row))
        })?;
        progress(done[0] + done[1], config.num_tasks);
    }
    let dir = pool.install(|| writer.finish(counts))?;
    let (manifest, _) = Manifest::load(&dir)?;
    Ok(manifest)
}

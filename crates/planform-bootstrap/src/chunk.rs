//! Saved sampling chunks: `iter-N/samples/chunk-CCCCC/`, a planform-data dataset whose
//! train split holds the new targets of the chunk's improved prompts (id order), plus
//! `outcomes.json` with every prompt's [`PromptOutcome`]. Both are committed by one
//! directory rename, so a chunk is either complete or absent.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use planform_data::{Dataset, DatasetWriter, Example, GenerateConfig, GenerationCounts, Split};
use planform_trace::vocab::Vocabulary;
use serde::{Deserialize, Serialize};

use crate::error::{BootstrapError, Result};
use crate::reduce::{PromptOutcome, Reduced};
use crate::state::write_atomic;

/// File inside a chunk directory with the outcomes.
pub const OUTCOMES_FILE: &str = "outcomes.json";

/// Contents of `outcomes.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChunkMeta {
    /// Bootstrapping iteration.
    pub iteration: usize,
    /// Chunk index.
    pub chunk: usize,
    /// Index of the chunk's first prompt in the iteration's prompt list (the sampler key).
    pub first_index: usize,
    /// Sampler seed of the iteration.
    pub seed: u64,
    /// One outcome per prompt, in prompt-list order.
    pub outcomes: Vec<PromptOutcome>,
}

/// What identifies a chunk: it must be re-sampled if any of these differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkKey {
    /// Bootstrapping iteration.
    pub iteration: usize,
    /// Chunk index.
    pub chunk: usize,
    /// Index of the chunk's first prompt in the iteration's prompt list.
    pub first_index: usize,
    /// Sampler seed of the iteration.
    pub seed: u64,
}

impl ChunkMeta {
    fn key(&self) -> ChunkKey {
        ChunkKey {
            iteration: self.iteration,
            chunk: self.chunk,
            first_index: self.first_index,
            seed: self.seed,
        }
    }
}

/// A loaded chunk: outcomes and the improved prompts' `(reasoning, plan)` by id.
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk {
    /// The metadata and outcomes.
    pub meta: ChunkMeta,
    /// New targets by prompt id.
    pub targets: HashMap<u64, (Vec<u32>, Vec<u32>)>,
}

/// Directory of chunk `c` under `samples`.
pub fn chunk_dir(samples: &Path, c: usize) -> PathBuf {
    samples.join(format!("chunk-{c:05}"))
}

/// Writes a chunk atomically. `prompts[j]` is the original row of `reduced[j]`.
pub fn write_chunk(
    dir: &Path,
    source: &GenerateConfig,
    vocab: &Vocabulary,
    key: ChunkKey,
    prompts: &[Example],
    reduced: &[Reduced],
) -> Result<()> {
    let mut config = source.clone();
    config.num_tasks = prompts.len().max(1) as u64;
    config.tstar = None;
    config.overwrite = true;
    let mut rows: Vec<Example> = prompts
        .iter()
        .zip(reduced)
        .filter_map(|(e, r)| {
            r.target.as_ref().map(|(reasoning, plan)| Example {
                id: e.id,
                layout: e.layout,
                task: e.task.clone(),
                prompt: e.prompt.clone(),
                reasoning: reasoning.clone(),
                plan: plan.clone(),
                plan_length: e.plan_length,
                reasoning_length: reasoning.len() as u32,
                astar_mean_reasoning: None,
            })
        })
        .collect();
    rows.sort_by_key(|r| r.id);
    let mut w = DatasetWriter::create(dir, &config, vocab)?;
    for row in rows {
        w.push(Split::Train, row)?;
    }
    let meta = ChunkMeta {
        iteration: key.iteration,
        chunk: key.chunk,
        first_index: key.first_index,
        seed: key.seed,
        outcomes: reduced.iter().map(|r| r.outcome).collect(),
    };
    let path = w.partial_dir().join(OUTCOMES_FILE);
    let text = serde_json::to_vec(&meta).map_err(|e| BootstrapError::Json {
        path: path.clone(),
        error: e,
    })?;
    write_atomic(&path, &text)?;
    w.finish(GenerationCounts::default())?;
    Ok(())
}

/// Loads and checks a chunk against what it must hold: its key and the ids of its prompts
/// in order.
pub fn read_chunk(dir: &Path, expected: ChunkKey, ids: &[u64]) -> Result<Chunk> {
    let bad = |reason: String| BootstrapError::Chunk {
        path: dir.to_path_buf(),
        reason,
    };
    let ds = Dataset::open(dir).map_err(|e| bad(e.to_string()))?;
    let path = dir.join(OUTCOMES_FILE);
    let bytes = std::fs::read(&path).map_err(|e| bad(format!("{OUTCOMES_FILE}: {e}")))?;
    let meta: ChunkMeta =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("{OUTCOMES_FILE}: {e}")))?;
    if meta.key() != expected {
        return Err(bad(format!(
            "holds {:?}, expected {expected:?}",
            meta.key()
        )));
    }
    let got: Vec<u64> = meta.outcomes.iter().map(|o| o.id).collect();
    if got != ids {
        return Err(bad(
            "its prompts differ from this iteration's prompt list".into()
        ));
    }
    let rows = ds
        .read_split(Split::Train)
        .map_err(|e| bad(e.to_string()))?;
    let improved = meta
        .outcomes
        .iter()
        .filter(|o| o.kept_sample.is_some())
        .count();
    if rows.len() != improved {
        return Err(bad(format!(
            "{} target rows for {improved} improved prompts",
            rows.len()
        )));
    }
    let mut targets = HashMap::with_capacity(rows.len());
    for r in rows {
        targets.insert(r.id, (r.reasoning, r.plan));
    }
    for o in meta.outcomes.iter().filter(|o| o.kept_sample.is_some()) {
        match targets.get(&o.id) {
            Some((reasoning, _)) if reasoning.len() == o.kept_reasoning => {}
            _ => return Err(bad(format!("no matching target row for prompt {}", o.id))),
        }
    }
    Ok(Chunk { meta, targets })
}

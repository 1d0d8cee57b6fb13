//! The improved dataset of an iteration, `iter-N/data` (reference `<rolloutId>.improved`):
//! the sampled training prompts, each with its kept target, plus the original test split
//! copied verbatim so every iteration is evaluated on the same tasks. Same vocabulary and
//! generator config as the original dataset; `bootstrap.json` (written inside the dataset
//! directory before it is committed) records the provenance.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use planform_data::{Dataset, DatasetWriter, Example, Split};
use serde::{Deserialize, Serialize};

use crate::config::Fallback;
use crate::error::{BootstrapError, Result};
use crate::reduce::TrainingStats;
use crate::state::write_atomic;

/// File inside an improved dataset with its [`Provenance`].
pub const PROVENANCE_FILE: &str = "bootstrap.json";

/// Where an improved dataset came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Always `planform-bootstrap-dataset`.
    pub format: String,
    /// Bootstrapping iteration that built it.
    pub iteration: usize,
    /// The original dataset (prompts, A* sequences, test split).
    pub source_dataset: PathBuf,
    /// The checkpoint the responses were sampled from.
    pub sampled_from: PathBuf,
    /// Responses per prompt.
    pub samples_per_prompt: usize,
    /// Softmax temperature.
    pub temperature: f64,
    /// Sampler seed of the iteration.
    pub sample_seed: u64,
    /// Maximum decoder length used.
    pub max_len: usize,
    /// Target of prompts without an optimal response.
    pub fallback: Fallback,
    /// What the reduction did.
    pub train: TrainingStats,
}

/// Writes the improved dataset to `out` (replacing a partial or stale one).
///
/// `prompts` are the sampled original rows, `targets` the new `(reasoning, plan)` of the
/// improved ones by id, `fallback` the rows kept by the others (by id; the original rows
/// when absent).
pub fn write_improved(
    out: &Path,
    original: &Dataset,
    prompts: &[Example],
    targets: &HashMap<u64, (Vec<u32>, Vec<u32>)>,
    fallback: Option<&HashMap<u64, Example>>,
    provenance: &Provenance,
) -> Result<PathBuf> {
    let mut config = original.config().clone();
    config.overwrite = true;
    let mut w = DatasetWriter::create(out, &config, original.vocabulary())?;
    let mut order: Vec<&Example> = prompts.iter().collect();
    order.sort_by_key(|e| e.id);
    for e in order {
        let row = match targets.get(&e.id) {
            Some((reasoning, plan)) => Example {
                reasoning: reasoning.clone(),
                plan: plan.clone(),
                reasoning_length: reasoning.len() as u32,
                ..e.clone()
            },
            None => match fallback.and_then(|f| f.get(&e.id)) {
                Some(prev) => prev.clone(),
                None if fallback.is_none() => e.clone(),
                None => {
                    return Err(BootstrapError::Mismatch(format!(
                        "prompt {} is missing from the previous iteration's dataset",
                        e.id
                    )))
                }
            },
        };
        w.push(Split::Train, row)?;
    }
    let mut test = original.read_split(Split::Test)?;
    test.sort_by_key(|e| e.id);
    for row in test {
        w.push(Split::Test, row)?;
    }
    let path = w.partial_dir().join(PROVENANCE_FILE);
    let text = serde_json::to_vec_pretty(provenance).map_err(|e| BootstrapError::Json {
        path: path.clone(),
        error: e,
    })?;
    write_atomic(&path, &text)?;
    Ok(w.finish(original.manifest().generation)?)
}

/// Reads the provenance of an improved dataset.
pub fn read_provenance(dir: &Path) -> Result<Provenance> {
    let path = dir.join(PROVENANCE_FILE);
    let bytes = std::fs::read(&path).map_err(|e| BootstrapError::io(&path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| BootstrapError::Json { path, error: e })
}

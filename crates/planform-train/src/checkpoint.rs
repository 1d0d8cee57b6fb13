//! Checkpoints: atomic directories with model weights, optimizer state and run state.
//!
//! ```text
//! <out>/checkpoints/step-000100/model.safetensors      weights, PyTorch-style names
//! <out>/checkpoints/step-000100/optimizer.safetensors  optimizer moments and step counts
//! <out>/checkpoints/step-000100/state.json             TrainState (config, step, cursor, …)
//! <out>/checkpoints/latest                             text: "step-000100"
//! ```
//!
//! A checkpoint is written into `checkpoints/.tmp-step-…`, then renamed into place; the
//! `latest` pointer is replaced (temporary file + rename) only after that, so a kill at any
//! moment leaves the previous checkpoint and pointer intact. `state.json` records the size
//! and sha256 of both tensor files, so corruption is detected on load; `model.safetensors`
//! records the model config (so an edited `state.json` cannot load the weights into another
//! model) and `state.json` the dataset's identity (so a resume cannot switch data). Finding and reading
//! checkpoints for inference is `planform_model::checkpoint`; this module adds the training
//! state on top.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use planform_model::checkpoint::{
    checkpoint_name, resolve_checkpoint, FileDigest, VocabInfo, CHECKPOINTS_DIR, CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION, LATEST_FILE, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE,
};
use planform_model::checkpoint::{read_header, save_weights_with_config};
use planform_model::ModelConfig;
use planform_optim::Optimizer;
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;

use crate::config::TrainConfig;
use crate::data::DataSource;
use crate::error::{Result, TrainError};
use crate::metrics::{EvalRecord, TrainRecord};
use crate::sampler::DataCursor;

/// Writes `bytes` to `path` atomically (planform-core's one atomic write).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    planform_core::fs::write_atomic(path, bytes).map_err(|e| TrainError::io(path, e))
}

/// Running sums of the training interval not yet written to the metrics log.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IntervalState {
    /// Loss sums (see `loss::LossOutput::sums`).
    pub sums: Vec<f64>,
    /// Steps in the interval.
    pub steps: u64,
    /// Sequences in the interval.
    pub sequences: u64,
    /// Real tokens in the interval.
    pub tokens: u64,
    /// Allocated slots in the interval.
    pub padded: u64,
    /// Training seconds in the interval.
    pub train_secs: f64,
}

/// Early-stopping bookkeeping (see [`crate::config::Plateau`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlateauState {
    /// Best held-out loss so far.
    pub best: Option<f64>,
    /// Evaluations since it was reached.
    pub since_best: u32,
    /// The step at which the run stopped on a plateau.
    pub stopped_at: Option<u64>,
}

/// Contents of `state.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Always [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// [`CHECKPOINT_VERSION`] of the writer.
    pub version: u32,
    /// Optimizer steps completed.
    pub step: u64,
    /// The run's full configuration.
    pub config: TrainConfig,
    /// The resolved model configuration.
    pub model: ModelConfig,
    /// The vocabulary.
    pub vocab: VocabInfo,
    /// Next micro-batch of the data stream. The data order itself has no mutable random
    /// state: it is a pure function of `(config.seed, epoch)`.
    pub cursor: DataCursor,
    /// Wall seconds of the run so far (all sessions).
    pub elapsed_secs: f64,
    /// Sequences trained on so far.
    pub sequences_seen: u64,
    /// Real tokens trained on so far.
    pub tokens_seen: u64,
    /// The partially filled logging interval.
    pub interval: IntervalState,
    /// Newest training record.
    pub last_train: Option<TrainRecord>,
    /// Newest evaluation record.
    pub last_eval: Option<EvalRecord>,
    /// Digests of the tensor files, by file name.
    pub files: BTreeMap<String, FileDigest>,
    /// Early stopping.
    #[serde(default)]
    pub plateau: PlateauState,
    /// The dataset trained on (absent in checkpoints written before it was recorded, and
    /// for in-memory data); a resume on another dataset is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DataSource>,
}

impl TrainState {
    /// Whether the run is over: at `total_steps`, or stopped on a plateau.
    pub fn finished(&self) -> bool {
        self.step >= self.config.optim.total_steps || self.plateau.stopped_at.is_some()
    }
}

/// Writes a checkpoint for `state.step` under `run_dir` and points `latest` at it; then
/// deletes the oldest checkpoints beyond `keep`. Returns the checkpoint directory.
pub fn save_checkpoint(
    run_dir: &Path,
    mut state: TrainState,
    vs: &VarStore,
    opt: &Optimizer,
    keep: Option<usize>,
) -> Result<PathBuf> {
    let root = run_dir.join(CHECKPOINTS_DIR);
    std::fs::create_dir_all(&root).map_err(|e| TrainError::io(&root, e))?;
    let name = checkpoint_name(state.step);
    let tmp = root.join(format!(".tmp-{name}-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    }
    std::fs::create_dir(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    let mut write = || -> Result<PathBuf> {
        save_weights_with_config(vs, &tmp.join(MODEL_FILE), &state.model)?;
        opt.save(&tmp.join(OPTIMIZER_FILE))?;
        state.files.clear();
        for f in [MODEL_FILE, OPTIMIZER_FILE] {
            state
                .files
                .insert(f.to_string(), FileDigest::of(&tmp.join(f))?);
        }
        let json = serde_json::to_vec_pretty(&state)
            .map_err(|e| TrainError::checkpoint(&tmp, e.to_string()))?;
        write_atomic(&tmp.join(STATE_FILE), &json)?;
        let dst = root.join(&name);
        if dst.exists() {
            let old = root.join(format!(".old-{name}-{}", std::process::id()));
            std::fs::rename(&dst, &old).map_err(|e| TrainError::io(&dst, e))?;
            std::fs::remove_dir_all(&old).map_err(|e| TrainError::io(&old, e))?;
        }
        std::fs::rename(&tmp, &dst).map_err(|e| TrainError::io(&dst, e))?;
        if let Ok(d) = std::fs::File::open(&root) {
            let _ = d.sync_all();
        }
        write_atomic(&root.join(LATEST_FILE), format!("{name}\n").as_bytes())?;
        Ok(dst)
    };
    let dst = write().inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&tmp);
    })?;
    if let Some(keep) = keep {
        prune(&root, keep, &name)?;
    }
    Ok(dst)
}

/// Steps of the complete checkpoints in `root`, ascending.
pub fn list_checkpoints(root: &Path) -> Result<Vec<u64>> {
    let mut steps = Vec::new();
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(steps),
        Err(e) => return Err(TrainError::io(root, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| TrainError::io(root, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(step) = name
            .strip_prefix("step-")
            .and_then(|s| s.parse::<u64>().ok())
        {
            steps.push(step);
        }
    }
    steps.sort_unstable();
    Ok(steps)
}

fn prune(root: &Path, keep: usize, latest: &str) -> Result<()> {
    let steps = list_checkpoints(root)?;
    let excess = steps.len().saturating_sub(keep);
    for &step in &steps[..excess] {
        let name = checkpoint_name(step);
        if name != latest {
            let dir = root.join(name);
            std::fs::remove_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
        }
    }
    Ok(())
}

/// Reads and checks `state.json` of a checkpoint directory, including the digests of both
/// tensor files (version 1 files are upgraded, see `planform_model::checkpoint`).
pub fn read_state(dir: &Path) -> Result<TrainState> {
    let header = read_header(dir, &[MODEL_FILE, OPTIMIZER_FILE])?;
    let path = dir.join(STATE_FILE);
    serde_json::from_value(header.json)
        .map_err(|e| TrainError::checkpoint(&path, format!("unexpected contents: {e}")))
}

/// The training configuration stored in the latest checkpoint of a run directory (what
/// `--resume <out_dir>` continues when no config file is given).
pub fn config_of_run(out_dir: &Path) -> Result<TrainConfig> {
    let dir = resolve_checkpoint(out_dir)?;
    Ok(read_state(&dir)?.config)
}

/// The digest of a file (for tests that rewrite checkpoint files).
#[cfg(test)]
pub(crate) fn tests_digest(path: &Path) -> FileDigest {
    FileDigest::of(path).expect("readable file")
}

//! Checkpoints: atomic directories with model weights, optimizer state and run state.
//!
//! ```text
//! <out>/checkpoints/step-000100/model.safetensors      weights, PyTorch-style names
//! <out>/checkpoints/step-000100/optimizer.safetensors  AdamW moments and step counts
//! <out>/checkpoints/step-000100/state.json             TrainState (config, step, cursor, …)
//! <out>/checkpoints/latest                             text: "step-000100"
//! ```
//!
//! A checkpoint is written into `checkpoints/.tmp-step-…`, then renamed into place; the
//! `latest` pointer is replaced (temporary file + rename) only after that, so a kill at any
//! moment leaves the previous checkpoint and pointer intact. `state.json` records the size
//! and sha256 of both tensor files, so corruption is detected on load.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use planform_model::{load_named, EncoderDecoder, ModelConfig};
use planform_trace::vocab::{Vocabulary, VocabularySpec};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tch::nn::VarStore;
use tch::Device;

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::metrics::{EvalRecord, TrainRecord};
use crate::optim::Optimizer;
use crate::sampler::DataCursor;
use crate::tensor_io::{load_tensors, save_tensors, write_atomic, HostTensor};

/// `format` field of `state.json`.
pub const CHECKPOINT_FORMAT: &str = "planform-train-checkpoint";
/// Current checkpoint layout version.
pub const CHECKPOINT_VERSION: u32 = 1;
/// Directory of checkpoints inside the run directory.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// Pointer file naming the newest complete checkpoint.
pub const LATEST_FILE: &str = "latest";
/// Model weights file.
pub const MODEL_FILE: &str = "model.safetensors";
/// Optimizer state file.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// Run state file.
pub const STATE_FILE: &str = "state.json";

/// The vocabulary a model was trained with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VocabInfo {
    /// What the vocabulary is for (rebuild with `Vocabulary::new(spec)`).
    pub spec: VocabularySpec,
    /// Token strings in id order.
    pub tokens: Vec<String>,
}

impl VocabInfo {
    /// From a vocabulary.
    pub fn of(vocab: &Vocabulary) -> Self {
        VocabInfo {
            spec: vocab.spec(),
            tokens: vocab.tokens().to_vec(),
        }
    }

    /// Rebuilds the vocabulary and checks it against the stored tokens.
    pub fn vocabulary(&self) -> std::result::Result<Vocabulary, String> {
        let v = Vocabulary::new(self.spec).map_err(|e| e.to_string())?;
        if v.tokens() != self.tokens.as_slice() {
            return Err("stored tokens differ from the vocabulary of the stored spec".into());
        }
        Ok(v)
    }
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

/// Size and digest of a checkpoint file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Bytes.
    pub bytes: u64,
    /// Lower-case hex sha256.
    pub sha256: String,
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
}

/// Directory name of the checkpoint at `step`.
pub fn checkpoint_name(step: u64) -> String {
    format!("step-{step:06}")
}

fn digest(path: &Path) -> Result<FileDigest> {
    let bytes = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
    let hash = Sha256::digest(&bytes);
    let sha256 = hash.iter().map(|b| format!("{b:02x}")).collect();
    Ok(FileDigest {
        bytes: bytes.len() as u64,
        sha256,
    })
}

/// Saves the weights of `vs` (every variable, by name) as safetensors.
pub fn save_weights(vs: &VarStore, path: &Path) -> Result<()> {
    let mut vars: Vec<(String, tch::Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let host = vars
        .iter()
        .map(|(n, t)| Ok((n.clone(), HostTensor::from_tensor(n, t)?)))
        .collect::<Result<Vec<_>>>()?;
    let mut meta = BTreeMap::new();
    meta.insert("format".to_string(), "planform-model".to_string());
    save_tensors(path, &host, meta)
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
        save_weights(vs, &tmp.join(MODEL_FILE))?;
        opt.save(&tmp.join(OPTIMIZER_FILE))?;
        state.files.clear();
        for f in [MODEL_FILE, OPTIMIZER_FILE] {
            state.files.insert(f.to_string(), digest(&tmp.join(f))?);
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

/// Finds a checkpoint directory from a run directory (follows `checkpoints/latest`), a
/// `checkpoints` directory (follows `latest`) or a checkpoint directory itself.
pub fn resolve_checkpoint(path: &Path) -> Result<PathBuf> {
    if path.join(STATE_FILE).is_file() {
        return Ok(path.to_path_buf());
    }
    for root in [path.join(CHECKPOINTS_DIR), path.to_path_buf()] {
        let pointer = root.join(LATEST_FILE);
        if pointer.is_file() {
            let text =
                std::fs::read_to_string(&pointer).map_err(|e| TrainError::io(&pointer, e))?;
            let name = text.trim();
            let valid = name
                .strip_prefix("step-")
                .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
            if !valid {
                return Err(TrainError::checkpoint(
                    &pointer,
                    format!("pointer holds {name:?}, not step-NNNNNN"),
                ));
            }
            let dir = root.join(name);
            if !dir.join(STATE_FILE).is_file() {
                return Err(TrainError::checkpoint(
                    &dir,
                    "the latest pointer names a checkpoint without state.json",
                ));
            }
            return Ok(dir);
        }
    }
    Err(TrainError::NoCheckpoint(path.to_path_buf()))
}

/// Reads and checks `state.json` of a checkpoint directory, including the digests of the
/// tensor files.
pub fn read_state(dir: &Path) -> Result<TrainState> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => TrainError::checkpoint(&path, "file is missing"),
        _ => TrainError::io(&path, e),
    })?;
    let head: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| TrainError::checkpoint(&path, format!("not valid JSON: {e}")))?;
    if head.get("format").and_then(|f| f.as_str()) != Some(CHECKPOINT_FORMAT) {
        return Err(TrainError::checkpoint(
            &path,
            format!("`format` is not {CHECKPOINT_FORMAT:?}"),
        ));
    }
    match head.get("version").and_then(|v| v.as_u64()) {
        Some(v) if v == CHECKPOINT_VERSION as u64 => {}
        other => {
            return Err(TrainError::checkpoint(
                &path,
                format!("version {other:?}; this build reads version {CHECKPOINT_VERSION}"),
            ))
        }
    }
    let state: TrainState = serde_json::from_value(head)
        .map_err(|e| TrainError::checkpoint(&path, format!("unexpected contents: {e}")))?;
    for f in [MODEL_FILE, OPTIMIZER_FILE] {
        let want = state
            .files
            .get(f)
            .ok_or_else(|| TrainError::checkpoint(&path, format!("no digest recorded for {f}")))?;
        let file = dir.join(f);
        let meta = std::fs::metadata(&file)
            .map_err(|_| TrainError::checkpoint(&file, "file is missing"))?;
        if meta.len() != want.bytes {
            return Err(TrainError::checkpoint(
                &file,
                format!(
                    "{} bytes, state.json recorded {} (truncated?)",
                    meta.len(),
                    want.bytes
                ),
            ));
        }
        let got = digest(&file)?;
        if got.sha256 != want.sha256 {
            return Err(TrainError::checkpoint(
                &file,
                "sha256 differs from state.json (corrupt)",
            ));
        }
    }
    Ok(state)
}

/// Loads the weights of a checkpoint directory into `vs` (every variable exactly once,
/// shapes checked).
pub fn load_weights(dir: &Path, vs: &VarStore) -> Result<()> {
    let path = dir.join(MODEL_FILE);
    let loaded = load_tensors(&path, vs.device())?;
    let named: Vec<(String, tch::Tensor)> = loaded.tensors.into_iter().collect();
    load_named(vs, &named).map_err(|e| TrainError::checkpoint(&path, e.to_string()))?;
    Ok(())
}

/// The training configuration stored in the latest checkpoint of a run directory (what
/// `--resume <out_dir>` continues when no config file is given).
pub fn config_of_run(out_dir: &Path) -> Result<TrainConfig> {
    let dir = resolve_checkpoint(out_dir)?;
    Ok(read_state(&dir)?.config)
}

/// A model restored from a checkpoint, for evaluation and decoding.
pub struct LoadedModel {
    /// The variables (weights on the requested device).
    pub vs: VarStore,
    /// The model built on `vs`.
    pub model: EncoderDecoder,
    /// Its configuration.
    pub config: ModelConfig,
    /// The vocabulary it was trained with.
    pub vocab: VocabInfo,
    /// Training steps completed.
    pub step: u64,
    /// The training configuration.
    pub train_config: TrainConfig,
    /// The checkpoint directory.
    pub dir: PathBuf,
}

/// Loads a model from a run directory, checkpoints directory or checkpoint directory.
pub fn load_model_from_checkpoint(path: &Path, device: Device) -> Result<LoadedModel> {
    let dir = resolve_checkpoint(path)?;
    let state = read_state(&dir)?;
    let vs = VarStore::new(device);
    let model = EncoderDecoder::new(&vs.root(), &state.model)
        .map_err(|e| TrainError::checkpoint(dir.join(STATE_FILE), format!("model config: {e}")))?;
    load_weights(&dir, &vs)?;
    Ok(LoadedModel {
        vs,
        model,
        config: state.model,
        vocab: state.vocab,
        step: state.step,
        train_config: state.config,
        dir,
    })
}

/// The digest of a file (for tests that rewrite checkpoint files).
#[cfg(test)]
pub(crate) fn tests_digest(path: &Path) -> FileDigest {
    digest(path).expect("readable file")
}

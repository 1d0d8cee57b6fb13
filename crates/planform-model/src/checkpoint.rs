//! Checkpoint directories, as far as a model needs them: finding one, checking it, loading
//! its weights into a [`Model`]. (planform-train writes them and adds the optimizer state
//! and the run's data cursor; it builds on the functions here.)
//!
//! ```text
//! <run>/checkpoints/step-000100/model.safetensors      weights, PyTorch-style names
//! <run>/checkpoints/step-000100/optimizer.safetensors  optimizer state (training only)
//! <run>/checkpoints/step-000100/state.json             step, configs, vocabulary, digests
//! <run>/checkpoints/latest                             text: "step-000100"
//! ```
//!
//! `state.json` records the size and sha256 of each tensor file; loading a model checks
//! those of `model.safetensors` only (evaluation never reads the optimizer state).
//! Version 1 files (before the decoder-only family) hold an encoder–decoder config without
//! a `family` tag; they are read as such.
//!
//! Two more checks keep a checkpoint from silently giving a wrong model:
//! - `model.safetensors` records the model config it was saved with (header metadata
//!   [`MODEL_CONFIG_KEY`], covered by the sha256 in `state.json`); loading refuses a
//!   `state.json` whose `model` differs from it, naming the differing keys (files written
//!   before this key existed are read without the check);
//! - every loaded weight must be finite: a tensor holding NaN or ±inf is an error naming it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use planform_trace::vocab::{Vocabulary, VocabularySpec};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tch::nn::VarStore;
use tch::Device;

use crate::config::ModelConfig;
use crate::error::ModelError;
use crate::model::Model;
use crate::state::load_named;
use crate::tensor_io::{load_tensors, save_tensors, HostTensor};

type Result<T, E = ModelError> = std::result::Result<T, E>;

/// `format` field of `state.json`.
pub const CHECKPOINT_FORMAT: &str = "planform-train-checkpoint";
/// Current checkpoint layout version (2: `model` carries a `family` tag).
pub const CHECKPOINT_VERSION: u32 = 2;
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
/// Field of `state.json` present only in quantized checkpoints (planform-quant's setting
/// and provenance); [`load_model`] refuses such a checkpoint.
pub const QUANT_FIELD: &str = "quant";
/// Header metadata key of `model.safetensors` holding the model config as JSON.
pub const MODEL_CONFIG_KEY: &str = "model_config";

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

    /// How `vocab` differs from this one (`None`: the same tokens in the same order), in
    /// words that never print two equal things as a mismatch: the specs when they differ,
    /// otherwise the size or the first token whose string differs.
    pub fn difference(&self, vocab: &Vocabulary) -> Option<String> {
        let theirs = vocab.tokens();
        if self.tokens.as_slice() == theirs {
            return None;
        }
        if self.spec != vocab.spec() {
            return Some(format!(
                "vocabulary {:?} here, {:?} there",
                self.spec,
                vocab.spec()
            ));
        }
        if self.tokens.len() != theirs.len() {
            return Some(format!(
                "both are {:?} but hold {} and {} tokens",
                self.spec,
                self.tokens.len(),
                theirs.len()
            ));
        }
        let (i, (a, b)) = self
            .tokens
            .iter()
            .zip(theirs)
            .enumerate()
            .find(|(_, (a, b))| a != b)?;
        Some(format!(
            "both are {:?} but token {i} is {a:?} here, {b:?} there",
            self.spec
        ))
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

/// Size and digest of a checkpoint file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Bytes.
    pub bytes: u64,
    /// Lower-case hex sha256.
    pub sha256: String,
}

impl FileDigest {
    /// The digest of a file.
    pub fn of(path: &Path) -> Result<FileDigest> {
        let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        let sha256 = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(FileDigest {
            bytes: bytes.len() as u64,
            sha256,
        })
    }

    /// Checks `file` against this digest.
    pub fn check(&self, file: &Path) -> Result<()> {
        let meta =
            std::fs::metadata(file).map_err(|_| ModelError::checkpoint(file, "file is missing"))?;
        if meta.len() != self.bytes {
            return Err(ModelError::checkpoint(
                file,
                format!(
                    "{} bytes, state.json recorded {} (truncated?)",
                    meta.len(),
                    self.bytes
                ),
            ));
        }
        if FileDigest::of(file)?.sha256 != self.sha256 {
            return Err(ModelError::checkpoint(
                file,
                "sha256 differs from state.json (corrupt)",
            ));
        }
        Ok(())
    }
}

/// The part of `state.json` a model needs; the training-specific rest stays JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointHeader {
    /// Optimizer steps completed.
    pub step: u64,
    /// The model.
    pub model: ModelConfig,
    /// The vocabulary.
    pub vocab: VocabInfo,
    /// Digests of the tensor files, by file name.
    pub files: BTreeMap<String, FileDigest>,
    /// The whole file, upgraded to the current version (for planform-train's typed read).
    pub json: serde_json::Value,
}

/// Directory name of the checkpoint at `step`.
pub fn checkpoint_name(step: u64) -> String {
    format!("step-{step:06}")
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
                std::fs::read_to_string(&pointer).map_err(|e| ModelError::io(&pointer, e))?;
            let name = text.trim();
            let valid = name
                .strip_prefix("step-")
                .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
            if !valid {
                return Err(ModelError::checkpoint(
                    &pointer,
                    format!("pointer holds {name:?}, not step-NNNNNN"),
                ));
            }
            let dir = root.join(name);
            if !dir.join(STATE_FILE).is_file() {
                return Err(ModelError::checkpoint(
                    &dir,
                    "the latest pointer names a checkpoint without state.json",
                ));
            }
            return Ok(dir);
        }
    }
    Err(ModelError::NoCheckpoint(path.to_path_buf()))
}

/// Reads `state.json` of a checkpoint directory: format, version (1 is upgraded), model,
/// vocabulary, digests. Checks the digest of each file in `verify`.
pub fn read_header(dir: &Path, verify: &[&str]) -> Result<CheckpointHeader> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ModelError::checkpoint(&path, "file is missing"),
        _ => ModelError::io(&path, e),
    })?;
    let mut json: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| ModelError::checkpoint(&path, format!("not valid JSON: {e}")))?;
    let bad = |reason: String| ModelError::checkpoint(&path, reason);
    if json.get("format").and_then(|f| f.as_str()) != Some(CHECKPOINT_FORMAT) {
        return Err(bad(format!("`format` is not {CHECKPOINT_FORMAT:?}")));
    }
    match json.get("version").and_then(|v| v.as_u64()) {
        Some(1) => {
            // Version 1: an encoder–decoder config without the family tag.
            if let Some(m) = json.get_mut("model").and_then(|m| m.as_object_mut()) {
                m.insert("family".into(), "encoder-decoder".into());
            }
            json["version"] = CHECKPOINT_VERSION.into();
        }
        Some(v) if v == CHECKPOINT_VERSION as u64 => {}
        other => {
            return Err(bad(format!(
                "version {other:?}; this build reads versions 1 and {CHECKPOINT_VERSION}"
            )))
        }
    }
    let field = |name: &str| {
        json.get(name)
            .cloned()
            .ok_or_else(|| bad(format!("field `{name}` is missing")))
    };
    let parse_err = |name: &str, e: serde_json::Error| bad(format!("field `{name}`: {e}"));
    let model: ModelConfig =
        serde_json::from_value(field("model")?).map_err(|e| parse_err("model", e))?;
    model
        .validate()
        .map_err(|e| bad(format!("field `model`: {e}")))?;
    let vocab: VocabInfo =
        serde_json::from_value(field("vocab")?).map_err(|e| parse_err("vocab", e))?;
    if vocab.tokens.len() != model.vocab_size() {
        return Err(bad(format!(
            "the vocabulary has {} tokens, the model {}",
            vocab.tokens.len(),
            model.vocab_size()
        )));
    }
    let step: u64 = serde_json::from_value(field("step")?).map_err(|e| parse_err("step", e))?;
    let files: BTreeMap<String, FileDigest> =
        serde_json::from_value(field("files")?).map_err(|e| parse_err("files", e))?;
    for f in verify {
        let want = files
            .get(*f)
            .ok_or_else(|| bad(format!("no digest recorded for {f}")))?;
        want.check(&dir.join(f))?;
    }
    Ok(CheckpointHeader {
        step,
        model,
        vocab,
        files,
        json,
    })
}

/// Saves the weights of `vs` (every variable, by name) as safetensors.
pub fn save_weights(vs: &VarStore, path: &Path) -> Result<()> {
    save_weights_inner(vs, path, None)
}

/// Saves the weights of `vs` as safetensors with `model` recorded in the header metadata
/// ([`MODEL_CONFIG_KEY`]), so that a `state.json` describing another model is refused.
pub fn save_weights_with_config(vs: &VarStore, path: &Path, model: &ModelConfig) -> Result<()> {
    save_weights_inner(vs, path, Some(model))
}

fn save_weights_inner(vs: &VarStore, path: &Path, model: Option<&ModelConfig>) -> Result<()> {
    let mut vars: Vec<(String, tch::Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let host = vars
        .iter()
        .map(|(n, t)| Ok((n.clone(), HostTensor::from_tensor(n, t)?)))
        .collect::<Result<Vec<_>>>()?;
    let mut meta = BTreeMap::new();
    meta.insert("format".to_string(), "planform-model".to_string());
    if let Some(model) = model {
        let json = serde_json::to_string(model)
            .map_err(|e| ModelError::checkpoint(path, format!("model config: {e}")))?;
        meta.insert(MODEL_CONFIG_KEY.to_string(), json);
    }
    save_tensors(path, &host, meta)
}

/// Loads the weights of a checkpoint directory into `vs` (every variable exactly once,
/// shapes checked, every value finite).
pub fn load_weights(dir: &Path, vs: &VarStore) -> Result<()> {
    load_weights_checked(dir, vs, None)
}

/// [`load_weights`], and refuses a `model.safetensors` whose recorded model config
/// ([`MODEL_CONFIG_KEY`]) differs from `model` (the config `state.json` describes), naming
/// the differing keys. Files without the key are loaded without this check.
pub fn load_weights_for(dir: &Path, vs: &VarStore, model: &ModelConfig) -> Result<()> {
    load_weights_checked(dir, vs, Some(model))
}

fn load_weights_checked(dir: &Path, vs: &VarStore, model: Option<&ModelConfig>) -> Result<()> {
    let path = dir.join(MODEL_FILE);
    let loaded = load_tensors(&path, vs.device())?;
    if let Some(want) = model {
        check_recorded_config(dir, &loaded.metadata, want)?;
    }
    check_finite(&path, &loaded.tensors)?;
    let named: Vec<(String, tch::Tensor)> = loaded.tensors.into_iter().collect();
    load_named(vs, &named).map_err(|e| ModelError::checkpoint(&path, e.to_string()))?;
    Ok(())
}

/// Refuses a `model.safetensors` header `metadata` whose recorded model config
/// ([`MODEL_CONFIG_KEY`]) differs from `model` (the config `state.json` of checkpoint `dir`
/// describes), naming the differing keys. Files without the key pass.
pub fn check_recorded_config(
    dir: &Path,
    metadata: &BTreeMap<String, String>,
    model: &ModelConfig,
) -> Result<()> {
    let path = dir.join(MODEL_FILE);
    let Some(text) = metadata.get(MODEL_CONFIG_KEY) else {
        return Ok(());
    };
    let saved: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        ModelError::checkpoint(&path, format!("recorded model config is not JSON: {e}"))
    })?;
    let want = serde_json::to_value(model)
        .map_err(|e| ModelError::checkpoint(&path, format!("model config: {e}")))?;
    let diff = json_differences(&saved, &want);
    if !diff.is_empty() {
        return Err(ModelError::checkpoint(
            dir.join(STATE_FILE),
            format!(
                "`model` differs from the model config recorded in {MODEL_FILE} \
                 (recorded → state.json: {}); the state file was edited or belongs to \
                 another checkpoint",
                diff.join("; ")
            ),
        ));
    }
    Ok(())
}

/// Refuses a float tensor holding NaN or ±inf, naming it.
pub fn check_finite(path: &Path, tensors: &BTreeMap<String, tch::Tensor>) -> Result<()> {
    for (name, t) in tensors {
        if t.is_floating_point() && !bool::try_from(t.f_isfinite()?.f_all()?)? {
            return Err(ModelError::checkpoint(
                path,
                format!(
                    "tensor `{name}` holds non-finite values (NaN or ±inf); these weights \
                     cannot be used (the run that wrote them had diverged)"
                ),
            ));
        }
    }
    Ok(())
}

/// The leaves in which two JSON values differ, as `dotted.path: old → new` (objects are
/// compared key by key, anything else as a whole; a missing side shows as `(none)`).
pub fn json_differences(old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    fn walk(
        path: &str,
        a: Option<&serde_json::Value>,
        b: Option<&serde_json::Value>,
        out: &mut Vec<String>,
    ) {
        use serde_json::Value;
        match (a, b) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(&p, x.get(k), y.get(k), out);
                }
            }
            (a, b) if a == b => {}
            (a, b) => {
                let show = |v: Option<&Value>| v.map_or("(none)".to_string(), |v| v.to_string());
                let p = if path.is_empty() { "(value)" } else { path };
                out.push(format!("{p}: {} → {}", show(a), show(b)));
            }
        }
    }
    let mut out = Vec::new();
    walk("", Some(old), Some(new), &mut out);
    out
}

/// A model restored from a checkpoint, for evaluation and decoding.
pub struct LoadedModel {
    /// The variables (weights on the requested device).
    pub vs: VarStore,
    /// The model built on `vs`.
    pub model: Model,
    /// Its configuration.
    pub config: ModelConfig,
    /// The vocabulary it was trained with.
    pub vocab: VocabInfo,
    /// Training steps completed.
    pub step: u64,
    /// The training configuration (`state.json`'s `config`), as JSON.
    pub train_config: serde_json::Value,
    /// The checkpoint directory.
    pub dir: PathBuf,
}

/// Loads a model from a run directory, checkpoints directory or checkpoint directory.
/// Only `model.safetensors` and `state.json` are read.
pub fn load_model(path: &Path, device: Device) -> Result<LoadedModel> {
    let dir = resolve_checkpoint(path)?;
    let header = read_header(&dir, &[MODEL_FILE])?;
    if header.json.get(QUANT_FIELD).is_some() {
        return Err(ModelError::checkpoint(
            dir.join(STATE_FILE),
            "this is a quantized checkpoint (written by `planform quantize`); `planform eval` \
             and `planform predict` run it (`planform_quant::store::load_model`), training, \
             bootstrapping and export need a full-precision one",
        ));
    }
    let vs = VarStore::new(device);
    let model = Model::new_zero_filled(&vs.root(), &header.model)
        .map_err(|e| ModelError::checkpoint(dir.join(STATE_FILE), format!("model config: {e}")))?;
    load_weights_for(&dir, &vs, &header.model)?;
    let train_config = header.json.get("config").cloned().unwrap_or_default();
    Ok(LoadedModel {
        vs,
        model,
        config: header.model,
        vocab: header.vocab,
        step: header.step,
        train_config,
        dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_differences_name_what_differs() {
        let maze = Vocabulary::new(VocabularySpec::Maze {
            width: 5,
            height: 5,
        })
        .unwrap();
        let other = Vocabulary::new(VocabularySpec::Maze {
            width: 6,
            height: 6,
        })
        .unwrap();
        let info = VocabInfo::of(&maze);
        assert_eq!(info.difference(&maze), None);
        let d = info.difference(&other).unwrap();
        assert!(d.contains("here") && d.contains("there"), "{d}");
        let mut swapped = info.clone();
        swapped.tokens.swap(3, 4);
        let d = swapped.difference(&maze).unwrap();
        assert!(d.contains("token 3 is"), "{d}");
        let mut short = info.clone();
        short.tokens.pop();
        assert!(short.difference(&maze).unwrap().contains("tokens"));
    }

    #[test]
    fn json_differences_name_every_differing_leaf() {
        let a =
            serde_json::json!({"optim": {"lr": 3e-4, "total_steps": 300}, "seed": 1, "x": [1, 2]});
        let b = serde_json::json!({"optim": {"lr": 1e-3, "total_steps": 300}, "seed": 1, "x": [1, 3], "y": true});
        assert_eq!(
            json_differences(&a, &b),
            vec![
                "optim.lr: 0.0003 → 0.001".to_string(),
                "x: [1,2] → [1,3]".to_string(),
                "y: (none) → true".to_string(),
            ]
        );
        assert!(json_differences(&a, &a).is_empty());
        assert_eq!(
            json_differences(&serde_json::json!(1), &serde_json::json!(2)),
            vec!["(value): 1 → 2".to_string()]
        );
    }
}

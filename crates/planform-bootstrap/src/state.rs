//! `state.json`: how far a bootstrap got, written atomically after every phase.
//!
//! The state holds the config the bootstrap was started with (a resume with a different
//! config is refused), the base checkpoint resolved at the start (so a base run that keeps
//! training does not change iteration 0), and per iteration the phase reached, the
//! checkpoint, the training-set statistics and the result line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::BootstrapConfig;
use crate::error::{BootstrapError, Result};
use crate::record::IterationRecord;
use crate::reduce::TrainingStats;

/// File name of the state inside the output directory.
pub const STATE_FILE: &str = "state.json";
/// `format` field of `state.json`.
pub const STATE_FORMAT: &str = "planform-bootstrap-state";
/// Current state layout version.
pub const STATE_VERSION: u32 = 1;

/// The phases of an iteration, in order. Iteration 0 (the base model) starts at
/// [`Phase::FineTuned`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Nothing finished yet (sampling chunks may be saved).
    Started,
    /// Every training prompt has its k responses sampled and reduced (saved in chunks).
    Sampled,
    /// The training-set statistics of the reduction are recorded.
    Reduced,
    /// The improved dataset `iter-N/data` is written.
    DatasetWritten,
    /// The fine-tune `iter-N/run` is complete; its final checkpoint is recorded.
    FineTuned,
    /// The test-split evaluation is recorded.
    Evaluated,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 6] = [
        Phase::Started,
        Phase::Sampled,
        Phase::Reduced,
        Phase::DatasetWritten,
        Phase::FineTuned,
        Phase::Evaluated,
    ];

    /// The phase after this one (`None` after [`Phase::Evaluated`]).
    pub fn next(self) -> Option<Phase> {
        let i = Phase::ALL.iter().position(|p| *p == self)?;
        Phase::ALL.get(i + 1).copied()
    }

    /// Kebab-case name (`dataset-written`).
    pub fn name(self) -> &'static str {
        match self {
            Phase::Started => "started",
            Phase::Sampled => "sampled",
            Phase::Reduced => "reduced",
            Phase::DatasetWritten => "dataset-written",
            Phase::FineTuned => "fine-tuned",
            Phase::Evaluated => "evaluated",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Progress of one iteration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IterationState {
    /// 0 = the base model.
    pub iteration: usize,
    /// Last phase completed.
    pub phase: Phase,
    /// The iteration's checkpoint directory (set at [`Phase::FineTuned`]): relative to the
    /// output directory for fine-tunes, the resolved base checkpoint for iteration 0.
    pub checkpoint: Option<PathBuf>,
    /// Reduction statistics (set at [`Phase::Reduced`]).
    pub train: Option<TrainingStats>,
    /// The result line (set at [`Phase::Evaluated`]).
    pub record: Option<IterationRecord>,
    /// Wall seconds per phase in the session that completed it (not part of the results).
    pub seconds: BTreeMap<String, f64>,
}

/// Contents of `state.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Always [`STATE_FORMAT`].
    pub format: String,
    /// [`STATE_VERSION`].
    pub version: u32,
    /// The config the bootstrap was started with.
    pub config: BootstrapConfig,
    /// The base run's checkpoint resolved at the start (iteration 0).
    pub base_checkpoint: PathBuf,
    /// Iterations `0..=N` in order.
    pub iterations: Vec<IterationState>,
}

impl State {
    /// A fresh state: iteration 0 at [`Phase::FineTuned`], iterations `1..=N` not started.
    pub fn new(config: BootstrapConfig, base_checkpoint: PathBuf) -> Self {
        let iterations = (0..=config.iterations)
            .map(|i| IterationState {
                iteration: i,
                phase: if i == 0 {
                    Phase::FineTuned
                } else {
                    Phase::Started
                },
                checkpoint: (i == 0).then(|| base_checkpoint.clone()),
                train: None,
                record: None,
                seconds: BTreeMap::new(),
            })
            .collect();
        State {
            format: STATE_FORMAT.into(),
            version: STATE_VERSION,
            config,
            base_checkpoint,
            iterations,
        }
    }

    /// Reads `out/state.json`; `Ok(None)` if there is none. Any unreadable or inconsistent
    /// content is a [`BootstrapError::State`].
    pub fn load(out: &Path) -> Result<Option<Self>> {
        let path = out.join(STATE_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(BootstrapError::io(&path, e)),
        };
        let bad = |reason: String| BootstrapError::State {
            path: path.clone(),
            reason,
        };
        let head: Value =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        if head.get("format").and_then(Value::as_str) != Some(STATE_FORMAT) {
            return Err(bad(format!("`format` is not {STATE_FORMAT:?}")));
        }
        match head.get("version").and_then(Value::as_u64) {
            Some(v) if v == u64::from(STATE_VERSION) => {}
            other => {
                return Err(bad(format!(
                    "version {other:?}; this build reads version {STATE_VERSION}"
                )))
            }
        }
        let state: State =
            serde_json::from_value(head).map_err(|e| bad(format!("unexpected contents: {e}")))?;
        state.check().map_err(bad)?;
        Ok(Some(state))
    }

    fn check(&self) -> std::result::Result<(), String> {
        self.config.validate().map_err(|e| e.to_string())?;
        if self.iterations.len() != self.config.iterations + 1 {
            return Err(format!(
                "{} iteration entries for {} iterations",
                self.iterations.len(),
                self.config.iterations
            ));
        }
        let mut prev = Phase::Evaluated;
        for (i, it) in self.iterations.iter().enumerate() {
            if it.iteration != i {
                return Err(format!("entry {i} is iteration {}", it.iteration));
            }
            if it.phase > Phase::Started && prev != Phase::Evaluated {
                return Err(format!(
                    "iteration {i} is {} before iteration {} was evaluated",
                    it.phase,
                    i - 1
                ));
            }
            let need = |ok: bool, what: &str| {
                if ok {
                    Ok(())
                } else {
                    Err(format!("iteration {i} is {} but has no {what}", it.phase))
                }
            };
            if i == 0 && it.phase < Phase::FineTuned {
                return Err(format!("iteration 0 is {}", it.phase));
            }
            need(
                i == 0 || it.phase < Phase::Reduced || it.train.is_some(),
                "training statistics",
            )?;
            need(
                it.phase < Phase::FineTuned || it.checkpoint.is_some(),
                "checkpoint",
            )?;
            need(it.phase < Phase::Evaluated || it.record.is_some(), "record")?;
            prev = it.phase;
        }
        Ok(())
    }

    /// Writes `out/state.json` atomically.
    pub fn save(&self, out: &Path) -> Result<()> {
        let path = out.join(STATE_FILE);
        let text = serde_json::to_vec_pretty(self).map_err(|e| BootstrapError::Json {
            path: path.clone(),
            error: e,
        })?;
        write_atomic(&path, &text)
    }

    /// The first iteration not yet evaluated (`None`: done).
    pub fn next_iteration(&self) -> Option<usize> {
        self.iterations
            .iter()
            .position(|it| it.phase != Phase::Evaluated)
    }

    /// The result lines of the evaluated iterations, in order.
    pub fn records(&self) -> Vec<IterationRecord> {
        self.iterations
            .iter()
            .filter_map(|it| it.record.clone())
            .collect()
    }
}

/// Fields whose values differ between two configs, as `field: old → new`, `; `-separated
/// (empty when equal).
pub fn config_differences(old: &BootstrapConfig, new: &BootstrapConfig) -> String {
    let (a, b) = (
        serde_json::to_value(old).unwrap_or(Value::Null),
        serde_json::to_value(new).unwrap_or(Value::Null),
    );
    let mut out = Vec::new();
    diff("", &a, &b, &mut out);
    out.join("; ")
}

fn diff(prefix: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                diff(
                    &p,
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        _ if a != b => out.push(format!("{prefix}: {a} → {b}")),
        _ => {}
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    planform_core::fs::write_atomic(path, bytes).map_err(|e| BootstrapError::io(path, e))
}

//! `<run>/summary.json`: what a run did, written (atomically) whenever
//! [`Trainer::run`](crate::Trainer::run) returns — at the end, on a plateau, or when it was
//! interrupted — so a glance (or a script) need not parse `metrics.jsonl`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checkpoint::{checkpoint_name, write_atomic, CHECKPOINTS_DIR};
use crate::error::{Result, TrainError};
use crate::metrics::{read_records, MetricsRecord, METRICS_FILE};

/// File name of the run summary inside the run directory.
pub const SUMMARY_FILE: &str = "summary.json";
/// `format` of the run summary.
pub const SUMMARY_FORMAT: &str = "planform-train-summary";

/// Contents of `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Always [`SUMMARY_FORMAT`].
    pub format: String,
    /// Optimizer steps completed.
    pub steps: u64,
    /// Steps the run was configured for.
    pub total_steps: u64,
    /// `total_steps` reached, or stopped on a plateau.
    pub completed: bool,
    /// The step at which a held-out loss plateau stopped it.
    pub stopped_on_plateau: Option<u64>,
    /// The signal that interrupted this session (`SIGINT`, `SIGTERM`), if one did.
    pub interrupted_by: Option<String>,
    /// Wall seconds of the run, all sessions (evaluations and checkpoints included).
    pub wall_secs: f64,
    /// Real tokens trained on, all sessions.
    pub tokens_seen: u64,
    /// `tokens_seen / wall_secs`.
    pub tokens_per_wall_sec: f64,
    /// Tokens per second of training of the newest training record.
    pub last_tokens_per_sec: Option<f64>,
    /// Loss of the newest training record.
    pub final_train_loss: Option<f64>,
    /// Newest held-out loss.
    pub final_eval_loss: Option<f64>,
    /// Lowest held-out loss of `metrics.jsonl`.
    pub best_eval_loss: Option<f64>,
    /// Its step (the first, on ties).
    pub best_eval_step: Option<u64>,
    /// The checkpoint of that step, relative to the run directory, if it is kept.
    pub best_checkpoint: Option<PathBuf>,
    /// The newest checkpoint, relative to the run directory.
    pub last_checkpoint: Option<PathBuf>,
    /// The optimizer's state bytes, master-weight bytes and subspace (SVD) count at the end
    /// of this session (GaLore ablations compare them).
    #[serde(default)]
    pub optimizer: Option<planform_optim::OptimizerStats>,
}

impl RunReport {
    /// Fills in the best held-out loss from `<run>/metrics.jsonl` and whether its checkpoint
    /// is kept.
    pub fn with_best_from(mut self, run_dir: &Path) -> Result<Self> {
        let mut best: Option<(f64, u64)> = None;
        for (r, _) in read_records(&run_dir.join(METRICS_FILE))? {
            if let MetricsRecord::Eval(e) = r {
                let l = e.metrics.loss;
                if l.is_finite() && best.is_none_or(|(b, _)| l < b) {
                    best = Some((l, e.step));
                }
            }
        }
        self.best_eval_loss = best.map(|b| b.0);
        self.best_eval_step = best.map(|b| b.1);
        self.best_checkpoint = best.and_then(|(_, step)| {
            let rel = Path::new(CHECKPOINTS_DIR).join(checkpoint_name(step));
            run_dir.join(&rel).is_dir().then_some(rel)
        });
        Ok(self)
    }

    /// Writes `<run>/summary.json` atomically.
    pub fn write(&self, run_dir: &Path) -> Result<()> {
        let path = run_dir.join(SUMMARY_FILE);
        let mut json = serde_json::to_vec_pretty(self)
            .map_err(|e| TrainError::io(&path, std::io::Error::other(e)))?;
        json.push(b'\n');
        write_atomic(&path, &json)
    }

    /// Reads `<run>/summary.json`.
    pub fn read(run_dir: &Path) -> Result<Self> {
        let path = run_dir.join(SUMMARY_FILE);
        let bytes = std::fs::read(&path).map_err(|e| TrainError::io(&path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| TrainError::io(&path, std::io::Error::other(e)))
    }
}

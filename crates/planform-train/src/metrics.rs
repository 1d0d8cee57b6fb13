//! The run's `metrics.jsonl`: one JSON object per line, training and evaluation records;
//! mirrored as TensorBoard scalars in `tb/` (see [`crate::tensorboard`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checkpoint::write_atomic;
use crate::error::{Result, TrainError};
use crate::loss::LossMetrics;
use crate::tensorboard::EventWriter;

/// File name of the metrics log inside the run directory.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum MetricsRecord {
    /// Means over the training steps since the previous training record.
    Train(TrainRecord),
    /// Loss on the held-out examples.
    Eval(EvalRecord),
}

impl MetricsRecord {
    /// The optimizer step the record belongs to.
    pub fn step(&self) -> u64 {
        match self {
            MetricsRecord::Train(r) => r.step,
            MetricsRecord::Eval(r) => r.step,
        }
    }
}

/// A training record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainRecord {
    /// Optimizer steps completed.
    pub step: u64,
    /// Epoch of the last micro-batch.
    pub epoch: u64,
    /// Learning rate of the last step.
    pub lr: f64,
    /// Loss metrics, means over the sequences of the interval.
    #[serde(flatten)]
    pub metrics: LossMetrics,
    /// Steps in the interval.
    pub steps: u64,
    /// Sequences in the interval.
    pub sequences: u64,
    /// Real (non-padding) encoder + decoder tokens in the interval.
    pub tokens: u64,
    /// Real tokens per second over the interval.
    pub tokens_per_sec: f64,
    /// Fraction of allocated slots that were padding in the interval.
    pub padding: f64,
    /// Training wall time since the run started, in seconds (summed over resumes).
    pub elapsed_secs: f64,
}

/// An evaluation record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// Optimizer steps completed.
    pub step: u64,
    /// Loss metrics, means over the held-out sequences.
    #[serde(flatten)]
    pub metrics: LossMetrics,
    /// Held-out sequences evaluated.
    pub sequences: u64,
    /// Seconds the evaluation took.
    pub secs: f64,
    /// Training wall time since the run started, in seconds.
    pub elapsed_secs: f64,
}

impl MetricsRecord {
    /// The record's values as TensorBoard scalars (`train/…`, `eval/…`).
    pub fn scalars(&self) -> Vec<(String, f32)> {
        let (prefix, m, extra) = match self {
            MetricsRecord::Train(r) => (
                "train",
                &r.metrics,
                vec![
                    ("lr", r.lr),
                    ("tokens_per_sec", r.tokens_per_sec),
                    ("padding", r.padding),
                ],
            ),
            MetricsRecord::Eval(r) => ("eval", &r.metrics, Vec::new()),
        };
        [
            ("loss", m.loss),
            ("loss_trace", m.loss_trace),
            ("loss_plan", m.loss_plan),
            ("token_acc", m.token_acc),
            ("seq_acc", m.seq_acc),
            ("plan_acc", m.plan_acc),
        ]
        .into_iter()
        .chain(extra)
        .map(|(k, v)| (format!("{prefix}/{k}"), v as f32))
        .collect()
    }
}

/// Appends records to `metrics.jsonl`, one flushed line each, and to the TensorBoard file.
pub struct MetricsLog {
    path: PathBuf,
    file: std::fs::File,
    tb: EventWriter,
}

impl MetricsLog {
    /// Opens `dir/metrics.jsonl` for appending after keeping only the records with
    /// `step <= keep_through` (`None`: start empty). A trailing partial line (from a kill
    /// in the middle of a write) is dropped too.
    pub fn open(dir: &Path, keep_through: Option<u64>) -> Result<Self> {
        let path = dir.join(METRICS_FILE);
        let kept: Vec<String> = match keep_through {
            None => Vec::new(),
            Some(step) => read_records(&path)?
                .into_iter()
                .filter(|(r, _)| r.step() <= step)
                .map(|(_, line)| line)
                .collect(),
        };
        let mut text = kept.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        write_atomic(&path, text.as_bytes())?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| TrainError::io(&path, e))?;
        let tb = EventWriter::open(dir, keep_through)?;
        Ok(MetricsLog { path, file, tb })
    }

    /// Appends one record.
    pub fn write(&mut self, record: &MetricsRecord) -> Result<()> {
        let mut line =
            serde_json::to_string(record).map_err(|e| TrainError::io(&self.path, e.into()))?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| TrainError::io(&self.path, e))?;
        self.file
            .flush()
            .map_err(|e| TrainError::io(&self.path, e))?;
        self.tb.write_scalars(record.step(), record.scalars())
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads the parseable records of a metrics file (missing file: none), with their lines.
pub fn read_records(path: &Path) -> Result<Vec<(MetricsRecord, String)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(TrainError::io(path, e)),
    };
    Ok(text
        .lines()
        .filter_map(|l| {
            serde_json::from_str::<MetricsRecord>(l)
                .ok()
                .map(|r| (r, l.to_string()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(step: u64) -> MetricsRecord {
        MetricsRecord::Eval(EvalRecord {
            step,
            metrics: LossMetrics {
                loss: step as f64,
                ..Default::default()
            },
            sequences: 1,
            secs: 0.0,
            elapsed_secs: 0.0,
        })
    }

    #[test]
    fn reopen_truncates_later_steps_and_partial_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = MetricsLog::open(dir.path(), None).unwrap();
        for s in 0..5 {
            log.write(&rec(s)).unwrap();
        }
        drop(log);
        // A kill in the middle of a line.
        let p = dir.path().join(METRICS_FILE);
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.push_str("{\"kind\":\"eval\",\"st");
        std::fs::write(&p, text).unwrap();
        let mut log = MetricsLog::open(dir.path(), Some(2)).unwrap();
        log.write(&rec(3)).unwrap();
        let steps: Vec<u64> = read_records(&p)
            .unwrap()
            .iter()
            .map(|(r, _)| r.step())
            .collect();
        assert_eq!(steps, vec![0, 1, 2, 3]);
        let line = std::fs::read_to_string(&p)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string();
        assert!(
            line.starts_with("{\"kind\":\"eval\",\"step\":0,\"loss\":0.0"),
            "{line}"
        );
    }
}

//! The evaluation report: `summary.md` (markdown tables), `summary.json` and
//! `tasks.jsonl`, each written atomically (temporary file + rename).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use planform_trace::vocab::Vocabulary;
use serde::{Deserialize, Serialize};

use crate::config::{MaxLen, Mode};
use crate::error::{EvalError, Result};
use crate::metrics::EvalMetrics;
use crate::run::TStarSource;
use crate::score::TaskResult;

/// Markdown summary file name.
pub const SUMMARY_MD: &str = "summary.md";
/// JSON summary file name.
pub const SUMMARY_JSON: &str = "summary.json";
/// Per-task JSON lines file name.
pub const TASKS_JSONL: &str = "tasks.jsonl";
/// Per-response token file name (only with `save_responses`).
pub const RESPONSES_JSONL: &str = "responses.jsonl";

/// What was evaluated, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalHeader {
    /// The checkpoint directory used.
    pub checkpoint: PathBuf,
    /// Its training step.
    pub step: u64,
    /// The dataset directory.
    pub dataset: PathBuf,
    /// Domain name, e.g. `maze-10x10`.
    pub domain: String,
    /// Split.
    pub split: String,
    /// Tasks evaluated.
    pub tasks: usize,
    /// Responses per task, k.
    pub samples: usize,
    /// Decoding mode.
    pub mode: Mode,
    /// Sampler, e.g. `temperature 1`.
    pub sampler: String,
    /// Maximum decoder length used.
    pub max_len: usize,
    /// How it was chosen.
    pub max_len_rule: MaxLen,
    /// Longest decoder target of the split (`bos` and `eos` included).
    pub longest_target: usize,
    /// Sequences decoded at once.
    pub batch_rows: usize,
    /// Sampler seed.
    pub seed: u64,
    /// Device, e.g. `Cuda(0)`.
    pub device: String,
    /// Where t* came from.
    pub tstar: TStarSource,
    /// The same in words.
    pub tstar_description: String,
    /// Simulated quantization, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quant: Option<planform_quant::QuantSpec>,
    /// Whether the stored 8-bit weights multiplied as integers (`int8_matmul`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub int8_matmul: bool,
    /// LSH-sampled decoding attention, if any, with the keys it read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention: Option<LshReport>,
}

/// What the LSH decoding attention did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LshReport {
    /// The setting (`lsh:K,L,SINK,LOCAL,DENSE`).
    pub setting: String,
    /// Keys outside sink and local windows, summed over steps, rows, heads and blocks.
    pub offloaded_keys: u64,
    /// Of those, keys sampled (read).
    pub read_keys: u64,
}

/// Decoding throughput.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Wall seconds of decoding and scoring.
    pub seconds: f64,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// Tokens generated per second.
    pub tokens_per_sec: f64,
}

/// Everything in `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Config header.
    pub header: EvalHeader,
    /// Metrics.
    pub metrics: EvalMetrics,
    /// Throughput.
    pub timing: Timing,
    /// Teacher-forced loss on held-out (test) sequences, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heldout: Option<HeldoutLoss>,
}

/// Mean per-sequence next-token loss of the (possibly quantized) model on held-out
/// sequences built as the model was trained (its trace variant).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HeldoutLoss {
    /// Test sequences (the hashed subset's first ones).
    pub sequences: usize,
    /// Mean per-sequence loss.
    pub loss: f64,
}

fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

fn opt(x: Option<f64>, f: impl Fn(f64) -> String) -> String {
    x.map_or_else(|| "n/a".into(), f)
}

fn num(x: f64) -> String {
    format!("{x:.4}")
}

fn count(n: usize, of: usize) -> String {
    let f = if of == 0 { 0.0 } else { n as f64 / of as f64 };
    format!("{n} ({})", pct(f))
}

impl EvalReport {
    /// The metric table alone (rows = metrics).
    pub fn metrics_table(&self) -> String {
        let m = &self.metrics;
        let s = &m.summary;
        let k = m.samples_per_task;
        let n = m.responses;
        let mut rows: Vec<(String, String)> = vec![
            (format!("solved (1 of {k})"), pct(s.solved)),
            (format!("optimal (1 of {k})"), pct(s.optimal)),
            (format!("solved (3 of {k})"), opt(m.solved_3, pct)),
            (format!("optimal (3 of {k})"), opt(m.optimal_3, pct)),
            ("SWC".into(), num(s.swc)),
            ("ILR-on-solved".into(), opt(s.ilr_on_solved, num)),
            ("ILR-on-optimal".into(), opt(s.ilr_on_optimal, num)),
            ("correct responses".into(), pct(m.correct_responses)),
            ("optimal responses".into(), pct(m.optimal_responses)),
            (
                "unique correct plans per task (mean)".into(),
                format!("{:.2}", m.unique_correct_plans),
            ),
            (
                "response trace tokens mean / median / max".into(),
                format!("{:.1} / {} / {}", m.trace.mean, m.trace.median, m.trace.max),
            ),
            (
                "A* trace tokens mean (dataset)".into(),
                format!("{:.1}", m.astar_mean),
            ),
            ("t* mean".into(), opt(m.tstar_mean, |x| format!("{x:.1}"))),
            ("response / A* trace tokens".into(), opt(m.trace_ratio, pct)),
            (
                format!(
                    "optimal responses / A* trace tokens ({} tasks)",
                    m.optimal_trace.tasks
                ),
                opt(m.optimal_trace.ratio, pct),
            ),
            (
                "optimal responses / t* trace tokens".into(),
                opt(m.optimal_trace.ratio_tstar, pct),
            ),
            ("responses ending with eos".into(), count(m.stops.eos, n)),
            (
                "responses hitting max length".into(),
                count(m.stops.max_len, n),
            ),
            (
                "responses failing to parse".into(),
                count(m.stops.parse_failed, n),
            ),
        ];
        if self.header.mode == Mode::Auto {
            for (name, c) in [
                ("fast (`plan` first)", m.modes.fast),
                ("slow (`create` first)", m.modes.slow),
                ("other first token", m.modes.other),
            ] {
                rows.push((
                    format!("auto mode chose {name}"),
                    format!(
                        "{}; correct {}, optimal {}",
                        count(c.responses, n),
                        count(c.correct, c.responses),
                        count(c.optimal, c.responses)
                    ),
                ));
            }
        }
        rows.push((
            "generated tokens / s".into(),
            format!(
                "{:.0} ({} tokens in {:.1} s)",
                self.timing.tokens_per_sec, self.timing.generated_tokens, self.timing.seconds
            ),
        ));
        let mut out = String::from("| metric | value |\n|---|---|\n");
        for (name, value) in rows {
            let _ = writeln!(out, "| {name} | {value} |");
        }
        out
    }

    /// The whole `summary.md`: the config header, then the metric table.
    pub fn to_markdown(&self) -> String {
        let h = &self.header;
        let rule = match h.max_len_rule {
            MaxLen::Auto => format!("auto: 1.5 × longest target {}, capped", h.longest_target),
            MaxLen::Fixed(_) => "fixed".into(),
        };
        let settings = [
            (
                "checkpoint",
                format!("`{}` (step {})", h.checkpoint.display(), h.step),
            ),
            (
                "dataset",
                format!(
                    "`{}` ({}, split {})",
                    h.dataset.display(),
                    h.domain,
                    h.split
                ),
            ),
            ("tasks", h.tasks.to_string()),
            ("samples per task (k)", h.samples.to_string()),
            ("mode", h.mode.to_string()),
            ("sampler", h.sampler.clone()),
            ("max decode length", format!("{} ({rule})", h.max_len)),
            ("seed", h.seed.to_string()),
            ("device", h.device.clone()),
            ("t*", h.tstar_description.clone()),
            (
                "decoding attention",
                h.attention.as_ref().map_or_else(
                    || "exact".into(),
                    |a| {
                        format!(
                            "{} (K, L, sink, local, dense blocks): read {} of {} offloaded keys \
                             ({:.2}%)",
                            a.setting,
                            a.read_keys,
                            a.offloaded_keys,
                            100.0 * a.read_keys as f64 / a.offloaded_keys.max(1) as f64
                        )
                    },
                ),
            ),
            (
                "quantization",
                h.quant.map_or_else(
                    || "none (as trained)".into(),
                    |q| {
                        if h.int8_matmul {
                            format!("{q}, integer matmul")
                        } else {
                            q.to_string()
                        }
                    },
                ),
            ),
        ];
        let mut out = String::from("# planform eval\n\n| setting | value |\n|---|---|\n");
        for (name, value) in settings {
            let _ = writeln!(out, "| {name} | {value} |");
        }
        if let Some(h) = &self.heldout {
            let _ = writeln!(
                out,
                "| held-out loss ({} test sequences, teacher-forced) | {:.4} |",
                h.sequences, h.loss
            );
        }
        out.push('\n');
        out.push_str(&self.metrics_table());
        out
    }

    /// Writes `summary.md`, `summary.json` and `tasks.jsonl` (one line per task of
    /// `results`) into `out_dir`, creating it if needed; each file atomically.
    pub fn write(&self, out_dir: &Path, results: &[TaskResult]) -> Result<()> {
        std::fs::create_dir_all(out_dir).map_err(|e| EvalError::io(out_dir, e))?;
        let json_path = out_dir.join(SUMMARY_JSON);
        let mut json = serde_json::to_vec_pretty(self).map_err(|source| EvalError::Json {
            path: json_path.clone(),
            error: source,
        })?;
        json.push(b'\n');
        let tasks_path = out_dir.join(TASKS_JSONL);
        let mut lines = Vec::new();
        for r in results {
            serde_json::to_writer(&mut lines, &r.record()).map_err(|source| EvalError::Json {
                path: tasks_path.clone(),
                error: source,
            })?;
            lines.push(b'\n');
        }
        write_atomic(&tasks_path, &lines)?;
        write_atomic(&json_path, &json)?;
        write_atomic(&out_dir.join(SUMMARY_MD), self.to_markdown().as_bytes())
    }
}

/// One line of `responses.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseLine {
    /// Dataset row id of the task.
    pub id: u64,
    /// Sample index within the task.
    pub sample: usize,
    /// The plan solves the task.
    pub correct: bool,
    /// Correct and of optimal length.
    pub optimal: bool,
    /// The decoder sequence as space-separated token strings (`bos` … `eos`).
    pub tokens: String,
}

/// Writes every kept response of `results` as one [`ResponseLine`] per line, atomically.
pub fn write_responses(path: &Path, results: &[TaskResult], vocab: &Vocabulary) -> Result<()> {
    let mut out = Vec::new();
    for r in results {
        for (i, s) in r.samples.iter().enumerate() {
            let tokens: Vec<&str> = s
                .tokens
                .iter()
                .map(|&t| vocab.token(t).unwrap_or("<unk>"))
                .collect();
            let line = ResponseLine {
                id: r.id,
                sample: i,
                correct: s.eval.correct,
                optimal: s.eval.optimal,
                tokens: tokens.join(" "),
            };
            serde_json::to_writer(&mut out, &line).map_err(|source| EvalError::Json {
                path: path.to_path_buf(),
                error: source,
            })?;
            out.push(b'\n');
        }
    }
    write_atomic(path, &out)
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename,
/// so readers see the old file or the new one, never a partial one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    planform_core::fs::write_atomic(path, bytes).map_err(|e| EvalError::io(path, e))
}

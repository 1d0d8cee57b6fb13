//! `bench memory`'s results and their markdown table.

use serde::Serialize;

use super::{CaseMeasurement, Estimate, MemoryCase};
use crate::machine::Machine;

/// How a configuration ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum CaseOutcome {
    /// Ran; the child's measurement.
    Measured(CaseMeasurement),
    /// Not started: the prediction exceeds the memory available.
    Skipped {
        /// Requirement and availability.
        reason: String,
    },
    /// Killed by the watchdog above the limit.
    Killed {
        /// Resident bytes when killed.
        rss: u64,
        /// The limit.
        limit: u64,
        /// Seconds it ran.
        seconds: f64,
    },
    /// The child failed (its stderr was passed through).
    Failed {
        /// Exit status.
        status: String,
    },
}

/// One configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseReport {
    /// The configuration.
    pub case: MemoryCase,
    /// Trainable parameters.
    pub params: u64,
    /// The prediction.
    pub estimate: Estimate,
    /// What happened.
    pub outcome: CaseOutcome,
}

/// Everything `bench memory` measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemoryReport {
    /// The machine.
    pub machine: Machine,
    /// The command line.
    pub command: String,
    /// One row per (model, optimizer).
    pub rows: Vec<CaseReport>,
}

fn gb(b: u64) -> String {
    let g = b as f64 / 1e9;
    if g >= 10.0 {
        format!("{g:.1} GB")
    } else if g >= 0.1 {
        format!("{g:.2} GB")
    } else {
        format!("{:.1} MB", b as f64 / 1e6)
    }
}

impl MemoryReport {
    /// The report as markdown: one table row per configuration.
    pub fn markdown(&self) -> String {
        let mut s = String::from("# bench memory\n\n");
        s.push_str(&self.machine.markdown_header(&self.command));
        s.push('\n');
        s.push_str(
            "Optimizer state: exact bytes held after the steps (moments, projectors, factors), \
             `=` when equal to the formula's prediction. Int8 weights: Q-GaLore's codes, \
             scales and zero points, held by the optimizer; while it is built, each layer is \
             converted in turn, then computes from its codes and its float weight is freed \
             (Weights: the float weights kept during the steps). Peak RSS: `VmHWM` of the child process running \
             only this configuration (libtorch's own resident memory, `start`, included), and \
             in brackets the steps' own peak (`VmHWM` reset after the set-up). Predicted: \
             weights + gradients + state + int8 weights (exact) + activations, SVD workspace \
             and baseline (rough), or the set-up's peak where larger (Q-GaLore: the float \
             model, built before its conversion).\n\n",
        );
        let thresholds: std::collections::BTreeSet<u64> = self
            .rows
            .iter()
            .filter_map(|r| match &r.outcome {
                CaseOutcome::Measured(m) => m.malloc_mmap_threshold,
                _ => None,
            })
            .collect();
        for t in thresholds {
            s.push_str(&format!(
                "glibc malloc in the measured processes: mmap threshold fixed at {t} bytes \
                 (`MALLOC_MMAP_THRESHOLD_`), trim threshold 0.\n\n"
            ));
        }
        s.push_str(
            "| Model | Dtype | Optimizer | Params | Rank | Weights | Grads at once | Optimizer state | Int8 weights | SVDs | Peak RSS | start | Predicted | Step s |\n",
        );
        s.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for r in &self.rows {
            let e = &r.estimate;
            let dtype = match r.case.dtype {
                super::WeightDtype::Fp32 => "fp32",
                super::WeightDtype::Bf16 => "bf16",
            };
            let head = format!(
                "| {} | {dtype} | {} | {:.1}M | {} | {} | {} |",
                r.case.model,
                r.case.optimizer.label(),
                r.params as f64 / 1e6,
                r.case.rank,
                gb(e.weights),
                gb(e.grads),
            );
            let row = match &r.outcome {
                CaseOutcome::Measured(m) => {
                    let eq = if m.state_bytes == e.state { " =" } else { "" };
                    let svd = if m.stand_in_projectors > 0 {
                        format!(
                            "{} ({} stand-in)",
                            m.svd_count, m.stand_in_projectors
                        )
                    } else {
                        m.svd_count.to_string()
                    };
                    let secs: Vec<String> =
                        m.step_seconds.iter().map(|x| format!("{x:.1}")).collect();
                    format!(
                        " {}{eq} | {} | {svd} | **{}** | {} | {} | {} |",
                        gb(m.state_bytes),
                        if m.master_weight_bytes > 0 {
                            gb(m.master_weight_bytes)
                        } else {
                            "–".into()
                        },
                        match m.hwm_steps {
                            Some(h) => format!("{} (steps {})", gb(m.vm_hwm), gb(h)),
                            None => gb(m.vm_hwm),
                        },
                        gb(m.rss_start),
                        gb(e.total()),
                        secs.join(", ")
                    )
                }
                CaseOutcome::Skipped { reason } => format!(
                    " {} (predicted) | {} | – | not run: {reason} | – | {} | – |",
                    gb(e.state),
                    if e.master_weights > 0 {
                        gb(e.master_weights)
                    } else {
                        "–".into()
                    },
                    gb(e.total())
                ),
                CaseOutcome::Killed { rss, limit, seconds } => format!(
                    " {} (predicted) | – | – | killed at {} (limit {}) after {seconds:.0} s | – | {} | – |",
                    gb(e.state),
                    gb(*rss),
                    gb(*limit),
                    gb(e.total())
                ),
                CaseOutcome::Failed { status } => format!(
                    " {} (predicted) | – | – | failed ({status}) | – | {} | – |",
                    gb(e.state),
                    gb(e.total())
                ),
            };
            s.push_str(&head);
            s.push_str(&row);
            s.push('\n');
        }
        s
    }
}

//! Results of `bench train`, the recorded figure they are set against, and the markdown
//! report.

use std::fmt::Write as _;

use serde::Serialize;

use super::format::{factor, num, pct};
use crate::machine::Machine;

/// One timed training loop of one stack.
#[derive(Debug, Clone, Serialize)]
pub struct StackRun {
    /// `planform (tch)` or the PyTorch version.
    pub stack: String,
    /// Trainable parameters as counted by that stack.
    pub parameters: usize,
    /// Intra-op threads of that stack.
    pub threads: usize,
    /// Timed optimizer steps.
    pub steps: usize,
    /// Real (non-padding) encoder + decoder tokens of the timed steps.
    pub real_tokens: u64,
    /// Allocated slots: Σ rows × (longest encoder + longest decoder sequence).
    pub padded_tokens: u64,
    /// Wall seconds of the timed steps.
    pub seconds: f64,
    /// Loss of the last step (sanity).
    pub loss: Option<f64>,
    /// Loss of the first step, warm-up included (the same as `planform_train::train_step`
    /// gives on that batch; `None` for the PyTorch side).
    pub first_loss: Option<f64>,
}

impl StackRun {
    /// An empty run.
    pub fn new(stack: &str, parameters: usize, threads: usize) -> Self {
        StackRun {
            stack: stack.into(),
            parameters,
            threads,
            steps: 0,
            real_tokens: 0,
            padded_tokens: 0,
            seconds: 0.0,
            loss: None,
            first_loss: None,
        }
    }

    /// Real tokens per second.
    pub fn real_per_s(&self) -> f64 {
        self.real_tokens as f64 / self.seconds.max(1e-12)
    }

    /// Padded tokens (slots) per second.
    pub fn padded_per_s(&self) -> f64 {
        self.padded_tokens as f64 / self.seconds.max(1e-12)
    }

    /// Fraction of slots that are padding.
    pub fn padding(&self) -> f64 {
        1.0 - self.real_tokens as f64 / self.padded_tokens.max(1) as f64
    }

    /// Milliseconds per step.
    pub fn step_ms(&self) -> f64 {
        1e3 * self.seconds / self.steps.max(1) as f64
    }
}

/// Both stacks on the batches of one order.
#[derive(Debug, Clone, Serialize)]
pub struct OrderResult {
    /// `bucketed`, `random order (reference)` or `fixed batch`.
    pub order: String,
    /// planform's training step.
    pub planform: StackRun,
    /// PyTorch eager on the same batch shapes (`None`: skipped or failed).
    pub pytorch: Option<StackRun>,
    /// Why PyTorch failed, if it did.
    pub pytorch_error: Option<String>,
}

/// A figure recorded earlier (`anchors.toml`) that matches the run.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TrainAnchor {
    /// The reference Searchformer training (its own model code, padding to the longest
    /// sequence) on one H200.
    GpuReference {
        /// What was measured.
        what: String,
        /// Real tokens per second.
        real_tokens_per_s: f64,
        /// Padding fraction of its batches.
        padding: f64,
        /// The project's goal: at least this multiple of the reference.
        goal_factor: f64,
    },
    /// Two stacks on the same model.
    Stacks {
        /// What was measured.
        what: String,
        /// PyTorch eager tokens per second.
        pytorch: f64,
        /// tch tokens per second.
        tch: f64,
    },
}

/// The whole report of `bench train`.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    /// The command line.
    pub command: String,
    /// Machine, date, load.
    pub machine: Machine,
    /// `cpu` / `cuda:0`.
    pub device: String,
    /// `fp32` / `bf16`.
    pub precision: String,
    /// libtorch intra-op threads (also given to PyTorch).
    pub threads: usize,
    /// `encoder-decoder` or `decoder-only`.
    pub family: String,
    /// Model name or shape.
    pub model: String,
    /// Trainable parameters (planform's count).
    pub parameters: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Where the sequences came from.
    pub data: String,
    /// Sequences per batch.
    pub batch: usize,
    /// Untimed steps per run.
    pub warmup: usize,
    /// Timed steps per run (fewer if `--max-seconds` cut a run short).
    pub steps: usize,
    /// Encoder length range (bos/eos included).
    pub enc_len: (usize, usize),
    /// Decoder length range (bos/eos included).
    pub dec_len: (usize, usize),
    /// Padding fraction of one whole epoch: (random order, bucketed); real data only.
    pub epoch_padding: Option<(f64, f64)>,
    /// The PyTorch interpreter, or why it did not run.
    pub pytorch: String,
    /// The recorded figure for this configuration.
    pub anchor: Option<TrainAnchor>,
    /// Per batch order.
    pub orders: Vec<OrderResult>,
}

impl TrainReport {
    /// The markdown report.
    pub fn markdown(&self) -> String {
        let r = self;
        let mut s = r.machine.markdown_header(&r.command);
        let _ = writeln!(
            s,
            "Device {}, {}, {} intra-op threads (planform and PyTorch). Model `{}` ({}): {} \
         trainable parameters, vocabulary {}.",
            r.device,
            r.precision,
            r.threads,
            r.model,
            r.family,
            num(r.parameters as f64),
            r.vocab
        );
        let _ = writeln!(
            s,
            "Data: {}; encoder {}–{}, decoder {}–{} tokens (bos/eos included). Batch {}; {} \
         warm-up + {} timed steps per run. PyTorch: {}.\n",
            r.data,
            r.enc_len.0,
            r.enc_len.1,
            r.dec_len.0,
            r.dec_len.1,
            r.batch,
            r.warmup,
            r.steps,
            r.pytorch
        );
        if let Some((random, bucketed)) = r.epoch_padding {
            let _ = writeln!(
                s,
                "Padding of one whole epoch at batch {}: random order (the reference) {}, \
             bucketed {}.\n",
                r.batch,
                pct(random),
                pct(bucketed)
            );
        }
        let _ = writeln!(
            s,
            "| run | steps | ms/step | real tokens/s | padded tokens/s | padding | last loss | \
         planform ÷ PyTorch |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
        let row = |s: &mut String, run: &StackRun, order: &str, vs: Option<&StackRun>| {
            let _ = writeln!(
                s,
                "| {}, {} | {} | {:.1} | {} | {} | {} | {} | {} |",
                run.stack,
                order,
                run.steps,
                run.step_ms(),
                num(run.real_per_s()),
                num(run.padded_per_s()),
                pct(run.padding()),
                run.loss.map_or_else(|| "–".into(), |l| format!("{l:.3}")),
                vs.map_or_else(
                    || "–".into(),
                    |p| factor(run.real_per_s(), Some(p.real_per_s()))
                ),
            );
        };
        for o in &r.orders {
            row(&mut s, &o.planform, &o.order, o.pytorch.as_ref());
            if let Some(p) = &o.pytorch {
                row(&mut s, p, &o.order, None);
            }
            if let Some(e) = &o.pytorch_error {
                let _ = writeln!(s, "| PyTorch, {}: failed: {} | | | | | | | |", o.order, e);
            }
        }
        let find = |label: &str| r.orders.iter().find(|o| o.order.starts_with(label));
        if let (Some(b), Some(rnd)) = (find("bucketed"), find("random")) {
            if let Some(p) = &rnd.pytorch {
                let _ = writeln!(
                s,
                "\nplanform, bucketed ÷ PyTorch eager, random order (the reference's batching): \
                 {} in real tokens/s.",
                factor(b.planform.real_per_s(), Some(p.real_per_s()))
            );
            }
        }
        if let Some(o) = r.orders.first() {
            if let Some(p) = o.pytorch.as_ref().filter(|p| p.parameters != r.parameters) {
                let _ = writeln!(
                    s,
                    "\nNote: parameter counts differ (planform {}, PyTorch {}).",
                    r.parameters, p.parameters
                );
            }
        }
        let best = r
            .orders
            .iter()
            .map(|o| o.planform.real_per_s())
            .fold(0.0, f64::max);
        match &r.anchor {
            Some(TrainAnchor::GpuReference {
                what,
                real_tokens_per_s,
                padding,
                goal_factor,
            }) => {
                let _ = writeln!(
                s,
                "\nAnchor ({what}): {} real tokens/s at {} padding; goal ≥ {goal_factor}× = {}. \
                 Best planform run here: {} = {} of the anchor.",
                num(*real_tokens_per_s),
                pct(*padding),
                num(goal_factor * real_tokens_per_s),
                num(best),
                factor(best, Some(*real_tokens_per_s))
            );
            }
            Some(TrainAnchor::Stacks { what, pytorch, tch }) => {
                let _ = writeln!(
                    s,
                    "\nAnchor ({what}): PyTorch eager {} tokens/s, tch {} tokens/s (tch ÷ PyTorch \
                 {}). Absolute rates depend on the machine and its load; compare ratios.",
                    num(*pytorch),
                    num(*tch),
                    factor(*tch, Some(*pytorch))
                );
            }
            None => {}
        }
        s
    }
}

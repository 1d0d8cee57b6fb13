//! Results of `planform bench train`, the recorded anchors they are set against, and the
//! markdown report.

use std::fmt::Write as _;

use planform_model::ModelSize;
use serde::Serialize;
use tch::Device;

use super::clock::Machine;
use super::common::{ModelShape, PrecisionArg};
use super::report::{factor, num};

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

/// What the sequences were, for anchor matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// Real task sequences (dataset or generated mazes).
    Real,
    /// Fixed synthetic lengths `(encoder, decoder)`.
    Fixed(usize, usize),
}

/// A figure recorded earlier (the project's `anchors.md`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Anchor {
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
    /// Two stacks on a 2-core CPU machine.
    CpuStacks {
        /// What was measured.
        what: String,
        /// PyTorch eager tokens per second.
        pytorch: f64,
        /// tch tokens per second.
        tch: f64,
    },
}

impl Anchor {
    /// The anchor recorded for this configuration, if any.
    pub fn find(
        model: ModelShape,
        source: &SourceKind,
        maze: Option<u32>,
        device: Device,
        precision: PrecisionArg,
        batch: usize,
    ) -> Option<Anchor> {
        let gpu = |what: &str, real: f64, padding: f64| {
            Some(Anchor::GpuReference {
                what: what.into(),
                real_tokens_per_s: real,
                padding,
                goal_factor: 1.5,
            })
        };
        match (model, source, device.is_cuda()) {
            (ModelShape::Named(size), SourceKind::Real, true) => {
                match (size, maze, batch, precision) {
                    (ModelSize::S, Some(10), 64, PrecisionArg::Fp32) => gpu(
                        "reference Searchformer, `s`, 10×10 maze lengths, batch 64, fp32, H200",
                        495_000.0,
                        0.37,
                    ),
                    (ModelSize::S, Some(10), 64, PrecisionArg::Bf16) => gpu(
                        "reference Searchformer, `s`, 10×10 maze lengths, batch 64, bf16 autocast, H200",
                        447_000.0,
                        0.41,
                    ),
                    (ModelSize::MS, Some(20), 16, PrecisionArg::Fp32) => gpu(
                        "reference Searchformer, `m-s`, 20×20 maze lengths, batch 16, fp32, H200",
                        128_000.0,
                        0.32,
                    ),
                    (ModelSize::MS, Some(20), 16, PrecisionArg::Bf16) => gpu(
                        "reference Searchformer, `m-s`, 20×20 maze lengths, batch 16, bf16 autocast, H200",
                        331_000.0,
                        0.33,
                    ),
                    _ => None,
                }
            }
            (ModelShape::Custom(s), SourceKind::Fixed(..), false)
                if (s.dim, s.layers, s.heads) == (192, 3, 3) && batch == 16 =>
            {
                Some(Anchor::CpuStacks {
                    what: "3.3M-parameter decoder-only transformer, batch 16 × 256 tokens, \
                           AdamW, 2-core CPU"
                        .into(),
                    pytorch: 9_500.0,
                    tch: 8_800.0,
                })
            }
            _ => None,
        }
    }
}

/// The whole report.
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
    /// The recorded anchor for this configuration.
    pub anchor: Option<Anchor>,
    /// Per batch order.
    pub orders: Vec<OrderResult>,
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// The markdown report.
pub fn markdown(r: &TrainReport) -> String {
    let mut s = r.machine.markdown_header(&r.command);
    let _ = writeln!(
        s,
        "Device {}, {}, {} intra-op threads (planform and PyTorch). Model `{}`: {} trainable \
         parameters, vocabulary {}.",
        r.device,
        r.precision,
        r.threads,
        r.model,
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
        Some(Anchor::GpuReference {
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
        Some(Anchor::CpuStacks { what, pytorch, tch }) => {
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

//! Results of `bench decode`, the recorded figure they are set against, and the markdown
//! report.

use std::fmt::Write as _;

use serde::Serialize;

use super::format::{factor, int, num};
use crate::machine::Machine;

/// One timed decoding run.
#[derive(Debug, Clone, Serialize)]
pub struct DecodeRun {
    /// Which stack and scheme.
    pub scheme: String,
    /// Prompts decoded.
    pub prompts: usize,
    /// Samples per prompt.
    pub samples: usize,
    /// Most rows decoded at once.
    pub rows: usize,
    /// Tokens chosen by the sampler (up to and including each row's first `eos`).
    pub generated_tokens: u64,
    /// Decoder steps (batched forward calls).
    pub steps: u64,
    /// Σ over steps of rows computed (finished rows included where the stack keeps them).
    pub row_steps: u64,
    /// Wall seconds, encoder included.
    pub seconds: f64,
}

impl DecodeRun {
    /// An empty run.
    pub fn new(scheme: &str, prompts: usize, samples: usize, rows: usize) -> Self {
        DecodeRun {
            scheme: scheme.into(),
            prompts,
            samples,
            rows,
            generated_tokens: 0,
            steps: 0,
            row_steps: 0,
            seconds: 0.0,
        }
    }

    /// Generated tokens per second.
    pub fn tokens_per_s(&self) -> f64 {
        self.generated_tokens as f64 / self.seconds.max(1e-12)
    }
}

/// The reference rollout figure a run is set against (`anchors.toml`).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RolloutFigure {
    /// Generated tokens per second of the reference rollout on one H200.
    pub tokens_per_s: f64,
    /// Decoding steps of that measurement.
    pub steps: usize,
    /// The goal: planform ≥ this multiple.
    pub goal_factor: f64,
}

/// The whole report of `bench decode`.
#[derive(Debug, Clone, Serialize)]
pub struct DecodeReport {
    /// The command line.
    pub command: String,
    /// Machine, date, load.
    pub machine: Machine,
    /// `cpu` / `cuda:0`.
    pub device: String,
    /// planform's step precision.
    pub precision: String,
    /// libtorch intra-op threads (also given to PyTorch).
    pub threads: usize,
    /// `encoder-decoder` or `decoder-only`.
    pub family: String,
    /// Model name, shape or `checkpoint`.
    pub model: String,
    /// Trainable parameters.
    pub parameters: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Where the weights came from.
    pub weights: String,
    /// Where the prompts came from.
    pub prompts: String,
    /// Prompt length range (bos/eos included).
    pub prompt_len: (usize, usize),
    /// Maximum decoder length.
    pub max_len: usize,
    /// `full` or `natural`.
    pub lengths: String,
    /// planform's decoding self-attention: `exact`, or the LSH setting with the share of
    /// offloaded keys it read.
    #[serde(default)]
    pub attention: String,
    /// The PyTorch interpreter, or why it did not run.
    pub pytorch: String,
    /// Why the PyTorch run failed, if it did.
    pub pytorch_error: Option<String>,
    /// The recorded figure for this configuration (CUDA runs of `s` and `m-s`).
    pub anchor: Option<RolloutFigure>,
    /// The runs: batched, one prompt at a time, PyTorch.
    pub runs: Vec<DecodeRun>,
}

impl DecodeReport {
    /// The markdown report.
    pub fn markdown(&self) -> String {
        let r = self;
        let mut s = r.machine.markdown_header(&r.command);
        let _ = writeln!(
            s,
            "Device {}, planform steps in {}, {} intra-op threads. Model `{}` ({}): {} trainable \
         parameters, vocabulary {}, weights {}.",
            r.device,
            r.precision,
            r.threads,
            r.model,
            r.family,
            num(r.parameters as f64),
            r.vocab,
            r.weights
        );
        let _ = writeln!(
            s,
            "Prompts: {}, {}–{} tokens. Multinomial sampling at temperature 1, max_len {}, \
         lengths `{}`, decoding attention {}. PyTorch: {}.\n",
            r.prompts, r.prompt_len.0, r.prompt_len.1, r.max_len, r.lengths, r.attention, r.pytorch
        );
        let _ = writeln!(
            s,
            "| run | prompts × samples | rows at once | generated tokens | steps | row-steps | \
         seconds | tokens/s | ÷ planform one-at-a-time | ÷ PyTorch rollout |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        let serial = r.runs.iter().find(|x| x.scheme.contains("one prompt"));
        let py = r.runs.iter().find(|x| x.scheme.starts_with("PyTorch"));
        for x in &r.runs {
            let vs = |o: Option<&DecodeRun>| match o {
                Some(o) if !std::ptr::eq(o, x) => factor(x.tokens_per_s(), Some(o.tokens_per_s())),
                _ => "–".into(),
            };
            let _ = writeln!(
                s,
                "| {} | {} × {} | {} | {} | {} | {} | {:.2} | {} | {} | {} |",
                x.scheme,
                x.prompts,
                x.samples,
                x.rows,
                int(x.generated_tokens),
                int(x.steps),
                int(x.row_steps),
                x.seconds,
                num(x.tokens_per_s()),
                vs(serial),
                vs(py),
            );
        }
        if let Some(e) = &r.pytorch_error {
            let _ = writeln!(s, "\nPyTorch rollout failed: {e}");
        }
        if let Some(RolloutFigure {
            tokens_per_s: anchor,
            steps,
            goal_factor,
        }) = r.anchor
        {
            let best = r
                .runs
                .iter()
                .filter(|x| x.scheme.starts_with("planform"))
                .map(DecodeRun::tokens_per_s)
                .fold(0.0, f64::max);
            let _ = writeln!(
            s,
            "\nAnchor (reference rollout on one H200, 64 samples of one prompt, {steps} steps): \
             {} generated tokens/s; goal ≥ {goal_factor}× = {}. Best planform run here: {} = {} \
             of the anchor.",
            num(anchor),
            num(goal_factor * anchor),
            num(best),
            factor(best, Some(anchor))
        );
        }
        s
    }
}

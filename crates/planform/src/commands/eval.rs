//! `planform eval`: sample k responses per task from a checkpoint and score them against
//! A* (solved, optimal, SWC, ILR, trace lengths, mode choices).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use planform_data::Split;
use planform_eval::{DeviceChoice, EvalConfig, MaxLen, Mode, Precision, Sampler};

use crate::progress;

/// Dataset split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitArg {
    /// Training split (e.g. for bootstrapping checks).
    Train,
    /// Test split (reference evaluation).
    Test,
}

/// Decoding mode (Dualformer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// No forced token: the model chooses `plan` (fast) or `create` (slow).
    Auto,
    /// Force `plan` after `bos`.
    Fast,
    /// Force `create` after `bos`.
    Slow,
}

/// Arguments of `planform eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Run directory (uses `checkpoints/latest`) or a `checkpoints/step-N` directory.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Dataset directory (must have the checkpoint's vocabulary).
    #[arg(long)]
    pub data: PathBuf,
    /// Split to evaluate on.
    #[arg(long, value_enum, default_value = "test")]
    pub split: SplitArg,
    /// Number of tasks: the first N of the split in hashed-id order, as `view` and training's
    /// subsets take them (spread over all wall layouts; reference: 100 maze, 200 Sokoban).
    #[arg(long, default_value_t = 100)]
    pub tasks: usize,
    /// Responses sampled per task, k (at most 4096). The default 4 suits a quick look on a
    /// CPU; the papers report k = 64 (`-k 64`).
    #[arg(long, short = 'k', default_value_t = 4)]
    pub samples: usize,
    /// Decoding mode.
    #[arg(long, value_enum, default_value = "auto")]
    pub mode: ModeArg,
    /// Greedy decoding (argmax) instead of sampling.
    #[arg(long, conflicts_with = "temperature")]
    pub greedy: bool,
    /// Sampling temperature (reference: 1).
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Maximum decoder length incl. bos/eos (default: 1.5 × the split's longest target,
    /// capped at the reference 10,000 maze / 11,000 Sokoban).
    #[arg(long)]
    pub max_len: Option<usize>,
    /// Sequences decoded at once (bounds GPU memory).
    #[arg(long, default_value_t = 256)]
    pub batch_rows: usize,
    /// Sampler seed (also seeds t* when the dataset has none).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Device: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// Decode in bf16 autocast on CUDA (default fp32, as the reference).
    #[arg(long)]
    pub bf16: bool,
    /// Nondeterministic A* runs per task for t* when the dataset lacks it (reference: 64).
    #[arg(long, default_value_t = 64)]
    pub tstar_runs: usize,
    /// Also write every response's tokens to responses.jsonl (large).
    #[arg(long)]
    pub save_responses: bool,
    /// Simulated quantization of a decoder-only model (SpinQuant): `fp`, or
    /// w<bits>[a<bits>][kv<bits>] such as w8a8, w4a8, w4a4kv4 (16 = full precision).
    /// Weights symmetric per row (not the head), activations per token, keys/values per head.
    /// A checkpoint written by `planform quantize` runs quantized without this flag.
    #[arg(long, value_parser = super::quantize::parse_bits)]
    pub quant: Option<planform_quant::Bits>,
    #[command(flatten)]
    pub quant_flags: super::quantize::QuantFlags,
    /// Decoding attention: `lsh:K,L[,SINK,LOCAL[,DENSE_BLOCKS]]` samples each cached step's
    /// keys by MagicPIG's LSH rule (sink 4 and local 64 exact by default; MagicPIG: K = 10,
    /// L = 150) instead of attending to all of them. Each sequence's keys are hashed once
    /// into bucket tables on the CPU; faster than exact attention only on long contexts
    /// (about 4k keys and up).
    #[arg(long, value_parser = parse_attention)]
    pub attention: Option<planform_quant::lsh_attention::LshAttention>,
    #[command(flatten)]
    pub int8: Int8Flag,
    /// Also measure the teacher-forced loss on this many held-out (test) sequences, built
    /// with the trace variant the model was trained on (recorded in summary.json).
    #[arg(long)]
    pub heldout_loss: Option<usize>,
    /// Output directory for summary.md, summary.json and tasks.jsonl: new, empty, or an
    /// earlier evaluation's (anything else is refused). Locked while the command runs.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
}

impl EvalArgs {
    /// Resolves the raw arguments into a validated evaluation config.
    pub fn resolve(&self) -> Result<EvalConfig> {
        let mut c = EvalConfig::new(&self.checkpoint, &self.data);
        c.split = match self.split {
            SplitArg::Train => Split::Train,
            SplitArg::Test => Split::Test,
        };
        c.tasks = self.tasks;
        c.samples = self.samples;
        c.mode = match self.mode {
            ModeArg::Auto => Mode::Auto,
            ModeArg::Fast => Mode::Fast,
            ModeArg::Slow => Mode::Slow,
        };
        c.sampler = if self.greedy {
            Sampler::Greedy
        } else {
            Sampler::Multinomial {
                temperature: self.temperature.unwrap_or(1.0),
            }
        };
        c.max_len = self.max_len.map_or(MaxLen::Auto, MaxLen::Fixed);
        c.batch_rows = self.batch_rows;
        c.seed = self.seed;
        c.device = self.device;
        c.precision = if self.bf16 {
            Precision::Bf16Autocast
        } else {
            Precision::Fp32
        };
        c.tstar_runs = self.tstar_runs;
        c.save_responses = self.save_responses;
        c.quant = self.quant.map(|bits| self.quant_flags.spec(bits));
        c.heldout_loss = self.heldout_loss;
        c.attention = self.attention;
        c.int8_matmul = self.int8.int8_matmul;
        c.validate().context("invalid eval settings")?;
        Ok(c)
    }
}

/// `--int8-matmul` (shared by `eval`, `predict` and `bench decode`).
#[derive(Debug, Clone, Copy, Args)]
pub struct Int8Flag {
    /// Multiply a stored 8-bit checkpoint (`planform quantize --quant w8a8…`) as integers on
    /// the CPU: each token's activations quantized as the checkpoint records, `torch._int_mm`
    /// with the weight codes, int32 accumulation. The same model as without the flag to f32
    /// rounding, faster on wide layers. Refused for other checkpoints.
    #[arg(long)]
    pub int8_matmul: bool,
}

pub(crate) fn parse_attention(
    s: &str,
) -> std::result::Result<planform_quant::lsh_attention::LshAttention, String> {
    s.parse()
        .map_err(|e: planform_quant::QuantError| e.to_string())
}

/// Runs `planform eval`.
pub fn run(args: EvalArgs) -> Result<()> {
    let config = args.resolve()?;
    planform_eval::run::check_limits(config.samples, 1).context("invalid eval settings")?;
    let _lock = planform_eval::run::prepare_out_dir(&args.out)?;
    let mut reporter = progress::Reporter::new("eval", config.tasks as u64, "task");
    let eval = planform_eval::evaluate(&config, &mut |p| {
        progress::eval_update(&mut reporter, p);
    })
    .with_context(|| {
        format!(
            "evaluating checkpoint {} on dataset {}",
            args.checkpoint.display(),
            args.data.display()
        )
    })?;
    reporter.finish("done");
    eval.write(&args.out)
        .with_context(|| format!("writing evaluation to {}", args.out.display()))?;
    println!("{}", eval.report.to_markdown());
    let extra = if config.save_responses {
        ", responses.jsonl"
    } else {
        ""
    };
    eprintln!(
        "wrote {} (summary.md, summary.json, tasks.jsonl{extra})",
        args.out.display()
    );
    Ok(())
}

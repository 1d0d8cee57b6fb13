//! `planform quantize`: a decoder-only checkpoint rotated and quantized for real (integer
//! weight codes on disk and in memory), and the quantization flags `planform eval` shares.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use planform_quant::{Bits, QuantSpec, RotationSpec};

/// How to quantize, besides the bit widths (shared by `quantize` and `eval --quant`).
#[derive(Debug, Args)]
pub struct QuantFlags {
    /// Rotations merged before quantizing: none, hadamard (random-sign Hadamard R1/R2) or
    /// random (Haar-random R1/R2); `+online` adds the Hadamards R3 (q, k) and R4 (down
    /// projection input). Needs --quant.
    #[arg(long, value_parser = parse_rotation, requires = "quant")]
    pub rotation: Option<RotationSpec>,
    /// Seed of the random rotations.
    #[arg(long, default_value_t = 0, requires = "quant")]
    pub rotation_seed: u64,
    /// Weight groups: this many consecutive inputs of a row share a scale (default: one
    /// scale per output row, as SpinQuant). Must divide the model and FFN widths.
    #[arg(long, requires = "quant")]
    pub weight_group: Option<usize>,
    /// Asymmetric weights (a zero point per row or group; default symmetric).
    #[arg(long, requires = "quant")]
    pub weight_asym: bool,
}

impl QuantFlags {
    /// The whole setting with bit widths `bits`.
    pub fn spec(&self, bits: Bits) -> QuantSpec {
        QuantSpec {
            bits,
            rotation: self.rotation.unwrap_or_default(),
            seed: self.rotation_seed,
            weight_group: self.weight_group,
            weight_asymmetric: self.weight_asym,
        }
    }
}

/// Parses `--quant`.
pub fn parse_bits(s: &str) -> std::result::Result<Bits, String> {
    s.parse()
        .map_err(|e: planform_quant::QuantError| e.to_string())
}

fn parse_rotation(s: &str) -> std::result::Result<RotationSpec, String> {
    s.parse()
        .map_err(|e: planform_quant::QuantError| e.to_string())
}

/// Arguments of `planform quantize`.
#[derive(Debug, Args)]
pub struct QuantizeArgs {
    /// A decoder-only run directory (its latest checkpoint), `checkpoints/` or one
    /// checkpoint directory, in full precision.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Bit widths: w<bits>[a<bits>][kv<bits>] such as w8a8, w4a8, w4a4kv4 (16 = full
    /// precision). Weights are stored as integer codes (4 bits and less: two per byte);
    /// activation and KV widths are recorded and simulated when the checkpoint runs.
    #[arg(long, value_parser = parse_bits)]
    pub quant: Bits,
    #[command(flatten)]
    pub flags: QuantFlags,
    /// Output checkpoint directory (`planform eval/predict --checkpoint` read it).
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Replace the output directory if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// Dataset to learn rotations on (`--rotation learned[+online]`): its training split
    /// feeds Cayley SGD, its test split the held-out loss.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Cayley SGD steps (SpinQuant: 100).
    #[arg(long, default_value_t = 100)]
    pub learn_steps: usize,
    /// Peak learning rate, cosine-decayed to 0 (SpinQuant: 1.5).
    #[arg(long, default_value_t = 1.5)]
    pub learn_lr: f64,
    /// Sequences per step.
    #[arg(long, default_value_t = 8)]
    pub learn_batch: usize,
    /// Training examples used (the first of the hashed subset; SpinQuant: 800).
    #[arg(long, default_value_t = 800)]
    pub learn_examples: usize,
    /// Held-out (test) examples the losses are measured on.
    #[arg(long, default_value_t = 200)]
    pub heldout_examples: usize,
}

/// Runs `planform quantize`.
pub fn run(args: QuantizeArgs) -> Result<()> {
    let spec = args.flags.spec(args.quant);
    let learned = spec.rotation.kind == planform_quant::Rotation::Learned;
    let r = match (&args.data, learned) {
        (None, false) => planform_quant::store::quantize_checkpoint(
            &args.checkpoint,
            &spec,
            &args.out,
            args.overwrite,
        )
        .with_context(|| format!("quantizing {}", args.checkpoint.display()))?,
        (Some(_), false) => bail!("--data is for learned rotations (--rotation learned[+online])"),
        (None, true) => bail!("learned rotations are trained on data: pass --data DATASET"),
        (Some(data), true) => learn_and_write(&args, &spec, data)?,
    };
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "wrote {} ({spec}): model.safetensors {:.2} MiB, source {:.2} MiB ({:.1}%); {} weights \
         as integer codes, {} in full precision (embeddings, norms, output projections)",
        r.dir.display(),
        mib(r.bytes),
        mib(r.source_bytes),
        100.0 * r.bytes as f64 / r.source_bytes.max(1) as f64,
        r.quantized_params,
        r.float_params
    );
    if spec.int8_matmul_activations().is_ok() {
        println!(
            "its linears can multiply as integers on the CPU: `planform eval/predict \
             --checkpoint {} --int8-matmul`",
            r.dir.display()
        );
    }
    Ok(())
}

/// Learns the rotations on `data` (Cayley SGD through the quantized model), then writes
/// the checkpoint.
fn learn_and_write(
    args: &QuantizeArgs,
    spec: &planform_quant::QuantSpec,
    data: &std::path::Path,
) -> Result<planform_quant::store::QuantizeReport> {
    use planform_train::data::{sequences_as_trained, TrainData};
    if args.out.exists() && !args.overwrite {
        bail!(
            "{} exists; pass --overwrite to replace it",
            args.out.display()
        );
    }
    let loaded = planform_model::load_model(&args.checkpoint, tch::Device::Cpu)
        .with_context(|| format!("loading checkpoint {}", args.checkpoint.display()))?;
    let cfg = planform_train::DataConfig {
        train_examples: Some(args.learn_examples),
        eval_examples: args.heldout_examples,
        ..Default::default()
    };
    let td = TrainData::load(data, &cfg).with_context(|| format!("loading {}", data.display()))?;
    if let Some(d) = loaded.vocab.difference(&td.vocab) {
        bail!(
            "{} does not match the checkpoint's vocabulary: {d}",
            data.display()
        );
    }
    let prep = |rows: &[planform_train::TokenExample]| {
        sequences_as_trained(&loaded.train_config, rows, &td.vocab)
    };
    let (train, heldout) = (prep(&td.train)?, prep(&td.test)?);
    let learn = planform_quant::learn::LearnConfig {
        steps: args.learn_steps,
        lr: args.learn_lr,
        batch: args.learn_batch,
    };
    eprintln!(
        "learning rotations: {} steps × {} sequences, lr {} (cosine), {} training and {} \
         held-out sequences",
        learn.steps,
        learn.batch,
        learn.lr,
        train.len(),
        heldout.len()
    );
    let every = (learn.steps / 10).max(1);
    let (rot, report) = planform_quant::learn::learn_rotations(
        &loaded.model,
        spec,
        &train,
        &heldout,
        &learn,
        &mut |step, loss| {
            if step % every == 0 || step == learn.steps {
                eprintln!("[learn] step {step}/{} loss {loss:.4}", learn.steps);
            }
        },
    )?;
    eprintln!(
        "held-out loss: full precision {:.4}, quantized with the starting Hadamards {:.4}, \
         with the learned rotations {:.4} (max ‖RᵀR − I‖ {:.1e} before the final QR \
         retraction, {:.1e} after)",
        report.heldout_fp,
        report.heldout_start,
        report.heldout_learned,
        report.drift,
        report.orthogonality_error
    );
    Ok(planform_quant::store::write_quantized(
        &loaded,
        spec,
        &rot,
        Some(report),
        &args.out,
        args.overwrite,
    )?)
}

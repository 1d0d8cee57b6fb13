//! `planform export`: a decoder-only checkpoint as a Hugging Face Llama folder
//! (`transformers.LlamaForCausalLM.from_pretrained` loads it and gives the same logits).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use planform_model::hf::{export_hf, ExportInfo};
use planform_model::{load_model, DeviceChoice, Model};
use planform_trace::vocab::{BOS, EOS};

/// Arguments of `planform export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A run directory (its latest checkpoint), `checkpoints/` or one checkpoint directory.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Output folder (created; existing files of the export are replaced).
    #[arg(long, short = 'o')]
    pub out: PathBuf,
}

/// Runs `planform export`.
pub fn run(args: ExportArgs) -> Result<()> {
    let device = DeviceChoice::Cpu.resolve()?;
    let loaded = load_model(&args.checkpoint, device)
        .with_context(|| format!("loading checkpoint {}", args.checkpoint.display()))?;
    let Model::DecoderOnly(model) = &loaded.model else {
        bail!(
            "{} holds an encoder–decoder; only decoder-only models have a Hugging Face Llama \
             equivalent (train with `--model decoder-only:tiny` or `model = {{ decoder-only = … }}`)",
            loaded.dir.display()
        );
    };
    let info = ExportInfo {
        tokens: &loaded.vocab.tokens,
        bos: i64::from(BOS),
        eos: i64::from(EOS),
        source: loaded.dir.display().to_string(),
        step: loaded.step,
    };
    export_hf(model, &info, &args.out)
        .with_context(|| format!("writing the export to {}", args.out.display()))?;
    println!(
        "wrote {} (LlamaForCausalLM, {} layers, step {}); load it with \
         transformers.LlamaForCausalLM.from_pretrained({:?}, use_kernels=False)",
        args.out.display(),
        model.depth(),
        loaded.step,
        args.out.display().to_string()
    );
    Ok(())
}

//! `planform plot`: loss and accuracy curves from training/eval metrics JSONL to SVG or PNG.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use planform_viz::{plot_metrics, PlotFormat, PlotOptions};

/// Arguments of `planform plot`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Metrics files (`metrics.jsonl` of a training run), or run directories holding one.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output image; the format follows the extension (`.svg` or `.png`).
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Linear instead of logarithmic loss axis.
    #[arg(long)]
    pub linear: bool,
    /// Title above the panels.
    #[arg(long)]
    pub title: Option<String>,
}

/// Runs `planform plot`.
pub fn run(args: PlotArgs) -> Result<()> {
    let format = match args.out.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("svg") => PlotFormat::Svg,
        Some(e) if e.eq_ignore_ascii_case("png") => PlotFormat::Png,
        _ => bail!("--out {}: use a .svg or .png file name", args.out.display()),
    };
    let inputs: Vec<PathBuf> = args
        .inputs
        .iter()
        .map(|p| {
            if p.is_dir() {
                p.join("metrics.jsonl")
            } else {
                p.clone()
            }
        })
        .collect();
    let opts = PlotOptions {
        log_loss: !args.linear,
        title: args.title.clone(),
        ..PlotOptions::default()
    };
    plot_metrics(&inputs, &args.out, format, &opts)
        .with_context(|| format!("plotting to {}", args.out.display()))?;
    println!("wrote {}", args.out.display());
    Ok(())
}

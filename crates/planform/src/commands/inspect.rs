//! `planform inspect`: counts, length statistics and histograms of a dataset.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use planform_data::Dataset;

/// Arguments of `planform inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Dataset directory (made by `planform gen`).
    pub dataset: PathBuf,
    /// Histogram bins per length column.
    #[arg(long, default_value_t = 12)]
    pub bins: usize,
}

/// Runs `planform inspect`.
pub fn run(args: InspectArgs) -> Result<()> {
    anyhow::ensure!(args.bins > 0, "--bins must be at least 1");
    let ds = Dataset::open(&args.dataset)
        .with_context(|| format!("opening dataset {}", args.dataset.display()))?;
    let inspection = ds
        .inspect(args.bins)
        .with_context(|| format!("reading dataset {}", args.dataset.display()))?;
    print!("{inspection}");
    Ok(())
}

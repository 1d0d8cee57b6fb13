//! `planform report`: planform's numbers beside the papers', one verdict per claim,
//! computed from the runs a report config names.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use planform_recipe::{build_report, ReportConfig};

/// Arguments of `planform report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Runs directory (as given to `planform recipe run --runs-dir`).
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Report config naming which runs form which claim.
    #[arg(long, short = 'c', default_value = "configs/report-cpu.toml")]
    pub config: PathBuf,
    /// Output directory (README.md and SVG figures). Default `<runs>/report`; the committed
    /// report is regenerated only when asked: `-o docs/report`.
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
}

/// Runs `planform report`.
pub fn run(args: ReportArgs) -> Result<()> {
    let config = ReportConfig::from_file(&args.config)
        .with_context(|| format!("loading report config {}", args.config.display()))?;
    let out_dir = args.out.clone().unwrap_or_else(|| args.runs.join("report"));
    let out = build_report(
        &config,
        &args.runs,
        &out_dir,
        &super::recipe::command_line(),
    )
    .with_context(|| format!("writing the report to {}", out_dir.display()))?;
    for c in &out.claims {
        println!("{}: {}", c.label, c.verdict_line);
    }
    eprintln!(
        "wrote {} and {} figure(s)",
        out.readme.display(),
        out.figures.len()
    );
    Ok(())
}

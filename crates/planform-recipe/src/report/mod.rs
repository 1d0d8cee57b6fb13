//! `planform report`: planform's numbers beside the papers', one section per claim.
//!
//! A [`ReportConfig`] (TOML, e.g. `configs/report-cpu.toml`) names which runs (recipe run
//! names under the runs directory) form which claim:
//!
//! ```toml
//! title = "planform at CPU scale"
//!
//! [[claim]]
//! kind = "search-vs-solution-only"   # (a) search-augmented beats solution-only
//! label = "5×5 mazes, tiny model"
//! solution_only = ["maze5-solution-only", "maze5-solution-only-seed1"]   # seeds
//! search_augmented = ["maze5-search-augmented-nondet", "…-seed1"]
//! eval = "test"                      # which [[eval]] of those recipes
//!
//! [[claim]]
//! kind = "bootstrap"                 # (b) bootstrapping shortens traces
//! label = "…"
//! recipe = "maze5-searchformer"
//!
//! [[claim]]
//! kind = "dualformer"                # (c) fast / slow / auto
//! label = "…"
//! dualformer = "maze5-dualformer"
//! solution_only = "maze5-solution-only"
//! search_augmented = "maze5-search-augmented-nondet"
//! ```
//!
//! [`build_report`] reads each run's `recipe.toml`, `eval-*/summary.json`,
//! `invocations.jsonl`, `train/metrics.jsonl` and `bootstrap/bootstrap.jsonl`, computes
//! every verdict from those numbers ([`claims`]), and writes `README.md` plus SVG figures.
//! Runs that are missing are reported as missing.

pub mod claims;
mod claims_a;
mod claims_bc;
mod claims_sweep;
mod figures;
mod markdown;
mod runs;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{RecipeError, Result};
pub use claims::{ClaimResult, Verdict};
pub use runs::{BootstrapIteration, RunData};

/// Which runs form which claim.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// Report title.
    pub title: String,
    /// Paragraphs printed under the title (markdown). Default: none.
    #[serde(default)]
    pub intro: Option<String>,
    /// The claims, in order.
    #[serde(rename = "claim")]
    pub claims: Vec<Claim>,
}

fn default_eval() -> String {
    "test".into()
}
fn default_fast() -> String {
    "fast".into()
}
fn default_slow() -> String {
    "slow".into()
}
fn default_auto() -> String {
    "auto".into()
}

/// One claim of the papers, with the runs that test it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Claim {
    /// (a) Search-augmented training beats solution-only training at equal data and model
    /// size (Searchformer §6.1 Table 1 for Sokoban; maze figures, qualitative).
    SearchVsSolutionOnly {
        /// Section heading.
        label: String,
        /// Solution-only runs (one per seed).
        solution_only: Vec<String>,
        /// Search-augmented runs (one per seed).
        search_augmented: Vec<String>,
        /// The eval compared. Default `test`.
        #[serde(default = "default_eval")]
        eval: String,
    },
    /// (b) Bootstrapping shortens traces while holding the optimal rate (Searchformer §5).
    Bootstrap {
        /// Section heading.
        label: String,
        /// The recipe run with a `[bootstrap]` section.
        recipe: String,
    },
    /// (c) Dualformer: fast beats solution-only, slow matches or beats search-augmented
    /// with shorter traces, auto chooses between them.
    Dualformer {
        /// Section heading.
        label: String,
        /// The Dualformer run (with fast, slow and auto evals).
        dualformer: String,
        /// The solution-only baseline run.
        solution_only: String,
        /// The search-augmented baseline run.
        search_augmented: String,
        /// Eval of the baselines. Default `test`.
        #[serde(default = "default_eval")]
        baseline_eval: String,
        /// Dualformer's fast-mode eval. Default `fast`.
        #[serde(default = "default_fast")]
        fast_eval: String,
        /// Slow-mode eval. Default `slow`.
        #[serde(default = "default_slow")]
        slow_eval: String,
        /// Auto-mode eval. Default `auto`.
        #[serde(default = "default_auto")]
        auto_eval: String,
    },
    /// A study run with `planform sweep`: its stated comparisons and their verdicts (from
    /// `<runs>/<sweep>/summary.json`) and its figures.
    Sweep {
        /// Section heading.
        label: String,
        /// What the papers claim, in words.
        claim: String,
        /// The sweep's name (its directory under the runs directory).
        sweep: String,
    },
    /// A scripted study's table (e.g. `scripts/quant-table.sh`): its verdicts from
    /// `<runs>/<table>/table.json` (`{"verdicts": [{"claim", "verdict", "measured"}]}`,
    /// computed by the script from its runs' files), with `table.md` beside it.
    Table {
        /// Section heading.
        label: String,
        /// What the papers claim, in words.
        claim: String,
        /// The table's directory under the runs directory.
        table: String,
        /// The command that produces it.
        command: String,
    },
}

impl Claim {
    /// Section heading.
    pub fn label(&self) -> &str {
        match self {
            Claim::SearchVsSolutionOnly { label, .. }
            | Claim::Bootstrap { label, .. }
            | Claim::Dualformer { label, .. }
            | Claim::Sweep { label, .. }
            | Claim::Table { label, .. } => label,
        }
    }

    /// Every run name the claim reads.
    pub fn runs(&self) -> Vec<String> {
        match self {
            Claim::SearchVsSolutionOnly {
                solution_only,
                search_augmented,
                ..
            } => solution_only
                .iter()
                .chain(search_augmented)
                .cloned()
                .collect(),
            Claim::Bootstrap { recipe, .. } => vec![recipe.clone()],
            Claim::Dualformer {
                dualformer,
                solution_only,
                search_augmented,
                ..
            } => vec![
                dualformer.clone(),
                solution_only.clone(),
                search_augmented.clone(),
            ],
            Claim::Sweep { sweep, .. } => vec![sweep.clone()],
            Claim::Table { table, .. } => vec![table.clone()],
        }
    }
}

impl ReportConfig {
    /// Parses and validates TOML text.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self> {
        let c: ReportConfig = toml::from_str(text).map_err(|e| RecipeError::Parse {
            origin: origin.into(),
            message: e.to_string(),
        })?;
        if c.claims.is_empty() {
            return Err(RecipeError::invalid(
                "claim",
                "at least one [[claim]] is required",
            ));
        }
        for (i, claim) in c.claims.iter().enumerate() {
            if claim.runs().iter().any(|r| r.is_empty()) {
                return Err(RecipeError::invalid(
                    format!("claim[{i}]"),
                    "run names must not be empty",
                ));
            }
            if let Claim::SearchVsSolutionOnly {
                solution_only,
                search_augmented,
                ..
            } = claim
            {
                if solution_only.is_empty() || search_augmented.is_empty() {
                    return Err(RecipeError::invalid(
                        format!("claim[{i}]"),
                        "needs at least one solution_only and one search_augmented run",
                    ));
                }
            }
        }
        Ok(c)
    }

    /// Reads a report config file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(RecipeError::io(path))?;
        Self::from_toml_str(&text, &path.display().to_string())
    }
}

/// What [`build_report`] wrote.
#[derive(Clone, Debug)]
pub struct ReportOutput {
    /// `README.md`.
    pub readme: PathBuf,
    /// Figures written (SVG).
    pub figures: Vec<PathBuf>,
    /// Each claim's result.
    pub claims: Vec<ClaimResult>,
}

/// Reads the runs under `runs_dir` named by `config`, computes the claims and writes
/// `out_dir/README.md` and figures. `command` is the report command line (printed in the
/// report).
pub fn build_report(
    config: &ReportConfig,
    runs_dir: &Path,
    out_dir: &Path,
    command: &str,
) -> Result<ReportOutput> {
    std::fs::create_dir_all(out_dir).map_err(RecipeError::io(out_dir))?;
    let all = runs::load_all(runs_dir)?;
    let mut results = Vec::new();
    let mut per_claim = Vec::new();
    for (i, claim) in config.claims.iter().enumerate() {
        let id = format!("claim-{}", i + 1);
        let result = claims::evaluate(claim, &all, runs_dir);
        let figs = match claim {
            Claim::Sweep { sweep, .. } => {
                figures::copy_sweep_figures(&id, &runs_dir.join(sweep), out_dir)?
            }
            Claim::Table { .. } => Vec::new(),
            _ => figures::claim_figures(&id, claim, &result, &all, out_dir)?,
        };
        per_claim.push(figs);
        results.push(result);
    }
    let text = markdown::render(config, &results, &per_claim, &all, runs_dir, command);
    let figures = per_claim.into_iter().flatten().collect();
    let readme = out_dir.join("README.md");
    crate::runner::write_atomic(&readme, text.as_bytes())?;
    Ok(ReportOutput {
        readme,
        figures,
        claims: results,
    })
}

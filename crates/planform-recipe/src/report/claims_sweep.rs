//! A study (a `planform sweep`) as one section of the report: its claims and verdicts, read
//! from `<runs>/<sweep>/summary.json` (written by the sweep from its points' files), and its
//! figures.

use std::path::Path;

use super::claims::{ClaimResult, Row, Verdict};
use crate::runner::read_json;
use crate::sweep::{SweepSummary, Verdict as SweepVerdict};

/// The section of sweep `name` under `runs_dir`.
pub fn sweep_section(label: &str, claim: &str, name: &str, runs_dir: &Path) -> ClaimResult {
    let path = runs_dir.join(name).join(crate::sweep::SUMMARY_JSON);
    let mut result = ClaimResult {
        label: label.to_string(),
        claim: claim.to_string(),
        verdict: Verdict::Missing,
        verdict_line: String::new(),
        rows: Vec::new(),
        notes: Vec::new(),
        missing: Vec::new(),
        runs: Vec::new(),
        figures: Vec::new(),
    };
    let summary: SweepSummary = match read_json(&path) {
        Ok(s) => s,
        Err(e) => {
            result
                .missing
                .push(format!("sweep {name} ({e}); run `planform sweep` for it"));
            result.verdict_line = Verdict::Missing.words().to_string();
            return result;
        }
    };
    let count = |v: SweepVerdict| summary.claims.iter().filter(|c| c.verdict == v).count();
    let (yes, no, inc, miss) = (
        count(SweepVerdict::Yes),
        count(SweepVerdict::No),
        count(SweepVerdict::Inconclusive),
        count(SweepVerdict::Missing),
    );
    result.verdict = if miss == summary.claims.len() {
        Verdict::Missing
    } else if yes > 0 && no == 0 && inc == 0 && miss == 0 {
        Verdict::Yes
    } else if yes == 0 && inc == 0 && no > 0 {
        Verdict::No
    } else {
        Verdict::Partially
    };
    result.verdict_line = format!(
        "{yes} of {} stated comparisons hold beyond two standard errors, {no} are contradicted, \
         {inc} are within noise, {miss} not run ({} of {} points done)",
        summary.claims.len(),
        summary.points_done,
        summary.points_planned
    );
    for c in &summary.claims {
        let value = match c.advantage {
            Some((adv, se)) if c.claim.metric.ends_with("loss") => {
                format!("advantage {adv:+.4} ± {se:.4}")
            }
            Some((adv, se)) => format!("advantage {:+.1} ± {:.1} points", 100.0 * adv, 100.0 * se),
            None => "–".into(),
        };
        result.rows.push(Row {
            what: c.claim.name.clone(),
            planform: format!("{}: {value}", c.verdict.word()),
            paper: "claimed".into(),
        });
    }
    result.notes.push(format!(
        "Per-group means, standard errors and per-seed values: `{}` (and `summary.md` beside it).",
        path.display()
    ));
    result
}

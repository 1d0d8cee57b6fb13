//! A study as one section of the report: a `planform sweep` (its claims and verdicts, read
//! from `<runs>/<sweep>/summary.json`, written by the sweep from its points' files, and its
//! figures) or a scripted table (`<runs>/<table>/table.json`).

use std::path::Path;

use super::claims::{ClaimResult, Row, Verdict};
use crate::runner::read_json;
use crate::sweep::{SweepSummary, Verdict as SweepVerdict};

fn empty(label: &str, claim: &str) -> ClaimResult {
    ClaimResult {
        label: label.to_string(),
        claim: claim.to_string(),
        verdict: Verdict::Missing,
        verdict_line: String::new(),
        rows: Vec::new(),
        notes: Vec::new(),
        missing: Vec::new(),
        runs: Vec::new(),
        figures: Vec::new(),
    }
}

/// The overall verdict from the counts of yes / no / inconclusive / missing comparisons.
fn overall(yes: usize, no: usize, inc: usize, miss: usize) -> Verdict {
    if yes + no + inc == 0 {
        Verdict::Missing
    } else if yes > 0 && no == 0 && inc == 0 && miss == 0 {
        Verdict::Yes
    } else if yes == 0 && inc == 0 && no > 0 {
        Verdict::No
    } else {
        Verdict::Partially
    }
}

/// One verdict of a scripted table.
#[derive(serde::Deserialize)]
struct TableVerdict {
    claim: String,
    verdict: String,
    measured: String,
}

/// The verdicts file of a scripted table.
#[derive(serde::Deserialize)]
struct TableFile {
    verdicts: Vec<TableVerdict>,
}

/// The section of the scripted table in `<runs_dir>/<name>/table.json`.
pub fn table_section(
    label: &str,
    claim: &str,
    name: &str,
    command: &str,
    runs_dir: &Path,
) -> ClaimResult {
    let dir = runs_dir.join(name);
    let path = dir.join("table.json");
    let file: TableFile = match read_json(&path) {
        Ok(s) => s,
        Err(e) => return missing(label, claim, format!("table {name} ({e}); run `{command}`")),
    };
    let mut result = empty(label, claim);
    let count = |w: &str| file.verdicts.iter().filter(|v| v.verdict == w).count();
    let (yes, no, inc) = (count("yes"), count("no"), count("inconclusive"));
    let other = file.verdicts.len() - yes - no - inc;
    result.verdict = overall(yes, no, inc, 0);
    result.verdict_line = format!(
        "{yes} of {} stated comparisons hold beyond two standard errors, {no} are contradicted, \
         {inc} are within noise, {other} not applicable or not measured",
        file.verdicts.len()
    );
    for v in &file.verdicts {
        result.rows.push(Row {
            what: v.claim.clone(),
            planform: format!("{}: {}", v.verdict, v.measured),
            paper: "claimed".into(),
        });
    }
    result.notes.push(format!(
        "Produced by `{command}`; the whole table (every setting, per-model values) is `{}`.",
        dir.join("table.md").display()
    ));
    result
}

/// A section whose runs are missing, saying why.
fn missing(label: &str, claim: &str, why: String) -> ClaimResult {
    let mut result = empty(label, claim);
    result.missing.push(why);
    result.verdict_line = Verdict::Missing.words().to_string();
    result
}

/// The section of sweep `name` under `runs_dir`.
pub fn sweep_section(label: &str, claim: &str, name: &str, runs_dir: &Path) -> ClaimResult {
    let path = runs_dir.join(name).join(crate::sweep::SUMMARY_JSON);
    let summary: SweepSummary = match read_json(&path) {
        Ok(s) => s,
        Err(e) => {
            let why = format!("sweep {name} ({e}); run `planform sweep` for it");
            return missing(label, claim, why);
        }
    };
    let mut result = empty(label, claim);
    let count = |v: SweepVerdict| summary.claims.iter().filter(|c| c.verdict == v).count();
    let (yes, no, inc, miss) = (
        count(SweepVerdict::Yes),
        count(SweepVerdict::No),
        count(SweepVerdict::Inconclusive),
        count(SweepVerdict::Missing),
    );
    result.verdict = overall(yes, no, inc, miss);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A table's verdicts become rows and one overall verdict; a missing table names the
    /// command that makes it.
    #[test]
    fn table_sections_read_the_scripts_verdicts() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("t");
        std::fs::create_dir_all(&dir).unwrap();
        let missing = table_section("L", "C", "t", "scripts/x.sh", tmp.path());
        assert_eq!(missing.verdict, Verdict::Missing);
        assert!(
            missing.missing[0].contains("scripts/x.sh"),
            "{:?}",
            missing.missing
        );
        let json = r#"{"verdicts": [
            {"claim": "a", "verdict": "yes", "measured": "+1.5 ± 0.4"},
            {"claim": "b", "verdict": "no", "measured": "12 ± 18%"},
            {"claim": "c", "verdict": "n/a", "measured": "no gap"}]}"#;
        std::fs::write(dir.join("table.json"), json).unwrap();
        let r = table_section("L", "C", "t", "scripts/x.sh", tmp.path());
        assert_eq!(r.verdict, Verdict::Partially);
        assert_eq!(r.rows.len(), 3);
        assert_eq!(r.rows[0].planform, "yes: +1.5 ± 0.4");
        assert!(r.verdict_line.starts_with("1 of 3"), "{}", r.verdict_line);
        assert!(
            r.verdict_line.contains("1 not applicable"),
            "{}",
            r.verdict_line
        );
        std::fs::write(
            dir.join("table.json"),
            r#"{"verdicts": [{"claim": "a", "verdict": "yes", "measured": "x"}]}"#,
        )
        .unwrap();
        assert_eq!(
            table_section("L", "C", "t", "s", tmp.path()).verdict,
            Verdict::Yes
        );
    }
}

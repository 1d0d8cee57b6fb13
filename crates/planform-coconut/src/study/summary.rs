//! A study's summary: per-arm statistics over seeds, the claims' verdicts, the Markdown
//! table and the figures (written by [`super::run_study`] and [`super::summarize_archived`]).

use std::fmt::Write as _;
use std::path::Path;

use planform_core::fs::write_atomic;
use serde::{Deserialize, Serialize};

use super::{Claim, ClaimKind, Metric, StudyConfig};
use crate::config::Method;
use crate::error::{CoconutError, Result};
use crate::train::RunResult;

/// The paper's ProsQA Table 1: (accuracy %, ± std, tokens).
pub fn paper_prosqa(m: Method) -> (f64, f64, f64) {
    match m {
        Method::Cot => (77.5, 1.9, 49.4),
        Method::NoCot => (76.7, 1.0, 8.2),
        Method::PauseToken => (75.9, 0.7, 8.2),
        Method::Coconut => (97.0, 0.3, 14.2),
        Method::NoCurriculum => (76.1, 0.2, 14.2),
        Method::NoThought => (95.5, 1.1, 8.2),
        Method::PauseAsThought => (96.6, 0.8, 8.2),
    }
}

/// Mean, standard error and values of one metric of one arm.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Stat {
    /// Mean over seeds.
    pub mean: f64,
    /// Sample standard deviation / √n (0 for one seed).
    pub se: f64,
    /// Per-seed values.
    pub values: Vec<f64>,
}

impl Stat {
    /// Of `values`.
    pub fn of(values: Vec<f64>) -> Self {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n.max(1.0);
        let se = if values.len() > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() / n.sqrt()
        } else {
            0.0
        };
        Stat { mean, se, values }
    }
}

/// One arm across seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmSummary {
    /// Run name.
    pub name: String,
    /// Method.
    pub method: Method,
    /// Test accuracy.
    pub accuracy: Stat,
    /// Optimal plans.
    pub optimal: Stat,
    /// Generated tokens.
    pub tokens: Stat,
    /// Validation accuracy at the end of each stage: `(stage, mean over seeds)`.
    pub stages: Vec<(usize, f64)>,
    /// Mean training seconds.
    pub train_secs: f64,
}

/// A claim's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The claim.
    pub claim: Claim,
    /// Mean difference a − b.
    pub diff: f64,
    /// Its standard error.
    pub se: f64,
    /// `holds`, `reversed`, `fails`, `inconclusive` or `missing`.
    pub verdict: String,
}

/// The study's summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudySummary {
    /// Study name.
    pub name: String,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Arms in file order.
    pub arms: Vec<ArmSummary>,
    /// Verdicts.
    pub verdicts: Vec<Verdict>,
}

/// Summarises results (grouped by run name).
pub fn summarize(cfg: &StudyConfig, results: &[RunResult]) -> StudySummary {
    let mut names: Vec<String> = Vec::new();
    for r in results {
        if !names.contains(&r.name) {
            names.push(r.name.clone());
        }
    }
    let arms: Vec<ArmSummary> = names
        .iter()
        .map(|n| {
            let rs: Vec<&RunResult> = results.iter().filter(|r| &r.name == n).collect();
            let stat = |f: &dyn Fn(&RunResult) -> f64| Stat::of(rs.iter().map(|r| f(r)).collect());
            let mut stages: Vec<(usize, f64)> = Vec::new();
            for (s, _) in &rs[0].stage_valid {
                let v: Vec<f64> = rs
                    .iter()
                    .filter_map(|r| r.stage_valid.iter().find(|x| x.0 == *s).map(|x| x.1))
                    .collect();
                stages.push((*s, v.iter().sum::<f64>() / v.len().max(1) as f64));
            }
            ArmSummary {
                name: n.clone(),
                method: rs[0].method,
                accuracy: stat(&|r| r.test.accuracy),
                optimal: stat(&|r| r.test.optimal),
                tokens: stat(&|r| r.test.tokens),
                stages,
                train_secs: rs.iter().map(|r| r.train_secs).sum::<f64>() / rs.len() as f64,
            }
        })
        .collect();
    let verdicts = cfg.claims.iter().map(|c| judge(c, &arms)).collect();
    StudySummary {
        name: cfg.name.clone(),
        seeds: cfg.seeds.clone(),
        arms,
        verdicts,
    }
}

fn judge(c: &Claim, arms: &[ArmSummary]) -> Verdict {
    let find = |n: &str| arms.iter().find(|a| a.name == n);
    let (Some(a), Some(b)) = (find(&c.a), find(&c.b)) else {
        return Verdict {
            claim: c.clone(),
            diff: 0.0,
            se: 0.0,
            verdict: "missing".into(),
        };
    };
    let metric = if c.kind == ClaimKind::FewerTokens {
        Metric::Tokens
    } else {
        c.metric
    };
    let pick = |s: &ArmSummary| match metric {
        Metric::Accuracy => s.accuracy.clone(),
        Metric::Optimal => s.optimal.clone(),
        Metric::Tokens => s.tokens.clone(),
    };
    let (sa, sb) = (pick(a), pick(b));
    let diff = sa.mean - sb.mean;
    let se = (sa.se.powi(2) + sb.se.powi(2)).sqrt();
    let verdict = match c.kind {
        // One seed has no standard error: a pilot, not a verdict.
        _ if sa.values.len() < 2 || sb.values.len() < 2 => "one seed: no verdict",
        ClaimKind::Better | ClaimKind::FewerTokens => {
            let d = if c.kind == ClaimKind::Better {
                diff
            } else {
                -diff
            };
            if d > 2.0 * se && d > 0.0 {
                "holds"
            } else if d < -2.0 * se && d < 0.0 {
                "reversed"
            } else {
                "inconclusive"
            }
        }
        ClaimKind::Similar => {
            if diff.abs() + 2.0 * se <= c.margin {
                "holds"
            } else if diff.abs() - 2.0 * se > c.margin {
                "fails"
            } else {
                "inconclusive"
            }
        }
    };
    Verdict {
        claim: c.clone(),
        diff,
        se,
        verdict: verdict.into(),
    }
}

impl StudySummary {
    /// The Markdown table.
    pub fn markdown(&self, paper: bool) -> String {
        let mut s = String::new();
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        let _ = writeln!(s, "## {} (seeds {})\n", self.name, seeds.join(", "));
        let _ = write!(
            s,
            "| arm | method | seeds | test accuracy % | optimal % | # tokens | train s |"
        );
        let _ = writeln!(
            s,
            "{}",
            if paper {
                " paper acc % | paper # tokens |"
            } else {
                ""
            }
        );
        let _ = writeln!(
            s,
            "|---|---|---|---|---|---|---|{}",
            if paper { "---|---|" } else { "" }
        );
        for a in &self.arms {
            let pm =
                |st: &Stat, scale: f64| format!("{:.1} ± {:.1}", st.mean * scale, st.se * scale);
            let _ = write!(
                s,
                "| {} | {} | {} | {} | {} | {:.1} | {:.0} |",
                a.name,
                a.method.label(),
                a.accuracy.values.len(),
                pm(&a.accuracy, 100.0),
                pm(&a.optimal, 100.0),
                a.tokens.mean,
                a.train_secs
            );
            if paper {
                let (acc, sd, tok) = paper_prosqa(a.method);
                let _ = write!(s, " {acc} ± {sd} | {tok} |");
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(
            s,
            "\n± = standard error over seeds. Validation accuracy at the end of each stage:\n"
        );
        for a in &self.arms {
            let st: Vec<String> = a
                .stages
                .iter()
                .map(|(k, v)| format!("{k}: {:.1}", v * 100.0))
                .collect();
            let _ = writeln!(s, "- {}: {}", a.name, st.join(", "));
        }
        if !self.verdicts.is_empty() {
            let _ = writeln!(s, "\n| claim | a − b | 2·se | verdict |\n|---|---|---|---|");
            for v in &self.verdicts {
                let scale =
                    if v.claim.kind == ClaimKind::FewerTokens || v.claim.metric == Metric::Tokens {
                        1.0
                    } else {
                        100.0
                    };
                let _ = writeln!(
                    s,
                    "| {} | {:+.1} | {:.1} | {} |",
                    v.claim.name,
                    v.diff * scale,
                    2.0 * v.se * scale,
                    v.verdict
                );
            }
        }
        s
    }
}

/// Writes `summary.md` (with the figures linked), `summary.json` and the figures into each
/// of `dirs`.
pub(super) fn write_summary(
    cfg: &StudyConfig,
    summary: &StudySummary,
    dirs: &[&Path],
) -> Result<()> {
    let mut md = summary.markdown(cfg.paper.as_deref() == Some("prosqa"));
    let json = serde_json::to_string_pretty(summary)
        .map_err(|e| CoconutError::Config(format!("summary of {}: {e}", cfg.name)))?;
    let mut figures = Vec::new();
    for dir in dirs {
        std::fs::create_dir_all(dir).map_err(|e| CoconutError::io(dir, e))?;
        figures = write_figures(summary, dir)?;
    }
    md.push('\n');
    for f in &figures {
        let _ = writeln!(md, "![{f}]({f})\n");
    }
    for dir in dirs {
        for (f, text) in [("summary.md", &md), ("summary.json", &json)] {
            let p = dir.join(f);
            write_atomic(&p, text.as_bytes()).map_err(|e| CoconutError::io(&p, e))?;
        }
    }
    Ok(())
}

/// The bar label of each arm: its method's label (the paper's arm names), or the arm's run
/// name when two arms share a method (e.g. search-augmented and Dualformer, both CoT).
fn arm_labels(arms: &[ArmSummary]) -> Vec<String> {
    let shared = arms
        .iter()
        .enumerate()
        .any(|(i, a)| arms[..i].iter().any(|b| b.method == a.method));
    arms.iter()
        .map(|a| {
            if shared {
                a.name.clone()
            } else {
                a.method.label().to_string()
            }
        })
        .collect()
}

/// Writes `fig-accuracy` and `fig-tokens` (SVG and PNG: one bar per arm, its standard-error
/// bar and a dot per seed) into `dir`; returns the SVG names.
fn write_figures(summary: &StudySummary, dir: &Path) -> Result<Vec<String>> {
    use planform_viz::bars::{write_bar_figure, Axis, Bar};
    let labels = arm_labels(&summary.arms);
    let bars = |stat: fn(&ArmSummary) -> &Stat| -> Vec<Bar> {
        summary
            .arms
            .iter()
            .zip(&labels)
            .map(|(a, label)| {
                let s = stat(a);
                Bar {
                    label: label.clone(),
                    mean: s.mean,
                    se: s.se,
                    values: s.values.clone(),
                }
            })
            .collect()
    };
    let figures = [
        (
            "fig-accuracy",
            "test accuracy",
            bars(|a| &a.accuracy),
            Axis::Percent {
                unit: "test questions".into(),
            },
        ),
        (
            "fig-tokens",
            "generated tokens (thoughts + language)",
            bars(|a| &a.tokens),
            Axis::Value {
                name: "tokens per question".into(),
                from_zero: true,
            },
        ),
    ];
    let mut out = Vec::new();
    for (stem, what, bars, axis) in figures {
        if bars.is_empty() {
            continue;
        }
        let title = format!("{}: {what}", summary.name);
        let name = write_bar_figure(dir, stem, &title, &bars, &axis)
            .map_err(|e| CoconutError::run(dir, e.to_string()))?;
        out.push(name);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bars carry the method's label unless two arms share a method; then the run names.
    #[test]
    fn bar_labels_are_methods_unless_two_arms_share_one() {
        let arm = |name: &str, method| ArmSummary {
            name: name.into(),
            method,
            accuracy: Stat::default(),
            optimal: Stat::default(),
            tokens: Stat::default(),
            stages: vec![],
            train_secs: 0.0,
        };
        let distinct = [arm("a", Method::Cot), arm("b", Method::Coconut)];
        assert_eq!(
            arm_labels(&distinct),
            [Method::Cot.label(), Method::Coconut.label()]
        );
        let shared = [
            arm("maze-search-augmented", Method::Cot),
            arm("maze-dualformer", Method::Cot),
        ];
        assert_eq!(
            arm_labels(&shared),
            ["maze-search-augmented", "maze-dualformer"]
        );
    }

    #[test]
    fn verdicts_follow_the_two_standard_error_rule() {
        let arm = |name: &str, acc: Vec<f64>| ArmSummary {
            name: name.into(),
            method: Method::Coconut,
            accuracy: Stat::of(acc),
            optimal: Stat::default(),
            tokens: Stat::of(vec![10.0]),
            stages: vec![],
            train_secs: 0.0,
        };
        let arms = [
            arm("a", vec![0.9, 0.92, 0.94]),
            arm("b", vec![0.7, 0.72, 0.74]),
            arm("c", vec![0.89, 0.95, 0.92]),
        ];
        let claim = |kind, a: &str, b: &str| Claim {
            name: "x".into(),
            kind,
            metric: Metric::Accuracy,
            a: a.into(),
            b: b.into(),
            margin: 0.05,
        };
        assert_eq!(
            judge(&claim(ClaimKind::Better, "a", "b"), &arms).verdict,
            "holds"
        );
        assert_eq!(
            judge(&claim(ClaimKind::Better, "b", "a"), &arms).verdict,
            "reversed"
        );
        assert_eq!(
            judge(&claim(ClaimKind::Better, "a", "c"), &arms).verdict,
            "inconclusive"
        );
        assert_eq!(
            judge(&claim(ClaimKind::Similar, "a", "c"), &arms).verdict,
            "holds"
        );
        assert_eq!(
            judge(&claim(ClaimKind::Similar, "a", "b"), &arms).verdict,
            "fails"
        );
        // Tokens have one seed per arm here: no verdict however large the gap.
        let mut fewer = claim(ClaimKind::FewerTokens, "a", "b");
        fewer.metric = Metric::Tokens;
        assert_eq!(judge(&fewer, &arms).verdict, "one seed: no verdict");
        assert_eq!(
            judge(&claim(ClaimKind::Better, "a", "zz"), &arms).verdict,
            "missing"
        );
        let s = Stat::of(vec![1.0, 2.0, 3.0]);
        assert!((s.se - 1.0 / 3f64.sqrt()).abs() < 1e-12);
    }
}

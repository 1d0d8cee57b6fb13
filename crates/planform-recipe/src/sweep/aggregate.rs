//! Collecting each point's metrics ([`collect_result`]), aggregating them across seeds
//! ([`summarize`]) and deciding the sweep's claims.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use planform_eval::{EvalReport, SUMMARY_JSON as EVAL_SUMMARY};
use planform_train::checkpoint::{read_state, resolve_checkpoint};
use serde::{Deserialize, Serialize};

use super::{Axis, PointJob, Sweep, RESULT_FILE};
use crate::error::{RecipeError, Result};
use crate::runner::{eval_records, read_json, write_atomic, Layout};

/// The metrics of one finished point (`result.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointResult {
    /// Recipe name.
    pub name: String,
    /// `(axis, label)` per axis.
    pub labels: Vec<(String, String)>,
    /// Seed.
    pub seed: u64,
    /// Metrics by name: `params`, `steps`, `train_tokens`, `train_secs`,
    /// `final_eval_loss`, `best_eval_loss`, `eval_token_acc`, `eval_plan_acc`, and per
    /// evaluation `<eval>.solved`, `<eval>.optimal`, `<eval>.swc`, `<eval>.trace_tokens`.
    pub metrics: BTreeMap<String, f64>,
}

/// Reads a finished point's training run and evaluations and writes its `result.json`.
pub fn collect_result(job: &PointJob) -> Result<PointResult> {
    let layout = Layout::new(&job.runs_dir);
    let train_dir = layout.train_dir(&job.name);
    let state = read_state(&resolve_checkpoint(&train_dir)?)?;
    let mut m = BTreeMap::new();
    m.insert("params".into(), state.model.trainable_parameters() as f64);
    m.insert("steps".into(), state.step as f64);
    m.insert("train_tokens".into(), state.tokens_seen as f64);
    m.insert("train_secs".into(), state.elapsed_secs);
    let evals = eval_records(&train_dir)?;
    let last = evals.last().ok_or_else(|| {
        RecipeError::invalid(
            format!("point {}", job.name),
            "its training run recorded no held-out loss",
        )
    })?;
    m.insert("final_eval_loss".into(), last.metrics.loss);
    m.insert("eval_token_acc".into(), last.metrics.token_acc);
    m.insert("eval_plan_acc".into(), last.metrics.plan_acc);
    let best = evals
        .iter()
        .map(|e| e.metrics.loss)
        .fold(f64::INFINITY, f64::min);
    m.insert("best_eval_loss".into(), best);
    for spec in &job.recipe.evals {
        let path = layout.eval_dir(&job.name, &spec.name).join(EVAL_SUMMARY);
        let r: EvalReport = read_json(&path)?;
        let s = &r.metrics.summary;
        m.insert(format!("{}.solved", spec.name), s.solved);
        m.insert(format!("{}.optimal", spec.name), s.optimal);
        m.insert(format!("{}.swc", spec.name), s.swc);
        m.insert(format!("{}.trace_tokens", spec.name), r.metrics.trace.mean);
    }
    let result = PointResult {
        name: job.name.clone(),
        labels: job.labels.clone(),
        seed: job.seed,
        metrics: m,
    };
    let path = job.run_dir().join(RESULT_FILE);
    let json = serde_json::to_vec_pretty(&result).map_err(|e| RecipeError::Json {
        path: path.clone(),
        message: e.to_string(),
    })?;
    write_atomic(&path, &json)?;
    Ok(result)
}

/// A metric of a group across its seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    /// Mean over seeds.
    pub mean: f64,
    /// Standard error of the mean: sample standard deviation / √n (0 for one seed).
    pub se: f64,
    /// `(seed, value)` per seed.
    pub values: Vec<(u64, f64)>,
}

impl MetricSummary {
    fn of(values: Vec<(u64, f64)>) -> MetricSummary {
        let n = values.len() as f64;
        let mean = values.iter().map(|v| v.1).sum::<f64>() / n;
        let se = if values.len() > 1 {
            let var = values.iter().map(|v| (v.1 - mean).powi(2)).sum::<f64>() / (n - 1.0);
            (var / n).sqrt()
        } else {
            0.0
        };
        MetricSummary { mean, se, values }
    }
}

/// One group of the grid (every seed of one combination of axis labels).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    /// `(axis, label)` per axis.
    pub labels: Vec<(String, String)>,
    /// Seeds with results / seeds planned.
    pub seeds_done: usize,
    /// Seeds planned.
    pub seeds_planned: usize,
    /// Metrics present for every finished seed.
    pub metrics: BTreeMap<String, MetricSummary>,
}

/// How a claim is decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClaimKind {
    /// `a` is better than `b`.
    #[default]
    Better,
    /// `a` is not worse than `b` by more than `margin`.
    NotWorse,
}

/// A claim about two groups (see the module docs of [`super`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// The claim as stated.
    pub name: String,
    /// The metric compared.
    pub metric: String,
    /// How it is decided. Default `better`.
    #[serde(default)]
    pub kind: ClaimKind,
    /// Group `a`: axis labels it must have.
    pub a: BTreeMap<String, String>,
    /// Group `b`.
    pub b: BTreeMap<String, String>,
    /// For `not-worse`: how much worse `a` may be, in the metric's units. Default 0.
    #[serde(default)]
    pub margin: f64,
    /// Whether higher is better. Default: lower for metrics with `loss` in the name,
    /// higher otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub higher_is_better: Option<bool>,
}

/// A claim's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The runs support the claim beyond two standard errors.
    Yes,
    /// The runs contradict it beyond two standard errors.
    No,
    /// The difference lies within two standard errors.
    Inconclusive,
    /// A group has no results yet.
    Missing,
    /// A group has one seed: no standard error, so no verdict.
    OneSeed,
}

impl Verdict {
    /// Word for tables.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Yes => "yes",
            Verdict::No => "no",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Missing => "not run",
            Verdict::OneSeed => "one seed: no verdict",
        }
    }
}

/// A decided claim.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClaimResult {
    /// The claim.
    pub claim: Claim,
    /// `a`'s mean and standard error.
    pub a: Option<(f64, f64)>,
    /// `b`'s mean and standard error.
    pub b: Option<(f64, f64)>,
    /// How much better `a` is than `b` (positive: better), and its standard error
    /// `√(se_a² + se_b²)`.
    pub advantage: Option<(f64, f64)>,
    /// The verdict.
    pub verdict: Verdict,
}

/// The aggregated sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepSummary {
    /// Sweep name.
    pub name: String,
    /// Axis names in order.
    pub axes: Vec<String>,
    /// Points done / planned.
    pub points_done: usize,
    /// Points planned.
    pub points_planned: usize,
    /// Groups in grid order.
    pub groups: Vec<GroupSummary>,
    /// Decided claims.
    pub claims: Vec<ClaimResult>,
}

impl Claim {
    pub(super) fn validate(&self, axes: &[Axis]) -> Result<()> {
        for (k, _) in self.a.iter().chain(&self.b) {
            if !axes.iter().any(|a| &a.name == k) {
                return Err(RecipeError::invalid(
                    format!("claim {:?}", self.name),
                    format!("no axis named {k:?}"),
                ));
            }
        }
        if !(self.margin.is_finite() && self.margin >= 0.0) {
            return Err(RecipeError::invalid(
                format!("claim {:?}", self.name),
                "margin must be finite and >= 0",
            ));
        }
        Ok(())
    }

    fn higher_is_better(&self) -> bool {
        self.higher_is_better
            .unwrap_or(!self.metric.contains("loss"))
    }

    fn pick<'a>(
        &self,
        groups: &'a [GroupSummary],
        sel: &BTreeMap<String, String>,
    ) -> Option<&'a MetricSummary> {
        let matches: Vec<&GroupSummary> = groups
            .iter()
            .filter(|g| {
                sel.iter()
                    .all(|(k, v)| g.labels.iter().any(|(a, l)| a == k && l == v))
            })
            .collect();
        match matches.as_slice() {
            [g] => g.metrics.get(&self.metric),
            _ => None,
        }
    }

    fn decide(&self, groups: &[GroupSummary]) -> ClaimResult {
        let (a, b) = (self.pick(groups, &self.a), self.pick(groups, &self.b));
        let (Some(a), Some(b)) = (a, b) else {
            return ClaimResult {
                claim: self.clone(),
                a: a.map(|m| (m.mean, m.se)),
                b: b.map(|m| (m.mean, m.se)),
                advantage: None,
                verdict: Verdict::Missing,
            };
        };
        let sign = if self.higher_is_better() { 1.0 } else { -1.0 };
        let adv = sign * (a.mean - b.mean);
        let se = (a.se.powi(2) + b.se.powi(2)).sqrt();
        let verdict = match self.kind {
            _ if a.values.len() < 2 || b.values.len() < 2 => Verdict::OneSeed,
            ClaimKind::Better if adv > 2.0 * se => Verdict::Yes,
            ClaimKind::Better if adv < -2.0 * se => Verdict::No,
            ClaimKind::Better => Verdict::Inconclusive,
            // a is worse by -adv; within the margin even at two standard errors: yes.
            ClaimKind::NotWorse if -adv + 2.0 * se <= self.margin => Verdict::Yes,
            ClaimKind::NotWorse if -adv - 2.0 * se > self.margin => Verdict::No,
            ClaimKind::NotWorse => Verdict::Inconclusive,
        };
        ClaimResult {
            claim: self.clone(),
            a: Some((a.mean, a.se)),
            b: Some((b.mean, b.se)),
            advantage: Some((adv, se)),
            verdict,
        }
    }
}

/// Groups the finished points of `jobs` by their axis labels and aggregates across seeds.
pub fn summarize(sweep: &Sweep, jobs: &[PointJob]) -> Result<SweepSummary> {
    let mut groups: Vec<GroupSummary> = Vec::new();
    let mut per_group: Vec<Vec<PointResult>> = Vec::new();
    let mut done = 0;
    for j in jobs {
        let idx = match groups.iter().position(|g| g.labels == j.labels) {
            Some(i) => i,
            None => {
                groups.push(GroupSummary {
                    labels: j.labels.clone(),
                    seeds_done: 0,
                    seeds_planned: 0,
                    metrics: BTreeMap::new(),
                });
                per_group.push(Vec::new());
                groups.len() - 1
            }
        };
        groups[idx].seeds_planned += 1;
        let path = j.run_dir().join(RESULT_FILE);
        if path.is_file() {
            per_group[idx].push(read_json(&path)?);
            done += 1;
        }
    }
    for (g, results) in groups.iter_mut().zip(per_group) {
        g.seeds_done = results.len();
        let Some(first) = results.first() else {
            continue;
        };
        for key in first.metrics.keys() {
            let values: Vec<(u64, f64)> = results
                .iter()
                .filter_map(|r| r.metrics.get(key).map(|v| (r.seed, *v)))
                .collect();
            if values.len() == results.len() {
                g.metrics.insert(key.clone(), MetricSummary::of(values));
            }
        }
    }
    let claims = sweep.claims.iter().map(|c| c.decide(&groups)).collect();
    Ok(SweepSummary {
        name: sweep.name.clone(),
        axes: sweep.axes.iter().map(|a| a.name.clone()).collect(),
        points_done: done,
        points_planned: jobs.len(),
        groups,
        claims,
    })
}

/// Formats a value by metric: rates as percentages, counts as integers.
fn fmt_metric(key: &str, v: f64) -> String {
    if key.ends_with(".solved") || key.ends_with(".optimal") || key.ends_with("_acc") {
        format!("{:.1}%", 100.0 * v)
    } else if key == "params" || key == "steps" || key == "train_tokens" {
        format!("{:.0}", v)
    } else if key == "train_secs" {
        format!("{:.0} s", v)
    } else {
        format!("{v:.4}")
    }
}

fn pm(key: &str, m: &MetricSummary) -> String {
    if key.ends_with(".solved") || key.ends_with(".optimal") || key.ends_with("_acc") {
        format!("{:.1} ± {:.1}%", 100.0 * m.mean, 100.0 * m.se)
    } else {
        format!("{} ± {}", fmt_metric(key, m.mean), fmt_metric(key, m.se))
    }
}

/// Escapes text for a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
}

/// The Markdown summary: grid, one row per group (mean ± s.e. across seeds), per-seed
/// values, claims with verdicts, figures, and the command that reproduces it.
pub fn markdown(sweep: &Sweep, s: &SweepSummary, command: &str, figures: &[String]) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Sweep `{}`\n\n{}\n",
        cell(&s.name),
        cell(&sweep.description)
    );
    let fence = "`".repeat(3 + command.matches('`').count().min(8));
    let _ = writeln!(
        md,
        "Reproduce (resumes; finished points are skipped):\n\n{fence}sh\n{command}\n{fence}\n"
    );
    let _ = writeln!(
        md,
        "{} of {} points done; seeds {:?}. Mean ± standard error across seeds (sample \
         standard deviation / √n); per-seed values below and in `summary.json`.\n",
        s.points_done, s.points_planned, sweep.seeds
    );
    let keys: Vec<String> = s
        .groups
        .iter()
        .find(|g| !g.metrics.is_empty())
        .map(|g| {
            g.metrics
                .keys()
                .filter(|k| !matches!(k.as_str(), "steps" | "train_secs"))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let mut header = s.axes.clone();
    header.push("seeds".into());
    header.extend(keys.iter().cloned());
    let _ = writeln!(md, "| {} |", header.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(header.len()));
    for g in &s.groups {
        let mut row: Vec<String> = g.labels.iter().map(|(_, l)| cell(l)).collect();
        row.push(format!("{}/{}", g.seeds_done, g.seeds_planned));
        for k in &keys {
            row.push(g.metrics.get(k).map_or("–".into(), |m| pm(k, m)));
        }
        let _ = writeln!(md, "| {} |", row.join(" | "));
    }
    if !s.claims.is_empty() {
        let _ = writeln!(
            md,
            "\n## Claims\n\nVerdict rule: *yes* when `a`'s advantage over `b` exceeds two \
             standard errors of the difference (√(se_a² + se_b²)), *no* when it is below minus \
             two, else *inconclusive*; for *not-worse* claims, *yes* when `a` is worse by less \
             than the margin even at two standard errors, *no* when it is worse by more than \
             the margin beyond two standard errors. A group with one seed has no standard \
             error: its claims read *one seed: no verdict*.\n"
        );
        let _ = writeln!(md, "| claim | metric | a | b | advantage of a | verdict |");
        let _ = writeln!(md, "|---|---|---|---|---|---|");
        for c in &s.claims {
            let k = &c.claim.metric;
            let side = |sel: &BTreeMap<String, String>, v: Option<(f64, f64)>| {
                let name = sel
                    .iter()
                    .map(|(a, l)| format!("{a}={l}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                match v {
                    Some((m, se)) => format!(
                        "{}: {}",
                        cell(&name),
                        pm(
                            k,
                            &MetricSummary {
                                mean: m,
                                se,
                                values: Vec::new()
                            }
                        )
                    ),
                    None => format!("{}: –", cell(&name)),
                }
            };
            let adv = c.advantage.map_or("–".into(), |(a, se)| {
                pm(
                    k,
                    &MetricSummary {
                        mean: a,
                        se,
                        values: Vec::new(),
                    },
                )
            });
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | **{}** |",
                cell(&c.claim.name),
                cell(k),
                side(&c.claim.a, c.a),
                side(&c.claim.b, c.b),
                adv,
                c.verdict.word()
            );
        }
    }
    for f in figures {
        let _ = writeln!(md, "\n![{f}]({f})");
    }
    let _ = writeln!(md, "\n## Per-seed values\n");
    let _ = writeln!(md, "| group | metric | values (seed: value) |");
    let _ = writeln!(md, "|---|---|---|");
    for g in &s.groups {
        let name = g
            .labels
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join(" / ");
        for k in &keys {
            if let Some(m) = g.metrics.get(k) {
                let vals = m
                    .values
                    .iter()
                    .map(|(seed, v)| format!("{seed}: {}", fmt_metric(k, *v)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let _ = writeln!(md, "| {} | {} | {} |", cell(&name), k, vals);
            }
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_error_by_hand() {
        // values 1, 2, 3: mean 2, sample sd 1, se 1/√3.
        let m = MetricSummary::of(vec![(0, 1.0), (1, 2.0), (2, 3.0)]);
        assert_eq!(m.mean, 2.0);
        assert!((m.se - 1.0 / 3f64.sqrt()).abs() < 1e-12);
        assert_eq!(MetricSummary::of(vec![(5, 4.0)]).se, 0.0);
    }

    fn group(label: &str, vals: &[f64]) -> GroupSummary {
        let mut metrics = BTreeMap::new();
        metrics.insert(
            "final_eval_loss".to_string(),
            MetricSummary::of(
                vals.iter()
                    .enumerate()
                    .map(|(i, v)| (i as u64, *v))
                    .collect(),
            ),
        );
        GroupSummary {
            labels: vec![("arm".into(), label.into())],
            seeds_done: vals.len(),
            seeds_planned: vals.len(),
            metrics,
        }
    }

    fn claim(kind: ClaimKind, margin: f64) -> Claim {
        Claim {
            name: "a beats b".into(),
            metric: "final_eval_loss".into(),
            kind,
            a: [("arm".to_string(), "a".to_string())].into(),
            b: [("arm".to_string(), "b".to_string())].into(),
            margin,
            higher_is_better: None,
        }
    }

    #[test]
    fn verdicts_follow_the_two_standard_error_rule() {
        // Loss: lower is better. a = 1.0 ± 0, b = 1.5 ± 0: a better, yes.
        let g = vec![group("a", &[1.0, 1.0, 1.0]), group("b", &[1.5, 1.5, 1.5])];
        assert_eq!(
            claim(ClaimKind::Better, 0.0).decide(&g).verdict,
            Verdict::Yes
        );
        let g = vec![group("a", &[1.5, 1.5]), group("b", &[1.0, 1.0])];
        assert_eq!(
            claim(ClaimKind::Better, 0.0).decide(&g).verdict,
            Verdict::No
        );
        // One seed on a side: no standard error, no verdict (however large the gap).
        let g = vec![group("a", &[1.0]), group("b", &[1.5, 1.5, 1.5])];
        assert_eq!(
            claim(ClaimKind::Better, 0.0).decide(&g).verdict,
            Verdict::OneSeed
        );
        // Overlapping seeds: inconclusive.
        let g = vec![group("a", &[1.0, 1.4, 1.2]), group("b", &[1.1, 1.5, 1.3])];
        let r = claim(ClaimKind::Better, 0.0).decide(&g);
        assert_eq!(r.verdict, Verdict::Inconclusive);
        let (adv, se) = r.advantage.unwrap();
        assert!((adv - 0.1).abs() < 1e-12 && se > 0.05);
        // Not worse by more than 0.2: a is worse by 0.1 with no noise.
        let g = vec![group("a", &[1.1, 1.1]), group("b", &[1.0, 1.0])];
        assert_eq!(
            claim(ClaimKind::NotWorse, 0.2).decide(&g).verdict,
            Verdict::Yes
        );
        assert_eq!(
            claim(ClaimKind::NotWorse, 0.05).decide(&g).verdict,
            Verdict::No
        );
        // A missing group.
        let g = vec![group("a", &[1.0])];
        assert_eq!(
            claim(ClaimKind::Better, 0.0).decide(&g).verdict,
            Verdict::Missing
        );
    }
}

//! The latent-search analysis (paper §5): force k continuous thoughts, let the model write
//! the rest in language, classify what it wrote; and read the model's value of each
//! frontier node after k thoughts.
//!
//! Outcome of one answer (paper Fig. 5 categories):
//! - no language steps before `###`: **correct label** / **incorrect label**;
//! - a step names an unknown node, states an edge the graph does not have, does not
//!   continue the previous step, or starts (after k > 0 thoughts) from a node the root
//!   does not reach: **hallucination**;
//! - a valid chain that ends elsewhere than the target: **wrong target**;
//! - a valid chain to the target whose length plus the root's distance to its first node
//!   is the shortest-path length: **correct path**, else **longer path**.
//!
//! Frontier probe: after `question <bot> <latent>×k <eot> Every`, the next-token
//! probability of each concept is its value (one word per concept, so no product over
//! pieces). The frontier after k thoughts is the set of nodes at breadth-first distance k
//! from the root. Reported: the probability mass on the frontier, the cumulative value of
//! its top 1/2/3 nodes (paper Fig. 8), and the mean value of frontier nodes by height
//! (shortest distance to a leaf; paper Fig. 9), apart for nodes that reach the target and
//! those that do not.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use planform_model::DecoderOnly;
use planform_trace::prosqa::{parse_statement, ProsqaRecord};
use serde::{Deserialize, Serialize};

use crate::config::{Method, Slot};
use crate::data::{Item, Meta};
use crate::decode::{decode, next_token_logprobs};
use crate::error::{CoconutError, Result};
use crate::eval::answer_part;
use crate::layout::forced_prompt;
use crate::vocab::CoconutVocab;

/// What an answer did (paper Fig. 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// A shortest path to the target.
    CorrectPath,
    /// A valid but longer path to the target.
    LongerPath,
    /// An edge that does not exist (or a broken chain).
    Hallucination,
    /// A valid path to another node.
    WrongTarget,
    /// No path, the right answer.
    CorrectLabel,
    /// No path, a wrong answer.
    IncorrectLabel,
}

impl Outcome {
    /// All, in the paper's order.
    pub const ALL: [Outcome; 6] = [
        Outcome::CorrectLabel,
        Outcome::IncorrectLabel,
        Outcome::CorrectPath,
        Outcome::LongerPath,
        Outcome::Hallucination,
        Outcome::WrongTarget,
    ];

    /// Column name.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::CorrectPath => "correct path",
            Outcome::LongerPath => "longer path",
            Outcome::Hallucination => "hallucination",
            Outcome::WrongTarget => "wrong target",
            Outcome::CorrectLabel => "correct label",
            Outcome::IncorrectLabel => "incorrect label",
        }
    }
}

/// Classifies generated language tokens (after the forced thoughts) for `record`.
pub fn classify(
    vocab: &CoconutVocab,
    ex_answer: &[i64],
    record: &ProsqaRecord,
    tokens: &[i64],
) -> Outcome {
    let marker = vocab.answer;
    let cut = marker.and_then(|m| tokens.iter().rposition(|&t| t == m));
    let body = &tokens[..cut.unwrap_or(tokens.len())];
    let want = &ex_answer[1..ex_answer.len().saturating_sub(1)];
    let label_ok = cut.is_some() && answer_part(tokens, marker) == want;
    let text = vocab.decode_text(body);
    let steps: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if steps.is_empty() {
        return if label_ok {
            Outcome::CorrectLabel
        } else {
            Outcome::IncorrectLabel
        };
    }
    let Ok(g) = record.graph() else {
        return Outcome::Hallucination;
    };
    let dist = g.distances_from(record.root);
    let mut path = Vec::new();
    for s in &steps {
        let Some(st) = parse_statement(s) else {
            return Outcome::Hallucination;
        };
        let (Some(a), Some(b)) = (record.node_of(st.subject), record.node_of(st.object)) else {
            return Outcome::Hallucination;
        };
        if !g.children[a].contains(&b) || path.last().is_some_and(|&l| l != a) {
            return Outcome::Hallucination;
        }
        if path.is_empty() {
            path.push(a);
        }
        path.push(b);
    }
    let (start, end) = (path[0], path[path.len() - 1]);
    let Some(d0) = dist[start] else {
        return Outcome::Hallucination;
    };
    if end != record.target {
        return Outcome::WrongTarget;
    }
    if Some(d0 + path.len() - 1) == dist[record.target] {
        Outcome::CorrectPath
    } else {
        Outcome::LongerPath
    }
}

/// Frontier values after k thoughts, summed over questions.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProbeSummary {
    /// Thoughts.
    pub k: usize,
    /// Questions with a non-empty frontier.
    pub questions: usize,
    /// Mean probability mass on the frontier.
    pub frontier_mass: f64,
    /// Mean cumulative value of the top 1, 2, 3 frontier nodes.
    pub top: [f64; 3],
    /// By height: `(height, mean value of nodes reaching the target, count, mean value of
    /// the others, count)`.
    pub by_height: Vec<(usize, f64, usize, f64, usize)>,
}

/// The whole analysis.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AnalysisReport {
    /// Questions.
    pub questions: usize,
    /// Per forced k: counts per outcome (in [`Outcome::ALL`] order).
    pub outcomes: Vec<(usize, [usize; 6])>,
    /// Frontier probes.
    pub probes: Vec<ProbeSummary>,
}

/// Runs the analysis of a model trained with `method` on ProsQA items: `ks` and `probe_ks`
/// count replaced steps, each forced as `c` thoughts. Prompts are laid out as `method` lays
/// them out (a CoT model never saw `<bot>`/`<eot>`); forcing thoughts (k > 0) and the frontier
/// probe need a method with continuous thoughts, and are refused for the others.
#[allow(clippy::too_many_arguments)]
pub fn analyse(
    model: &DecoderOnly,
    vocab: &CoconutVocab,
    items: &[Item],
    method: Method,
    c: usize,
    ks: &[usize],
    probe_ks: &[usize],
    max_new_tokens: usize,
    batch_size: usize,
) -> Result<AnalysisReport> {
    let records: Vec<&ProsqaRecord> = items
        .iter()
        .map(|it| match &it.meta {
            Meta::Prosqa(r) => Ok(r.as_ref()),
            Meta::Maze(_) => Err(CoconutError::Data(
                "the latent-search analysis needs ProsQA".into(),
            )),
        })
        .collect::<Result<_>>()?;
    if method.slot() != Slot::Continuous {
        if let Some(k) = ks.iter().find(|&&k| k > 0) {
            return Err(CoconutError::Config(format!(
                "k = {k}: a {} model has no continuous thoughts to force (only k = 0 applies)",
                method.label()
            )));
        }
        if !probe_ks.is_empty() {
            return Err(CoconutError::Config(format!(
                "the frontier probe reads a model after continuous thoughts; a {} model has \
                 none",
                method.label()
            )));
        }
    }
    let mut report = AnalysisReport {
        questions: items.len(),
        ..AnalysisReport::default()
    };
    for &k in ks {
        let prompts: Vec<_> = items
            .iter()
            .map(|it| forced_prompt(&it.example, method, k * c, vocab, &[]))
            .collect();
        let out = decode(model, vocab, &prompts, max_new_tokens, batch_size)?;
        let mut counts = [0usize; 6];
        for ((it, r), d) in items.iter().zip(&records).zip(&out) {
            let o = classify(vocab, &it.example.answer, r, &d.tokens);
            counts[Outcome::ALL.iter().position(|&x| x == o).unwrap_or(0)] += 1;
        }
        report.outcomes.push((k, counts));
    }
    let every = vocab
        .id("Every")
        .ok_or_else(|| CoconutError::Data("no ProsQA vocabulary".into()))?;
    for &k in probe_ks {
        let prompts: Vec<_> = items
            .iter()
            .map(|it| forced_prompt(&it.example, method, k * c, vocab, &[every]))
            .collect();
        let lp = next_token_logprobs(model, vocab, &prompts, batch_size)?.exp();
        let probs: Vec<Vec<f32>> = Vec::<Vec<f32>>::try_from(lp)?;
        report.probes.push(probe(vocab, &records, &probs, k));
    }
    Ok(report)
}

fn probe(
    vocab: &CoconutVocab,
    records: &[&ProsqaRecord],
    probs: &[Vec<f32>],
    k: usize,
) -> ProbeSummary {
    let mut s = ProbeSummary {
        k,
        ..ProbeSummary::default()
    };
    let mut heights: BTreeMap<usize, (f64, usize, f64, usize)> = BTreeMap::new();
    for (r, p) in records.iter().zip(probs) {
        let Ok(g) = r.graph() else { continue };
        let dist = g.distances_from(r.root);
        let h = g.heights();
        let frontier: Vec<usize> = (0..r.nodes()).filter(|&v| dist[v] == Some(k)).collect();
        if frontier.is_empty() {
            continue;
        }
        let value = |v: usize| {
            vocab
                .id(&r.idx_to_symbol[v])
                .map_or(0.0, |id| f64::from(p[id as usize]))
        };
        let mut vals: Vec<f64> = frontier.iter().map(|&v| value(v)).collect();
        s.questions += 1;
        s.frontier_mass += vals.iter().sum::<f64>();
        vals.sort_by(|a, b| b.total_cmp(a));
        let mut acc = 0.0;
        for (i, t) in s.top.iter_mut().enumerate() {
            acc += vals.get(i).copied().unwrap_or(0.0);
            *t += acc;
        }
        for &v in &frontier {
            let e = heights.entry(h[v]).or_default();
            if g.reaches(v, r.target) {
                e.0 += value(v);
                e.1 += 1;
            } else {
                e.2 += value(v);
                e.3 += 1;
            }
        }
    }
    let n = s.questions.max(1) as f64;
    s.frontier_mass /= n;
    s.top.iter_mut().for_each(|t| *t /= n);
    s.by_height = heights
        .into_iter()
        .map(|(h, (a, na, b, nb))| (h, a / na.max(1) as f64, na, b / nb.max(1) as f64, nb))
        .collect();
    s
}

/// Fewest frontier nodes behind a bar of the frontier figure.
const FIGURE_MIN_NODES: usize = 5;

impl AnalysisReport {
    /// Writes the figures of the analysis into `dir` as SVG and PNG: `<stem>-outcomes`
    /// (the outcome shares after k forced thoughts, stacked, the paper's Fig. 5) and, when
    /// the frontier was probed, `<stem>-frontier` (mean value of frontier nodes by height,
    /// nodes that reach the target vs dead ends, per probed k; Fig. 9). Returns the SVG
    /// file names.
    pub fn write_figures(&self, dir: &Path, stem: &str) -> Result<Vec<String>> {
        use planform_viz::categorical::{write_categorical_figure, Categorical, Layout};
        let viz = |e: planform_viz::Error| CoconutError::run(dir, e.to_string());
        let mut names = Vec::new();
        if !self.outcomes.is_empty() {
            let fig = Categorical {
                title: format!(
                    "Outcomes after k forced thoughts ({} questions)",
                    self.questions
                ),
                x_desc: "k (replaced steps, each c thoughts)".into(),
                y_desc: "% of answers".into(),
                categories: self.outcomes.iter().map(|(k, _)| k.to_string()).collect(),
                series: Outcome::ALL
                    .iter()
                    .enumerate()
                    .map(|(j, o)| {
                        let v = self.outcomes.iter().map(|(_, c)| Some(c[j] as f64));
                        (o.name().to_string(), v.collect())
                    })
                    .collect(),
            };
            let stem = format!("{stem}-outcomes");
            names.push(write_categorical_figure(dir, &stem, &fig, Layout::Stacked).map_err(viz)?);
        }
        // Cells of fewer nodes are left out of the figure (the table keeps them): one node's
        // value drawn as a bar would read like a mean.
        let mut heights: Vec<usize> = self
            .probes
            .iter()
            .flat_map(|p| p.by_height.iter())
            .filter(|h| h.2.max(h.4) >= FIGURE_MIN_NODES)
            .map(|h| h.0)
            .collect();
        heights.sort_unstable();
        heights.dedup();
        if !heights.is_empty() {
            let mut series = Vec::new();
            for p in &self.probes {
                for (name, reach) in [("reaches target", true), ("dead end", false)] {
                    let v = heights.iter().map(|&h| {
                        let row = p.by_height.iter().find(|r| r.0 == h)?;
                        let (value, n) = if reach {
                            (row.1, row.2)
                        } else {
                            (row.3, row.4)
                        };
                        (n >= FIGURE_MIN_NODES).then_some(value)
                    });
                    series.push((format!("k = {}, {name}", p.k), v.collect()));
                }
            }
            let fig = Categorical {
                title: format!(
                    "Frontier value by node height (cells of ≥ {FIGURE_MIN_NODES} nodes)"
                ),
                x_desc: "height (shortest distance to a leaf)".into(),
                y_desc: "mean predicted probability".into(),
                categories: heights.iter().map(|h| h.to_string()).collect(),
                series,
            };
            let stem = format!("{stem}-frontier");
            names.push(write_categorical_figure(dir, &stem, &fig, Layout::Grouped).map_err(viz)?);
        }
        Ok(names)
    }
}

impl fmt::Display for AnalysisReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Outcomes after k forced thoughts ({} questions, fractions):\n",
            self.questions
        )?;
        let names: Vec<&str> = Outcome::ALL.iter().map(|o| o.name()).collect();
        writeln!(f, "| k | {} |", names.join(" | "))?;
        writeln!(f, "|---|{}", "---|".repeat(names.len()))?;
        for (k, c) in &self.outcomes {
            let n = c.iter().sum::<usize>().max(1) as f64;
            let cells: Vec<String> = c.iter().map(|&x| format!("{:.3}", x as f64 / n)).collect();
            writeln!(f, "| {k} | {} |", cells.join(" | "))?;
        }
        for p in &self.probes {
            writeln!(
                f,
                "\nFrontier after {} thought(s) ({} questions): mass {:.3}; top-1/2/3 cumulative value {:.3} / {:.3} / {:.3}",
                p.k, p.questions, p.frontier_mass, p.top[0], p.top[1], p.top[2]
            )?;
            writeln!(f, "\n| height | value (reaches target) | n | value (dead end) | n |\n|---|---|---|---|---|")?;
            for (h, a, na, b, nb) in &p.by_height {
                writeln!(f, "| {h} | {a:.3} | {na} | {b:.3} | {nb} |")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The outcome figure stacks every outcome per k; the frontier figure has a series per
    /// probed k and node kind over the union of the heights; no probe, no frontier figure.
    #[test]
    fn figures_name_every_outcome_and_probe_series() {
        let tmp = tempfile::tempdir().unwrap();
        let mut report = AnalysisReport {
            questions: 4,
            outcomes: vec![(0, [1, 1, 2, 0, 0, 0]), (1, [2, 0, 1, 0, 1, 0])],
            probes: vec![
                ProbeSummary {
                    k: 1,
                    questions: 4,
                    by_height: vec![
                        (0, 0.0, 0, 0.1, 7),
                        (2, 0.4, 5, 0.0, 0),
                        (3, 0.9, 1, 0.0, 0),
                    ],
                    ..ProbeSummary::default()
                },
                ProbeSummary {
                    k: 2,
                    questions: 4,
                    by_height: vec![(1, 0.3, 6, 0.2, 5)],
                    ..ProbeSummary::default()
                },
            ],
        };
        let names = report.write_figures(tmp.path(), "a").unwrap();
        assert_eq!(names, ["a-outcomes.svg", "a-frontier.svg"]);
        let outcomes = std::fs::read_to_string(tmp.path().join(&names[0])).unwrap();
        for o in Outcome::ALL {
            assert!(outcomes.contains(o.name()), "{}", o.name());
        }
        let frontier = std::fs::read_to_string(tmp.path().join(&names[1])).unwrap();
        for s in [
            "k = 1, reaches target",
            "k = 1, dead end",
            "k = 2, dead end",
        ] {
            assert!(frontier.contains(s), "{s}");
        }
        // Height 3 has one node only: left out of the figure.
        let label = |h: &str| frontier.lines().any(|l| l.trim() == h);
        assert!(label("2") && !label("3"), "height labels");
        assert!(tmp.path().join("a-frontier.png").exists());
        report.probes.clear();
        assert_eq!(
            report.write_figures(tmp.path(), "b").unwrap(),
            ["b-outcomes.svg"]
        );
    }
}

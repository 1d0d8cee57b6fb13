//! Row rules checked on every read, and the split tally compared with the manifest.
//!
//! Per row ([`RowRules::check`]): non-empty prompt and plan; no `bos`/`eos` inside the
//! prompt, reasoning or plan (they only frame model sequences); the plan is `plan x y`
//! clauses and `plan_length` counts them; t* is finite and non-negative; the task JSON
//! parses (duplicate keys refused), is of the dataset's domain and size, and tokenizes to
//! exactly the stored prompt.
//!
//! Per split ([`SplitTally`]): ids strictly increase in file order (so they are unique),
//! and the row count, layout count and length statistics recomputed from the rows equal
//! the manifest's.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use planform_trace::task::Task;
use planform_trace::vocab::{Keyword, TokenKind, Vocabulary, BOS, EOS};

use crate::config::{Domain, GenerateConfig};
use crate::error::{DataError, Result};
use crate::manifest::{Split, SplitInfo};
use crate::manifest_check::PLAN_TOKENS_PER_NODE;
use crate::schema::Example;
use crate::stats::{LengthStats, SplitHistograms, SplitLengthStats};

/// The per-row rules of one dataset.
pub(crate) struct RowRules<'a> {
    vocab: &'a Vocabulary,
    domain: Domain,
    plan: Option<u32>,
}

fn row_err(path: &Path, id: u64, reason: String) -> DataError {
    DataError::InvalidRow {
        path: path.to_path_buf(),
        row_id: id,
        reason,
    }
}

impl<'a> RowRules<'a> {
    pub(crate) fn new(vocab: &'a Vocabulary, config: &GenerateConfig) -> Self {
        Self {
            vocab,
            domain: config.domain,
            plan: vocab.keyword(Keyword::Plan),
        }
    }

    fn token(&self, id: u32) -> String {
        self.vocab.token(id).unwrap_or("?").to_string()
    }

    /// Checks one decoded row (token ids are already known to be in the vocabulary).
    pub(crate) fn check(&self, ex: &Example, path: &Path) -> Result<()> {
        self.check_tokens(ex, &|| path.to_path_buf(), false)?;
        self.check_task(ex, path)
    }

    /// Whether every token is in the vocabulary and none is `bos`/`eos` (the per-token
    /// rules), in one branch-free pass that the compiler vectorises.
    pub(crate) fn all_plain_tokens(&self, toks: &[u32]) -> bool {
        let n = self.vocab.len();
        toks.iter().fold(true, |ok, &t| {
            ok & ((t as usize) < n) & (t != BOS) & (t != EOS)
        })
    }

    /// The rules on the token columns and t* (everything but the task). `plain`: the
    /// per-token rules are already known to hold ([`Self::all_plain_tokens`]).
    /// `path` names the file in an error (built only then).
    pub(crate) fn check_tokens(
        &self,
        ex: &Example,
        path: &dyn Fn() -> PathBuf,
        plain: bool,
    ) -> Result<()> {
        let bad = |reason: String| Err(row_err(&path(), ex.id, reason));
        if ex.prompt.is_empty() {
            return bad("the prompt is empty".into());
        }
        if ex.plan.is_empty() {
            return bad("the plan is empty".into());
        }
        if !plain {
            for (column, toks) in [
                ("prompt", &ex.prompt),
                ("reasoning", &ex.reasoning),
                ("plan", &ex.plan),
            ] {
                if let Some(i) = toks.iter().position(|&t| t == BOS || t == EOS) {
                    return bad(format!(
                        "token `{}` (id {}) at position {i} of the {column}; `bos`/`eos` only frame \
                         model sequences and never appear inside one",
                        self.token(toks[i]),
                        toks[i]
                    ));
                }
            }
        }
        let per = PLAN_TOKENS_PER_NODE as usize;
        if ex.plan.len() != per * ex.plan_length as usize {
            return bad(format!(
                "plan_length is {} but the plan has {} tokens ({} per node)",
                ex.plan_length,
                ex.plan.len(),
                per
            ));
        }
        for (k, clause) in ex.plan.chunks(per).enumerate() {
            let num = |t: u32| matches!(self.vocab.kind(t), Some(TokenKind::Num(_)));
            if Some(clause[0]) != self.plan || !num(clause[1]) || !num(clause[2]) {
                let words: Vec<String> = clause.iter().map(|&t| self.token(t)).collect();
                return bad(format!(
                    "plan clause {k} is `{}`, expected `plan x y`",
                    words.join(" ")
                ));
            }
        }
        if let Some(t) = ex.astar_mean_reasoning {
            if !t.is_finite() || t < 0.0 {
                return bad(format!(
                    "astar_mean_reasoning (t*) is {t}; it must be a finite number >= 0"
                ));
            }
        }
        Ok(())
    }

    /// The task JSON parses, is of the dataset's domain and size, and tokenizes to the
    /// stored prompt.
    pub(crate) fn check_task(&self, ex: &Example, path: &Path) -> Result<()> {
        let bad = |reason: String| Err(row_err(path, ex.id, reason));
        let task = Task::from_json(&ex.task)
            .map_err(|e| row_err(path, ex.id, format!("the task JSON does not parse: {e}")))?;
        let (kind, w, h) = match self.domain {
            Domain::Maze { width, height, .. } => ("maze", width, height),
            Domain::Sokoban { width, height, .. } => ("sokoban", width, height),
        };
        let (tw, th) = task.size();
        if task.domain().name() != kind || (tw, th) != (w, h) {
            return bad(format!(
                "the task is a {tw}x{th} {} but the dataset holds {w}x{h} {kind} tasks",
                task.domain().name()
            ));
        }
        let want = task
            .prompt(self.vocab)
            .map_err(|e| row_err(path, ex.id, format!("the task cannot be tokenized: {e}")))?;
        if want != ex.prompt {
            let i = want
                .iter()
                .zip(&ex.prompt)
                .position(|(a, b)| a != b)
                .unwrap_or(want.len().min(ex.prompt.len()));
            let at = |v: &[u32]| v.get(i).map_or("<end>".to_string(), |&t| self.token(t));
            return bad(format!(
                "the prompt does not match the task: at token {i} the row has `{}`, the task \
                 tokenizes to `{}` ({} vs {} tokens)",
                at(&ex.prompt),
                at(&want),
                ex.prompt.len(),
                want.len()
            ));
        }
        Ok(())
    }
}

/// Running checks over a split's rows in file order.
#[derive(Default)]
pub(crate) struct SplitTally {
    last_id: Option<u64>,
    hist: SplitHistograms,
    layouts: HashSet<u64>,
    rows: u64,
}

impl SplitTally {
    /// Records one row: its id must be larger than every earlier one.
    pub(crate) fn add(&mut self, ex: &Example, path: &Path) -> Result<()> {
        if let Some(last) = self.last_id.filter(|&last| ex.id <= last) {
            let what = if ex.id == last {
                "is a duplicate of the previous row's".to_string()
            } else {
                format!("is smaller than the previous row's ({last})")
            };
            return Err(row_err(
                path,
                ex.id,
                format!("the id {what}; ids are unique and increase through a split"),
            ));
        }
        self.last_id = Some(ex.id);
        self.hist
            .add(ex.prompt.len(), ex.reasoning.len(), ex.plan.len());
        self.layouts.insert(ex.layout);
        self.rows += 1;
        Ok(())
    }

    /// Compares what the rows gave with the manifest's split info.
    pub(crate) fn finish(&self, split: Split, info: &SplitInfo, manifest: &Path) -> Result<()> {
        let bad = |reason: String| {
            Err(DataError::MalformedManifest {
                path: manifest.to_path_buf(),
                reason: format!("{split} split disagrees with its shards: {reason}"),
            })
        };
        if self.rows != info.tasks {
            return bad(format!(
                "tasks is {} but the shards hold {} rows",
                info.tasks, self.rows
            ));
        }
        let layouts = self.layouts.len() as u64;
        if layouts != info.layouts {
            return bad(format!(
                "layouts is {} but the rows have {layouts} distinct layouts",
                info.layouts
            ));
        }
        let got = self.hist.stats();
        if let Some(diff) = first_difference(&info.lengths, &got) {
            return bad(format!("lengths.{diff}"));
        }
        Ok(())
    }
}

/// `"reasoning.max is 15 but the rows give 412"` for the first field that differs.
fn first_difference(stored: &SplitLengthStats, rows: &SplitLengthStats) -> Option<String> {
    let groups = [
        ("prompt", &stored.prompt, &rows.prompt),
        ("reasoning", &stored.reasoning, &rows.reasoning),
        ("plan", &stored.plan, &rows.plan),
        ("decoder", &stored.decoder, &rows.decoder),
    ];
    for (name, a, b) in groups {
        let fields = |s: &LengthStats| {
            [
                ("count", s.count as f64),
                ("min", f64::from(s.min)),
                ("max", f64::from(s.max)),
                ("mean", s.mean),
                ("p50", f64::from(s.p50)),
                ("p90", f64::from(s.p90)),
                ("p99", f64::from(s.p99)),
            ]
        };
        for ((field, x), (_, y)) in fields(a).into_iter().zip(fields(b)) {
            // The writer computes the same numbers the same way; allow only float noise.
            if (x - y).abs() > 1e-9 * y.abs().max(1.0) || x.is_nan() {
                return Some(format!("{name}.{field} is {x} but the rows give {y}"));
            }
        }
    }
    None
}

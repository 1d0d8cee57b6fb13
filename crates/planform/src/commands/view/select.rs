//! Which tasks `planform view` shows: the evaluation's selection (planform-eval's
//! [`hashed_examples`]), and the lines of a saved `responses.jsonl` for them.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use planform_data::{Dataset, Example, Split};
use planform_eval::{hashed_examples, ResponseLine};

use super::{Row, ViewArgs};

/// Positions chosen by `--index` within a selection of `n` rows, or all of them.
fn positions(args: &ViewArgs, n: usize, what: &str) -> Result<Vec<usize>> {
    if args.tasks == 0 {
        bail!("--tasks must be at least 1");
    }
    if args.index.is_empty() {
        return Ok((0..n).collect());
    }
    for &pos in &args.index {
        if pos >= n {
            bail!(
                "--index {pos}: {what} has {n} tasks (positions 0..{}); raise --tasks to pick \
                 later ones",
                n.saturating_sub(1)
            );
        }
    }
    Ok(args.index.clone())
}

/// The rows `planform eval --tasks N` evaluates ([`hashed_examples`], in id order), at the
/// positions `--index` picks (default: all N).
pub(super) fn select(dataset: &Dataset, split: Split, args: &ViewArgs) -> Result<Vec<Row>> {
    let dir = dataset.dir().display();
    let rows = hashed_examples(dataset, split, args.tasks)
        .with_context(|| format!("reading split `{split}` of {dir}"))?;
    let what = format!(
        "the evaluation selection (--tasks {}) of split `{split}` of {dir}",
        args.tasks
    );
    Ok(positions(args, rows.len(), &what)?
        .into_iter()
        .map(|pos| Row {
            pos,
            example: rows[pos].clone(),
        })
        .collect())
}

/// The whole split in id order.
pub(super) fn read_split(dataset: &Dataset, split: Split) -> Result<Vec<Example>> {
    let mut rows = dataset
        .read_split(split)
        .with_context(|| format!("reading split `{split}` of {}", dataset.dir().display()))?;
    rows.sort_by_key(|e| e.id);
    Ok(rows)
}

/// Lines of a responses file by task id: `(line number, line)` in file order.
pub(super) type ResponsesById = BTreeMap<u64, Vec<(usize, ResponseLine)>>;

/// Reads and checks a `responses.jsonl` file: every line must parse and name a task of
/// the split.
pub(super) fn read_responses(
    path: &Path,
    split_rows: &[Example],
    split: Split,
    data: &Path,
) -> Result<ResponsesById> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = ResponsesById::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let no = i + 1;
        let r: ResponseLine = serde_json::from_str(line).with_context(|| {
            format!(
                "{}:{no}: not a responses.jsonl line (want {{id, sample, correct, optimal, \
                 tokens}} as written by `planform eval --save-responses`)",
                path.display()
            )
        })?;
        if split_rows.binary_search_by_key(&r.id, |e| e.id).is_err() {
            bail!(
                "{}:{no}: task id {} is not in split `{split}` of {} \
                 (responses of another dataset or split?)",
                path.display(),
                r.id,
                data.display()
            );
        }
        out.entry(r.id).or_default().push((no, r));
    }
    if out.is_empty() {
        bail!("{}: no responses in the file", path.display());
    }
    Ok(out)
}

/// The evaluation selection (see [`select`]) restricted to the tasks that have responses
/// in the file: with `--index`, each picked task must have one.
pub(super) fn select_with_responses(
    dataset: &Dataset,
    split: Split,
    lines: &ResponsesById,
    args: &ViewArgs,
    path: &Path,
) -> Result<Vec<Row>> {
    let picked = select(dataset, split, args)?;
    if args.index.is_empty() {
        let rows: Vec<Row> = picked
            .into_iter()
            .filter(|r| lines.contains_key(&r.example.id))
            .collect();
        if rows.is_empty() {
            bail!(
                "{}: none of the {} tasks of the evaluation selection (--tasks {}) has a \
                 response in the file",
                path.display(),
                args.tasks,
                args.tasks
            );
        }
        return Ok(rows);
    }
    for r in &picked {
        if !lines.contains_key(&r.example.id) {
            bail!(
                "--index {}: task id {} has no response in {}",
                r.pos,
                r.example.id,
                path.display()
            );
        }
    }
    Ok(picked)
}

/// The line of sample `sample` of a row's task.
pub(super) fn pick_sample(
    lines: &ResponsesById,
    row: &Row,
    sample: usize,
    path: &Path,
) -> Result<(usize, ResponseLine)> {
    let id = row.example.id;
    let of_task = lines.get(&id).map(Vec::as_slice).unwrap_or_default();
    match of_task.iter().find(|(_, l)| l.sample == sample) {
        Some(found) => Ok(found.clone()),
        None => bail!(
            "{}: task id {id} has samples {:?}, no sample {sample} (--sample)",
            path.display(),
            of_task.iter().map(|(_, l)| l.sample).collect::<Vec<_>>()
        ),
    }
}

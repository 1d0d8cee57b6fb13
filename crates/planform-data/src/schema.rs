//! The row type ([`Example`]) and its Arrow/Parquet schema.
//!
//! | column | Arrow type | meaning |
//! |---|---|---|
//! | `id` | uint64 | unique, deterministic row id (0.. in file order: train rows, then test rows) |
//! | `layout` | uint64 | wall-layout index (maze) or level index (Sokoban) = the generator stream index |
//! | `task` | utf8 | JSON of the task (for mazes exactly the golden fields `width/height/start/goal/walls`) |
//! | `prompt` | list\<uint32\> | prompt token ids, no `bos`/`eos` |
//! | `reasoning` | list\<uint32\> | A* trace token ids |
//! | `plan` | list\<uint32\> | plan token ids |
//! | `plan_length` | uint32 | optimal plan length in nodes (start and goal included) |
//! | `reasoning_length` | uint32 | `len(reasoning)` in tokens |
//! | `astar_mean_reasoning` | float64, nullable | t*: mean reasoning tokens over N nondeterministic A* runs |

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, UInt32Builder};
use arrow_array::{
    Array, ArrayRef, Float64Array, ListArray, RecordBatch, StringArray, UInt32Array, UInt64Array,
};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use planform_trace::task::Task;

use crate::error::{DataError, Result};

/// Column names in schema order.
pub const COLUMNS: [&str; 9] = [
    "id",
    "layout",
    "task",
    "prompt",
    "reasoning",
    "plan",
    "plan_length",
    "reasoning_length",
    "astar_mean_reasoning",
];

/// One dataset row: a task, its tokens and lengths.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Unique, deterministic id (row number over train then test).
    pub id: u64,
    /// Wall-layout index (maze) or level index (Sokoban); all tasks of one layout share it
    /// and live in one split.
    pub layout: u64,
    /// The task as JSON; [`Example::parse_task`] gives the typed task.
    pub task: String,
    /// Prompt token ids (no `bos`/`eos`).
    pub prompt: Vec<u32>,
    /// Reasoning (A* trace) token ids.
    pub reasoning: Vec<u32>,
    /// Plan token ids.
    pub plan: Vec<u32>,
    /// Optimal plan length in nodes.
    pub plan_length: u32,
    /// `reasoning.len()`.
    pub reasoning_length: u32,
    /// t*: mean reasoning length (tokens) over N nondeterministic A* runs, when computed.
    pub astar_mean_reasoning: Option<f64>,
}

impl Example {
    /// Parse the `task` JSON into the trace crate's task type (maze or Sokoban).
    pub fn parse_task(&self) -> Result<Task> {
        Task::from_json(&self.task).map_err(|e| DataError::TaskJson {
            id: self.id,
            reason: e.to_string(),
        })
    }
}

fn list_field(name: &str) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new("item", DataType::UInt32, false))),
        false,
    )
}

/// The Arrow schema of every shard (Parquet key-value metadata is added by the writer).
pub fn arrow_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::UInt64, false),
        Field::new("layout", DataType::UInt64, false),
        Field::new("task", DataType::Utf8, false),
        list_field("prompt"),
        list_field("reasoning"),
        list_field("plan"),
        Field::new("plan_length", DataType::UInt32, false),
        Field::new("reasoning_length", DataType::UInt32, false),
        Field::new("astar_mean_reasoning", DataType::Float64, true),
    ]))
}

fn token_list<'a>(rows: &'a [Example], f: impl Fn(&'a Example) -> &'a [u32]) -> ArrayRef {
    let total: usize = rows.iter().map(|r| f(r).len()).sum();
    let mut b = ListBuilder::with_capacity(UInt32Builder::with_capacity(total), rows.len())
        .with_field(Arc::new(Field::new("item", DataType::UInt32, false)));
    for r in rows {
        b.values().append_slice(f(r));
        b.append(true);
    }
    Arc::new(b.finish())
}

/// Indices (in [`COLUMNS`], equal to their Parquet leaf indices) of the token-list columns,
/// which the shard writer encodes directly (`token_column`), as it does the task strings;
/// the other columns go through Arrow.
pub(crate) const TOKEN_COLUMNS: [usize; 3] = [3, 4, 5];
/// Index in [`COLUMNS`] of the task JSON strings (also encoded directly by the shard writer).
pub(crate) const TASK_COLUMN: usize = 2;

/// Column `i` of [`COLUMNS`] (`i < 9`) of the rows.
pub(crate) fn build_column(rows: &[Example], i: usize) -> ArrayRef {
    match i {
        0 => Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.id))),
        1 => Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.layout))),
        2 => Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.task.as_str()),
        )),
        6 => Arc::new(UInt32Array::from_iter_values(
            rows.iter().map(|r| r.plan_length),
        )),
        7 => Arc::new(UInt32Array::from_iter_values(
            rows.iter().map(|r| r.reasoning_length),
        )),
        8 => Arc::new(Float64Array::from_iter(
            rows.iter().map(|r| r.astar_mean_reasoning),
        )),
        _ => token_list(rows, |r| row_tokens(r, i)),
    }
}

/// The tokens of token-list column `i` ([`TOKEN_COLUMNS`]) of a row.
pub(crate) fn row_tokens(r: &Example, i: usize) -> &[u32] {
    match i {
        3 => &r.prompt,
        4 => &r.reasoning,
        _ => &r.plan,
    }
}

/// Build a record batch with the shard schema from rows (in order).
pub fn to_batch(rows: &[Example]) -> std::result::Result<RecordBatch, ArrowError> {
    RecordBatch::try_new(
        arrow_schema(),
        (0..COLUMNS.len()).map(|i| build_column(rows, i)).collect(),
    )
}

/// Check that `schema` has our columns with our types (list item nullability and
/// metadata are ignored so that files rewritten by other tools still read).
pub(crate) fn check_schema(schema: &Schema, path: &Path) -> Result<()> {
    let expected = arrow_schema();
    let wrong = |reason: String| DataError::WrongSchema {
        path: path.to_path_buf(),
        reason,
    };
    if schema.fields().len() != expected.fields().len() {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        return Err(wrong(format!("columns {names:?}, expected {COLUMNS:?}")));
    }
    for (got, want) in schema.fields().iter().zip(expected.fields()) {
        if got.name() != want.name() {
            return Err(wrong(format!(
                "column `{}` where `{}` was expected",
                got.name(),
                want.name()
            )));
        }
        let same = match (got.data_type(), want.data_type()) {
            (DataType::List(a), DataType::List(b)) => a.data_type() == b.data_type(),
            (a, b) => a == b,
        };
        if !same {
            return Err(wrong(format!(
                "column `{}` has type {}, expected {}",
                got.name(),
                got.data_type(),
                want.data_type()
            )));
        }
    }
    Ok(())
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a T> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| DataError::WrongSchema {
            path: path.to_path_buf(),
            reason: format!("missing column `{name}`"),
        })?;
    if name != "astar_mean_reasoning" && col.null_count() > 0 {
        return Err(DataError::InconsistentShard {
            path: path.to_path_buf(),
            reason: format!("column `{name}` holds {} null values", col.null_count()),
        });
    }
    col.as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| DataError::WrongSchema {
            path: path.to_path_buf(),
            reason: format!("column `{name}` has type {}", col.data_type()),
        })
}

/// Offsets and flat values of a `list<uint32>` column.
struct Tokens<'a> {
    offsets: &'a [i32],
    values: &'a [u32],
    name: &'static str,
}

impl<'a> Tokens<'a> {
    fn new(batch: &'a RecordBatch, name: &'static str, path: &Path) -> Result<Self> {
        let list: &ListArray = column(batch, name, path)?;
        let values = list
            .values()
            .as_any()
            .downcast_ref::<UInt32Array>()
            .ok_or_else(|| DataError::WrongSchema {
                path: path.to_path_buf(),
                reason: format!("column `{name}` items are not uint32"),
            })?;
        if values.null_count() > 0 {
            return Err(DataError::InconsistentShard {
                path: path.to_path_buf(),
                reason: format!("column `{name}` holds null tokens"),
            });
        }
        Ok(Self {
            offsets: list.value_offsets(),
            values: values.values(),
            name,
        })
    }

    /// Row `i`'s tokens, each checked against the vocabulary size.
    fn row(&self, i: usize, id: u64, vocab_size: usize, path: &Path) -> Result<Vec<u32>> {
        let bad = || DataError::InconsistentShard {
            path: path.to_path_buf(),
            reason: format!("column `{}` has invalid list offsets", self.name),
        };
        let lo = usize::try_from(self.offsets[i]).map_err(|_| bad())?;
        let hi = usize::try_from(self.offsets[i + 1]).map_err(|_| bad())?;
        let toks = self.values.get(lo..hi).ok_or_else(bad)?;
        if let Some(&t) = toks.iter().find(|&&t| t as usize >= vocab_size) {
            return Err(DataError::TokenOutOfRange {
                path: path.to_path_buf(),
                row_id: id,
                column: self.name,
                token: t,
                vocab_size,
            });
        }
        Ok(toks.to_vec())
    }
}

/// Decode and validate a record batch read from `path`.
pub(crate) fn from_batch(
    batch: &RecordBatch,
    vocab_size: usize,
    path: &Path,
) -> Result<Vec<Example>> {
    check_schema(&batch.schema(), path)?;
    let id: &UInt64Array = column(batch, "id", path)?;
    let layout: &UInt64Array = column(batch, "layout", path)?;
    let task: &StringArray = column(batch, "task", path)?;
    let prompt = Tokens::new(batch, "prompt", path)?;
    let reasoning = Tokens::new(batch, "reasoning", path)?;
    let plan = Tokens::new(batch, "plan", path)?;
    let plan_length: &UInt32Array = column(batch, "plan_length", path)?;
    let reasoning_length: &UInt32Array = column(batch, "reasoning_length", path)?;
    let tstar: &Float64Array = column(batch, "astar_mean_reasoning", path)?;
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let row_id = id.value(i);
        let ex = Example {
            id: row_id,
            layout: layout.value(i),
            task: task.value(i).to_string(),
            prompt: prompt.row(i, row_id, vocab_size, path)?,
            reasoning: reasoning.row(i, row_id, vocab_size, path)?,
            plan: plan.row(i, row_id, vocab_size, path)?,
            plan_length: plan_length.value(i),
            reasoning_length: reasoning_length.value(i),
            astar_mean_reasoning: tstar.is_valid(i).then(|| tstar.value(i)),
        };
        if ex.reasoning_length as usize != ex.reasoning.len() {
            return Err(DataError::InconsistentShard {
                path: path.to_path_buf(),
                reason: format!(
                    "row id {row_id}: reasoning_length {} but {} reasoning tokens",
                    ex.reasoning_length,
                    ex.reasoning.len()
                ),
            });
        }
        out.push(ex);
    }
    Ok(out)
}

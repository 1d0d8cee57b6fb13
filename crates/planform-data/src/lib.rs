//! planform-data: Parquet datasets of A* search traces.
//!
//! A dataset is a directory:
//!
//! ```text
//! <out>/
//!   manifest.json          format version, generator config + seed, vocabulary, counts,
//!                          length stats, shard list (rows, bytes, sha256), t* flag
//!   train-00000.parquet    zstd Parquet shards, `shard_rows` rows each (default 100,000)
//!   train-00001.parquet
//!   test-00000.parquet
//! ```
//!
//! Shard columns are described in [`schema`]. Shards open as they are in pyarrow, pandas
//! and Hugging Face `datasets` (see the crate README).
//!
//! - Write: [`generate`] (tasks + A* traces, parallel and byte-for-byte deterministic for a
//!   seed), [`generate_from_tasks`] (your own task JSON lines), or [`DatasetWriter`] for
//!   rows you already have. Only a dataset planform wrote is ever replaced (see
//!   [`DataError::NotADataset`]); stale `<out>.partial-<pid>` directories of dead processes
//!   are removed ([`remove_stale_partials`]).
//! - Read: [`Dataset::open`], then [`Dataset::read_split`] or [`Dataset::batches`];
//!   [`Dataset::verify`] checks every sha256; [`Dataset::inspect`] summarizes. Manifests
//!   are cross-checked at open and every row is validated on read (see [`Dataset`]).

mod atomic;
mod config;
mod dataset_writer;
mod error;
mod footer;
mod generate;
mod inspect;
mod layouts;
mod manifest;
mod manifest_check;
mod outdir;
mod reader;
pub mod schema;
mod stats;
mod tasks;
mod token_column;
mod validate;
mod writer;

pub use atomic::is_partial_name;
pub use config::{Domain, GenerateConfig, LengthFilters, TStarConfig, TaskSource, MAX_TSTAR_RUNS};
pub use dataset_writer::DatasetWriter;
pub use error::{DataError, Result};
pub use generate::{generate, MAX_THREADS, TSTAR_KEY};
pub use inspect::{Inspection, SplitSummary};
pub use manifest::{
    GenerationCounts, Manifest, ShardInfo, Split, SplitInfo, FORMAT_NAME, FORMAT_VERSION,
    KV_FORMAT_VERSION, KV_MANIFEST, KV_SPLIT, MANIFEST_FILE, MAX_FORMAT_VERSION,
};
pub use outdir::{remove_stale_partials, AUXILIARY_FILES};
pub use reader::{Batches, Dataset};
pub use schema::Example;
pub use stats::{HistogramBin, LengthHistogram, LengthStats, SplitHistograms, SplitLengthStats};
pub use tasks::{generate_from_tasks, read_task_lines, FromTasks, TaskLine};
pub use writer::{ROW_GROUP_ROWS, ZSTD_LEVEL};

/// A* mode (re-exported from `planform-trace`).
pub use planform_trace::astar::SearchMode;

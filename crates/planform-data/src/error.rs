//! The crate's error type: every failure names the file or input it concerns.

use std::path::PathBuf;

/// Errors from writing, opening, verifying and reading datasets.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The dataset directory does not exist.
    #[error("dataset directory {path} does not exist")]
    MissingDir {
        /// The directory that was asked for.
        path: PathBuf,
    },
    /// The path exists but is not a directory (a file, say), so it is not a dataset.
    #[error(
        "{path} is not a dataset directory: it is a {kind} (a dataset is a directory holding \
         manifest.json and Parquet shards, as written by `planform gen`)"
    )]
    NotADirectory {
        /// The path that was asked for.
        path: PathBuf,
        /// What it is instead (`file`, `symbolic link to a file`, ...).
        kind: &'static str,
    },
    /// The output path holds something that is not a dataset planform wrote, so it is
    /// neither replaced nor written into.
    #[error(
        "refusing to write a dataset to {path}: {reason}. planform only replaces a dataset \
         directory it wrote itself (manifest.json and the shards it lists); choose another \
         output path, or move that one away yourself"
    )]
    NotADataset {
        /// The output path.
        path: PathBuf,
        /// What was found there.
        reason: String,
    },
    /// The directory is an unfinished generation (`<out>.partial-<pid>`).
    #[error(
        "{path} is an unfinished dataset (a `.partial-<pid>` directory left by an interrupted \
         `generate`); delete it and generate again"
    )]
    PartialDataset {
        /// The partial directory.
        path: PathBuf,
    },
    /// `manifest.json` is absent: the directory is not a (complete) dataset.
    #[error("dataset manifest {path} is missing (not a planform dataset, or an incomplete one)")]
    MissingManifest {
        /// Path of the expected manifest.
        path: PathBuf,
    },
    /// `manifest.json` is not valid JSON, or fields are missing or inconsistent.
    #[error("dataset manifest {path} is malformed: {reason}")]
    MalformedManifest {
        /// Path of the manifest.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The manifest was written by an incompatible format version.
    #[error(
        "dataset manifest {path} has format version {found}; this build of planform reads \
         version {expected}"
    )]
    IncompatibleVersion {
        /// Path of the manifest.
        path: PathBuf,
        /// Version found in the file.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
    /// A shard listed in the manifest is missing.
    #[error("shard {path} listed in the manifest is missing")]
    MissingShard {
        /// Path of the shard.
        path: PathBuf,
    },
    /// A shard's size differs from the manifest (typically a truncated file).
    #[error(
        "shard {path} has {found} bytes but the manifest says {expected} (truncated or replaced?)"
    )]
    SizeMismatch {
        /// Path of the shard.
        path: PathBuf,
        /// Size recorded in the manifest.
        expected: u64,
        /// Size on disk.
        found: u64,
    },
    /// A shard's sha256 differs from the manifest.
    #[error("shard {path} fails its checksum: manifest sha256 {expected}, file sha256 {found}")]
    ChecksumMismatch {
        /// Path of the shard.
        path: PathBuf,
        /// Hex digest recorded in the manifest.
        expected: String,
        /// Hex digest of the file.
        found: String,
    },
    /// The shard is not a readable Parquet file (truncated, corrupt).
    #[error("shard {path} is not a readable Parquet file: {reason}")]
    CorruptShard {
        /// Path of the shard.
        path: PathBuf,
        /// Decoder message.
        reason: String,
    },
    /// The shard's Arrow schema is not the planform schema.
    #[error("shard {path} has the wrong schema: {reason}")]
    WrongSchema {
        /// Path of the shard.
        path: PathBuf,
        /// Which column differs.
        reason: String,
    },
    /// A token id is not in the manifest vocabulary.
    #[error(
        "shard {path}, row id {row_id}: token id {token} in column `{column}` is out of range \
         (vocabulary size {vocab_size})"
    )]
    TokenOutOfRange {
        /// Path of the shard.
        path: PathBuf,
        /// The `id` column of the offending row.
        row_id: u64,
        /// Column name (`prompt`, `reasoning` or `plan`).
        column: &'static str,
        /// The bad id.
        token: u32,
        /// Vocabulary size from the manifest.
        vocab_size: usize,
    },
    /// A row breaks a rule every row of a planform dataset follows (unique increasing ids,
    /// non-empty prompt and plan, no `bos`/`eos` inside the sequences, `plan_length`
    /// matching the plan, finite t*, prompt equal to the tokenized task, ...).
    #[error("shard {path}, row id {row_id}: {reason}")]
    InvalidRow {
        /// Path of the shard.
        path: PathBuf,
        /// The `id` column of the offending row.
        row_id: u64,
        /// What is wrong.
        reason: String,
    },
    /// Lines of a task file (`gen --from`) that do not parse, or cannot be solved.
    #[error("{file}: {failed} of {total} task lines failed: {details}")]
    TaskLines {
        /// The task file as named by the caller.
        file: String,
        /// Number of failed lines.
        failed: usize,
        /// Number of task (non-blank) lines.
        total: usize,
        /// The first few failures, `line N: why`.
        details: String,
    },
    /// A shard's content disagrees with the manifest or with itself (row counts,
    /// length columns, null values where none are allowed).
    #[error("shard {path} is inconsistent: {reason}")]
    InconsistentShard {
        /// Path of the shard.
        path: PathBuf,
        /// What disagrees.
        reason: String,
    },
    /// The output dataset already exists and overwriting was not requested.
    #[error(
        "dataset {path} already exists (pass `--overwrite` to `planform gen`, or set \
         `GenerateConfig::overwrite`, to replace it)"
    )]
    AlreadyExists {
        /// The existing output directory.
        path: PathBuf,
    },
    /// The generation config is unusable.
    #[error("invalid dataset generation config: {0}")]
    InvalidConfig(String),
    /// The `task` JSON of an example does not parse into a task.
    #[error("example {id}: task JSON does not parse: {reason}")]
    TaskJson {
        /// The example id.
        id: u64,
        /// Parser message.
        reason: String,
    },
    /// The trace generator failed.
    #[error("trace generation failed for layout {layout}: {reason}")]
    Generation {
        /// Layout (stream) index.
        layout: u64,
        /// Generator message.
        reason: String,
    },
    /// An operating-system I/O error on a named path. The OS message is part of this
    /// error's text and deliberately not exposed as `source()`, so an error chain printed
    /// with `{:#}` (anyhow) shows it once, not twice.
    #[error("I/O error on {path}: {error}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// The Parquet encoder failed while writing a shard.
    #[error("writing shard {path}: {reason}")]
    Write {
        /// Path of the shard.
        path: PathBuf,
        /// Encoder message.
        reason: String,
    },
}

/// Result alias for this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// Attach a path to an `io::Error`.
pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DataError {
    let path = path.into();
    move |error| DataError::Io { path, error }
}

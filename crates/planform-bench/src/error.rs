//! Typed errors of the benchmarks.

use std::path::PathBuf;

/// Everything that can stop a benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A setting is out of range or settings contradict each other (the message names them).
    #[error("{0}")]
    Config(String),
    /// The requested device cannot be used (the message names the flag).
    #[error("{0}")]
    Device(String),
    /// The model rejected its configuration or input.
    #[error("model: {0}")]
    Model(#[from] planform_model::ModelError),
    /// The training step or the data preparation failed.
    #[error("training: {0}")]
    Train(#[from] planform_train::TrainError),
    /// The optimizer failed.
    #[error("optimizer: {0}")]
    Optim(#[from] planform_optim::OptimError),
    /// A trace generator failed.
    #[error("trace generation: {0}")]
    Trace(#[from] planform_trace::Error),
    /// A dataset could not be written or read.
    #[error("dataset: {0}")]
    Data(#[from] planform_data::DataError),
    /// A libtorch call failed.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// Reading or writing a file failed.
    #[error("{path}: {error}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A report could not be serialised.
    #[error("serialising the report: {0}")]
    Json(#[from] serde_json::Error),
    /// A Python comparison script could not be found, run or understood.
    #[error("{0}")]
    Python(String),
    /// The embedded anchors file is malformed.
    #[error("anchors.toml: {0}")]
    Anchors(String),
    /// A worker thread panicked.
    #[error("a benchmark worker thread panicked")]
    WorkerPanicked,
}

impl BenchError {
    /// An [`BenchError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        BenchError::Io {
            path: path.into(),
            error,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;

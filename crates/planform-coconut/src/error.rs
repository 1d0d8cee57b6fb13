//! Typed errors of the Coconut crate.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong configuring, training, decoding or evaluating.
#[derive(Debug, Error)]
pub enum CoconutError {
    /// A configuration value is unusable (the message names the field).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Input data is unusable (unknown word, malformed record, ...).
    #[error("data: {0}")]
    Data(String),
    /// A task-layer error (ProsQA records, mazes, vocabularies).
    #[error(transparent)]
    Trace(#[from] planform_trace::Error),
    /// A model error.
    #[error(transparent)]
    Model(#[from] planform_model::ModelError),
    /// An optimizer error.
    #[error(transparent)]
    Optim(#[from] planform_optim::OptimError),
    /// Reading or writing a file failed (the OS error is part of the message).
    #[error("{path}: {error}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A run directory or checkpoint is not what it should be.
    #[error("{path}: {reason}")]
    Run {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An error reported by libtorch.
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
}

impl CoconutError {
    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        CoconutError::Io {
            path: path.into(),
            error,
        }
    }

    /// A [`CoconutError::Run`].
    pub fn run(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        CoconutError::Run {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = CoconutError> = std::result::Result<T, E>;

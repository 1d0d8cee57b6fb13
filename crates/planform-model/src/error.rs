//! Typed errors of the model crate.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong building, running, saving or loading a model.
#[derive(Debug, Error)]
pub enum ModelError {
    /// A configuration value is unusable (the message names the field).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A tensor argument has the wrong rank, size, dtype or device.
    #[error("bad shape for {name}: expected {expected}, got {got}")]
    Shape {
        /// Which argument.
        name: &'static str,
        /// What was expected.
        expected: String,
        /// What was passed.
        got: String,
    },
    /// A token id outside `0..vocab_size`.
    #[error("token id {id} in {name} is outside the vocabulary 0..{vocab}")]
    TokenOutOfRange {
        /// Which argument.
        name: &'static str,
        /// The offending id.
        id: i64,
        /// Vocabulary size.
        vocab: usize,
    },
    /// A sequence longer than the model's `max_positions`.
    #[error("{name} has length {len}, beyond max_positions {max}")]
    TooLong {
        /// Which argument.
        name: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Loading named weights failed (missing, unexpected or mis-shaped keys).
    #[error("state dict: {0}")]
    StateDict(String),
    /// The requested device is not available.
    #[error("device: {0}")]
    Device(String),
    /// Reading or writing a file failed. (The OS error is part of the message, not a
    /// separate `source`, so error chains print it once.)
    #[error("{path}: {error}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A checkpoint (or one of its files) is unusable: missing, corrupt, truncated, or
    /// not what it claims to be.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint directory or file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// There is no checkpoint at a path.
    #[error("no checkpoint in {0}")]
    NoCheckpoint(PathBuf),
    /// An error reported by libtorch.
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
}

impl ModelError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        ModelError::Io {
            path: path.into(),
            error,
        }
    }

    /// Builds a [`ModelError::Checkpoint`].
    pub fn checkpoint(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        ModelError::Checkpoint {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

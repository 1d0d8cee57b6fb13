//! Typed errors of the evaluation crate.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong configuring or running an evaluation.
#[derive(Debug, Error)]
pub enum EvalError {
    /// A config field holds an unusable value.
    #[error("eval config `{field}`: {reason}")]
    Config {
        /// The field, e.g. `samples`.
        field: &'static str,
        /// Why the value is rejected.
        reason: String,
    },
    /// The dataset could not be opened or read (the message names the path).
    #[error(transparent)]
    Data(#[from] planform_data::DataError),
    /// The checkpoint could not be loaded, the device is unavailable, or decoding failed
    /// (the message names the path, device or argument).
    #[error(transparent)]
    Model(planform_model::ModelError),
    /// A task or token operation failed (e.g. t* computation).
    #[error(transparent)]
    Trace(#[from] planform_trace::Error),
    /// No checkpoint at the path (missing, or a directory without one).
    #[error(
        "no checkpoint at {0} (expected a run directory with checkpoints/latest, \
         or a checkpoints/step-N directory)"
    )]
    MissingCheckpoint(PathBuf),
    /// The dataset and the checkpoint were built for different vocabularies.
    #[error("checkpoint {checkpoint} does not fit dataset {dataset}: {reason}")]
    VocabMismatch {
        /// The checkpoint directory.
        checkpoint: PathBuf,
        /// The dataset directory.
        dataset: PathBuf,
        /// What differs.
        reason: String,
    },
    /// The selected split has no rows.
    #[error("dataset {dataset}: split `{split}` has no tasks")]
    EmptySplit {
        /// The dataset directory.
        dataset: PathBuf,
        /// The split.
        split: String,
    },
    /// A response set does not match its tasks (e.g. a task without responses).
    #[error("responses: {0}")]
    Responses(String),
    /// Writing an output file failed.
    #[error("{path}: {error}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// Serialising an output failed.
    #[error("{path}: {error}")]
    Json {
        /// The file being written.
        path: PathBuf,
        /// The underlying error.
        error: serde_json::Error,
    },
}

impl EvalError {
    /// A [`EvalError::Config`] error.
    pub fn config(field: &'static str, reason: impl Into<String>) -> Self {
        EvalError::Config {
            field,
            reason: reason.into(),
        }
    }

    /// An [`EvalError::Io`] error.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EvalError::Io {
            path: path.into(),
            error: source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = EvalError> = std::result::Result<T, E>;

impl From<planform_model::ModelError> for EvalError {
    /// "No checkpoint here" gets its own message; the rest stay model errors.
    fn from(e: planform_model::ModelError) -> Self {
        match e {
            planform_model::ModelError::NoCheckpoint(p) => EvalError::MissingCheckpoint(p),
            e => EvalError::Model(e),
        }
    }
}

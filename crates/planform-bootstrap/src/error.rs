//! Typed errors of the bootstrapping crate.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong configuring or running a bootstrap.
#[derive(Debug, Error)]
pub enum BootstrapError {
    /// A config field holds an unusable value.
    #[error("bootstrap config `{field}`: {reason}")]
    Config {
        /// The field, e.g. `finetune.steps`.
        field: String,
        /// Why the value is rejected.
        reason: String,
    },
    /// A config file could not be parsed.
    #[error("{origin}: {message}")]
    ConfigParse {
        /// File name or other source.
        origin: String,
        /// Parser message.
        message: String,
    },
    /// `state.json` of the output directory is unreadable or inconsistent.
    #[error(
        "{path}: {reason} (the bootstrap state is corrupt; remove the output directory to \
         start over)"
    )]
    State {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The output directory belongs to a bootstrap with a different config.
    #[error(
        "{path} was started with a different config ({differences}); resume with the \
         original settings, or choose another output directory"
    )]
    ConfigChanged {
        /// The state file.
        path: PathBuf,
        /// The differing fields, `field: stored → requested`.
        differences: String,
    },
    /// `--resume` without a bootstrap to resume.
    #[error("nothing to resume: {0} has no state.json")]
    NothingToResume(PathBuf),
    /// The output directory holds files that are not a bootstrap's.
    #[error("{0} is not empty and has no state.json; refusing to write into it")]
    NotABootstrapDir(PathBuf),
    /// A saved sampling chunk is unreadable or does not match its prompts.
    #[error("{path}: {reason} (delete this chunk to sample it again)")]
    Chunk {
        /// The chunk directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The base run, checkpoints and dataset do not fit together.
    #[error("{0}")]
    Mismatch(String),
    /// Dataset reading or writing.
    #[error(transparent)]
    Data(#[from] planform_data::DataError),
    /// Training or checkpoint loading.
    #[error(transparent)]
    Train(#[from] planform_train::TrainError),
    /// Sampling or evaluation.
    #[error(transparent)]
    Eval(#[from] planform_eval::EvalError),
    /// Task parsing.
    #[error(transparent)]
    Trace(#[from] planform_trace::Error),
    /// File system. (The OS error is part of the message, not a `source`, so error chains
    /// print it once.)
    #[error("{path}: {error}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// JSON (de)serialisation of an output file.
    #[error("{path}: {error}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        error: serde_json::Error,
    },
}

impl BootstrapError {
    /// A [`BootstrapError::Config`] error.
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        BootstrapError::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A [`BootstrapError::Io`] error.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        BootstrapError::Io {
            path: path.into(),
            error,
        }
    }
}

impl From<planform_model::ModelError> for BootstrapError {
    fn from(e: planform_model::ModelError) -> Self {
        BootstrapError::Train(e.into())
    }
}

/// Result alias of this crate.
pub type Result<T, E = BootstrapError> = std::result::Result<T, E>;

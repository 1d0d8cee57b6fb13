//! Typed errors of the recipe crate.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong loading, overriding or running a recipe, or building the
/// report.
#[derive(Debug, Error)]
pub enum RecipeError {
    /// A recipe (or report config) could not be parsed; `origin` names the file or override.
    #[error("{origin}: {message}")]
    Parse {
        /// File path, `override FIELD=VALUE`, or `built-in demo`.
        origin: String,
        /// The parser's message.
        message: String,
    },
    /// A field holds an unusable value.
    #[error("recipe field `{field}`: {reason}")]
    Invalid {
        /// Dotted field path, e.g. `eval.fast.tasks`.
        field: String,
        /// Why the value is rejected.
        reason: String,
    },
    /// A dataset directory of this name exists but was generated with another config.
    #[error(
        "dataset {path} exists with a different generator config (differs in: {fields}); \
         give this recipe's dataset another `data.name`, or delete the directory"
    )]
    DatasetMismatch {
        /// The dataset directory.
        path: PathBuf,
        /// Top-level config fields that differ.
        fields: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// A JSON file could not be read or written.
    #[error("{path}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Dataset generation or reading failed.
    #[error(transparent)]
    Data(#[from] planform_data::DataError),
    /// Training failed.
    #[error(transparent)]
    Train(#[from] planform_train::TrainError),
    /// Evaluation failed.
    #[error(transparent)]
    Eval(#[from] planform_eval::EvalError),
    /// Bootstrapping failed.
    #[error(transparent)]
    Bootstrap(#[from] planform_bootstrap::BootstrapError),
    /// Drawing a figure failed.
    #[error("figure {path}: {message}")]
    Figure {
        /// The output file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The training callback stopped the run before its last step.
    #[error("training of {0} was stopped before its last step")]
    Stopped(String),
}

impl RecipeError {
    /// An [`RecipeError::Invalid`] for `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        RecipeError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A closure mapping an I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| RecipeError::Io {
            path,
            error: source,
        }
    }
}

/// Result with [`RecipeError`].
pub type Result<T> = std::result::Result<T, RecipeError>;

impl From<planform_model::ModelError> for RecipeError {
    fn from(e: planform_model::ModelError) -> Self {
        RecipeError::Train(e.into())
    }
}

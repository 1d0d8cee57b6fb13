//! Typed errors of the training crate.

use std::path::PathBuf;

/// Everything that can go wrong while configuring, training, checkpointing or resuming.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The TOML text of a config could not be parsed or has an unknown/mistyped field.
    #[error("config {origin}: {message}")]
    ConfigParse {
        /// Where the text came from (a file path or `override <field>`).
        origin: String,
        /// The parser's message; it names the offending key.
        message: String,
    },
    /// A config field holds a value outside its valid range.
    #[error("config field `{field}`: {reason}")]
    ConfigInvalid {
        /// Dotted path of the field, e.g. `optim.lr`.
        field: String,
        /// Why the value is rejected.
        reason: String,
    },
    /// Reading or writing a file failed. (The OS error is part of the message, not a
    /// separate `source`, so error chains print it once.)
    #[error("{path}: {error}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A checkpoint (or its pointer file) is unusable: corrupt, truncated, garbage JSON,
    /// missing tensors, wrong shapes or a config that does not match.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint directory or file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// There is no checkpoint to resume from.
    #[error("no checkpoint to resume from in {0}")]
    NoCheckpoint(PathBuf),
    /// A fresh start was asked in a run directory that already holds checkpoints.
    #[error(
        "run directory {0} already holds checkpoints; resume it (`planform train --resume`) \
         or choose another output directory"
    )]
    RunExists(PathBuf),
    /// The output path exists but is not a training run directory (a file, a dataset, a
    /// directory with files planform train did not write). Nothing is written into it.
    #[error("{path} is not a training run directory: {reason}")]
    NotARunDir {
        /// The output path.
        path: PathBuf,
        /// What it is instead.
        reason: String,
    },
    /// Another process (or another trainer in this one) is writing the run directory.
    #[error(transparent)]
    Busy(#[from] planform_core::lock::LockError),
    /// The dataset could not be used for training.
    #[error("dataset: {0}")]
    Data(String),
    /// The optimizer failed or its saved state does not fit (names the file).
    #[error(transparent)]
    Optimizer(planform_optim::OptimError),
    /// The requested device or precision is not available.
    #[error("device: {0}")]
    Device(String),
    /// The model rejected its input (shapes, token ids, lengths).
    #[error("model: {0}")]
    Model(planform_model::ModelError),
    /// A libtorch call failed.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// The training (or held-out) loss became NaN or infinite: the run diverged. No
    /// checkpoint is written after this; the last one written is kept.
    #[error(
        "training diverged: {what} loss is {loss} at step {step} (peak learning rate {lr:e}); \
         no checkpoint was written from it (earlier ones are kept); lower `optim.lr` \
         (--lr) or lengthen the warm-up (`optim.warmup_steps`, --warmup)"
    )]
    NonFiniteLoss {
        /// `training` or `held-out`.
        what: &'static str,
        /// Optimizer steps completed when it was seen.
        step: u64,
        /// The loss value.
        loss: f64,
        /// The configured peak learning rate.
        lr: f64,
    },
    /// A weight became NaN or infinite: the run diverged. The checkpoint was not written.
    #[error(
        "training diverged: weight `{tensor}` is not finite at step {step} (peak learning \
         rate {lr:e}); no checkpoint was written from it (earlier ones are kept); lower \
         `optim.lr` (--lr) or lengthen the warm-up (`optim.warmup_steps`, --warmup)"
    )]
    NonFiniteWeights {
        /// Optimizer steps completed.
        step: u64,
        /// The first non-finite variable.
        tensor: String,
        /// The configured peak learning rate.
        lr: f64,
    },
    /// The run would need more memory than the machine has (estimated before allocating).
    #[error("not enough memory: {0}")]
    Memory(String),
}

/// Result alias of this crate.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;

impl TrainError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            error,
        }
    }

    /// Builds a [`TrainError::ConfigInvalid`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        TrainError::ConfigInvalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Builds a [`TrainError::Checkpoint`].
    pub fn checkpoint(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        TrainError::Checkpoint {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl From<planform_model::ModelError> for TrainError {
    /// File, checkpoint and device errors keep their kind; the rest are model errors.
    fn from(e: planform_model::ModelError) -> Self {
        use planform_model::ModelError as M;
        match e {
            M::Io { path, error } => TrainError::Io { path, error },
            M::Checkpoint { path, reason } => TrainError::Checkpoint { path, reason },
            M::NoCheckpoint(p) => TrainError::NoCheckpoint(p),
            M::Device(m) => TrainError::Device(m),
            M::Torch(t) => TrainError::Torch(t),
            other => TrainError::Model(other),
        }
    }
}

impl From<planform_optim::OptimError> for TrainError {
    /// A state file that does not fit is a checkpoint error; file errors keep their kind.
    fn from(e: planform_optim::OptimError) -> Self {
        use planform_optim::OptimError as O;
        match e {
            O::State { path, reason } => TrainError::Checkpoint { path, reason },
            O::Model(m) => m.into(),
            O::Torch(t) => TrainError::Torch(t),
            other @ (O::Config(_) | O::PerLayer(_)) => TrainError::Optimizer(other),
        }
    }
}

//! Typed errors of the model crate.

use thiserror::Error;

/// Everything that can go wrong building, running or loading the model.
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
    /// An error reported by libtorch.
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
}

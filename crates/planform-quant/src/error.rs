//! Errors of the quantization crate.

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// A size, bit width or group that the method does not support.
    #[error("{0}")]
    Config(String),
    /// A tensor of the wrong shape or kind.
    #[error("{what}: expected {expected}, got {got:?}")]
    Shape {
        /// Which tensor.
        what: String,
        /// The expected shape, in words.
        expected: String,
        /// The shape found.
        got: Vec<i64>,
    },
    /// A parameter missing from a state dict.
    #[error("parameter `{0}` is missing")]
    Missing(String),
    /// Reading or writing a checkpoint.
    #[error(transparent)]
    Model(#[from] planform_model::ModelError),
    /// A libtorch error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, QuantError>;

pub(crate) fn shape_err(what: &str, expected: &str, t: &tch::Tensor) -> QuantError {
    QuantError::Shape {
        what: what.to_string(),
        expected: expected.to_string(),
        got: t.size(),
    }
}

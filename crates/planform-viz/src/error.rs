//! The crate's error type.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong while rendering. Errors name the offending input.
#[derive(Debug, Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error (part of the message, not a `source`, so chains print it once).
        error: std::io::Error,
    },
    /// A metrics JSONL line is malformed.
    #[error("{path}:{line}: {reason}")]
    Metrics {
        /// The metrics file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// There is nothing to plot (no records, or no plottable field).
    #[error("nothing to plot: {0}")]
    NoData(String),
    /// The plotting backend failed (e.g. no usable system font for PNG text).
    #[error("plotting failed: {0}")]
    Plot(String),
    /// Headless Chromium failed (see [`crate::browser`]).
    #[error("browser: {0}")]
    Browser(String),
    /// Error from `planform-trace` (e.g. an invalid maze task).
    #[error(transparent)]
    Trace(#[from] planform_trace::error::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

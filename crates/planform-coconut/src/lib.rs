//! planform-coconut: Coconut ("Training Large Language Models to Reason in a Continuous
//! Latent Space", Hao et al. 2024) on planform's decoder-only model.
//!
//! - [`vocab`]: the ProsQA word vocabulary (and the maze vocabulary) with `<bot>`, `<eot>`,
//!   `<latent>`, `<pause>`; [`Example`] = question, steps, answer.
//! - [`layout`]: the sequence of an example at a stage (k·c thought slots replace the
//!   first k steps; labels masked on question, markers and slots) for every Table-1 arm.
//! - [`batch`]: the reference collator (left padding aligns the first thoughts).
//! - [`forward`]: the `n + 1`-pass forward over the functional KV state, gradients through
//!   the recycled hidden states; the loss.
//! - [`decode`] / [`eval`]: batched greedy decoding with thoughts; accuracy and tokens.
//! - [`train`]: the curriculum loop (optimizer reset per stage, checkpoints, resumable).
//! - [`study`]: the Table-1 grid (arms × seeds), its table and verdicts.
//! - [`analysis`]: the latent-search analysis (forced thoughts, outcome categories,
//!   frontier values).
//! - [`maze`]: the same curriculum on A* maze traces (beyond the paper).
//!
//! The ProsQA generator and format live in `planform_trace::prosqa` (no tensors).

pub mod analysis;
pub mod batch;
pub mod config;
pub mod data;
pub mod decode;
pub mod error;
pub mod eval;
pub mod forward;
pub mod layout;
pub mod maze;
pub mod study;
pub mod train;
pub mod vocab;

pub use config::{Curriculum, DataConfig, Method, ResetOptimizer, RunConfig};
pub use error::{CoconutError, Result};
pub use vocab::{CoconutVocab, Example};

//! planform-model: the Searchformer encoder–decoder (reference
//! `facebookresearch/searchformer`, `searchformer/transformer/model.py`) on
//! libtorch via `tch`, with KV-cached batched decoding.
//!
//! - [`ModelConfig`] / [`ModelSize`]: hyper-parameters, named sizes, parameter counts.
//! - [`EncoderDecoder`]: the model (`encode`, `decode`, `forward`, `decode_embeds`, `decode_step`).
//! - [`generate`]: batched autoregressive decoding of many prompts × samples.
//! - [`load_named`]: load a reference-style `state_dict` by name.
//! - [`bench`]: throughput measurements.
//!
//! Works on token ids only; tokenisation lives in `planform-trace`.
//!
//! # Fidelity to the reference
//!
//! Same architecture, initialisation and parameter names (a reference
//! `state_dict` loads 1:1 with [`load_named`]); the forward pass matches an
//! independent PyTorch implementation (itself checked against the reference
//! module) to ~1e-5 (`tests/forward_fixture.rs`). Differences, all numerically
//! neutral or explicit options:
//!
//! - RoPE angles are computed on the fly instead of read from 2^16-row
//!   tables; [`ModelConfig::parameters_with_rope`] still reports the table
//!   sizes the paper's labels include.
//! - Decoding precomputes each layer's cross-attention keys/values once per
//!   prompt (the reference re-projects the memory every step) and keeps the
//!   self-attention cache in the dtype of the keys.
//! - Decoding batches many prompts with padding; the encoder then masks the
//!   padding ([`EncoderAttention::PaddingMasked`]), which reproduces the
//!   reference rollout (one unpadded prompt at a time). Training keeps the
//!   reference's unmasked encoder self-attention by default.
//! - Finished rows stop costing compute (the reference keeps decoding them
//!   until every row of the batch has emitted `eos`); outputs are the same.
//! - Sampling is the same distribution (softmax at temperature 1 by default),
//!   driven by a seeded counter-based RNG instead of `torch.multinomial`.
//!
//! # Threads
//!
//! On a shared, busy CPU machine libtorch's OpenMP threads spin-wait and can
//! run an order of magnitude slower; call `tch::set_num_threads(1)` there.

pub mod bench;
pub mod cache;
mod checks;
pub mod config;
pub mod decode;
pub mod error;
pub mod model;
pub mod state;

pub use cache::{CrossKv, KvCache};
pub use config::{
    ffn_hidden, AttentionKernel, EncoderAttention, ModelConfig, ModelSize, StackConfig,
};
pub use decode::{
    generate, DecodeConfig, DecodeOutput, DecodeStats, Generation, Precision, Sampler, StopReason,
};
pub use error::ModelError;
pub use model::{attend, AttnMask, EncoderDecoder, Linear};
pub use state::{is_rope_table_key, load_named, LoadReport};

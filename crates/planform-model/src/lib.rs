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

pub mod bench;
pub mod cache;
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

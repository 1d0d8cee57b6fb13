//! planform-model: the model family of planform on libtorch (via `tch`).
//!
//! - [`encoder_decoder`]: the Searchformer encoder–decoder (reference
//!   `facebookresearch/searchformer`, `searchformer/transformer/model.py`), one file.
//! - [`decoder_only`]: the LLaMA-style decoder-only model with MobileLLM's shape options
//!   (grouped-query attention, tied embeddings, block-wise weight sharing), one file; its
//!   embeddings-in, hidden-states-out step with a functional KV state trains through
//!   recycled hidden states (Coconut).
//! - [`layers`]: the blocks both are made of ([`Linear`] with its [`Weight`] formats,
//!   RMSNorm, feed-forward, RoPE, [`attend`]).
//! - [`Model`]: either family behind one interface; [`ModelConfig`] its configuration.
//! - [`generate`]: batched KV-cached decoding of many prompts × samples, for both families.
//! - [`checkpoint`]: finding, checking and loading checkpoints ([`load_model`]);
//!   [`tensor_io`]: safetensors files.
//! - [`hf`]: exporting a decoder-only checkpoint as a Hugging Face Llama folder.
//! - [`Precision`], [`DeviceChoice`]: the one precision and device setting of every command.
//! - [`params`]: what role each parameter plays (for per-parameter optimizer rules).
//!
//! Works on token ids only; tokenisation lives in `planform-trace`.
//!
//! # Fidelity to the reference (encoder–decoder)
//!
//! Same architecture, initialisation and parameter names (a reference `state_dict` loads 1:1
//! with [`load_named`]); the forward pass matches an independent PyTorch implementation
//! (itself checked against the reference module) to ~1e-5 (`tests/forward_fixture.rs`).
//! Differences, all numerically neutral or explicit options:
//!
//! - RoPE angles are computed on the fly instead of read from 2^16-row tables;
//!   [`EncoderDecoderConfig::parameters_with_rope`] still reports the table sizes the
//!   paper's labels include.
//! - Decoding precomputes each layer's cross-attention keys/values once per prompt (the
//!   reference re-projects the memory every step) and keeps the self-attention cache in the
//!   dtype of the keys.
//! - Decoding batches many prompts with padding; the encoder then masks the padding
//!   ([`EncoderAttention::PaddingMasked`]), which reproduces the reference rollout (one
//!   unpadded prompt at a time). Training keeps the reference's unmasked encoder
//!   self-attention by default.
//! - Finished rows stop costing compute (the reference keeps decoding them until every row
//!   of the batch has emitted `eos`); outputs are the same.
//! - Sampling is the same distribution (softmax at temperature 1 by default), driven by a
//!   seeded counter-based RNG instead of `torch.multinomial`.
//!
//! # Threads
//!
//! On a shared, busy CPU machine libtorch's OpenMP threads spin-wait and can run an order
//! of magnitude slower; call `tch::set_num_threads(1)` there.

pub mod cache;
pub mod checkpoint;
mod checks;
pub mod config;
pub mod decoder_only;
pub mod device;
pub mod encoder_decoder;
pub mod error;
pub mod generate;
pub mod hf;
pub mod layers;
pub mod linear;
pub mod model;
pub mod params;
pub mod precision;
pub mod quantized;
pub mod state;
pub mod tensor_io;

pub use cache::{CrossKv, KvCache, Prefix};
pub use checkpoint::{load_model, resolve_checkpoint, LoadedModel, VocabInfo};
pub use config::{
    ffn_hidden, DecoderConfig, DecoderPreset, DecoderSpec, EncoderAttention, EncoderDecoderConfig,
    Family, LayerSharing, ModelConfig, ModelSize, StackConfig,
};
pub use decoder_only::{DecoderOnly, KvState};
pub use device::DeviceChoice;
pub use encoder_decoder::EncoderDecoder;
pub use error::ModelError;
pub use generate::{
    generate, DecodeConfig, DecodeOutput, DecodeStats, Generation, KvDtype, Sampler, StopReason,
};
pub use layers::{
    attend, Activation, ActivationHook, AttentionKernel, AttnMask, DecodeCall, DecodeKernel,
    ExternalWeight, Linear, QuantizedWeight, Site, Weight,
};
pub use model::{seeded, zero_filled, Model, ModelInput};
pub use params::{param_role, ParamRole};
pub use precision::{with_precision, Precision};
pub use state::{is_rope_table_key, load_named, LoadReport};

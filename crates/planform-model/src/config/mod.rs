//! Model configurations: one [`ModelConfig`] per family.
//!
//! - [`EncoderDecoderConfig`]: the Searchformer encoder–decoder (reference sizes
//!   [`ModelSize`]).
//! - [`DecoderConfig`]: the decoder-only LLaMA-style model with MobileLLM shape options
//!   ([`DecoderPreset`], [`DecoderSpec`]).

use serde::{Deserialize, Serialize};

use crate::error::ModelError;

mod decoder;
mod encoder_decoder;

pub use decoder::{DecoderConfig, DecoderPreset, DecoderSpec, LayerSharing};
pub use encoder_decoder::{
    ffn_hidden, EncoderAttention, EncoderDecoderConfig, ModelSize, StackConfig,
};

/// RoPE base of both families: 1e4 (the Searchformer reference, LLaMA).
pub(crate) fn default_rope_base() -> f64 {
    1e4
}

/// RMSNorm epsilon of both families: 1e-5.
pub(crate) fn default_norm_eps() -> f64 {
    1e-5
}

/// Position bound of both families: 2^16 (the reference's RoPE table size).
pub(crate) fn default_max_positions() -> usize {
    1 << 16
}

/// A model of either family. Serialised with a `family` tag:
/// `{"family": "encoder-decoder", …}` or `{"family": "decoder-only", …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "kebab-case")]
pub enum ModelConfig {
    /// Searchformer encoder–decoder: prompt into the encoder, `bos response eos` out of the
    /// decoder.
    EncoderDecoder(EncoderDecoderConfig),
    /// Decoder-only: one sequence `bos prompt response eos`.
    DecoderOnly(DecoderConfig),
}

/// Which family a model belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// [`ModelConfig::EncoderDecoder`].
    EncoderDecoder,
    /// [`ModelConfig::DecoderOnly`].
    DecoderOnly,
}

impl ModelConfig {
    /// The family.
    pub fn family(&self) -> Family {
        match self {
            ModelConfig::EncoderDecoder(_) => Family::EncoderDecoder,
            ModelConfig::DecoderOnly(_) => Family::DecoderOnly,
        }
    }

    /// Vocabulary size.
    pub fn vocab_size(&self) -> usize {
        match self {
            ModelConfig::EncoderDecoder(c) => c.vocab_size,
            ModelConfig::DecoderOnly(c) => c.vocab_size,
        }
    }

    /// Longest sequence the model accepts (prompt + response for decoder-only, each side
    /// for the encoder–decoder).
    pub fn max_positions(&self) -> usize {
        match self {
            ModelConfig::EncoderDecoder(c) => c.max_positions,
            ModelConfig::DecoderOnly(c) => c.max_positions,
        }
    }

    /// Trainable parameters.
    pub fn trainable_parameters(&self) -> usize {
        match self {
            ModelConfig::EncoderDecoder(c) => c.trainable_parameters(),
            ModelConfig::DecoderOnly(c) => c.trainable_parameters(),
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), ModelError> {
        match self {
            ModelConfig::EncoderDecoder(c) => c.validate(),
            ModelConfig::DecoderOnly(c) => c.validate(),
        }
    }

    /// A short description, e.g. `encoder-decoder 2×64×2 / 2×64×2` or
    /// `decoder-only 4×64 (4/4 heads, FFN 176, swiglu)`.
    pub fn describe(&self) -> String {
        match self {
            ModelConfig::EncoderDecoder(c) => format!(
                "encoder-decoder enc {}×{}×{} / dec {}×{}×{}",
                c.encoder.layers,
                c.encoder.dim,
                c.encoder.heads,
                c.decoder.layers,
                c.decoder.dim,
                c.decoder.heads
            ),
            ModelConfig::DecoderOnly(c) => format!(
                "decoder-only {}×{} ({}/{} heads, FFN {}, {:?}{}{})",
                c.layers,
                c.dim,
                c.heads,
                c.kv_heads,
                c.ffn_hidden,
                c.activation,
                if c.tied_embeddings { ", tied" } else { "" },
                match c.sharing {
                    LayerSharing::None => String::new(),
                    s => format!(", sharing {s:?}"),
                }
            ),
        }
    }
}

impl From<EncoderDecoderConfig> for ModelConfig {
    fn from(c: EncoderDecoderConfig) -> Self {
        ModelConfig::EncoderDecoder(c)
    }
}

impl From<DecoderConfig> for ModelConfig {
    fn from(c: DecoderConfig) -> Self {
        ModelConfig::DecoderOnly(c)
    }
}

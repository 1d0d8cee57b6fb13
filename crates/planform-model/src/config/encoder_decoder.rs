//! Encoder–decoder hyper-parameters: [`EncoderDecoderConfig`], the named sizes of the
//! reference ([`ModelSize`]) and parameter counting.
//!
//! Mirrors `HyperParams` / `EncoderDecoderConfig.from_name` in the reference
//! `searchformer/transformer/model.py`: the encoder and decoder are separate
//! stacks, the encoder's output projection maps `encoder.dim -> decoder.dim`,
//! and the decoder's head maps `decoder.dim -> vocab_size`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::layers::AttentionKernel;

/// Width, depth and head count of one transformer stack (encoder or decoder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackConfig {
    /// Model width `d`. Must be divisible by `heads`; `d / heads` must be even (RoPE pairs).
    pub dim: usize,
    /// Number of blocks.
    pub layers: usize,
    /// Number of attention heads (`head_dim = dim / heads`).
    pub heads: usize,
}

impl StackConfig {
    /// `dim / heads`.
    pub fn head_dim(&self) -> usize {
        self.dim / self.heads.max(1)
    }
}

/// How the encoder's self-attention treats padded prompt positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncoderAttention {
    /// Reference behaviour (`Encoder.forward` passes no mask): every position,
    /// padding included, attends to every position. Padded prompts therefore
    /// change the features of the real positions during batched training.
    #[default]
    Unmasked,
    /// Keys at padded positions are masked out. For right-padded prompts the
    /// features at real positions then equal those of the unpadded prompt,
    /// which is what the reference rollout computes (one prompt, no padding).
    /// Batched decoding always uses this mode.
    PaddingMasked,
}

/// Full encoder–decoder configuration. Serialises to TOML / JSON; fields after the
/// stacks are optional in files and take the documented defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderDecoderConfig {
    /// Vocabulary size `V` (shared by encoder and decoder, as in the reference).
    pub vocab_size: usize,
    /// Encoder stack.
    pub encoder: StackConfig,
    /// Decoder stack.
    pub decoder: StackConfig,
    /// SwiGLU hidden size rounding (`multiple_of`). Default 256 (reference).
    #[serde(default = "default_ffn_multiple_of")]
    pub ffn_multiple_of: usize,
    /// RoPE base frequency. Default 1e4 (reference `rope_freq`).
    #[serde(default = "super::default_rope_base")]
    pub rope_base: f64,
    /// RMSNorm epsilon. Default 1e-5 (reference `norm_eps`).
    #[serde(default = "super::default_norm_eps")]
    pub norm_eps: f64,
    /// Maximum sequence length (reference `max_seq_len` = 2^16, the size of
    /// its RoPE tables). Planform computes RoPE angles on the fly and
    /// allocates no table; this only bounds positions and is used for the
    /// "with RoPE tables" parameter count.
    #[serde(default = "super::default_max_positions")]
    pub max_positions: usize,
    /// Encoder self-attention padding behaviour in `encode`/`forward`.
    /// Default [`EncoderAttention::Unmasked`] (reference).
    #[serde(default)]
    pub encoder_attention: EncoderAttention,
    /// Attention kernel. Default [`AttentionKernel::Sdpa`].
    #[serde(default)]
    pub attention_kernel: AttentionKernel,
}

fn default_ffn_multiple_of() -> usize {
    256
}

/// Named model sizes. `S`, `MS`, `L`, `Xl2` are the reference's
/// `enc-*`/`dec-*` pairs (encoder = decoder); `Tiny` and `Mini` are planform
/// sizes for CPU tests and smoke runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ModelSize {
    /// dim 64, 2 layers, 2 heads (head_dim 32). CPU tests.
    #[serde(rename = "tiny")]
    Tiny,
    /// dim 128, 3 layers, 4 heads (head_dim 32). CPU smoke training.
    #[serde(rename = "mini")]
    Mini,
    /// Reference `s`: dim 192, 6 layers, 3 heads.
    #[serde(rename = "s")]
    S,
    /// Reference `m-s`: dim 384, 8 layers, 4 heads.
    #[serde(rename = "m-s")]
    MS,
    /// Reference `l`: dim 768, 9 layers, 4 heads.
    #[serde(rename = "l")]
    L,
    /// Reference `xl-2`: dim 1152, 16 layers, 12 heads.
    #[serde(rename = "xl-2")]
    Xl2,
}

impl ModelSize {
    /// All sizes, smallest first.
    pub const ALL: [ModelSize; 6] = [
        ModelSize::Tiny,
        ModelSize::Mini,
        ModelSize::S,
        ModelSize::MS,
        ModelSize::L,
        ModelSize::Xl2,
    ];

    /// The name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ModelSize::Tiny => "tiny",
            ModelSize::Mini => "mini",
            ModelSize::S => "s",
            ModelSize::MS => "m-s",
            ModelSize::L => "l",
            ModelSize::Xl2 => "xl-2",
        }
    }

    /// The stack used for both encoder and decoder.
    pub fn stack(self) -> StackConfig {
        let (dim, layers, heads) = match self {
            ModelSize::Tiny => (64, 2, 2),
            ModelSize::Mini => (128, 3, 4),
            ModelSize::S => (192, 6, 3),
            ModelSize::MS => (384, 8, 4),
            ModelSize::L => (768, 9, 4),
            ModelSize::Xl2 => (1152, 16, 12),
        };
        StackConfig { dim, layers, heads }
    }
}

impl fmt::Display for ModelSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelSize {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelSize::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                ModelError::Config(format!(
                    "unknown model size {s:?} (expected one of tiny, mini, s, m-s, l, xl-2)"
                ))
            })
    }
}

/// SwiGLU hidden width of the reference `FeedForward` for model width `dim`:
/// `multiple_of * ((floor(2 * 4 dim / 3) + multiple_of - 1) / multiple_of)`.
pub fn ffn_hidden(dim: usize, multiple_of: usize) -> usize {
    let h = (2 * 4 * dim) / 3;
    multiple_of * h.div_ceil(multiple_of)
}

impl EncoderDecoderConfig {
    /// A named size with the given vocabulary and all defaults.
    pub fn from_size(size: ModelSize, vocab_size: usize) -> Self {
        let stack = size.stack();
        EncoderDecoderConfig {
            vocab_size,
            encoder: stack,
            decoder: stack,
            ffn_multiple_of: default_ffn_multiple_of(),
            rope_base: super::default_rope_base(),
            norm_eps: super::default_norm_eps(),
            max_positions: super::default_max_positions(),
            encoder_attention: EncoderAttention::default(),
            attention_kernel: AttentionKernel::default(),
        }
    }

    /// Checks that every field is usable; names the offending field.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Config(m));
        if self.vocab_size == 0 {
            return bad("vocab_size must be > 0".into());
        }
        for (name, s) in [("encoder", &self.encoder), ("decoder", &self.decoder)] {
            if s.dim == 0 || s.layers == 0 || s.heads == 0 {
                return bad(format!(
                    "{name}: dim, layers and heads must be > 0 (got {s:?})"
                ));
            }
            if s.dim % s.heads != 0 {
                return bad(format!(
                    "{name}: dim {} is not divisible by heads {}",
                    s.dim, s.heads
                ));
            }
            if s.head_dim() % 2 != 0 {
                return bad(format!(
                    "{name}: head_dim {} must be even for RoPE",
                    s.head_dim()
                ));
            }
        }
        if self.ffn_multiple_of == 0 {
            return bad("ffn_multiple_of must be > 0".into());
        }
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !positive(self.rope_base) || !positive(self.norm_eps) {
            return bad(format!(
                "rope_base ({}) and norm_eps ({}) must be > 0",
                self.rope_base, self.norm_eps
            ));
        }
        if self.max_positions < 2 {
            return bad("max_positions must be >= 2".into());
        }
        Ok(())
    }

    /// Parses a TOML document.
    pub fn from_toml(text: &str) -> Result<Self, ModelError> {
        let c: EncoderDecoderConfig = toml::from_str(text)
            .map_err(|e| ModelError::Config(format!("model config TOML: {e}")))?;
        c.validate()?;
        Ok(c)
    }

    /// Serialises to TOML.
    pub fn to_toml(&self) -> Result<String, ModelError> {
        toml::to_string(self).map_err(|e| ModelError::Config(format!("model config to TOML: {e}")))
    }

    /// Parses a JSON document.
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        let c: EncoderDecoderConfig = serde_json::from_str(text)
            .map_err(|e| ModelError::Config(format!("model config JSON: {e}")))?;
        c.validate()?;
        Ok(c)
    }

    /// Serialises to pretty JSON.
    pub fn to_json(&self) -> Result<String, ModelError> {
        serde_json::to_string_pretty(self)
            .map_err(|e| ModelError::Config(format!("model config to JSON: {e}")))
    }

    /// SwiGLU hidden width of the given stack.
    pub fn ffn_hidden(&self, stack: &StackConfig) -> usize {
        ffn_hidden(stack.dim, self.ffn_multiple_of)
    }

    /// Number of trainable parameters (what `model.parameters()` with
    /// `requires_grad` counts in the reference; equals the VarStore size).
    pub fn trainable_parameters(&self) -> usize {
        let v = self.vocab_size;
        let (e, d) = (&self.encoder, &self.decoder);
        let fe = self.ffn_hidden(e);
        let fd = self.ffn_hidden(d);
        // Encoder: embedding, blocks (attn 4 d², SwiGLU 3 d h, 2 norms), norm + Linear(d_enc -> d_dec).
        let enc = v * e.dim
            + e.layers * (4 * e.dim * e.dim + 3 * e.dim * fe + 2 * e.dim)
            + e.dim
            + e.dim * d.dim;
        // Decoder: embedding, blocks (self + cross attn 8 d², SwiGLU, 3 norms), norm + Linear(d -> V).
        let dec = v * d.dim
            + d.layers * (8 * d.dim * d.dim + 3 * d.dim * fd + 3 * d.dim)
            + d.dim
            + d.dim * v;
        enc + dec
    }

    /// Elements of the reference's non-trainable RoPE `cos`/`sin` tables
    /// (`nn.Parameter(requires_grad=False)`, one pair per stack, each
    /// `max_positions x head_dim/2`), which `num_model_parameters` counts.
    pub fn rope_table_parameters(&self) -> usize {
        2 * self.max_positions * (self.encoder.head_dim() / 2)
            + 2 * self.max_positions * (self.decoder.head_dim() / 2)
    }

    /// Trainable parameters plus RoPE tables: the reference's
    /// `num_model_parameters` and the paper's size labels (15M/46M/175M).
    pub fn parameters_with_rope(&self) -> usize {
        self.trainable_parameters() + self.rope_table_parameters()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffn_hidden_matches_reference_table() {
        // searchformer.md §3.1: d=192 -> 512; 384 -> 1024; 768 -> 2048; 1152 -> 3072.
        assert_eq!(ffn_hidden(192, 256), 512);
        assert_eq!(ffn_hidden(384, 256), 1024);
        assert_eq!(ffn_hidden(768, 256), 2048);
        assert_eq!(ffn_hidden(1152, 256), 3072);
        // Hand-worked: d=64 -> floor(512/3)=170 -> 256; reference test uses multiple_of=2, d=8 -> 21 -> 22.
        assert_eq!(ffn_hidden(64, 256), 256);
        assert_eq!(ffn_hidden(8, 2), 22);
    }

    #[test]
    fn parameter_counts_match_reference_for_maze_vocab() {
        // searchformer.md §3.1 for V = 118: trainable 6.3M / 33.3M / 149.5M,
        // with RoPE tables 14.7M / 45.9M / 174.7M (s / m-s / l).
        let m = |n: usize| (n as f64 / 1e5).round() / 10.0;
        let cases = [
            (ModelSize::S, 6.3, 14.7),
            (ModelSize::MS, 33.3, 45.9),
            (ModelSize::L, 149.5, 174.7),
        ];
        for (size, trainable, with_rope) in cases {
            let c = EncoderDecoderConfig::from_size(size, 118);
            assert_eq!(m(c.trainable_parameters()), trainable, "{size} trainable");
            assert_eq!(m(c.parameters_with_rope()), with_rope, "{size} with rope");
        }
        // Exact count for `s`, worked by hand in the crate docs.
        assert_eq!(
            EncoderDecoderConfig::from_size(ModelSize::S, 118).trainable_parameters(),
            6_304_128
        );
        assert_eq!(
            EncoderDecoderConfig::from_size(ModelSize::S, 118).parameters_with_rope(),
            14_692_736
        );
    }

    #[test]
    fn sokoban_counts_match_report() {
        // searchformer.md §3.1: V = 40,016: about 79M/92M (m-s) and 241M/267M (l).
        let m = |n: usize| (n as f64 / 1e6).round();
        let ms = EncoderDecoderConfig::from_size(ModelSize::MS, 40_016);
        assert_eq!(
            (m(ms.trainable_parameters()), m(ms.parameters_with_rope())),
            (79.0, 92.0)
        );
        let l = EncoderDecoderConfig::from_size(ModelSize::L, 40_016);
        assert_eq!(
            (m(l.trainable_parameters()), m(l.parameters_with_rope())),
            (241.0, 267.0)
        );
    }

    #[test]
    fn toml_and_json_round_trip_with_defaults() {
        let text = "vocab_size = 118\n[encoder]\ndim = 64\nlayers = 2\nheads = 2\n[decoder]\ndim = 32\nlayers = 1\nheads = 4\n";
        let c = EncoderDecoderConfig::from_toml(text).unwrap();
        assert_eq!(c.rope_base, 1e4);
        assert_eq!(c.norm_eps, 1e-5);
        assert_eq!(c.max_positions, 65536);
        assert_eq!(c.ffn_multiple_of, 256);
        assert_eq!(c.encoder_attention, EncoderAttention::Unmasked);
        assert_eq!(
            EncoderDecoderConfig::from_toml(&c.to_toml().unwrap()).unwrap(),
            c
        );
        assert_eq!(
            EncoderDecoderConfig::from_json(&c.to_json().unwrap()).unwrap(),
            c
        );
    }

    #[test]
    fn bad_configs_are_named() {
        let mut c = EncoderDecoderConfig::from_size(ModelSize::Tiny, 10);
        c.decoder.heads = 3;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("decoder") && e.contains("divisible"), "{e}");
        assert!("m-l".parse::<ModelSize>().is_err());
        assert_eq!("m-s".parse::<ModelSize>().unwrap(), ModelSize::MS);
    }
}

//! Decoder-only (LLaMA-style) hyper-parameters: [`DecoderConfig`], the MobileLLM shape
//! options ([`LayerSharing`], grouped-query attention, tied embeddings, [`Activation`]),
//! named [`DecoderPreset`]s and a preset-plus-overrides [`DecoderSpec`] for configs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::layers::{Activation, AttentionKernel};

/// Block-wise weight sharing (MobileLLM §2.3): which stored block runs at each depth.
/// Every run of a block has its own KV-cache slot; sharing adds depth, not parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerSharing {
    /// Each block once: `0 1 2 … n−1`.
    #[default]
    None,
    /// Immediate block-wise repeat (MobileLLM-LS): each block twice in a row, `0 0 1 1 …`.
    Immediate,
    /// The whole stack twice: `0 1 … n−1 0 1 … n−1`.
    RepeatAllOver,
    /// The stack, then the stack reversed: `0 1 … n−1 n−1 … 1 0`.
    Reverse,
}

impl LayerSharing {
    /// The stored block run at each depth, for `layers` stored blocks.
    pub fn schedule(self, layers: usize) -> Vec<usize> {
        let up = 0..layers;
        match self {
            LayerSharing::None => up.collect(),
            LayerSharing::Immediate => up.flat_map(|i| [i, i]).collect(),
            LayerSharing::RepeatAllOver => up.clone().chain(0..layers).collect(),
            LayerSharing::Reverse => up.clone().chain((0..layers).rev()).collect(),
        }
    }
}

/// A decoder-only transformer: token embedding, `layers` pre-norm blocks (RMSNorm,
/// RoPE self-attention with `kv_heads` key/value heads, feed-forward), final RMSNorm and an
/// output head (the embedding itself when `tied_embeddings`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecoderConfig {
    /// Vocabulary size `V`.
    pub vocab_size: usize,
    /// Width `D` (divisible by `heads`; `D / heads` even for RoPE).
    pub dim: usize,
    /// Stored blocks (the depth is `layers × 2` with sharing).
    pub layers: usize,
    /// Query heads `H`.
    pub heads: usize,
    /// Key/value heads `Hkv` (divides `heads`; `= heads` is multi-head attention).
    pub kv_heads: usize,
    /// Feed-forward hidden width `h`.
    pub ffn_hidden: usize,
    /// Feed-forward non-linearity. Default SwiGLU.
    #[serde(default)]
    pub activation: Activation,
    /// Output head = input embedding (MobileLLM). Default false.
    #[serde(default)]
    pub tied_embeddings: bool,
    /// Block-wise weight sharing. Default none.
    #[serde(default)]
    pub sharing: LayerSharing,
    /// RoPE base. Default 1e4.
    #[serde(default = "super::default_rope_base")]
    pub rope_base: f64,
    /// RMSNorm epsilon. Default 1e-5.
    #[serde(default = "super::default_norm_eps")]
    pub norm_eps: f64,
    /// Longest sequence (prompt + response). Default 65,536.
    #[serde(default = "super::default_max_positions")]
    pub max_positions: usize,
    /// Standard deviation of the normal initialisation of embeddings and linears
    /// (Hugging Face `initializer_range`). Default 0.02.
    #[serde(default = "default_init_std")]
    pub init_std: f64,
    /// Attention kernel. Default SDPA.
    #[serde(default)]
    pub attention_kernel: AttentionKernel,
}

fn default_init_std() -> f64 {
    0.02
}

impl DecoderConfig {
    /// `D / H`.
    pub fn head_dim(&self) -> usize {
        self.dim / self.heads.max(1)
    }

    /// Blocks run per forward pass (stored blocks × sharing).
    pub fn depth(&self) -> usize {
        self.sharing.schedule(self.layers).len()
    }

    /// Checks every field; names the offending one.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Config(m));
        let positive = [
            ("vocab_size", self.vocab_size),
            ("dim", self.dim),
            ("layers", self.layers),
            ("heads", self.heads),
            ("kv_heads", self.kv_heads),
            ("ffn_hidden", self.ffn_hidden),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return bad(format!("decoder-only: {name} must be > 0"));
        }
        if self.dim % self.heads != 0 {
            return bad(format!(
                "decoder-only: dim {} is not divisible by heads {}",
                self.dim, self.heads
            ));
        }
        if self.head_dim() % 2 != 0 {
            return bad(format!(
                "decoder-only: head_dim {} must be even for RoPE",
                self.head_dim()
            ));
        }
        if self.heads % self.kv_heads != 0 {
            return bad(format!(
                "decoder-only: heads {} is not a multiple of kv_heads {}",
                self.heads, self.kv_heads
            ));
        }
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !positive(self.rope_base) || !positive(self.norm_eps) || !positive(self.init_std) {
            return bad(format!(
                "decoder-only: rope_base ({}), norm_eps ({}) and init_std ({}) must be > 0",
                self.rope_base, self.norm_eps, self.init_std
            ));
        }
        if self.max_positions < 2 {
            return bad("decoder-only: max_positions must be >= 2".into());
        }
        Ok(())
    }

    /// Trainable parameters (embedding, blocks, final norm, head unless tied).
    pub fn trainable_parameters(&self) -> usize {
        let (v, d, h) = (self.vocab_size, self.dim, self.ffn_hidden);
        let kv = self.kv_heads * self.head_dim();
        let attention = 2 * d * d + 2 * d * kv;
        let ffn = match self.activation {
            Activation::Swiglu => 3 * d * h,
            Activation::Gelu => 2 * d * h,
        };
        let block = attention + ffn + 2 * d;
        let head = if self.tied_embeddings { 0 } else { v * d };
        v * d + self.layers * block + d + head
    }

    /// Parameters outside the embedding and head (MobileLLM's "body").
    pub fn body_parameters(&self) -> usize {
        let head = if self.tied_embeddings {
            0
        } else {
            self.vocab_size * self.dim
        };
        self.trainable_parameters() - self.vocab_size * self.dim - head
    }
}

/// Named decoder-only shapes. The small ones are for CPU planning runs; the MobileLLM and
/// LLaMA shapes reproduce the published configurations (vocabulary 32,000 unless a dataset
/// sets its own) for memory and speed work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum DecoderPreset {
    /// d 64, 4 layers, 4 heads, FFN 176, SwiGLU. About 0.2M body parameters.
    #[serde(rename = "tiny")]
    #[default]
    Tiny,
    /// d 128, 6 layers, 4 heads, FFN 344. About 1.2M body parameters.
    #[serde(rename = "mini")]
    Mini,
    /// d 192, 12 layers, 6 heads / 2 KV heads, FFN 512, tied: a MobileLLM-style deep-thin
    /// planner of about 4.7M body parameters.
    #[serde(rename = "deep-thin")]
    DeepThin,
    /// MobileLLM-125M: d 576, 30 layers, 9 heads / 3 KV, FFN 1536, tied, SwiGLU.
    #[serde(rename = "mobilellm-125m")]
    MobileLlm125M,
    /// MobileLLM-350M: d 960, 32 layers, 15 heads / 5 KV, FFN 2560, tied, SwiGLU.
    #[serde(rename = "mobilellm-350m")]
    MobileLlm350M,
    /// LLaMA-7B: d 4096, 32 layers, 32 heads, FFN 11008, untied.
    #[serde(rename = "llama-7b")]
    Llama7B,
}

impl DecoderPreset {
    /// Every preset, smallest first.
    pub const ALL: [DecoderPreset; 6] = [
        DecoderPreset::Tiny,
        DecoderPreset::Mini,
        DecoderPreset::DeepThin,
        DecoderPreset::MobileLlm125M,
        DecoderPreset::MobileLlm350M,
        DecoderPreset::Llama7B,
    ];

    /// The name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            DecoderPreset::Tiny => "tiny",
            DecoderPreset::Mini => "mini",
            DecoderPreset::DeepThin => "deep-thin",
            DecoderPreset::MobileLlm125M => "mobilellm-125m",
            DecoderPreset::MobileLlm350M => "mobilellm-350m",
            DecoderPreset::Llama7B => "llama-7b",
        }
    }

    /// The preset's configuration with its own vocabulary size (32,000 for the published
    /// shapes, 128 for the small ones).
    pub fn config(self) -> DecoderConfig {
        // (vocab, dim, layers, heads, kv_heads, ffn, tied)
        let (vocab_size, dim, layers, heads, kv_heads, ffn_hidden, tied) = match self {
            DecoderPreset::Tiny => (128, 64, 4, 4, 4, 176, false),
            DecoderPreset::Mini => (128, 128, 6, 4, 4, 344, false),
            DecoderPreset::DeepThin => (128, 192, 12, 6, 2, 512, true),
            DecoderPreset::MobileLlm125M => (32_000, 576, 30, 9, 3, 1536, true),
            DecoderPreset::MobileLlm350M => (32_000, 960, 32, 15, 5, 2560, true),
            DecoderPreset::Llama7B => (32_000, 4096, 32, 32, 32, 11_008, false),
        };
        DecoderConfig {
            vocab_size,
            dim,
            layers,
            heads,
            kv_heads,
            ffn_hidden,
            activation: Activation::Swiglu,
            tied_embeddings: tied,
            sharing: LayerSharing::None,
            rope_base: super::default_rope_base(),
            norm_eps: super::default_norm_eps(),
            max_positions: super::default_max_positions(),
            init_std: default_init_std(),
            attention_kernel: AttentionKernel::Sdpa,
        }
    }
}

impl fmt::Display for DecoderPreset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DecoderPreset {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DecoderPreset::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = DecoderPreset::ALL.iter().map(|p| p.name()).collect();
                ModelError::Config(format!(
                    "unknown decoder-only preset {s:?} (expected one of {})",
                    names.join(", ")
                ))
            })
    }
}

/// A decoder-only model in a config file: a preset, then any field overridden. The
/// vocabulary size always comes from the dataset.
///
/// ```toml
/// [model.decoder-only]
/// preset = "tiny"      # default
/// layers = 8           # any DecoderConfig field except vocab_size
/// sharing = "immediate"
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecoderSpec {
    /// Starting shape. Default `tiny`.
    pub preset: DecoderPreset,
    /// Width.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dim: Option<usize>,
    /// Stored blocks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layers: Option<usize>,
    /// Query heads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heads: Option<usize>,
    /// Key/value heads (omit with `heads` set: equal to `heads`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_heads: Option<usize>,
    /// Feed-forward hidden width.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ffn_hidden: Option<usize>,
    /// Non-linearity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
    /// Tied input/output embeddings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tied_embeddings: Option<bool>,
    /// Weight sharing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sharing: Option<LayerSharing>,
    /// RoPE base.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rope_base: Option<f64>,
    /// RMSNorm epsilon.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub norm_eps: Option<f64>,
    /// Longest sequence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_positions: Option<usize>,
    /// Initialisation standard deviation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_std: Option<f64>,
    /// Attention kernel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attention_kernel: Option<AttentionKernel>,
}

impl DecoderSpec {
    /// A preset without overrides.
    pub fn preset(preset: DecoderPreset) -> Self {
        DecoderSpec {
            preset,
            ..DecoderSpec::default()
        }
    }

    /// The concrete configuration for a vocabulary of `vocab_size` tokens (validated).
    pub fn resolve(&self, vocab_size: usize) -> Result<DecoderConfig, ModelError> {
        let mut c = self.preset.config();
        c.vocab_size = vocab_size;
        if let Some(h) = self.heads {
            c.heads = h;
            c.kv_heads = h;
        }
        let set = |dst: &mut usize, v: Option<usize>| {
            if let Some(v) = v {
                *dst = v
            }
        };
        set(&mut c.dim, self.dim);
        set(&mut c.layers, self.layers);
        set(&mut c.kv_heads, self.kv_heads);
        set(&mut c.ffn_hidden, self.ffn_hidden);
        set(&mut c.max_positions, self.max_positions);
        c.activation = self.activation.unwrap_or(c.activation);
        c.tied_embeddings = self.tied_embeddings.unwrap_or(c.tied_embeddings);
        c.sharing = self.sharing.unwrap_or(c.sharing);
        c.rope_base = self.rope_base.unwrap_or(c.rope_base);
        c.norm_eps = self.norm_eps.unwrap_or(c.norm_eps);
        c.init_std = self.init_std.unwrap_or(c.init_std);
        c.attention_kernel = self.attention_kernel.unwrap_or(c.attention_kernel);
        c.validate()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_shapes_have_the_published_parameter_counts() {
        // latent_and_efficiency.md §6.2: 124.6M (body 106.2M) and 345.4M (body 314.6M),
        // tied, vocabulary 32,000; LLaMA-7B 6.74B untied.
        let m = |n: usize| (n as f64 / 1e5).round() / 10.0;
        let c125 = DecoderPreset::MobileLlm125M.config();
        assert_eq!(
            (m(c125.trainable_parameters()), m(c125.body_parameters())),
            (124.6, 106.2)
        );
        assert_eq!(c125.head_dim(), 64);
        let c350 = DecoderPreset::MobileLlm350M.config();
        assert_eq!(
            (m(c350.trainable_parameters()), m(c350.body_parameters())),
            (345.4, 314.6)
        );
        let l7 = DecoderPreset::Llama7B.config();
        assert_eq!(l7.trainable_parameters(), 6_738_415_616);
        for p in DecoderPreset::ALL {
            p.config().validate().unwrap();
            assert_eq!(p.name().parse::<DecoderPreset>().unwrap(), p);
        }
    }

    #[test]
    fn sharing_schedules() {
        assert_eq!(LayerSharing::None.schedule(3), vec![0, 1, 2]);
        assert_eq!(LayerSharing::Immediate.schedule(3), vec![0, 0, 1, 1, 2, 2]);
        assert_eq!(
            LayerSharing::RepeatAllOver.schedule(3),
            vec![0, 1, 2, 0, 1, 2]
        );
        assert_eq!(LayerSharing::Reverse.schedule(3), vec![0, 1, 2, 2, 1, 0]);
    }

    #[test]
    fn spec_overrides_a_preset_and_validates() {
        let spec: DecoderSpec =
            toml::from_str("preset = \"mobilellm-125m\"\nlayers = 2\nsharing = \"immediate\"")
                .unwrap();
        let c = spec.resolve(118).unwrap();
        assert_eq!((c.vocab_size, c.dim, c.layers, c.depth()), (118, 576, 2, 4));
        assert_eq!((c.heads, c.kv_heads), (9, 3));
        let spec = DecoderSpec {
            heads: Some(4),
            ..DecoderSpec::default()
        };
        assert_eq!(
            spec.resolve(10).unwrap().kv_heads,
            4,
            "heads alone sets MHA"
        );
        let bad = DecoderSpec {
            kv_heads: Some(3),
            ..DecoderSpec::default()
        };
        let e = bad.resolve(10).unwrap_err().to_string();
        assert!(e.contains("kv_heads"), "{e}");
        assert!(toml::from_str::<DecoderSpec>("layer = 3").is_err());
    }
}

//! The model a benchmark measures: a family and a shape within it ([`BenchModel`]).

use std::fmt;
use std::str::FromStr;

use planform_model::{
    ffn_hidden, DecoderPreset, DecoderSpec, EncoderDecoderConfig, Family, ModelConfig, ModelSize,
    StackConfig,
};
use serde::Serialize;

use crate::error::{BenchError, Result};

/// An encoder–decoder shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EncoderDecoderShape {
    /// A named size (`tiny`, `mini`, `s`, `m-s`, `l`, `xl-2`).
    Size(ModelSize),
    /// `DIMxLAYERSxHEADS`, one stack used for encoder and decoder, e.g. `192x3x3` (the
    /// 3.2M-parameter shape of the CPU anchor); other settings as the named sizes.
    Stacks(StackConfig),
}

/// A decoder-only shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DecoderShape {
    /// A named preset (`tiny`, `mini`, `deep-thin`, `mobilellm-125m`, `mobilellm-350m`,
    /// `llama-7b`).
    Preset(DecoderPreset),
    /// `DIMxLAYERSxHEADS`: multi-head attention, SwiGLU of width `ffn_hidden(dim, 8)` (the
    /// presets' rule), untied embeddings, no sharing.
    Stack(StackConfig),
}

/// The model to measure. Default: the `tiny` encoder–decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BenchModel {
    /// The Searchformer encoder–decoder.
    EncoderDecoder(EncoderDecoderShape),
    /// The decoder-only model.
    DecoderOnly(DecoderShape),
}

impl Default for BenchModel {
    fn default() -> Self {
        BenchModel::EncoderDecoder(EncoderDecoderShape::Size(ModelSize::Tiny))
    }
}

/// `DIMxLAYERSxHEADS`, or `None` when `s` does not have that form.
fn parse_stack(s: &str) -> Option<StackConfig> {
    let parts: Vec<&str> = s.split('x').collect();
    let [dim, layers, heads] = parts.as_slice() else {
        return None;
    };
    Some(StackConfig {
        dim: dim.parse().ok()?,
        layers: layers.parse().ok()?,
        heads: heads.parse().ok()?,
    })
}

impl BenchModel {
    /// Parses a model name or `DIMxLAYERSxHEADS` of `family`.
    pub fn parse(family: Family, s: &str) -> Result<Self> {
        let m = match family {
            Family::EncoderDecoder => BenchModel::EncoderDecoder(s.parse()?),
            Family::DecoderOnly => BenchModel::DecoderOnly(s.parse()?),
        };
        m.config(2)
            .map_err(|e| BenchError::Config(format!("model {s:?}: {e}")))?;
        Ok(m)
    }

    /// The family.
    pub fn family(&self) -> Family {
        match self {
            BenchModel::EncoderDecoder(_) => Family::EncoderDecoder,
            BenchModel::DecoderOnly(_) => Family::DecoderOnly,
        }
    }

    /// The model configuration for a vocabulary of `vocab` tokens (validated).
    pub fn config(&self, vocab: usize) -> Result<ModelConfig> {
        let cfg = match *self {
            BenchModel::EncoderDecoder(shape) => {
                let c = match shape {
                    EncoderDecoderShape::Size(size) => EncoderDecoderConfig::from_size(size, vocab),
                    EncoderDecoderShape::Stacks(stack) => {
                        let mut c = EncoderDecoderConfig::from_size(ModelSize::Tiny, vocab);
                        c.encoder = stack;
                        c.decoder = stack;
                        c
                    }
                };
                ModelConfig::EncoderDecoder(c)
            }
            BenchModel::DecoderOnly(shape) => {
                let spec = match shape {
                    DecoderShape::Preset(p) => DecoderSpec::preset(p),
                    DecoderShape::Stack(s) => DecoderSpec {
                        dim: Some(s.dim),
                        layers: Some(s.layers),
                        heads: Some(s.heads),
                        ffn_hidden: Some(ffn_hidden(s.dim, 8)),
                        tied_embeddings: Some(false),
                        ..DecoderSpec::preset(DecoderPreset::Tiny)
                    },
                };
                ModelConfig::DecoderOnly(spec.resolve(vocab)?)
            }
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// The named encoder–decoder size, if this is one (the anchors are recorded for those).
    pub fn size(&self) -> Option<ModelSize> {
        match self {
            BenchModel::EncoderDecoder(EncoderDecoderShape::Size(s)) => Some(*s),
            _ => None,
        }
    }
}

impl FromStr for EncoderDecoderShape {
    type Err = BenchError;
    fn from_str(s: &str) -> Result<Self> {
        if let Ok(size) = s.parse::<ModelSize>() {
            return Ok(EncoderDecoderShape::Size(size));
        }
        parse_stack(s)
            .map(EncoderDecoderShape::Stacks)
            .ok_or_else(|| {
                BenchError::Config(format!(
                    "unknown encoder-decoder model {s:?}: expected tiny, mini, s, m-s, l, xl-2 or \
                 DIMxLAYERSxHEADS (e.g. 192x3x3)"
                ))
            })
    }
}

impl FromStr for DecoderShape {
    type Err = BenchError;
    fn from_str(s: &str) -> Result<Self> {
        if let Ok(p) = s.parse::<DecoderPreset>() {
            return Ok(DecoderShape::Preset(p));
        }
        parse_stack(s).map(DecoderShape::Stack).ok_or_else(|| {
            let names: Vec<&str> = DecoderPreset::ALL.iter().map(|p| p.name()).collect();
            BenchError::Config(format!(
                "unknown decoder-only model {s:?}: expected {} or DIMxLAYERSxHEADS (e.g. 192x12x6)",
                names.join(", ")
            ))
        })
    }
}

fn stack_name(s: &StackConfig) -> String {
    format!("{}x{}x{}", s.dim, s.layers, s.heads)
}

impl fmt::Display for BenchModel {
    /// The name or shape as given on the command line (`tiny`, `192x3x3`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchModel::EncoderDecoder(EncoderDecoderShape::Size(s)) => write!(f, "{s}"),
            BenchModel::EncoderDecoder(EncoderDecoderShape::Stacks(s))
            | BenchModel::DecoderOnly(DecoderShape::Stack(s)) => f.write_str(&stack_name(s)),
            BenchModel::DecoderOnly(DecoderShape::Preset(p)) => write!(f, "{p}"),
        }
    }
}

/// `encoder-decoder` / `decoder-only`.
pub fn family_name(f: Family) -> &'static str {
    match f {
        Family::EncoderDecoder => "encoder-decoder",
        Family::DecoderOnly => "decoder-only",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: Family = Family::EncoderDecoder;
    const DO: Family = Family::DecoderOnly;

    #[test]
    fn encoder_decoder_shapes_parse() {
        assert_eq!(
            BenchModel::parse(ED, "m-s").unwrap(),
            BenchModel::EncoderDecoder(EncoderDecoderShape::Size(ModelSize::MS))
        );
        let c = BenchModel::parse(ED, "192x3x3").unwrap();
        assert_eq!(c.to_string(), "192x3x3");
        assert_eq!(c.size(), None);
        // 3.2M trainable parameters with the 10×10 maze vocabulary (count by hand:
        // embeddings 2·118·192, encoder layers 3·(4·192² + 3·192·512 + 2·192),
        // decoder layers 3·(8·192² + 3·192·512 + 3·192), heads 192 + 192² and 192 + 192·118).
        let by_hand = 2 * 118 * 192
            + 3 * (4 * 192 * 192 + 3 * 192 * 512 + 2 * 192)
            + 3 * (8 * 192 * 192 + 3 * 192 * 512 + 3 * 192)
            + (192 + 192 * 192)
            + (192 + 192 * 118);
        assert_eq!(c.config(118).unwrap().trainable_parameters(), by_hand);
        assert!(BenchModel::parse(ED, "192x3x4").is_ok());
        assert!(BenchModel::parse(ED, "96x2x5").is_err()); // dim not divisible by heads
        assert!(BenchModel::parse(ED, "90x2x6").is_err()); // odd head_dim
        assert!(BenchModel::parse(ED, "big").is_err());
        assert!(BenchModel::parse(ED, "deep-thin").is_err());
        assert_eq!(BenchModel::default().to_string(), "tiny");
        assert_eq!(BenchModel::default().family(), ED);
    }

    #[test]
    fn decoder_only_shapes_parse() {
        let t = BenchModel::parse(DO, "tiny").unwrap();
        assert_eq!(
            t,
            BenchModel::DecoderOnly(DecoderShape::Preset(DecoderPreset::Tiny))
        );
        let ModelConfig::DecoderOnly(c) = t.config(118).unwrap() else {
            panic!("decoder-only expected")
        };
        assert_eq!(
            (c.vocab_size, c.dim, c.layers, c.ffn_hidden),
            (118, 64, 4, 176)
        );
        let s = BenchModel::parse(DO, "128x6x4").unwrap();
        assert_eq!(s.to_string(), "128x6x4");
        let ModelConfig::DecoderOnly(c) = s.config(118).unwrap() else {
            panic!("decoder-only expected")
        };
        // The presets' FFN rule: `mini` is 128 wide with 344.
        assert_eq!((c.heads, c.kv_heads, c.ffn_hidden), (4, 4, 344));
        assert_eq!(s.size(), None);
        assert!(BenchModel::parse(DO, "deep-thin").is_ok());
        assert!(BenchModel::parse(DO, "m-s").is_err());
        assert!(BenchModel::parse(DO, "90x2x6").is_err());
    }
}

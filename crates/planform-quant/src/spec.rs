//! A whole quantization setting (weights, activations, KV cache, rotation), parsed once
//! from its short form and applied to a loaded decoder-only model.
//!
//! ```text
//! bits:      fp | w8 | w4 | w8a8 | w4a8 | w4a4kv4 | w4a16kv4 …   (w = weights, a = activations, kv)
//! rotation:  none | hadamard | random | hadamard+online | random+online   (seed separate)
//! ```
//!
//! Weights: symmetric, per output row (SpinQuant's RTN without clipping search), every
//! linear layer except the output head (kept in full precision, as QuaRot and SpinQuant
//! evaluate); activations: asymmetric per token; keys/values: asymmetric per head and
//! position. `random` draws R1 and every R2 Haar-random (the spread of the paper's random
//! rotations); `hadamard` draws random-sign Hadamards (its initialisation); `+online` adds
//! R3 and R4.

use std::fmt;
use std::str::FromStr;

use planform_model::{Model, ModelConfig};
use tch::nn;
use tch::Tensor;

use crate::error::{QuantError, Result};
use crate::merge::{
    load_model_into, weights_of_model, EncDecRotations, ModelRotations, Rotations, Weights,
};
use crate::rotation::{random_hadamard, random_orthogonal};
use crate::rtn::Rtn;
use crate::sim::QuantSim;

/// Bit widths; `None` = full precision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bits {
    /// Weights.
    pub weights: Option<u32>,
    /// Activations at linear inputs.
    pub acts: Option<u32>,
    /// Keys and values.
    pub kv: Option<u32>,
}

impl FromStr for Bits {
    type Err = QuantError;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            QuantError::Config(format!(
                "quantization `{s}`: expected `fp` or w<bits>[a<bits>][kv<bits>], e.g. w4a8kv8 \
                 (bits 2..=8; 16 = full precision)"
            ))
        };
        if s == "fp" {
            return Ok(Bits::default());
        }
        let mut out = Bits::default();
        let mut rest = s;
        for (prefix, slot) in [("w", 0), ("a", 1), ("kv", 2)] {
            if let Some(r) = rest.strip_prefix(prefix) {
                let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
                let b: u32 = r[..end].parse().map_err(|_| bad())?;
                let b = match b {
                    16 => None,
                    2..=8 => Some(b),
                    _ => return Err(bad()),
                };
                match slot {
                    0 => out.weights = b,
                    1 => out.acts = b,
                    _ => out.kv = b,
                }
                rest = &r[end..];
            }
        }
        if !rest.is_empty() || s.is_empty() {
            return Err(bad());
        }
        Ok(out)
    }
}

impl fmt::Display for Bits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = |x: Option<u32>| x.unwrap_or(16);
        if *self == Bits::default() {
            return f.write_str("fp");
        }
        write!(f, "w{}a{}kv{}", b(self.weights), b(self.acts), b(self.kv))
    }
}

/// Which rotations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Rotation {
    /// No rotation (norms are still folded).
    #[default]
    None,
    /// Random-sign Hadamard R1 and R2.
    Hadamard,
    /// Haar-random orthogonal R1 and R2.
    Random,
    /// R1 and R2 learned by Cayley SGD through the quantized model, starting from the
    /// random-sign Hadamards of `Hadamard` (SpinQuant); needs training data
    /// ([`crate::learn`], `planform quantize --data`).
    Learned,
}

/// A rotation choice plus whether the online R3/R4 Hadamards are added.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RotationSpec {
    /// R1/R2.
    pub kind: Rotation,
    /// R3 and R4.
    pub online: bool,
}

impl FromStr for RotationSpec {
    type Err = QuantError;
    fn from_str(s: &str) -> Result<Self> {
        let (base, online) = match s.strip_suffix("+online") {
            Some(b) => (b, true),
            None => (s, false),
        };
        let kind = match base {
            "none" => Rotation::None,
            "hadamard" => Rotation::Hadamard,
            "random" => Rotation::Random,
            "learned" => Rotation::Learned,
            _ => {
                return Err(QuantError::Config(format!(
                    "rotation `{s}`: expected none, hadamard, random or learned, optionally \
                     with +online (R3/R4)"
                )))
            }
        };
        Ok(RotationSpec { kind, online })
    }
}

impl fmt::Display for RotationSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let base = match self.kind {
            Rotation::None => "none",
            Rotation::Hadamard => "hadamard",
            Rotation::Random => "random",
            Rotation::Learned => "learned",
        };
        write!(f, "{base}{}", if self.online { "+online" } else { "" })
    }
}

/// Serde as the short string form (`"w4a8kv8"`, `"hadamard+online"`).
macro_rules! serde_as_str {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_string())
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(
                d: D,
            ) -> std::result::Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_as_str!(Bits);
serde_as_str!(RotationSpec);

/// Everything that turns a full-precision model into its quantized version (simulated
/// with [`QuantSpec::apply`], stored for real with [`crate::store::quantize_checkpoint`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantSpec {
    /// Bit widths.
    pub bits: Bits,
    /// Rotations.
    pub rotation: RotationSpec,
    /// Seed of random rotations.
    pub seed: u64,
    /// Weight groups: this many consecutive inputs of a row share a scale (`None`: one
    /// scale per output row, SpinQuant's setting).
    #[serde(default)]
    pub weight_group: Option<usize>,
    /// Asymmetric weights (a zero point per row or group) instead of symmetric.
    #[serde(default)]
    pub weight_asymmetric: bool,
}

impl fmt::Display for QuantSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} seed {}", self.bits, self.rotation, self.seed)?;
        if let Some(g) = self.weight_group {
            write!(f, " weight-group {g}")?;
        }
        if self.weight_asymmetric {
            f.write_str(" weight-asymmetric")?;
        }
        Ok(())
    }
}

/// Whether a named weight is quantized: every attention (self and cross) and MLP linear
/// of the blocks, in either family (the embeddings, the norms, the encoder's output
/// projection and the output head stay in full precision).
pub fn is_quantized_linear(name: &str) -> bool {
    let block = ["layers.", "encoder.layers.", "decoder.layers."]
        .iter()
        .any(|p| name.starts_with(p));
    block
        && [".attention.w", ".attention_feat.w", ".feed_forward.w"]
            .iter()
            .any(|l| name.contains(l))
}

/// A rotation of size `n` of the spec's kind, drawn from `seed` (learned rotations start
/// from the random-sign Hadamard, as SpinQuant's).
fn draw(kind: Rotation, n: usize, seed: u64) -> Result<Tensor> {
    match kind {
        Rotation::None => Ok(crate::rotation::identity(n)),
        Rotation::Hadamard | Rotation::Learned => random_hadamard(n, seed),
        Rotation::Random => Ok(random_orthogonal(n, seed)),
    }
}

impl QuantSpec {
    /// The weight quantizer, `None` at full-precision weights.
    pub fn weight_quantizer(&self) -> Option<Rtn> {
        self.bits.weights.map(|bits| Rtn {
            bits,
            asymmetric: self.weight_asymmetric,
            group: self.weight_group,
        })
    }

    /// The activation/KV simulation and online rotations (the model's hook).
    pub fn sim(&self) -> QuantSim {
        let per_token = |bits| Rtn {
            bits,
            asymmetric: true,
            group: None,
        };
        QuantSim {
            act: self.bits.acts.map(per_token),
            kv: self.bits.kv.map(per_token),
            r3: self.rotation.online,
            r4: self.rotation.online,
            ste: false,
            integer_linears: false,
        }
    }

    /// The activation quantizer that stored weights of this setting multiply with as
    /// integers (`QuantizedWeight::enable_int8_matmul`), or why they cannot: that needs 8-bit
    /// symmetric weights with one scale per row and activations quantized per token.
    pub fn int8_matmul_activations(&self) -> std::result::Result<Rtn, String> {
        match (self.bits.weights, self.sim().act) {
            (Some(8), Some(act))
                if !self.weight_asymmetric
                    && self.weight_group.is_none()
                    && act.group.is_none() =>
            {
                Ok(act)
            }
            _ => Err(format!(
                "this one is {self}{}{}",
                if self.weight_asymmetric {
                    ", asymmetric weights"
                } else {
                    ""
                },
                self.weight_group
                    .map(|g| format!(", weight groups of {g}"))
                    .unwrap_or_default()
            )),
        }
    }

    /// Checks the setting against a model config (Hadamard sizes, weight groups).
    pub fn check(&self, cfg: &ModelConfig) -> Result<()> {
        // (head dim, FFN width, residual width) of each stack.
        let stacks: Vec<(usize, usize, usize)> = match cfg {
            ModelConfig::DecoderOnly(c) => vec![(c.dim / c.heads, c.ffn_hidden, c.dim)],
            ModelConfig::EncoderDecoder(c) => [c.encoder, c.decoder]
                .iter()
                .map(|s| (s.head_dim(), c.ffn_hidden(s), s.dim))
                .collect(),
        };
        for (hd, ffn, dim) in stacks {
            self.sim().check(hd, ffn)?;
            if let Some(g) = self.weight_group {
                for n in [dim, ffn] {
                    if g == 0 || n % g != 0 {
                        return Err(QuantError::Config(format!(
                            "weight groups of {g} do not divide the layer input width {n} \
                             (model width {dim}, FFN width {ffn})"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// The rotations of this setting for a model with config `cfg`, drawn from the seed
    /// (for `learned`: the starting point, random-sign Hadamards).
    pub fn draw_rotations(&self, cfg: &ModelConfig) -> Result<ModelRotations> {
        self.check(cfg)?;
        let (kind, seed, r4) = (self.rotation.kind, self.seed, self.rotation.online);
        let per_block = |layers: usize, hd: usize, base: u64| -> Result<Vec<Tensor>> {
            if kind == Rotation::None {
                return Ok(vec![]);
            }
            (0..layers)
                .map(|i| draw(kind, hd, seed ^ (base + i as u64)))
                .collect()
        };
        Ok(match cfg {
            ModelConfig::DecoderOnly(c) => ModelRotations::DecoderOnly(Rotations {
                r1: draw(kind, c.dim, seed)?,
                r2: per_block(c.layers, c.dim / c.heads, 0x100)?,
                r4,
            }),
            ModelConfig::EncoderDecoder(c) => {
                let (e, d) = (&c.encoder, &c.decoder);
                ModelRotations::EncoderDecoder(EncDecRotations {
                    enc_r1: draw(kind, e.dim, seed ^ 0xE000)?,
                    dec_r1: draw(kind, d.dim, seed ^ 0xD000)?,
                    enc_r2: per_block(e.layers, e.head_dim(), 0xE100)?,
                    dec_r2: per_block(d.layers, d.head_dim(), 0xD100)?,
                    cross_r2: per_block(d.layers, d.head_dim(), 0xC100)?,
                    r4,
                })
            }
        })
    }

    /// The model's weights with norms folded (the decoder-only head untied) and the
    /// rotations (and R4's inverse) merged, still in full precision, with the config they
    /// belong to. Learned rotations come from [`crate::learn`]; here they are refused.
    pub fn rotated_weights(&self, model: &Model) -> Result<(Weights, ModelConfig)> {
        if self.rotation.kind == Rotation::Learned {
            return Err(QuantError::Config(
                "learned rotations are trained on data: use `planform quantize --rotation \
                 learned --data DATASET`, then evaluate the checkpoint it writes"
                    .into(),
            ));
        }
        let cfg = model.config();
        self.draw_rotations(&cfg)?
            .merge(&weights_of_model(model), &cfg)
    }

    /// Weight quantization of rotated weights: fake-quantized (`ste` for gradients through
    /// it) in place, every block linear.
    pub fn fake_quant_weights(&self, w: &mut Weights, ste: bool) -> Result<()> {
        if let Some(q) = self.weight_quantizer() {
            for (name, t) in w.iter_mut() {
                if is_quantized_linear(name) {
                    *t = if ste {
                        q.fake_quant_ste(t)?
                    } else {
                        q.fake_quant(t)?
                    };
                }
            }
        }
        Ok(())
    }

    /// The rotated, weight-fake-quantized model with its activation hook, built on `vs` (a
    /// new store on the model's device). The input model is not changed.
    pub fn apply(&self, model: &Model, vs: &nn::VarStore) -> Result<Model> {
        let (mut w, cfg2) = self.rotated_weights(model)?;
        self.fake_quant_weights(&mut w, false)?;
        let mut out = load_model_into(vs, &cfg2, &w)?;
        self.install_hook(&mut out);
        Ok(out)
    }

    /// Sets the model's activation hook for this setting (none when activations, keys and
    /// values are full precision and there are no online rotations).
    pub fn install_hook(&self, model: &mut Model) {
        let sim = self.sim();
        model.set_activation_hook((sim != QuantSim::default()).then(|| sim.hook()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms_parse_and_print() {
        let b: Bits = "w4a8kv4".parse().unwrap();
        assert_eq!(
            b,
            Bits {
                weights: Some(4),
                acts: Some(8),
                kv: Some(4)
            }
        );
        assert_eq!(b.to_string(), "w4a8kv4");
        assert_eq!("w8".parse::<Bits>().unwrap().to_string(), "w8a16kv16");
        assert_eq!("w16a4".parse::<Bits>().unwrap().to_string(), "w16a4kv16");
        assert_eq!("fp".parse::<Bits>().unwrap(), Bits::default());
        for bad in ["", "w", "w1", "w9", "a4w4", "w4x", "w4a4kv", "q4"] {
            assert!(bad.parse::<Bits>().is_err(), "{bad}");
        }
        let r: RotationSpec = "hadamard+online".parse().unwrap();
        assert_eq!(r.kind, Rotation::Hadamard);
        assert!(r.online);
        assert_eq!(r.to_string(), "hadamard+online");
        assert!("spin".parse::<RotationSpec>().is_err());
    }
}

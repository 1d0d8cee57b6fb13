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

use planform_model::DecoderOnly;
use tch::nn;

use crate::error::{QuantError, Result};
use crate::merge::{load_into, rotate, weights_of, Rotations};
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
            _ => {
                return Err(QuantError::Config(format!(
                    "rotation `{s}`: expected none, hadamard or random, optionally with \
                     +online (R3/R4)"
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

/// Everything that turns a full-precision model into its simulated quantized version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantSpec {
    /// Bit widths.
    pub bits: Bits,
    /// Rotations.
    pub rotation: RotationSpec,
    /// Seed of random rotations.
    pub seed: u64,
}

impl fmt::Display for QuantSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} seed {}", self.bits, self.rotation, self.seed)
    }
}

impl QuantSpec {
    /// The rotated, weight-quantized model with its activation hook, built on `vs` (a new
    /// store on the model's device). The input model is not changed.
    pub fn apply(&self, model: &DecoderOnly, vs: &nn::VarStore) -> Result<DecoderOnly> {
        let cfg = model.config();
        let hd = cfg.dim / cfg.heads;
        let online = self.rotation.online;
        let sim = QuantSim {
            act: self.bits.acts.map(|bits| Rtn {
                bits,
                asymmetric: true,
                group: None,
            }),
            kv: self.bits.kv.map(|bits| Rtn {
                bits,
                asymmetric: true,
                group: None,
            }),
            r3: online,
            r4: online,
        };
        sim.check(hd, cfg.ffn_hidden)?;
        let (r1, r2) = match self.rotation.kind {
            Rotation::None => (crate::rotation::identity(cfg.dim), vec![]),
            Rotation::Hadamard => (
                random_hadamard(cfg.dim, self.seed)?,
                (0..cfg.layers)
                    .map(|i| random_hadamard(hd, self.seed ^ (0x100 + i as u64)))
                    .collect::<Result<Vec<_>>>()?,
            ),
            Rotation::Random => (
                random_orthogonal(cfg.dim, self.seed),
                (0..cfg.layers)
                    .map(|i| random_orthogonal(hd, self.seed ^ (0x100 + i as u64)))
                    .collect(),
            ),
        };
        let rot = Rotations { r1, r2, r4: online };
        let (mut w, cfg2) = rotate(&weights_of(model), cfg, &rot)?;
        if let Some(bits) = self.bits.weights {
            let q = Rtn {
                bits,
                asymmetric: false,
                group: None,
            };
            for (name, t) in w.iter_mut() {
                let linear = name.starts_with("layers.") && name.contains("attention.w")
                    || name.contains("feed_forward.w");
                if linear {
                    *t = q.fake_quant(t)?;
                }
            }
        }
        let mut out = load_into(vs, &cfg2, &w)?;
        if sim != QuantSim::default() {
            out.set_activation_hook(Some(sim.hook()));
        }
        Ok(out)
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

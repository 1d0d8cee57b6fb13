//! Choices shared by `bench train`, `bench decode` and `bench cuda-check`: model shape,
//! device, precision, thread count.

use std::fmt;
use std::str::FromStr;

use anyhow::{anyhow, Result};
use clap::ValueEnum;
use planform_model::{ModelConfig, ModelSize, StackConfig};
use planform_train::DeviceChoice;
use serde::Serialize;
use tch::Device;

/// The model to measure: a named size, or one stack shape used for encoder and decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ModelShape {
    /// A named size (`tiny`, `mini`, `s`, `m-s`, `l`, `xl-2`).
    Named(ModelSize),
    /// `DIMxLAYERSxHEADS`, e.g. `192x3x3` (the 3.2M-parameter shape of the CPU anchor).
    Custom(StackConfig),
}

impl ModelShape {
    /// The model configuration for a vocabulary of `vocab` tokens.
    pub fn config(self, vocab: usize) -> ModelConfig {
        match self {
            ModelShape::Named(size) => ModelConfig::from_size(size, vocab),
            ModelShape::Custom(stack) => {
                let mut c = ModelConfig::from_size(ModelSize::Tiny, vocab);
                c.encoder = stack;
                c.decoder = stack;
                c
            }
        }
    }

    /// The named size, if any.
    pub fn size(self) -> Option<ModelSize> {
        match self {
            ModelShape::Named(s) => Some(s),
            ModelShape::Custom(_) => None,
        }
    }
}

impl fmt::Display for ModelShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelShape::Named(s) => write!(f, "{s}"),
            ModelShape::Custom(s) => write!(f, "{}x{}x{}", s.dim, s.layers, s.heads),
        }
    }
}

impl FromStr for ModelShape {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if let Ok(size) = s.parse::<ModelSize>() {
            return Ok(ModelShape::Named(size));
        }
        let parts: Vec<&str> = s.split('x').collect();
        let bad = || {
            format!(
                "unknown model {s:?}: expected tiny, mini, s, m-s, l, xl-2 or DIMxLAYERSxHEADS \
                 (e.g. 192x3x3)"
            )
        };
        let [dim, layers, heads] = parts.as_slice() else {
            return Err(bad());
        };
        let n = |x: &str| x.parse::<usize>().map_err(|_| bad());
        let stack = StackConfig {
            dim: n(dim)?,
            layers: n(layers)?,
            heads: n(heads)?,
        };
        ModelShape::Custom(stack)
            .config(2)
            .validate()
            .map_err(|e| format!("model {s:?}: {e}"))?;
        Ok(ModelShape::Custom(stack))
    }
}

/// Numeric precision of a benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
pub enum PrecisionArg {
    /// fp32 everywhere.
    Fp32,
    /// CUDA autocast to bfloat16 (CUDA only).
    Bf16,
}

impl PrecisionArg {
    /// The training crate's setting.
    pub fn train(self) -> planform_train::Precision {
        match self {
            PrecisionArg::Fp32 => planform_train::Precision::Fp32,
            PrecisionArg::Bf16 => planform_train::Precision::Bf16Autocast,
        }
    }

    /// The model crate's decoding setting.
    pub fn decode(self) -> planform_model::Precision {
        match self {
            PrecisionArg::Fp32 => planform_model::Precision::Fp32,
            PrecisionArg::Bf16 => planform_model::Precision::Bf16Autocast,
        }
    }

    /// `fp32` / `bf16`.
    pub fn name(self) -> &'static str {
        match self {
            PrecisionArg::Fp32 => "fp32",
            PrecisionArg::Bf16 => "bf16",
        }
    }
}

/// Resolves the device and checks that the precision can run there.
pub fn resolve_device(choice: DeviceChoice, precision: PrecisionArg) -> Result<Device> {
    let device = choice
        .resolve()
        .map_err(|e| anyhow!("--device {choice}: {e}"))?;
    if precision == PrecisionArg::Bf16 && !device.is_cuda() {
        return Err(anyhow!(
            "--precision bf16 needs a CUDA device (--device {choice} resolved to the CPU)"
        ));
    }
    Ok(device)
}

/// Sets libtorch's intra-op thread count (`0` = one per core) and returns the count in
/// effect. On a shared machine an explicit count avoids libtorch's oversubscribing default.
pub fn set_threads(threads: usize) -> usize {
    let n = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    tch::set_num_threads(n as i32);
    tch::get_num_threads().max(1) as usize
}

/// `cpu` / `cuda:0`.
pub fn device_name(d: Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}"),
    }
}

/// Waits for queued CUDA work (timing boundaries).
pub fn sync(d: Device) {
    if let Device::Cuda(i) = d {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Parses `A,B` into two counts.
pub fn parse_pair(s: &str) -> std::result::Result<(usize, usize), String> {
    let bad = || format!("expected two counts `A,B`, got {s:?}");
    let (a, b) = s.split_once(',').ok_or_else(bad)?;
    Ok((
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_shapes_parse() {
        assert_eq!(
            "m-s".parse::<ModelShape>().unwrap(),
            ModelShape::Named(ModelSize::MS)
        );
        let c = "192x3x3".parse::<ModelShape>().unwrap();
        assert_eq!(c.to_string(), "192x3x3");
        // 3.2M trainable parameters with the 10×10 maze vocabulary (count by hand:
        // embeddings 2·118·192, encoder layers 3·(4·192² + 3·192·512 + 2·192),
        // decoder layers 3·(8·192² + 3·192·512 + 3·192), heads 192 + 192² and 192 + 192·118).
        let by_hand = 2 * 118 * 192
            + 3 * (4 * 192 * 192 + 3 * 192 * 512 + 2 * 192)
            + 3 * (8 * 192 * 192 + 3 * 192 * 512 + 3 * 192)
            + (192 + 192 * 192)
            + (192 + 192 * 118);
        assert_eq!(c.config(118).trainable_parameters(), by_hand);
        assert!("192x3x4".parse::<ModelShape>().is_ok());
        assert!("96x2x5".parse::<ModelShape>().is_err()); // dim not divisible by heads
        assert!("90x2x6".parse::<ModelShape>().is_err()); // odd head_dim
        assert!("big".parse::<ModelShape>().is_err());
    }

    #[test]
    fn pairs_parse() {
        assert_eq!(parse_pair("64, 256").unwrap(), (64, 256));
        assert!(parse_pair("64").is_err());
        assert!(parse_pair("a,1").is_err());
    }
}

//! The one numeric-precision setting, applied by training and by generation alike.
//!
//! `Bf16Autocast` is libtorch's autocast with dtype bfloat16 on the device the work runs
//! on (CUDA or CPU): matmuls and attention in bf16, norms, softmax statistics and the loss
//! in fp32, weights and optimizer state fp32 — the reference's
//! `torch.autocast(device, dtype=torch.bfloat16)`. tch's own `autocast` only enables CUDA
//! autocast and leaves its dtype at float16, so the settings are made here through
//! libtorch's C++ API (`at::autocast::*`). The enum arguments (`c10::DeviceType`,
//! `c10::ScalarType`) are one-byte C++ enums, passed in integer registers like `i8` under the
//! x86-64 / AArch64 C calling conventions.

use serde::{Deserialize, Serialize};
use tch::Device;

/// Numeric precision of forward (and backward) passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    /// fp32 everywhere (reference default).
    #[default]
    #[serde(alias = "f32")]
    Fp32,
    /// Autocast to bfloat16 on the device of the computation (CUDA or CPU).
    Bf16Autocast,
}

impl Precision {
    /// Short name (`fp32`, `bf16-autocast`).
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16Autocast => "bf16-autocast",
        }
    }
}

/// `c10::DeviceType::CPU` / `CUDA`.
const DEVICE_CPU: i8 = 0;
const DEVICE_CUDA: i8 = 1;
/// `c10::ScalarType::BFloat16`.
const SCALAR_BF16: i8 = 15;

extern "C" {
    #[link_name = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE"]
    fn at_set_autocast_dtype(device_type: i8, dtype: i8);
    #[link_name = "_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE"]
    fn at_get_autocast_dtype(device_type: i8) -> i8;
    #[link_name = "_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb"]
    fn at_set_autocast_enabled(device_type: i8, enabled: bool);
    #[link_name = "_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE"]
    fn at_is_autocast_enabled(device_type: i8) -> bool;
    #[link_name = "_ZN2at8autocast17increment_nestingEv"]
    fn at_increment_nesting() -> i32;
    #[link_name = "_ZN2at8autocast17decrement_nestingEv"]
    fn at_decrement_nesting() -> i32;
    #[link_name = "_ZN2at8autocast11clear_cacheEv"]
    fn at_clear_cache();
}

fn device_type(device: Device) -> i8 {
    if device.is_cuda() {
        DEVICE_CUDA
    } else {
        DEVICE_CPU
    }
}

/// Runs `f` with `precision` in effect for computations on `device`, then restores the
/// previous autocast settings (they are thread-local in libtorch).
pub fn with_precision<T>(precision: Precision, device: Device, f: impl FnOnce() -> T) -> T {
    match precision {
        Precision::Fp32 => f(),
        Precision::Bf16Autocast => {
            let dt = device_type(device);
            // SAFETY: plain getters/setters of libtorch's thread-local autocast state; the
            // arguments are valid `DeviceType` / `ScalarType` values.
            let (was_enabled, was_dtype) =
                unsafe { (at_is_autocast_enabled(dt), at_get_autocast_dtype(dt)) };
            unsafe {
                at_set_autocast_dtype(dt, SCALAR_BF16);
                at_set_autocast_enabled(dt, true);
                at_increment_nesting();
            }
            let out = f();
            // SAFETY: as above; the cache of casted weights is cleared when the outermost
            // autocast region ends, as `torch.autocast.__exit__` does.
            unsafe {
                if at_decrement_nesting() == 0 {
                    at_clear_cache();
                }
                at_set_autocast_enabled(dt, was_enabled);
                at_set_autocast_dtype(dt, was_dtype);
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    #[test]
    fn bf16_autocast_runs_matmuls_in_bf16_on_cpu_and_restores_state() {
        let a = Tensor::ones([4, 8], (Kind::Float, Device::Cpu));
        let b = Tensor::ones([8, 2], (Kind::Float, Device::Cpu));
        let inside = with_precision(Precision::Bf16Autocast, Device::Cpu, || a.matmul(&b));
        assert_eq!(inside.kind(), Kind::BFloat16);
        assert_eq!(a.matmul(&b).kind(), Kind::Float, "state restored");
        let fp32 = with_precision(Precision::Fp32, Device::Cpu, || a.matmul(&b));
        assert_eq!(fp32.kind(), Kind::Float);
        // SAFETY: getter.
        assert!(!unsafe { at_is_autocast_enabled(DEVICE_CPU) });
    }

    #[test]
    fn names_and_legacy_spelling() {
        assert_eq!(
            serde_json::from_str::<Precision>("\"f32\"").unwrap(),
            Precision::Fp32
        );
        assert_eq!(
            serde_json::to_string(&Precision::Bf16Autocast).unwrap(),
            "\"bf16-autocast\""
        );
    }
}

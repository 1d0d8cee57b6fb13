//! bf16 autocast on CUDA.
//!
//! `tch::autocast` turns on libtorch's CUDA autocast, whose default dtype is float16. The
//! reference's `torch.autocast("cuda", dtype=torch.bfloat16)` also sets the dtype, which the
//! tch C API does not expose; we call libtorch's C++ `at::autocast::set_autocast_dtype`
//! directly. Both arguments are one-byte C++ enums (`c10::DeviceType`, `c10::ScalarType`),
//! passed in integer registers like `i8` under the x86-64 / AArch64 C calling conventions.

use tch::Device;

use crate::config::Precision;
use crate::error::{Result, TrainError};

/// `c10::DeviceType::CUDA`.
const DEVICE_TYPE_CUDA: i8 = 1;
/// `c10::ScalarType::BFloat16`.
const SCALAR_TYPE_BF16: i8 = 15;

extern "C" {
    #[link_name = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE"]
    fn at_autocast_set_dtype(device_type: i8, dtype: i8);
    #[link_name = "_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE"]
    fn at_autocast_get_dtype(device_type: i8) -> i8;
}

/// The CUDA autocast dtype libtorch currently uses (`c10::ScalarType` code).
pub fn cuda_autocast_dtype() -> i8 {
    // SAFETY: plain getter of a global setting; argument is a valid DeviceType.
    unsafe { at_autocast_get_dtype(DEVICE_TYPE_CUDA) }
}

fn set_cuda_autocast_dtype(dtype: i8) {
    // SAFETY: plain setter of a global setting; arguments are valid enum values.
    unsafe { at_autocast_set_dtype(DEVICE_TYPE_CUDA, dtype) }
}

/// Checks that `precision` can run on `device` and prepares libtorch for it.
pub fn prepare(precision: Precision, device: Device) -> Result<()> {
    match precision {
        Precision::Fp32 => Ok(()),
        Precision::Bf16Autocast => {
            if !device.is_cuda() {
                return Err(TrainError::invalid(
                    "precision",
                    format!("bf16-autocast needs a CUDA device; the run resolved to {device:?}"),
                ));
            }
            set_cuda_autocast_dtype(SCALAR_TYPE_BF16);
            Ok(())
        }
    }
}

/// Runs `f` under the autocast setting of `precision`.
pub fn with_autocast<T>(precision: Precision, f: impl FnOnce() -> T) -> T {
    match precision {
        Precision::Fp32 => f(),
        Precision::Bf16Autocast => tch::autocast(true, f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autocast_dtype_can_be_set_to_bf16() {
        let before = cuda_autocast_dtype();
        set_cuda_autocast_dtype(SCALAR_TYPE_BF16);
        assert_eq!(cuda_autocast_dtype(), SCALAR_TYPE_BF16);
        set_cuda_autocast_dtype(before);
        assert_eq!(cuda_autocast_dtype(), before);
    }

    #[test]
    fn bf16_on_cpu_is_an_error() {
        let e = prepare(Precision::Bf16Autocast, Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("precision") && e.contains("CUDA"), "{e}");
        assert!(prepare(Precision::Fp32, Device::Cpu).is_ok());
    }
}

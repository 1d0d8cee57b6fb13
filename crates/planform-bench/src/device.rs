//! Where a benchmark runs: device resolution, libtorch threads, timing boundaries.

use planform_model::{DeviceChoice, Precision};
use tch::Device;

use crate::error::{BenchError, Result};

/// Resolves the device and checks that the precision can run there: the benchmarks measure
/// bf16 autocast on CUDA only (the anchors and the PyTorch comparison are CUDA figures).
pub fn resolve_device(choice: DeviceChoice, precision: Precision) -> Result<Device> {
    let device = choice
        .resolve()
        .map_err(|e| BenchError::Device(format!("--device {choice}: {e}")))?;
    if precision == Precision::Bf16Autocast && !device.is_cuda() {
        return Err(BenchError::Device(format!(
            "--precision bf16 needs a CUDA device (--device {choice} resolved to the CPU)"
        )));
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

/// `fp32` / `bf16`: the precision as the benchmark flags and reports name it.
pub fn precision_label(p: Precision) -> &'static str {
    match p {
        Precision::Fp32 => "fp32",
        Precision::Bf16Autocast => "bf16",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_needs_cuda_and_names_are_short() {
        assert!(resolve_device(DeviceChoice::Cpu, Precision::Fp32).is_ok());
        let e = resolve_device(DeviceChoice::Cpu, Precision::Bf16Autocast).unwrap_err();
        assert!(e.to_string().contains("CUDA"), "{e}");
        assert_eq!(device_name(Device::Cuda(1)), "cuda:1");
        assert_eq!(precision_label(Precision::Bf16Autocast), "bf16");
    }
}

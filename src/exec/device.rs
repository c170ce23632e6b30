//! `--device auto|cpu|cuda|cuda:N` (parsed by `exp_lang::options::DeviceRequest`)
//! resolved against this machine's GPUs.

use crate::exec::ExecError;
use tch::Device;

pub use exp_lang::options::DeviceRequest;

/// Resolve `req` against `gpus` visible CUDA devices.
pub fn resolve_with(req: DeviceRequest, gpus: usize) -> Result<Device, ExecError> {
    let bad = |reason: String| ExecError::Device {
        spec: req.to_string(),
        reason,
    };
    match req {
        DeviceRequest::Auto if gpus > 0 => Ok(Device::Cuda(0)),
        DeviceRequest::Auto | DeviceRequest::Cpu => Ok(Device::Cpu),
        DeviceRequest::Cuda(_) if gpus == 0 => Err(bad(
            "CUDA is not available (no GPU visible, or libtorch without CUDA)".into(),
        )),
        DeviceRequest::Cuda(n) if n >= gpus => Err(bad(format!(
            "only {gpus} GPU(s) visible (cuda:0..cuda:{})",
            gpus - 1
        ))),
        DeviceRequest::Cuda(n) => Ok(Device::Cuda(n)),
    }
}

/// Number of visible CUDA devices (0 without CUDA).
pub fn cuda_count() -> usize {
    if tch::Cuda::is_available() {
        usize::try_from(tch::Cuda::device_count()).unwrap_or(0)
    } else {
        0
    }
}

/// Resolve on this machine.
pub fn resolve(req: DeviceRequest) -> Result<Device, ExecError> {
    // Why: asking CUDA only when needed keeps `--device cpu` free of driver probing.
    let gpus = if req == DeviceRequest::Cpu {
        0
    } else {
        cuda_count()
    };
    resolve_with(req, gpus)
}

/// Whether kernels built for `archs` (libtorch's arch list: `sm_XY` cubins,
/// `compute_XY` PTX) run on a GPU of compute capability `cap`.
///
/// A cubin `sm_XY` runs on the same major version with minor ≥ Y (`sm_80`
/// on an 8.6 card, not `sm_86` on an 8.0 one); an arch-specific cubin
/// (`sm_90a`) only on exactly X.Y; PTX `compute_XY` is compiled by the
/// driver for any capability ≥ X.Y.
pub fn kernels_run_on(cap: (u32, u32), archs: &[String]) -> bool {
    let (major, minor) = cap;
    let dev = major * 10 + minor;
    archs.iter().any(|a| {
        let (ptx, rest) = match (a.strip_prefix("sm_"), a.strip_prefix("compute_")) {
            (Some(r), _) => (false, r),
            (_, Some(r)) => (true, r),
            _ => return false,
        };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let specific = digits.len() < rest.len();
        let Ok(n) = digits.parse::<u32>() else {
            return false;
        };
        if ptx {
            n <= dev
        } else if specific {
            n == dev
        } else {
            n / 10 == major && n % 10 <= minor
        }
    })
}

/// The error for a GPU that `archs` cannot run on, or `None` when it can.
pub fn unsupported_gpu(
    device: Device,
    gpu: &crate::models::runtime::CudaDeviceInfo,
    archs: &[String],
) -> Option<ExecError> {
    if kernels_run_on(gpu.capability, archs) {
        return None;
    }
    let (major, minor) = gpu.capability;
    let sm = format!("sm_{major}{minor}");
    Some(ExecError::UnsupportedGpu {
        device: to_arg(device),
        name: gpu.name.clone(),
        capability: format!("{major}.{minor}"),
        archs: archs.join(" "),
        help: format!(
            "install a libtorch with {sm} kernels — the same torch version built for an \
             older CUDA (PyTorch's cu126 wheels keep Maxwell-to-Volta kernels where they are still \
             published) or built from source with TORCH_CUDA_ARCH_LIST={major}.{minor} — into a \
             virtual environment, point EXP_VENV at it (or LIBTORCH at a libtorch directory) and \
             rebuild exp; or run on the CPU with `--device cpu`"
        ),
    })
}

/// Refuse, before any training, a GPU the linked libtorch has no kernels
/// for; without this libtorch fails at the first kernel with "no kernel
/// image is available". Passes when the GPU or the arch list is unknown.
pub fn check_kernels(device: Device) -> Result<(), ExecError> {
    let Device::Cuda(n) = device else {
        return Ok(());
    };
    let (Some(gpu), Some(archs)) = (
        crate::models::runtime::cuda_device_info(n),
        crate::models::runtime::cuda_arch_list(),
    ) else {
        return Ok(());
    };
    unsupported_gpu(device, &gpu, &archs).map_or(Ok(()), Err)
}

/// `cpu` / `cuda:N`, as passed to child processes.
pub fn to_arg(d: Device) -> String {
    match d {
        Device::Cuda(n) => format!("cuda:{n}"),
        _ => "cpu".into(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn resolves_against_the_visible_gpus() {
        let r = |s: &str, n| resolve_with(DeviceRequest::parse(s).unwrap(), n);
        assert_eq!(r("auto", 0).unwrap(), Device::Cpu);
        assert_eq!(r("auto", 2).unwrap(), Device::Cuda(0));
        assert_eq!(r("cpu", 2).unwrap(), Device::Cpu);
        assert_eq!(r("cuda", 1).unwrap(), Device::Cuda(0));
        assert_eq!(r("CUDA:1", 2).unwrap(), Device::Cuda(1));
        assert!(r("cuda:2", 2).is_err());
        assert!(r("cuda", 0).is_err());
    }

    fn archs(list: &str) -> Vec<String> {
        list.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn kernel_support_follows_cuda_compatibility_rules() {
        let wheel = archs("sm_75 sm_80 sm_86 sm_90 sm_100 sm_120");
        assert!(!kernels_run_on((6, 1), &wheel), "Pascal TITAN X");
        assert!(!kernels_run_on((7, 0), &wheel), "Volta");
        assert!(kernels_run_on((7, 5), &wheel));
        assert!(kernels_run_on((8, 9), &wheel), "sm_86 runs on 8.9");
        assert!(kernels_run_on((9, 0), &wheel));
        assert!(kernels_run_on((12, 0), &wheel));
        assert!(
            !kernels_run_on((8, 0), &archs("sm_86")),
            "minor must not exceed"
        );
        assert!(
            kernels_run_on((6, 1), &archs("sm_50 compute_50")),
            "PTX JIT"
        );
        assert!(!kernels_run_on((9, 1), &archs("sm_90a")), "arch-specific");
        assert!(kernels_run_on((9, 0), &archs("sm_90a")));
    }

    #[test]
    fn an_unsupported_gpu_names_its_capability_and_what_to_install() {
        let gpu = crate::models::runtime::CudaDeviceInfo {
            name: "NVIDIA TITAN X (Pascal)".into(),
            capability: (6, 1),
        };
        let wheel = archs("sm_75 sm_80 sm_86 sm_90 sm_100 sm_120");
        let e = unsupported_gpu(Device::Cuda(0), &gpu, &wheel).unwrap();
        let text = e.to_string();
        assert!(text.contains("compute capability 6.1"), "{text}");
        assert!(text.contains("NVIDIA TITAN X (Pascal)"), "{text}");
        assert!(text.contains("sm_75 sm_80"), "{text}");
        let help = miette::Diagnostic::help(&e).unwrap().to_string();
        assert!(help.contains("sm_61 kernels"), "{help}");
        assert!(help.contains("TORCH_CUDA_ARCH_LIST=6.1"), "{help}");
        assert!(help.contains("--device cpu"), "{help}");
        let ampere = crate::models::runtime::CudaDeviceInfo {
            name: "A100".into(),
            capability: (8, 0),
        };
        assert!(unsupported_gpu(Device::Cuda(0), &ampere, &wheel).is_none());
    }

    #[test]
    fn clear_errors_for_absent_or_bad_devices() {
        let e = resolve_with(DeviceRequest::Cuda(0), 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("CUDA is not available"), "{e}");
        let e = resolve_with(DeviceRequest::Cuda(3), 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("only 2 GPU(s) visible"), "{e}");
    }
}

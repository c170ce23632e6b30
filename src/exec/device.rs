//! `--device auto|cpu|cuda|cuda:N`.

use crate::exec::ExecError;
use tch::Device;

/// The parsed request, before looking at the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceRequest {
    Auto,
    Cpu,
    Cuda(usize),
}

pub fn parse(spec: &str) -> Result<DeviceRequest, ExecError> {
    let bad = |reason: &str| ExecError::Device {
        spec: spec.into(),
        reason: reason.into(),
    };
    match spec.trim().to_ascii_lowercase().as_str() {
        "auto" => Ok(DeviceRequest::Auto),
        "cpu" => Ok(DeviceRequest::Cpu),
        "cuda" | "gpu" => Ok(DeviceRequest::Cuda(0)),
        s => match s.strip_prefix("cuda:") {
            Some(n) => n
                .parse()
                .map(DeviceRequest::Cuda)
                .map_err(|_| bad("the GPU index after `cuda:` is not a number")),
            None => Err(bad("unknown device")),
        },
    }
}

/// Resolve against `gpus` visible CUDA devices.
pub fn resolve_with(spec: &str, gpus: usize) -> Result<Device, ExecError> {
    match parse(spec)? {
        DeviceRequest::Auto if gpus > 0 => Ok(Device::Cuda(0)),
        DeviceRequest::Auto | DeviceRequest::Cpu => Ok(Device::Cpu),
        DeviceRequest::Cuda(_) if gpus == 0 => Err(ExecError::Device {
            spec: spec.into(),
            reason: "CUDA is not available (no GPU visible, or libtorch without CUDA)".into(),
        }),
        DeviceRequest::Cuda(n) if n >= gpus => Err(ExecError::Device {
            spec: spec.into(),
            reason: format!("only {gpus} GPU(s) visible (cuda:0..cuda:{})", gpus - 1),
        }),
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
pub fn resolve(spec: &str) -> Result<Device, ExecError> {
    let req = parse(spec)?;
    // Why: asking CUDA only when needed keeps `--device cpu` free of driver probing.
    let gpus = if req == DeviceRequest::Cpu {
        0
    } else {
        cuda_count()
    };
    resolve_with(spec, gpus)
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
    fn parses_and_resolves() {
        assert_eq!(resolve_with("auto", 0).unwrap(), Device::Cpu);
        assert_eq!(resolve_with("auto", 2).unwrap(), Device::Cuda(0));
        assert_eq!(resolve_with("cpu", 2).unwrap(), Device::Cpu);
        assert_eq!(resolve_with("cuda", 1).unwrap(), Device::Cuda(0));
        assert_eq!(resolve_with("CUDA:1", 2).unwrap(), Device::Cuda(1));
    }

    #[test]
    fn clear_errors_for_absent_or_bad_devices() {
        let e = resolve_with("cuda", 0).unwrap_err().to_string();
        assert!(e.contains("CUDA is not available"), "{e}");
        let e = resolve_with("cuda:3", 2).unwrap_err().to_string();
        assert!(e.contains("only 2 GPU(s) visible"), "{e}");
        let e = resolve_with("cuda:x", 2).unwrap_err().to_string();
        assert!(e.contains("not a number"), "{e}");
        assert!(resolve_with("tpu", 0).is_err());
    }
}

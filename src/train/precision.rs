//! Mixed precision: which half-precision dtype a cell's forward runs in on
//! a device, and dynamic loss scaling for fp16 with the rules of PyTorch's
//! `torch.amp.GradScaler` (docs/training.md, "Mixed precision").
//!
//! The scaler's bookkeeping is host-side and plain data, so its rules are
//! unit-tested on CPU with injected non-finite gradients; the unscale runs
//! libtorch's own fused kernel on whatever device the gradients live on.

use super::optim::Optimizer;
use crate::models::runtime::{self, Half};
use crate::spec::Precision;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// GradScaler's defaults.
pub const INIT_SCALE: f64 = 65536.0;
pub const GROWTH_FACTOR: f64 = 2.0;
pub const BACKOFF_FACTOR: f64 = 0.5;
pub const GROWTH_INTERVAL: u32 = 2000;

/// How a cell's steps run on its device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrecisionMode {
    /// Autocast dtype of the forward (`None`: f32).
    pub autocast: Option<Half>,
    /// Whether the loss is scaled and steps with inf/NaN gradients skipped.
    pub loss_scaling: bool,
}

/// Resolve a recipe's `precision` on `device`; `capability` is the CUDA
/// compute capability when known.
///
/// `auto` takes bf16 only where the GPU has bf16 arithmetic (compute
/// capability ≥ 8.0, Ampere on, what `torch.cuda.is_bf16_supported` checks),
/// fp16 with loss scaling on older GPUs, f32 on CPU; an unknown capability
/// counts as bf16-capable (the linked wheel has no kernels below 7.5
/// anyway). On CPU the forward always runs in f32 (libtorch's CPU autocast
/// is not used), but `fp16` keeps its loss scaler: the scale is a power of
/// two, so scaling and unscaling f32 gradients changes no bit.
pub fn resolve(p: Precision, device: Device, capability: Option<(u32, u32)>) -> PrecisionMode {
    let cuda = device.is_cuda();
    let bf16_capable = capability.is_none_or(|(major, _)| major >= 8);
    let (autocast, loss_scaling) = match p {
        Precision::F32 => (None, false),
        Precision::Bf16 => (cuda.then_some(Half::Bf16), false),
        Precision::F16 => (cuda.then_some(Half::F16), true),
        Precision::Auto if !cuda => (None, false),
        Precision::Auto if bf16_capable => (Some(Half::Bf16), false),
        Precision::Auto => (Some(Half::F16), true),
    };
    PrecisionMode {
        autocast,
        loss_scaling,
    }
}

/// The mode of a recipe's precision on `device`, asking the driver for the
/// GPU's compute capability.
pub fn mode_on(p: Precision, device: Device) -> PrecisionMode {
    let capability = match device {
        Device::Cuda(n) if p == Precision::Auto => {
            runtime::cuda_device_info(n).map(|i| i.capability)
        }
        _ => None,
    };
    resolve(p, device, capability)
}

/// Dynamic loss scaling, as `torch.amp.GradScaler`: the loss is multiplied
/// by `scale` before backward; before the step the gradients are unscaled
/// and checked; a step whose gradients hold an inf or NaN is skipped and the
/// scale halved; after `growth_interval` good steps in a row it doubles.
///
/// Saved inside the resumable checkpoint, so a resumed run scales as the
/// uninterrupted one would.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossScaler {
    pub scale: f64,
    /// Good steps since the scale last changed.
    pub growth_tracker: u32,
    pub growth_interval: u32,
    /// Steps skipped so far in the current epoch (metrics.csv `skipped_steps`).
    pub skipped_in_epoch: u64,
}

impl Default for LossScaler {
    fn default() -> Self {
        Self::new(GROWTH_INTERVAL)
    }
}

impl LossScaler {
    pub fn new(growth_interval: u32) -> Self {
        Self {
            scale: INIT_SCALE,
            growth_tracker: 0,
            growth_interval: growth_interval.max(1),
            skipped_in_epoch: 0,
        }
    }

    /// The loss to call `backward` on.
    pub fn scale_loss(&self, loss: &Tensor) -> Tensor {
        loss * self.scale
    }

    /// GradScaler's `update`: back off after a skipped step, grow after
    /// `growth_interval` good ones (never to an infinite scale).
    pub fn update(&mut self, found_inf: bool) {
        if found_inf {
            self.scale *= BACKOFF_FACTOR;
            self.growth_tracker = 0;
            self.skipped_in_epoch += 1;
            return;
        }
        self.growth_tracker += 1;
        if self.growth_tracker >= self.growth_interval {
            let grown = self.scale * GROWTH_FACTOR;
            if grown.is_finite() {
                self.scale = grown;
            }
            self.growth_tracker = 0;
        }
    }

    /// Unscale the optimizer's gradients in place; whether any held an inf
    /// or NaN (one read-back from the device, as GradScaler's step).
    pub fn unscale(&self, opt: &Optimizer) -> Result<bool, String> {
        let grads: Vec<Tensor> = opt
            .params()
            .map(|(_, p)| p.grad())
            .filter(Tensor::defined)
            .collect();
        let Some(first) = grads.first() else {
            return Ok(false);
        };
        let device = first.device();
        let found = Tensor::zeros([1], (Kind::Float, device));
        let inv = Tensor::from_slice(&[(1.0 / self.scale) as f32]).to_device(device);
        // Why grouped by dtype: the fused kernel takes one dtype per call.
        let mut kinds: Vec<Kind> = Vec::new();
        for g in &grads {
            if !kinds.contains(&g.kind()) {
                kinds.push(g.kind());
            }
        }
        for kind in kinds {
            let group: Vec<&Tensor> = grads.iter().filter(|g| g.kind() == kind).collect();
            runtime::amp_unscale(&group, &found, &inv)?;
        }
        Ok(found.double_value(&[0]) != 0.0)
    }

    /// One optimizer step under loss scaling: unscale, then (gradients all
    /// finite) clip and step, else skip; then update the scale. Returns
    /// whether the step was applied.
    pub fn step(
        &mut self,
        opt: &mut Optimizer,
        grad_clip: Option<f64>,
        lr: f64,
    ) -> Result<bool, String> {
        let found_inf = self.unscale(opt)?;
        if !found_inf {
            if let Some(max) = grad_clip {
                let _ = opt.clip_grad_norm(max);
            }
            opt.step(lr)?;
        }
        self.update(found_inf);
        Ok(!found_inf)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::spec::OptimizerKind;
    use crate::train::optim::ParamSpec;

    #[test]
    fn auto_takes_bf16_only_where_the_gpu_has_it() {
        let cuda = Device::Cuda(0);
        let pascal = resolve(Precision::Auto, cuda, Some((6, 1)));
        assert_eq!(
            (pascal.autocast, pascal.loss_scaling),
            (Some(Half::F16), true)
        );
        let turing = resolve(Precision::Auto, cuda, Some((7, 5)));
        assert_eq!(turing.autocast, Some(Half::F16));
        let ampere = resolve(Precision::Auto, cuda, Some((8, 0)));
        assert_eq!(
            (ampere.autocast, ampere.loss_scaling),
            (Some(Half::Bf16), false)
        );
        let unknown = resolve(Precision::Auto, cuda, None);
        assert_eq!(unknown.autocast, Some(Half::Bf16));
        let cpu = resolve(Precision::Auto, Device::Cpu, None);
        assert_eq!((cpu.autocast, cpu.loss_scaling), (None, false));
    }

    #[test]
    fn explicit_precisions() {
        let cuda = Device::Cuda(0);
        let f16 = resolve(Precision::F16, cuda, Some((9, 0)));
        assert_eq!((f16.autocast, f16.loss_scaling), (Some(Half::F16), true));
        let cpu16 = resolve(Precision::F16, Device::Cpu, None);
        assert_eq!((cpu16.autocast, cpu16.loss_scaling), (None, true));
        assert_eq!(
            resolve(Precision::Bf16, cuda, Some((6, 1))).autocast,
            Some(Half::Bf16)
        );
        assert_eq!(resolve(Precision::F32, cuda, Some((9, 0))).autocast, None);
        assert_eq!(resolve(Precision::Bf16, Device::Cpu, None).autocast, None);
    }

    #[test]
    fn the_scale_halves_on_overflow_and_doubles_after_2000_good_steps() {
        let mut s = LossScaler::default();
        assert_eq!(s.scale, 65536.0);
        s.update(true);
        assert_eq!((s.scale, s.skipped_in_epoch), (32768.0, 1));
        for _ in 0..1999 {
            s.update(false);
        }
        assert_eq!(s.scale, 32768.0, "not yet: 1999 good steps");
        s.update(false);
        assert_eq!((s.scale, s.growth_tracker), (65536.0, 0));
        // A skip resets the count of good steps.
        for _ in 0..1500 {
            s.update(false);
        }
        s.update(true);
        for _ in 0..1999 {
            s.update(false);
        }
        assert_eq!(s.scale, 32768.0);
        // The scale never grows to infinity.
        let mut big = LossScaler::new(1);
        big.scale = f64::MAX;
        big.update(false);
        assert_eq!(big.scale, f64::MAX);
    }

    fn param(v: &[f32]) -> Tensor {
        Tensor::from_slice(v).set_requires_grad(true)
    }

    fn set_grad(p: &Tensor, g: &[f32]) {
        let loss = (p * Tensor::from_slice(g)).sum(Kind::Float);
        loss.backward();
    }

    fn sgd(p: &Tensor) -> Optimizer {
        let spec = ParamSpec {
            name: "w".into(),
            lr_scale: 1.0,
            weight_decay: 0.0,
        };
        Optimizer::new(
            OptimizerKind::Sgd {
                momentum: 0.0,
                nesterov: false,
            },
            vec![(spec, p.shallow_clone())],
        )
    }

    #[test]
    fn a_step_with_inf_gradients_is_skipped_and_backs_off() {
        let p = param(&[1.0, 2.0]);
        let mut opt = sgd(&p);
        let mut s = LossScaler::new(3);
        // Scaled gradients as backward of a scaled loss leaves them.
        opt.zero_grad().unwrap();
        set_grad(&p, &[f32::INFINITY, 1.0]);
        assert!(!s.step(&mut opt, Some(1.0), 0.1).unwrap());
        assert_eq!(Vec::<f32>::try_from(&p.detach()).unwrap(), [1.0, 2.0]);
        assert_eq!((s.scale, s.skipped_in_epoch), (32768.0, 1));
        opt.zero_grad().unwrap();
        set_grad(&p, &[f32::NAN, 0.0]);
        assert!(!s.step(&mut opt, None, 0.1).unwrap());
        assert_eq!((s.scale, s.skipped_in_epoch), (16384.0, 2));
        // A finite step is unscaled before the update: grad 16384·[1, 2] / 16384.
        for i in 0..3 {
            opt.zero_grad().unwrap();
            set_grad(&p, &[16384.0 * (1 << i) as f32, 32768.0 * (1 << i) as f32]);
            assert!(s.step(&mut opt, None, 0.5).unwrap());
            if i < 2 {
                assert_eq!(s.scale, 16384.0);
            }
        }
        // Three good steps (the interval here) double the scale.
        assert_eq!((s.scale, s.growth_tracker), (32768.0, 0));
        let got = Vec::<f32>::try_from(&p.detach()).unwrap();
        // Unscaled grads were [1, 2], [2, 4], [4, 8] (the scale grew only
        // after the third): p − 0.5·Σ = [1 − 3.5, 2 − 7].
        assert_eq!(got, [-2.5, -5.0]);
    }

    #[test]
    fn scaling_by_a_power_of_two_leaves_f32_gradients_unchanged() {
        let p = param(&[0.3, -1.7]);
        let mut opt = sgd(&p);
        let s = LossScaler::default();
        let g = [1.234_5e-3f32, -7.654_321];
        opt.zero_grad().unwrap();
        let loss = (&p * Tensor::from_slice(&g)).sum(Kind::Float);
        s.scale_loss(&loss).backward();
        assert!(!s.unscale(&opt).unwrap());
        assert_eq!(Vec::<f32>::try_from(&p.grad()).unwrap(), g);
    }
}

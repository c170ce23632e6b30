//! Optimizers over plain tch tensors, with PyTorch's exact update rules
//! (and timm's `RMSpropTF` for `rmsprop(tf_style = true)`).
//!
//! Why not `tch::nn::Optimizer`: its state lives inside libtorch and cannot
//! be saved, so a resumed run could not continue bit-identically. Here every
//! moment buffer is an ordinary tensor and the step counts are plain integers;
//! `state_tensors`/`load_state` round-trip them through a checkpoint.
//!
//! All updates run in place under `no_grad`, on the parameters' device, with
//! host-side scalars only: a step never synchronises with the device.
//!
//! Adam, AdamW and SGD run libtorch's fused kernels (`torch.optim.AdamW(fused=True)`,
//! `torch.optim.SGD(fused=True)`), one call per parameter group; RMSprop, which
//! has no fused kernel, runs PyTorch's formulas as multi-tensor `_foreach_*`
//! ops, also one call per group.
//!
//! A *capturable* optimizer (`Optimizer::capturable`) keeps each group's lr
//! in a device tensor and Adam's step counts on the device (as every
//! optimizer here does), so a step recorded in a CUDA graph replays with the
//! current schedule: `set_lr` refreshes the tensors outside the graph and
//! `step_device_lr` is what the graph records. On the CPU it computes
//! exactly what the eager optimizer computes.

use crate::models::runtime::{self, AdamGroup, AdamHyper, Lr, RmsPropHyper};
use crate::spec::OptimizerKind;
use std::collections::BTreeMap;
use tch::{Device, Kind, Tensor};

/// Per-parameter settings: the phase lr is multiplied by `lr_scale`
/// (layer-wise decay) and `weight_decay` is 0 for norms and biases.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    pub name: String,
    pub lr_scale: f64,
    pub weight_decay: f64,
}

struct ParamState {
    /// Updates applied to this parameter (PyTorch's per-parameter `step`).
    step: u64,
    /// The fused kernel's device copy of `step` (f32, as PyTorch keeps it),
    /// made from `step` when first needed.
    step_t: Option<Tensor>,
    bufs: BTreeMap<&'static str, Tensor>,
}

/// What the tensors of one fused call share.
#[derive(PartialEq)]
struct GroupKey {
    lr_scale: u64,
    weight_decay: u64,
    device: Device,
    kind: Kind,
}

pub struct Optimizer {
    kind: OptimizerKind,
    params: Vec<(ParamSpec, Tensor)>,
    state: Vec<ParamState>,
    /// Indices of `params` by what one fused call needs them to share; fixed
    /// for the optimizer's life, like the parameters.
    groups: Vec<(GroupKey, Vec<usize>)>,
    /// Capturable: each group's lr (`phase lr × lr_scale`) as a 0-dim
    /// tensor on its device, in `groups` order.
    lr_device: Option<Vec<Tensor>>,
}

impl Optimizer {
    /// An optimizer whose lr is a host number given to every `step`.
    pub fn new(kind: OptimizerKind, params: Vec<(ParamSpec, Tensor)>) -> Self {
        let state = params
            .iter()
            .map(|_| ParamState {
                step: 0,
                step_t: None,
                bufs: BTreeMap::new(),
            })
            .collect();
        let mut groups: Vec<(GroupKey, Vec<usize>)> = Vec::new();
        for (i, (spec, p)) in params.iter().enumerate() {
            let key = GroupKey {
                lr_scale: spec.lr_scale.to_bits(),
                weight_decay: spec.weight_decay.to_bits(),
                device: p.device(),
                kind: p.kind(),
            };
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(i),
                None => groups.push((key, vec![i])),
            }
        }
        Self {
            kind,
            params,
            state,
            groups,
            lr_device: None,
        }
    }

    /// An optimizer whose lr lives on the device (see the module docs).
    pub fn capturable(kind: OptimizerKind, params: Vec<(ParamSpec, Tensor)>) -> Self {
        let mut o = Self::new(kind, params);
        // Why f32 on CUDA and f64 on the CPU: the CUDA kernels read the lr
        // as f32, the CPU ones as a double, which then equals the host lr.
        let lrs = o
            .groups
            .iter()
            .map(|(k, _)| {
                let kind = if k.device.is_cuda() {
                    Kind::Float
                } else {
                    Kind::Double
                };
                Tensor::zeros([], (kind, k.device))
            })
            .collect();
        o.lr_device = Some(lrs);
        o
    }

    pub fn is_capturable(&self) -> bool {
        self.lr_device.is_some()
    }

    /// Write phase lr `lr` into the device lr tensors (a fill kernel per
    /// group, no host sync); nothing for a host-lr optimizer.
    pub fn set_lr(&self, lr: f64) {
        let Some(lrs) = &self.lr_device else {
            return;
        };
        tch::no_grad(|| {
            for ((key, _), t) in self.groups.iter().zip(lrs) {
                let mut t = t.shallow_clone();
                let _ = t.fill_(lr * f64::from_bits(key.lr_scale));
            }
        });
    }

    /// The lr of group `g` for one call.
    fn group_lr(&self, g: usize, lr: f64) -> Lr<'_> {
        match &self.lr_device {
            Some(lrs) => Lr::Device(&lrs[g]),
            None => Lr::Host(lr * f64::from_bits(self.groups[g].0.lr_scale)),
        }
    }

    /// A capturable optimizer's step with the lr last given to `set_lr`:
    /// launches kernels only, so a CUDA graph can record it.
    pub fn step_device_lr(&mut self) -> Result<(), String> {
        if !self.is_capturable() {
            return Err("step_device_lr needs a capturable optimizer".into());
        }
        self.step_with(f64::NAN)
    }

    /// The host step count of every parameter (see `restore_host_steps`).
    pub fn host_steps(&self) -> Vec<u64> {
        self.state.iter().map(|s| s.step).collect()
    }

    /// Put back counts from `host_steps`: recording a step in a CUDA graph
    /// counts it on the host although the device has not taken it yet.
    pub fn restore_host_steps(&mut self, steps: &[u64]) {
        for (st, &s) in self.state.iter_mut().zip(steps) {
            st.step = s;
        }
    }

    /// Count one more update for every parameter that has a gradient, as a
    /// step does on the host: a CUDA graph replay updates the device state
    /// only, and the host counts are what checkpoints save.
    pub fn count_replayed_step(&mut self) {
        for ((_, p), st) in self.params.iter().zip(self.state.iter_mut()) {
            if p.grad().defined() {
                st.step += 1;
            }
        }
    }

    pub fn params(&self) -> impl Iterator<Item = &(ParamSpec, Tensor)> {
        self.params.iter()
    }

    /// Drop every gradient (`zero_grad(set_to_none=True)`, PyTorch's
    /// default): a parameter that gets no gradient in a step is not updated.
    pub fn zero_grad(&mut self) -> Result<(), String> {
        let ps: Vec<&Tensor> = self.params.iter().map(|(_, p)| p).collect();
        runtime::clear_grads(&ps)
    }

    /// Scale gradients so their global L2 norm is at most `max_norm`, as
    /// `torch.nn.utils.clip_grad_norm_`; returns the norm before clipping as
    /// a device scalar (no host sync).
    pub fn clip_grad_norm(&self, max_norm: f64) -> Option<Tensor> {
        tch::no_grad(|| {
            let grads: Vec<Tensor> = self
                .params
                .iter()
                .map(|(_, p)| p.grad())
                .filter(|g| g.defined())
                .collect();
            if grads.is_empty() {
                return None;
            }
            let norms: Vec<Tensor> = grads.iter().map(|g| g.norm()).collect();
            let total = Tensor::stack(&norms, 0).norm();
            let coef = (total.g_add_scalar(1e-6).reciprocal() * max_norm).clamp_max(1.0);
            for g in &grads {
                let mut g = g.shallow_clone();
                let _ = g.g_mul_(&coef);
            }
            Some(total)
        })
    }

    /// One update of every parameter that has a gradient, at phase lr `lr`.
    pub fn step(&mut self, lr: f64) -> Result<(), String> {
        self.set_lr(lr);
        self.step_with(lr)
    }

    /// The update; `lr` is ignored by a capturable optimizer.
    fn step_with(&mut self, lr: f64) -> Result<(), String> {
        match self.kind {
            OptimizerKind::AdamW { beta1, beta2, eps } => {
                self.step_fused_adam(lr, beta1, beta2, eps, true)
            }
            OptimizerKind::Adam { beta1, beta2, eps } => {
                self.step_fused_adam(lr, beta1, beta2, eps, false)
            }
            OptimizerKind::Sgd { momentum, nesterov } => {
                self.step_fused_sgd(lr, momentum, nesterov)
            }
            OptimizerKind::RmsProp {
                alpha,
                eps,
                momentum,
                tf_style,
            } => self.step_rmsprop(lr, alpha, eps, momentum, tf_style),
        }
    }

    /// RMSprop per group with multi-tensor ops: `torch.optim.RMSprop`, or
    /// timm's `RMSpropTF` with `tf_style` (whose squared average starts at
    /// one, not zero).
    fn step_rmsprop(
        &mut self,
        lr: f64,
        alpha: f64,
        eps: f64,
        momentum: f64,
        tf_style: bool,
    ) -> Result<(), String> {
        let grads: Vec<Tensor> = self.params.iter().map(|(_, p)| p.grad()).collect();
        for ((_, p), (st, g)) in self.params.iter().zip(self.state.iter_mut().zip(&grads)) {
            if !g.defined() {
                continue;
            }
            st.bufs.entry("square_avg").or_insert_with(|| {
                if tf_style {
                    p.ones_like()
                } else {
                    p.zeros_like()
                }
            });
            if momentum > 0.0 {
                st.bufs
                    .entry("momentum_buffer")
                    .or_insert_with(|| p.zeros_like());
            }
            st.step += 1;
        }
        for (gi, (key, members)) in self.groups.iter().enumerate() {
            let (mut ps, mut gs, mut sqs, mut bs) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for &i in members.iter().filter(|&&i| grads[i].defined()) {
                let st = &self.state[i];
                let Some(sq) = st.bufs.get("square_avg") else {
                    return Err(format!(
                        "optimizer state of `{}` is incomplete",
                        self.params[i].0.name
                    ));
                };
                ps.push(&self.params[i].1);
                gs.push(&grads[i]);
                sqs.push(sq);
                if let Some(b) = st.bufs.get("momentum_buffer") {
                    bs.push(b);
                }
            }
            let h = RmsPropHyper {
                lr: self.group_lr(gi, lr),
                alpha,
                eps,
                weight_decay: f64::from_bits(key.weight_decay),
                momentum,
                tf_style,
            };
            runtime::rmsprop(&ps, &gs, &sqs, &bs, h)?;
        }
        Ok(())
    }

    /// SGD through libtorch's fused kernel (`torch.optim.SGD(fused=True)`):
    /// per group, one call for the parameters whose momentum buffer already
    /// exists and one for those stepped for the first time (their new buffer
    /// is set to the gradient by the kernel, as PyTorch's first step does).
    fn step_fused_sgd(&mut self, lr: f64, momentum: f64, nesterov: bool) -> Result<(), String> {
        let grads: Vec<Tensor> = self.params.iter().map(|(_, p)| p.grad()).collect();
        let mut first = vec![false; self.params.len()];
        for (i, (st, g)) in self.state.iter_mut().zip(&grads).enumerate() {
            if !g.defined() {
                continue;
            }
            if momentum != 0.0 && !st.bufs.contains_key("momentum_buffer") {
                st.bufs.insert("momentum_buffer", g.empty_like());
                first[i] = true;
            }
            st.step += 1;
        }
        for (gi, (key, members)) in self.groups.iter().enumerate() {
            for first_step in [false, true] {
                let (mut ps, mut gs, mut bs) = (Vec::new(), Vec::new(), Vec::new());
                for &i in members
                    .iter()
                    .filter(|&&i| grads[i].defined() && first[i] == first_step)
                {
                    ps.push(&self.params[i].1);
                    gs.push(&grads[i]);
                    if let Some(b) = self.state[i].bufs.get("momentum_buffer") {
                        bs.push(b);
                    }
                }
                let h = runtime::SgdHyper {
                    lr: self.group_lr(gi, lr),
                    weight_decay: f64::from_bits(key.weight_decay),
                    momentum,
                    nesterov,
                    first_step,
                };
                runtime::fused_sgd(&ps, &gs, &bs, h)?;
            }
        }
        Ok(())
    }

    /// Adam/AdamW through libtorch's fused kernel: the parameters of each
    /// group (lr scale, weight decay, device, dtype) that have a gradient
    /// are one call. State is created as PyTorch creates it: zero
    /// moments, an f32 step counter on the parameter's device.
    fn step_fused_adam(
        &mut self,
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        decoupled: bool,
    ) -> Result<(), String> {
        let grads: Vec<Tensor> = self.params.iter().map(|(_, p)| p.grad()).collect();
        for (((_, p), st), g) in self.params.iter().zip(self.state.iter_mut()).zip(&grads) {
            if !g.defined() {
                continue;
            }
            if st.bufs.is_empty() {
                st.bufs.insert("exp_avg", p.zeros_like());
                st.bufs.insert("exp_avg_sq", p.zeros_like());
            }
            if st.step_t.is_none() {
                st.step_t = Some(Tensor::from_slice(&[st.step as f32]).to_device(p.device()));
            }
            st.step += 1;
        }
        for (gi, (key, members)) in self.groups.iter().enumerate() {
            let mut g = AdamGroup {
                params: Vec::with_capacity(members.len()),
                grads: Vec::with_capacity(members.len()),
                exp_avgs: Vec::with_capacity(members.len()),
                exp_avg_sqs: Vec::with_capacity(members.len()),
                steps: Vec::with_capacity(members.len()),
            };
            for &i in members.iter().filter(|&&i| grads[i].defined()) {
                let st = &self.state[i];
                let (Some(m), Some(v), Some(s)) = (
                    st.bufs.get("exp_avg"),
                    st.bufs.get("exp_avg_sq"),
                    st.step_t.as_ref(),
                ) else {
                    return Err(format!(
                        "optimizer state of `{}` is incomplete",
                        self.params[i].0.name
                    ));
                };
                g.params.push(&self.params[i].1);
                g.grads.push(&grads[i]);
                g.exp_avgs.push(m);
                g.exp_avg_sqs.push(v);
                g.steps.push(s);
            }
            let h = AdamHyper {
                lr: self.group_lr(gi, lr),
                beta1,
                beta2,
                weight_decay: f64::from_bits(key.weight_decay),
                eps,
                decoupled,
            };
            runtime::fused_adam(&g, h)?;
        }
        Ok(())
    }

    /// Optimizer state as named tensors: `<param>.<buffer>` and
    /// `<param>.step` (a one-element i64 tensor).
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for ((spec, _), st) in self.params.iter().zip(&self.state) {
            out.push((
                format!("{}.step", spec.name),
                Tensor::from_slice(&[st.step as i64]),
            ));
            for (b, t) in &st.bufs {
                out.push((format!("{}.{b}", spec.name), t.shallow_clone()));
            }
        }
        out
    }

    /// Restore what `state_tensors` saved (tensors may be on the CPU; they are
    /// moved to each parameter's device).
    pub fn load_state(
        &mut self,
        saved: &BTreeMap<String, Tensor>,
        prefix: &str,
    ) -> Result<(), String> {
        for ((spec, p), st) in self.params.iter().zip(self.state.iter_mut()) {
            let key = format!("{prefix}{}.step", spec.name);
            let step = saved
                .get(&key)
                .ok_or_else(|| format!("optimizer state `{key}` is missing"))?;
            st.step = step.int64_value(&[0]).max(0) as u64;
            st.step_t = None;
            st.bufs.clear();
            for b in ["exp_avg", "exp_avg_sq", "momentum_buffer", "square_avg"] {
                if let Some(t) = saved.get(&format!("{prefix}{}.{b}", spec.name)) {
                    if t.size() != p.size() {
                        return Err(format!(
                            "optimizer buffer `{}.{b}` has shape {:?}, parameter has {:?}",
                            spec.name,
                            t.size(),
                            p.size()
                        ));
                    }
                    st.bufs.insert(b, t.to_device(p.device()).to_kind(p.kind()));
                }
            }
        }
        Ok(())
    }
}

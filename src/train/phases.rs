//! The two training phases and which parameters each one trains.
//!
//! 1. `frozen` (`budget.frozen_epochs`): only the metadata branch (`meta.`)
//!    and the classifier (`head.`) train, at `optimizer.lr`; the backbone's
//!    variables have `requires_grad` off and run in eval mode.
//! 2. `finetune` (`budget.finetune_epochs`): every trainable variable, at
//!    `optimizer.finetune_lr`, scaled per backbone layer by
//!    `layer_decay^(num_layers − layer_id)` when `recipe.layer_decay` is set.
//!
//! Each phase starts with a fresh optimizer state and its own warmup and
//! schedule. Why: the frozen phase's moments describe a different problem
//! (few parameters at a larger lr); carrying them into the finetune phase
//! would give the backbone's first updates Adam denominators of zero while
//! the head's are already tuned — the same as the two-optimizer setup of the
//! reference trainer.
//!
//! Weight decay is not applied to 1-D variables (norm scales and shifts,
//! biases), ViT's `pos_embed`/`cls_token`, nor to anything named `*.bias`.

use super::optim::ParamSpec;
use crate::spec::{BudgetSpec, OptimizerSpec};
use std::collections::{BTreeMap, BTreeSet};
use tch::Tensor;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseKind {
    Frozen,
    Finetune,
}

impl PhaseKind {
    pub fn name(self) -> &'static str {
        match self {
            PhaseKind::Frozen => "frozen",
            PhaseKind::Finetune => "finetune",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub kind: PhaseKind,
    /// 0-based global epoch where the phase starts.
    pub start_epoch: u32,
    pub epochs: u32,
    pub base_lr: f64,
}

impl Phase {
    pub fn contains(&self, epoch: u32) -> bool {
        epoch >= self.start_epoch && epoch < self.start_epoch + self.epochs
    }
}

/// Phases with at least one epoch, in order.
pub fn plan(budget: &BudgetSpec, optimizer: &OptimizerSpec) -> Vec<Phase> {
    let mut out = Vec::new();
    if budget.frozen_epochs > 0 {
        out.push(Phase {
            kind: PhaseKind::Frozen,
            start_epoch: 0,
            epochs: budget.frozen_epochs,
            base_lr: optimizer.lr,
        });
    }
    if budget.finetune_epochs > 0 {
        out.push(Phase {
            kind: PhaseKind::Finetune,
            start_epoch: budget.frozen_epochs,
            epochs: budget.finetune_epochs,
            base_lr: optimizer.finetune_lr,
        });
    }
    out
}

/// Variables of the metadata branch and the classifier.
pub fn is_head_var(name: &str) -> bool {
    name.starts_with("meta.") || name.starts_with("head.")
}

/// Norms, biases, other 1-D variables and ViT's position embedding and
/// class token get no weight decay (timm's exemption list).
pub fn no_weight_decay(name: &str, t: &Tensor) -> bool {
    crate::models::is_no_decay(name, &t.size()) || name.ends_with(".bias")
}

/// Parameters the optimizer of `kind` updates, with their lr scale and
/// weight decay. `layer_scale` maps a variable name to its layer-decay factor
/// (finetune only).
pub fn param_specs(
    kind: PhaseKind,
    vars: &BTreeMap<String, Tensor>,
    trainable: &BTreeSet<String>,
    weight_decay: f64,
    layer_scale: &dyn Fn(&str) -> f64,
) -> Vec<(ParamSpec, Tensor)> {
    vars.iter()
        .filter(|(n, _)| trainable.contains(*n))
        .filter(|(n, _)| kind == PhaseKind::Finetune || is_head_var(n))
        .map(|(n, t)| {
            let wd = if no_weight_decay(n, t) {
                0.0
            } else {
                weight_decay
            };
            let lr_scale = if kind == PhaseKind::Finetune {
                layer_scale(n)
            } else {
                1.0
            };
            (
                ParamSpec {
                    name: n.clone(),
                    lr_scale,
                    weight_decay: wd,
                },
                t.shallow_clone(),
            )
        })
        .collect()
}

/// Switch gradient tracking so only the phase's parameters record grads.
pub fn set_trainable(
    kind: PhaseKind,
    vars: &BTreeMap<String, Tensor>,
    trainable: &BTreeSet<String>,
) {
    for (n, t) in vars {
        if trainable.contains(n) {
            let on = kind == PhaseKind::Finetune || is_head_var(n);
            let _ = t.set_requires_grad(on);
        }
    }
}

/// Layer-wise lr decay: `decay^(num_layers − id)` for backbone variables
/// with a layer id, 1 for everything else.
pub fn layer_decay_scale(decay: Option<f64>, id: Option<usize>, num_layers: usize) -> f64 {
    match (decay, id) {
        (Some(d), Some(id)) if num_layers > 0 => d.powi(num_layers.saturating_sub(id) as i32),
        _ => 1.0,
    }
}

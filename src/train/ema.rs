//! Exponential moving average of the model's weights (`recipe.ema`).
//!
//! After every optimizer step: `ema = d · ema + (1 − d) · w` for floating
//! variables (parameters and norm statistics alike, as timm's `ModelEmaV2`).
//! Validation, selection and `best.safetensors` use the EMA weights when
//! EMA is on; the EMA runs across both phases.

use std::collections::BTreeMap;
use tch::Tensor;

pub struct Ema {
    pub decay: f64,
    /// Variable name → shadow copy (same device and kind as the variable).
    pub shadow: BTreeMap<String, Tensor>,
}

impl Ema {
    pub fn new(decay: f64, vars: &BTreeMap<String, Tensor>) -> Self {
        let shadow = tch::no_grad(|| {
            vars.iter()
                .map(|(n, v)| (n.clone(), v.detach().copy()))
                .collect()
        });
        Self { decay, shadow }
    }

    pub fn update(&mut self, vars: &BTreeMap<String, Tensor>) {
        tch::no_grad(|| {
            for (n, v) in vars {
                if let Some(s) = self.shadow.get_mut(n) {
                    if v.is_floating_point() {
                        let _ = s.lerp_(v, 1.0 - self.decay);
                    } else {
                        s.copy_(v);
                    }
                }
            }
        });
    }

    /// Swap the live variables with the shadow copies (call twice to undo).
    pub fn swap(&mut self, vars: &BTreeMap<String, Tensor>) {
        tch::no_grad(|| {
            for (n, v) in vars {
                if let Some(s) = self.shadow.get_mut(n) {
                    let tmp = v.detach().copy();
                    let mut v = v.shallow_clone();
                    v.copy_(s);
                    s.copy_(&tmp);
                }
            }
        });
    }
}

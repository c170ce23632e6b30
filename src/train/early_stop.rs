//! Checkpoint selection and early stopping on the validation split.
//!
//! Both compare one monitored number per epoch: val loss (lower is better)
//! or val top-1 (higher is better). A NaN never counts as an improvement.
//! Selection keeps the strictly best epoch; early stopping counts epochs
//! without an improvement larger than `min_delta` and stops after
//! `patience` of them. Counting runs across both phases (the frozen epochs
//! are part of the history the finetune phase must beat).

use crate::spec::{EarlyStop, Monitor};
use serde::{Deserialize, Serialize};

/// The monitored value of one validation pass.
pub fn monitored(monitor: Monitor, val_loss: f64, val_top1: f64) -> f64 {
    match monitor {
        Monitor::ValLoss => val_loss,
        Monitor::ValTop1 => val_top1,
    }
}

/// Whether `candidate` beats `best` by more than `min_delta`.
pub fn improves(monitor: Monitor, candidate: f64, best: Option<f64>, min_delta: f64) -> bool {
    if candidate.is_nan() {
        return false;
    }
    match best {
        None => true,
        Some(b) => match monitor {
            Monitor::ValLoss => candidate < b - min_delta,
            Monitor::ValTop1 => candidate > b + min_delta,
        },
    }
}

/// Best epoch so far by the recipe's `monitor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    pub best: Option<f64>,
    /// 1-based global epoch of the best checkpoint (0 = none yet).
    pub best_epoch: u32,
    #[serde(deserialize_with = "super::history::f64_or_nan")]
    pub best_val_loss: f64,
    #[serde(deserialize_with = "super::history::f64_or_nan")]
    pub best_val_top1: f64,
}

impl Default for Selection {
    fn default() -> Self {
        Self {
            best: None,
            best_epoch: 0,
            best_val_loss: f64::NAN,
            best_val_top1: f64::NAN,
        }
    }
}

impl Selection {
    /// Record an epoch; true when it is the new best (save its weights).
    pub fn observe(&mut self, monitor: Monitor, epoch: u32, val_loss: f64, val_top1: f64) -> bool {
        let v = monitored(monitor, val_loss, val_top1);
        if improves(monitor, v, self.best, 0.0) {
            self.best = Some(v);
            self.best_epoch = epoch;
            self.best_val_loss = val_loss;
            self.best_val_top1 = val_top1;
            true
        } else {
            false
        }
    }
}

/// Patience counter of `early_stop`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct EarlyStopper {
    pub best: Option<f64>,
    pub epochs_without_improvement: u32,
}

impl EarlyStopper {
    /// Record an epoch; true when training should stop now.
    pub fn observe(&mut self, rule: &EarlyStop, val_loss: f64, val_top1: f64) -> bool {
        let v = monitored(rule.monitor, val_loss, val_top1);
        if improves(rule.monitor, v, self.best, rule.min_delta) {
            self.best = Some(v);
            self.epochs_without_improvement = 0;
        } else {
            self.epochs_without_improvement += 1;
        }
        self.epochs_without_improvement >= rule.patience.max(1)
    }
}

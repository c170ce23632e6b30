//! Learning-rate schedules: linear warmup, then constant, cosine or step
//! decay, evaluated per optimizer step within one phase.
//!
//! Semantics (step `s` counts from 0 within the phase, `W` warmup steps,
//! `T` phase steps):
//! - warmup: `lr(s) = base · (s + 1) / W` for `s < W` (the first step already
//!   moves; the last warmup step reaches `base`);
//! - constant: `base`;
//! - cosine: `base · (r + (1 − r) · ½(1 + cos(π · p)))` with
//!   `p = (s − W) / (T − W)` clamped to `[0, 1]` and `r = min_lr_ratio`;
//! - step: `base · γ^⌊e / every⌋` where `e` is the epoch within the phase.

use crate::spec::{Schedule, Warmup};

#[derive(Debug, Clone, PartialEq)]
pub struct PhaseSchedule {
    pub base_lr: f64,
    pub schedule: Schedule,
    pub warmup_steps: u64,
    pub total_steps: u64,
    pub steps_per_epoch: u64,
}

impl PhaseSchedule {
    /// Warmup longer than the phase is clamped to the phase (the linter warns).
    pub fn new(
        base_lr: f64,
        schedule: &Schedule,
        warmup: Warmup,
        steps_per_epoch: u64,
        epochs: u32,
    ) -> Self {
        let total_steps = steps_per_epoch * u64::from(epochs);
        let warmup_steps = match warmup {
            Warmup::None => 0,
            Warmup::Steps(n) => n,
            Warmup::Epochs(e) => (e * steps_per_epoch as f64).round().max(0.0) as u64,
        }
        .min(total_steps);
        Self {
            base_lr,
            schedule: schedule.clone(),
            warmup_steps,
            total_steps,
            steps_per_epoch,
        }
    }

    /// End the schedule after `cap` steps when that comes before the phase's
    /// last step (a budget's `max_samples`), so a cosine still anneals to its
    /// floor where training stops; warmup is clamped to the shorter span.
    pub fn capped(mut self, cap: Option<u64>) -> Self {
        if let Some(cap) = cap {
            self.total_steps = self.total_steps.min(cap.max(1));
            self.warmup_steps = self.warmup_steps.min(self.total_steps);
        }
        self
    }

    /// The lr used by step `s` (0-based within the phase).
    pub fn lr(&self, s: u64) -> f64 {
        if s < self.warmup_steps {
            return self.base_lr * (s + 1) as f64 / self.warmup_steps as f64;
        }
        match &self.schedule {
            Schedule::Constant => self.base_lr,
            Schedule::Cosine { min_lr_ratio } => {
                let span = self.total_steps.saturating_sub(self.warmup_steps).max(1);
                let p = ((s - self.warmup_steps) as f64 / span as f64).clamp(0.0, 1.0);
                let r = *min_lr_ratio;
                self.base_lr * (r + (1.0 - r) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos()))
            }
            Schedule::Step {
                every_epochs,
                gamma,
            } => {
                let epoch = s / self.steps_per_epoch.max(1);
                let k = epoch / u64::from((*every_epochs).max(1));
                self.base_lr * gamma.powf(k as f64)
            }
        }
    }
}

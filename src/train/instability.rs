//! Instability on the validation split: the backbone report's divergence
//! pattern (finetune val loss up to 350× the frozen epoch's, val top-1 down
//! to chance, the best checkpoint from the frozen epoch), which the training
//! loss watchdog does not see.
//!
//! Three checks, after every validated epoch and at the end of training:
//! 1. `val_loss`: the epoch's validation loss is above `val_loss_factor` ×
//!    the lowest validation loss of the epochs before it;
//! 2. `chance`: validation top-1 has fallen back to chance — within a
//!    quarter of the way from chance to the best top-1 so far — after the
//!    best was at least 5 points above chance. Chance is the top-1 of always
//!    answering the split's most frequent class. Why not 1/classes: a
//!    collapsed network predicts the majority class, which on imbalanced
//!    data (the report's 26 classes) scores well above 1/classes;
//! 3. `frozen_best` (end of training): the best epoch is a frozen-phase
//!    epoch although finetune epochs ran — finetuning never beat a frozen
//!    backbone, so the cell's score is that of its frozen features.
//!
//! Reasons hold no commas (they land in a CSV column that simple readers
//! split on commas).
//!
//! The recipe's `on_unstable` decides what a trip does: `continue` (the
//! default) trains on and ends the cell `unstable`; `stop` ends it
//! `diverged` after the epoch that tripped.

use serde::{Deserialize, Serialize};

/// The best top-1 must have been this far above chance (absolute) before a
/// fall back to chance counts.
pub const CHANCE_MARGIN: f64 = 0.05;
/// "Back to chance": within this fraction of the way from chance to the best.
pub const CHANCE_FRACTION: f64 = 0.25;
/// `frozen_best` trips only when the finetune phase's best validation loss
/// is this much (relative) above the frozen phase's. Why: a model that barely
/// moves (the same loss to four digits in both phases) has a frozen "best"
/// by rounding, not because finetuning broke it.
pub const FROZEN_MARGIN: f64 = 0.01;

/// One tripped check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trip {
    /// 1-based global epoch.
    pub epoch: u32,
    /// `val_loss`, `chance` or `frozen_best`.
    pub check: String,
    pub reason: String,
}

/// What the checks remember across epochs (saved in the loop state, so a
/// resumed run checks the same history).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstabilityWatch {
    /// Lowest finite validation loss so far, with its epoch.
    best_loss: Option<(f64, u32)>,
    /// Highest validation top-1 so far.
    best_top1: Option<f64>,
    /// Every trip, in order.
    pub trips: Vec<Trip>,
}

/// Top-1 of always answering the most frequent label of `labels`.
pub fn chance_top1(labels: &[i64]) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    let mut counts = std::collections::BTreeMap::<i64, usize>::new();
    for &l in labels {
        *counts.entry(l).or_default() += 1;
    }
    let most = counts.values().copied().max().unwrap_or(0);
    most as f64 / labels.len() as f64
}

impl InstabilityWatch {
    /// Check one validated epoch; returns the checks it tripped.
    pub fn observe_epoch(
        &mut self,
        epoch: u32,
        val_loss: f64,
        val_top1: f64,
        chance: f64,
        val_loss_factor: f64,
    ) -> Vec<Trip> {
        let mut found = Vec::new();
        if let Some((best, at)) = self.best_loss {
            if val_loss.is_finite() && best > 0.0 && val_loss > val_loss_factor * best {
                found.push(Trip {
                    epoch,
                    check: "val_loss".into(),
                    reason: format!(
                        "val loss {val_loss:.4} is {:.1}× the best so far ({best:.4} at epoch {at})",
                        val_loss / best
                    ),
                });
            }
        }
        if let Some(best) = self.best_top1 {
            let gain = best - chance;
            if gain >= CHANCE_MARGIN && val_top1 <= chance + CHANCE_FRACTION * gain {
                found.push(Trip {
                    epoch,
                    check: "chance".into(),
                    reason: format!(
                        "val top-1 {val_top1:.4} fell back to chance ({chance:.4} = always the most frequent class) from {best:.4}"
                    ),
                });
            }
        }
        if val_loss.is_finite() && self.best_loss.is_none_or(|(b, _)| val_loss < b) {
            self.best_loss = Some((val_loss, epoch));
        }
        if val_top1.is_finite() && self.best_top1.is_none_or(|b| val_top1 > b) {
            self.best_top1 = Some(val_top1);
        }
        self.trips.extend(found.iter().cloned());
        found
    }

    /// Check the finished run: `best_epoch` (1-based, 0 = none) of the
    /// selection, the budget's frozen epochs and the validation loss of every
    /// epoch that ran, in order.
    pub fn observe_end(
        &mut self,
        best_epoch: u32,
        frozen_epochs: u32,
        val_losses: &[f64],
    ) -> Option<Trip> {
        let split = (frozen_epochs as usize).min(val_losses.len());
        let finetune_ran = (val_losses.len() - split) as u32;
        if best_epoch == 0 || best_epoch > frozen_epochs || finetune_ran == 0 {
            return None;
        }
        let best_of = |v: &[f64]| {
            v.iter()
                .copied()
                .filter(|l| l.is_finite())
                .fold(f64::INFINITY, f64::min)
        };
        let (frozen, finetune) = (best_of(&val_losses[..split]), best_of(&val_losses[split..]));
        if frozen.is_finite() && finetune <= frozen * (1.0 + FROZEN_MARGIN) {
            return None;
        }
        let trip = Trip {
            epoch: best_epoch,
            check: "frozen_best".into(),
            reason: format!(
                "the best epoch ({best_epoch}) is in the frozen phase although {finetune_ran} finetune epoch(s) ran: the score is the frozen backbone's"
            ),
        };
        self.trips.push(trip.clone());
        Some(trip)
    }

    /// The cell's instability for `unstable`: the first trip's epoch and
    /// every check's first reason, joined.
    pub fn summary(&self) -> Option<(u32, String)> {
        let first = self.trips.first()?;
        let mut seen = Vec::new();
        let mut reasons = Vec::new();
        for t in &self.trips {
            if !seen.contains(&t.check.as_str()) {
                seen.push(t.check.as_str());
                reasons.push(format!("epoch {}: {}", t.epoch, t.reason));
            }
        }
        Some((first.epoch, reasons.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report's ConvNeXt-V2 run under RMSprop 1e-3 (frozen epoch, then
    /// finetune val loss 10.6, 6.9, 32.7, 4.0; val top-1 0.566 → ~0.09).
    #[test]
    fn the_reports_convnext_curve_trips_every_check() {
        let mut w = InstabilityWatch::default();
        let chance = 0.09;
        let curve = [
            (0.92, 0.566),
            (10.6, 0.09),
            (6.9, 0.12),
            (32.7, 0.09),
            (4.0, 0.3),
        ];
        let mut per_epoch = Vec::new();
        for (i, (loss, top1)) in curve.iter().enumerate() {
            let t = w.observe_epoch(i as u32 + 1, *loss, *top1, chance, 10.0);
            per_epoch.push(t.iter().map(|t| t.check.clone()).collect::<Vec<_>>());
        }
        assert_eq!(
            per_epoch,
            [
                vec![],
                vec!["val_loss".to_string(), "chance".into()],
                vec!["chance".into()],
                vec!["val_loss".into(), "chance".into()],
                vec![],
            ]
        );
        let end = w
            .observe_end(1, 1, &curve.map(|c| c.0))
            .expect("best epoch is the frozen one");
        assert_eq!(end.check, "frozen_best");
        let (epoch, reason) = w.summary().expect("unstable");
        assert_eq!(epoch, 2);
        assert!(
            reason.starts_with(
                "epoch 2: val loss 10.6000 is 11.5× the best so far (0.9200 at epoch 1)"
            ),
            "{reason}"
        );
        assert!(
            reason.contains("epoch 2: val top-1 0.0900 fell back to chance"),
            "{reason}"
        );
        assert!(
            reason
                .contains("epoch 1: the best epoch (1) is in the frozen phase although 4 finetune"),
            "{reason}"
        );
    }

    #[test]
    fn a_healthy_curve_and_a_noisy_one_trip_nothing() {
        let mut w = InstabilityWatch::default();
        // ResNet50 in the report: val top-1 rising, loss wobbling below 10×.
        for (i, (loss, top1)) in [(1.6, 0.515), (1.4, 0.56), (1.5, 0.59), (1.3, 0.619)]
            .iter()
            .enumerate()
        {
            assert!(w
                .observe_epoch(i as u32 + 1, *loss, *top1, 0.09, 10.0)
                .is_empty());
        }
        assert_eq!(w.observe_end(4, 1, &[1.6, 1.4, 1.5, 1.3]), None);
        assert_eq!(w.summary(), None);
        // Never above chance by 5 points: staying there is not a fall.
        let mut w = InstabilityWatch::default();
        for (i, top1) in [0.21, 0.23, 0.20].iter().enumerate() {
            assert!(w
                .observe_epoch(i as u32 + 1, 1.6, *top1, 0.2, 10.0)
                .is_empty());
        }
        // No finetune epoch ran (a frozen-only budget): nothing to say.
        assert_eq!(w.observe_end(1, 1, &[1.6]), None);
        // A model that barely moved: frozen "best" by rounding, not a trip.
        assert_eq!(w.observe_end(1, 1, &[1.0985, 1.0992, 1.0986, 1.0985]), None);
        // Finetuning that never got back within 1 % of the frozen loss: a trip.
        assert_eq!(
            w.observe_end(1, 1, &[0.90, 0.95, 0.93]).map(|t| t.check),
            Some("frozen_best".to_string())
        );
    }

    #[test]
    fn the_factor_is_the_recipes_and_chance_is_the_majority_class() {
        let mut w = InstabilityWatch::default();
        w.observe_epoch(1, 1.0, 0.5, 0.1, 3.0);
        assert_eq!(w.observe_epoch(2, 2.9, 0.5, 0.1, 3.0), vec![]);
        assert_eq!(w.observe_epoch(3, 3.1, 0.5, 0.1, 3.0)[0].check, "val_loss");
        assert!((chance_top1(&[0, 1, 1, 2, 1]) - 0.6).abs() < 1e-12);
        assert_eq!(chance_top1(&[]), 0.0);
    }
}

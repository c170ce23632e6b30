//! Per-epoch metrics: one `EpochRow` per validated epoch, written to
//! `metrics.csv` atomically after every epoch (and carried inside the
//! resumable checkpoint so a resumed run rewrites the same rows).

use super::checkpoint::atomic_write;
use super::TrainError;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const METRICS_HEADER: &str = "epoch,phase,train_loss,val_loss,val_top1,lr,img_per_s,data_wait";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    /// 1-based global epoch (frozen epochs first).
    pub epoch: u32,
    /// `frozen` or `finetune`.
    pub phase: String,
    /// Mean training loss over the epoch's samples (with label smoothing and
    /// soft targets, as optimised).
    pub train_loss: f64,
    /// Mean plain cross-entropy on the selection split.
    pub val_loss: f64,
    pub val_top1: f64,
    /// Phase lr (scale 1 group) of the epoch's last step.
    pub lr: f64,
    /// Training images per second (forward + backward + update, no validation).
    pub img_per_s: f64,
    /// Fraction of training wall time spent waiting for the loader.
    pub data_wait: f64,
}

fn num(x: f64) -> String {
    // Why `{}`: Rust prints the shortest string that round-trips, so two
    // identical runs write identical bytes.
    format!("{x}")
}

pub fn render(rows: &[EpochRow]) -> String {
    let mut s = String::from(METRICS_HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{},{},{},{:.1},{:.4}\n",
            r.epoch,
            r.phase,
            num(r.train_loss),
            num(r.val_loss),
            num(r.val_top1),
            num(r.lr),
            r.img_per_s,
            r.data_wait,
        ));
    }
    s
}

pub fn write(path: &Path, rows: &[EpochRow]) -> Result<(), TrainError> {
    atomic_write(path, render(rows).as_bytes())
}

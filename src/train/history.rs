//! Per-epoch metrics: one `EpochRow` per validated epoch, written to
//! `metrics.csv` atomically after every epoch (and carried inside the
//! resumable checkpoint so a resumed run rewrites the same rows).

use super::checkpoint::atomic_write;
use super::TrainError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Deserialise an `f64` that JSON wrote as `null` (serde_json's spelling of
/// NaN and ±inf) back to NaN, so states and outcomes with "no value yet" or a
/// diverged loss round-trip.
pub fn f64_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

pub const METRICS_HEADER: &str =
    "epoch,phase,train_loss,val_loss,val_top1,lr,img_per_s,data_wait,skipped_steps,loss_scale,mfu";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    /// 1-based global epoch (frozen epochs first).
    pub epoch: u32,
    /// `frozen` or `finetune`.
    pub phase: String,
    /// Mean training loss over the epoch's samples (with label smoothing and
    /// soft targets, as optimised).
    #[serde(deserialize_with = "f64_or_nan")]
    pub train_loss: f64,
    /// Mean plain cross-entropy on the selection split.
    #[serde(deserialize_with = "f64_or_nan")]
    pub val_loss: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub val_top1: f64,
    /// Phase lr (scale 1 group) of the epoch's last step.
    #[serde(deserialize_with = "f64_or_nan")]
    pub lr: f64,
    /// Training images per second (forward + backward + update, no validation).
    #[serde(deserialize_with = "f64_or_nan")]
    pub img_per_s: f64,
    /// Fraction of training wall time spent waiting for the loader.
    #[serde(deserialize_with = "f64_or_nan")]
    pub data_wait: f64,
    /// Optimizer steps of the epoch skipped by fp16 loss scaling for inf/NaN
    /// gradients (0 without loss scaling).
    #[serde(default)]
    pub skipped_steps: u64,
    /// Loss scale at the end of the epoch (1 without loss scaling).
    #[serde(default = "one", deserialize_with = "f64_or_nan")]
    pub loss_scale: f64,
    /// Model FLOPs utilisation of the epoch's training: the zoo's FLOP count
    /// per image × img/s ÷ the GPU's bf16 peak (`models::flops`); NaN on the
    /// CPU and on GPUs without a known peak.
    #[serde(default = "nan", deserialize_with = "f64_or_nan")]
    pub mfu: f64,
}

fn one() -> f64 {
    1.0
}

fn nan() -> f64 {
    f64::NAN
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
            "{},{},{},{},{},{},{:.1},{:.4},{},{},{:.4}\n",
            r.epoch,
            r.phase,
            num(r.train_loss),
            num(r.val_loss),
            num(r.val_top1),
            num(r.lr),
            r.img_per_s,
            r.data_wait,
            r.skipped_steps,
            num(r.loss_scale),
            r.mfu,
        ));
    }
    s
}

pub fn write(path: &Path, rows: &[EpochRow]) -> Result<(), TrainError> {
    atomic_write(path, render(rows).as_bytes())
}

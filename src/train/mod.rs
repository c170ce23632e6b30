//! Training: optimizers, schedules, phases, selection, early stopping,
//! checkpoints. (Being built: issue 5. `train_cell` is the contract the
//! executor codes against.)

use crate::spec::Cell;
use std::path::Path;

#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub device: tch::Device,
    pub deterministic: bool,
    pub workers: usize,
    /// Show progress bars (terminal) or plain log lines.
    pub progress: bool,
}

/// How a cell's training ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TrainStatus {
    Done,
    EarlyStopped { epoch: u32 },
    Diverged { epoch: u32, step: u64, reason: String },
    TimeLimit { epoch: u32 },
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrainOutcome {
    pub status: TrainStatus,
    /// Global epoch (frozen epochs count first) of the best checkpoint.
    pub best_epoch: u32,
    pub best_val_loss: f64,
    pub best_val_top1: f64,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TrainError {
    #[error("{0}")]
    #[diagnostic(code(exp::train::other))]
    Other(String),
}

/// Train one cell in `cell_dir`: writes `metrics.csv`, `best.safetensors`
/// and resumable checkpoints (`ckpt/`); resumes from the latest checkpoint
/// if present.
pub fn train_cell(
    _cell: &Cell,
    _data: &crate::data::PreparedData,
    _cell_dir: &Path,
    _opts: &TrainOptions,
) -> Result<TrainOutcome, TrainError> {
    Err(TrainError::Other("trainer not built yet".into()))
}

/// Probabilities `N × C` (row-major, split order) of the best checkpoint in
/// `cell_dir` on `split`.
pub fn predict(
    _cell: &Cell,
    _data: &crate::data::PreparedData,
    _cell_dir: &Path,
    _split: &str,
    _opts: &TrainOptions,
) -> Result<Vec<f32>, TrainError> {
    Err(TrainError::Other("trainer not built yet".into()))
}

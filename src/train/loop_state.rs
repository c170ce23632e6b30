//! The loop state a checkpoint carries besides tensors, and writing and
//! reading the cell's checkpoints (`ckpt/last.safetensors`, `best.safetensors`).

use super::checkpoint::{load_tensors, save_tensors, STATE_KEY};
use super::early_stop::{EarlyStopper, Selection};
use super::ema::Ema;
use super::history::{self, EpochRow};
use super::instability::InstabilityWatch;
use super::optim::Optimizer;
use super::precision::LossScaler;
use super::progress::Progress;
use super::{TrainError, TrainOutcome};
use crate::spec::Cell;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::Tensor;

/// Version of the checkpoint's loop state; a different one starts afresh.
const STATE_VERSION: u32 = 1;

/// Everything besides tensors needed to continue a run exactly where it
/// stopped. Saved as JSON inside the checkpoint file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct LoopState {
    pub version: u32,
    pub cell_id: String,
    /// Hash of the settings training reads; a checkpoint of other settings is ignored.
    pub config_hash: String,
    /// 0-based global epoch in progress.
    pub epoch: u32,
    /// Next batch index within the epoch.
    pub batch: usize,
    pub global_step: u64,
    /// Step within the current phase (drives warmup and schedule).
    pub phase_step: u64,
    /// Phase the saved optimizer state belongs to.
    pub optim_phase: Option<String>,
    pub samples_seen: u64,
    /// Wall time trained before this process (time-limit budget).
    #[serde(deserialize_with = "history::f64_or_nan")]
    pub elapsed_s: f64,
    #[serde(deserialize_with = "history::f64_or_nan")]
    pub epoch_loss_sum: f64,
    pub epoch_samples: u64,
    pub first_epoch_loss: Option<f64>,
    #[serde(deserialize_with = "history::f64_or_nan")]
    pub last_lr: f64,
    pub selection: Selection,
    pub early: EarlyStopper,
    pub rows: Vec<EpochRow>,
    /// Validation instability checks (absent in older checkpoints).
    #[serde(default)]
    pub instability: InstabilityWatch,
    /// fp16 loss scale and its growth count (None without loss scaling).
    #[serde(default)]
    pub scaler: Option<LossScaler>,
    /// Set once the cell finished: train_cell then returns it unchanged.
    pub outcome: Option<TrainOutcome>,
}

fn config_hash(cell: &Cell) -> String {
    // Why these fields: they are exactly what the trainer reads; the score
    // spec and axis labels do not change the weights.
    let v = serde_json::json!({
        "id": cell.id, "seed": cell.seed, "data": cell.data, "backbone": cell.backbone,
        "recipe": cell.recipe, "budget": cell.budget,
    });
    blake3::hash(v.to_string().as_bytes()).to_hex().to_string()
}

impl LoopState {
    pub(super) fn fresh(cell: &Cell) -> Self {
        Self {
            version: STATE_VERSION,
            cell_id: cell.id.clone(),
            config_hash: config_hash(cell),
            epoch: 0,
            batch: 0,
            global_step: 0,
            phase_step: 0,
            optim_phase: None,
            samples_seen: 0,
            elapsed_s: 0.0,
            epoch_loss_sum: 0.0,
            epoch_samples: 0,
            first_epoch_loss: None,
            last_lr: 0.0,
            selection: Selection::default(),
            early: EarlyStopper::default(),
            rows: Vec::new(),
            instability: InstabilityWatch::default(),
            scaler: None,
            outcome: None,
        }
    }
}

pub(super) fn save_checkpoint(
    path: &Path,
    vars: &BTreeMap<String, Tensor>,
    opt: Option<&Optimizer>,
    ema: Option<&Ema>,
    st: &LoopState,
) -> Result<(), TrainError> {
    let mut tensors: Vec<(String, Tensor)> = vars
        .iter()
        .map(|(n, t)| (format!("model.{n}"), t.shallow_clone()))
        .collect();
    if let Some(opt) = opt {
        tensors.extend(
            opt.state_tensors()
                .into_iter()
                .map(|(n, t)| (format!("optim.{n}"), t)),
        );
    }
    if let Some(ema) = ema {
        tensors.extend(
            ema.shadow
                .iter()
                .map(|(n, t)| (format!("ema.{n}"), t.shallow_clone())),
        );
    }
    let json = serde_json::to_string(st).map_err(|e| TrainError::Checkpoint {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut meta = BTreeMap::new();
    meta.insert(STATE_KEY.to_string(), json);
    save_tensors(path, &tensors, meta)
}

pub(crate) fn save_best(
    path: &Path,
    vars: &BTreeMap<String, Tensor>,
    cell: &Cell,
    epoch: u32,
) -> Result<(), TrainError> {
    let tensors: Vec<(String, Tensor)> = vars
        .iter()
        .map(|(n, t)| (n.clone(), t.shallow_clone()))
        .collect();
    // Why one key: safetensors keeps metadata in a HashMap, whose order would
    // make two identical runs write different header bytes.
    let info = serde_json::json!({ "cell": cell.id, "epoch": epoch, "version": env!("CARGO_PKG_VERSION") });
    let mut meta = BTreeMap::new();
    meta.insert("exp".to_string(), info.to_string());
    save_tensors(path, &tensors, meta)
}

pub fn checkpoint_path(cell_dir: &Path) -> PathBuf {
    cell_dir.join("ckpt").join("last.safetensors")
}

/// What a loaded checkpoint restores besides the loop state.
pub(super) struct Resumed {
    pub state: LoopState,
    pub tensors: BTreeMap<String, Tensor>,
}

pub(super) fn try_resume(
    path: &Path,
    cell: &Cell,
    progress: &Progress,
) -> Result<Option<Resumed>, TrainError> {
    if !path.exists() {
        return Ok(None);
    }
    let file = load_tensors(path)?;
    let json = file
        .metadata
        .get(STATE_KEY)
        .ok_or_else(|| TrainError::Checkpoint {
            path: path.to_path_buf(),
            message: "no loop state in the checkpoint".into(),
        })?;
    let state: LoopState = serde_json::from_str(json).map_err(|e| TrainError::Checkpoint {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if state.version != STATE_VERSION
        || state.cell_id != cell.id
        || state.config_hash != config_hash(cell)
    {
        progress.note("checkpoint was written for other settings; training from scratch");
        return Ok(None);
    }
    Ok(Some(Resumed {
        state,
        tensors: file.tensors,
    }))
}

//! Training: optimizers, schedules, phases, selection, early stopping,
//! the divergence watchdog and crash-safe checkpoints (issue 5, training
//! side; docs/training.md describes the exact semantics).
//!
//! `train_cell` and `predict` are the contract the executor codes against;
//! `train_cell_with` adds a stop signal (Slurm's checkpoint-and-requeue, and
//! the crash simulation of the resume tests).

pub mod checkpoint;
pub mod early_stop;
pub mod ema;
mod epoch;
mod epoch_end;
pub mod fit;
pub mod graph;
pub mod history;
pub mod instability;
mod loop_state;
pub mod optim;
pub mod phases;
pub mod precision;
pub mod progress;
pub mod schedule;
mod step;
pub mod tensorboard;
mod watchdog;

use crate::spec::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tch::{Kind, Tensor};

#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub device: tch::Device,
    pub deterministic: bool,
    pub workers: usize,
    /// Show progress bars (terminal) or plain log lines.
    pub progress: bool,
    /// Log the training loss to the TensorBoard event file every this many
    /// steps (`exp run --tb-every`); 0: per-epoch scalars only.
    pub tb_every: u64,
    /// Whole-step CUDA graphs where the recipe allows them (`exp run
    /// --no-cuda-graphs` clears it).
    pub cuda_graphs: bool,
    /// This process's place in a data-parallel cell (`exp run --ddp N`,
    /// Slurm `--nodes`); `None`: one process trains the cell.
    pub dist: Option<crate::dist::DistSpec>,
}

impl TrainOptions {
    /// Whether this process writes the cell's files: the only process, or
    /// rank 0 of a data-parallel cell.
    pub fn writes(&self) -> bool {
        self.dist.as_ref().is_none_or(|d| d.rank == 0)
    }
}

pub use exp_lang::options::TB_EVERY_DEFAULT;

/// How a cell's training ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum TrainStatus {
    Done,
    EarlyStopped {
        epoch: u32,
    },
    Diverged {
        epoch: u32,
        step: u64,
        reason: String,
    },
    TimeLimit {
        epoch: u32,
    },
    /// Trained to the end although a validation instability check tripped
    /// (`train::instability`): `epoch` of the first trip, every check's reason.
    Unstable {
        epoch: u32,
        reason: String,
    },
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrainOutcome {
    pub status: TrainStatus,
    /// Global epoch (frozen epochs count first) of the best checkpoint.
    pub best_epoch: u32,
    /// NaN when no epoch was validated (JSON: `null`).
    #[serde(deserialize_with = "history::f64_or_nan")]
    pub best_val_loss: f64,
    #[serde(deserialize_with = "history::f64_or_nan")]
    pub best_val_top1: f64,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TrainError {
    #[error("{0}")]
    #[diagnostic(code(exp::train::other))]
    Other(String),

    // Why the message as it is and a diagnostic source: the data and model
    // errors carry the specific code and help (which file, which key, what
    // to run); reports use the innermost diagnostic's.
    #[error(transparent)]
    #[diagnostic(
        code(exp::train::data),
        help("`exp check --data FILE` lists the data set's problems with their fixes")
    )]
    Data(
        #[from]
        #[diagnostic_source]
        crate::data::DataError,
    ),

    #[error(transparent)]
    #[diagnostic(
        code(exp::train::model),
        help("check the backbone's `arch`, `pretrained` weights and the data's `image_size`")
    )]
    Model(
        #[from]
        #[diagnostic_source]
        crate::models::ModelError,
    ),

    #[error("cannot write or read {path}: {message}")]
    #[diagnostic(
        code(exp::train::io),
        help("check that the output directory exists, is writable and the disk is not full")
    )]
    Io { path: PathBuf, message: String },

    #[error("checkpoint {path} is unusable: {message}")]
    #[diagnostic(
        code(exp::train::checkpoint),
        help("delete this file to train the cell from scratch (or rerun `exp run`, which rewrites it)")
    )]
    Checkpoint { path: PathBuf, message: String },

    #[error("split `{split}` has no samples")]
    #[diagnostic(
        code(exp::train::empty_split),
        help("check the data's split column and the budget's sample caps; training needs a non-empty `train` split and selection split")
    )]
    EmptySplit { split: String },

    #[error("no best checkpoint at {path}")]
    #[diagnostic(
        code(exp::train::no_best),
        help("the cell ended before its first validated epoch (diverged or interrupted); look at metrics.csv and rerun with a smaller lr")
    )]
    NoBestCheckpoint { path: PathBuf },

    #[error("predictions on split `{split}` have {got} rows, the split has {expected}")]
    #[diagnostic(code(exp::train::predict), help("the data loader returned a different number of samples than the split holds; report this as a bug"))]
    PredictCount {
        split: String,
        got: usize,
        expected: usize,
    },
}

/// Asks a running `train_cell_with` to stop at the next step boundary.
#[derive(Debug, Clone, Default)]
pub struct StopSignal {
    /// When set (e.g. by a SIGUSR1 handler): write a checkpoint and return
    /// `RunEnd::Interrupted`; `train_cell` later resumes from it.
    pub flag: Option<Arc<AtomicBool>>,
    /// Test hook: after this many global steps return `Interrupted`
    /// WITHOUT writing anything, like a process killed at that point.
    pub crash_after_steps: Option<u64>,
}

/// How a `train_cell_with` call ended.
#[derive(Debug, Clone)]
pub enum RunEnd {
    Finished(TrainOutcome),
    /// Stopped on request after `step` global steps during 1-based `epoch`.
    Interrupted {
        epoch: u32,
        step: u64,
    },
}

/// Train one cell in `cell_dir`: writes `metrics.csv`, `best.safetensors`
/// and resumable checkpoints (`ckpt/`); resumes from the latest checkpoint
/// if present. A cell whose checkpoint says it finished returns its outcome
/// without training.
pub fn train_cell(
    cell: &Cell,
    data: &crate::data::PreparedData,
    cell_dir: &Path,
    opts: &TrainOptions,
) -> Result<TrainOutcome, TrainError> {
    match fit::run(cell, data, cell_dir, opts, &StopSignal::default())? {
        RunEnd::Finished(o) => Ok(o),
        // Invariant: without a flag or crash hook the loop never interrupts.
        RunEnd::Interrupted { epoch, step } => Err(TrainError::Other(format!(
            "training stopped at epoch {epoch}, step {step} without a stop request"
        ))),
    }
}

/// `train_cell` with a stop signal (checkpoint-and-requeue).
pub fn train_cell_with(
    cell: &Cell,
    data: &crate::data::PreparedData,
    cell_dir: &Path,
    opts: &TrainOptions,
    stop: &StopSignal,
) -> Result<RunEnd, TrainError> {
    fit::run(cell, data, cell_dir, opts, stop)
}

/// Probabilities `N × C` (row-major, split order) of the best checkpoint in
/// `cell_dir` on `split`.
pub fn predict(
    cell: &Cell,
    data: &crate::data::PreparedData,
    cell_dir: &Path,
    split: &str,
    opts: &TrainOptions,
) -> Result<Vec<f32>, TrainError> {
    let best = cell_dir.join("best.safetensors");
    if !best.exists() {
        return Err(TrainError::NoBestCheckpoint { path: best });
    }
    let (mode, channels_last) = fit::device_modes(cell, opts.device);
    let built = fit::build_model(cell, data, opts.device, false)?;
    let file = checkpoint::load_tensors(&best)?;
    checkpoint::copy_into(&built.vars, &file.tensors, "", &best)?;
    if channels_last {
        fit::to_channels_last(&built.vars);
    }
    let cfg = fit::eval_loader_config(cell, opts, channels_last);
    let expected = data.split_len(split)?;
    let mut parts = Vec::new();
    for item in crate::data::loader(data, split, &cfg)? {
        let b = item?;
        let p = tch::no_grad(|| {
            let logits = crate::models::runtime::autocast(mode.autocast, || {
                built.model.forward(&b.images, &b.metadata, false, false)
            });
            logits.to_kind(Kind::Float).softmax(-1, Kind::Float)
        });
        parts.push(p);
    }
    let classes = data.classes.len();
    if parts.is_empty() {
        return if expected == 0 {
            Ok(Vec::new())
        } else {
            Err(TrainError::PredictCount {
                split: split.into(),
                got: 0,
                expected,
            })
        };
    }
    let all = Tensor::cat(&parts, 0)
        .to_device(tch::Device::Cpu)
        .contiguous();
    let rows = all.size().first().copied().unwrap_or(0) as usize;
    if rows != expected {
        return Err(TrainError::PredictCount {
            split: split.into(),
            got: rows,
            expected,
        });
    }
    let mut out = vec![0f32; rows * classes];
    all.f_copy_data(&mut out, rows * classes)
        .map_err(|e| TrainError::Other(format!("reading predictions back: {e}")))?;
    Ok(out)
}

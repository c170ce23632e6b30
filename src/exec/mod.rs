//! Executing cells: the local runner (in process or one child process per
//! cell), the stage store, crash-safe outputs, cell locks, `exp status` and
//! the Slurm backend. docs/running.md and docs/sweeps.md describe the
//! behaviour users see.

/// Crash-safe writes live at the crate root (the trainer uses them too).
pub use crate::atomic_file as atomic;
pub mod children;
pub mod ddp;
pub mod device;
pub mod executor;
pub mod hints;
pub mod lock;
pub mod outputs;
pub mod preflight;
pub mod rescore;
pub mod run;
pub mod runner;
pub mod signals;
pub mod slurm;
pub mod status;
pub use exp_lang::plan::store;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub use rescore::cmd_score;
pub use run::cmd_run;
pub use status::cmd_status;

/// What became of a cell. `results.csv` and `scores.json` carry the result
/// statuses (done, early_stopped, diverged, unstable, time_limit, failed); `cached`
/// only appears in a run's own report (the cell's results were reused);
/// `pending` / `running` only in `exp status`; `interrupted` (stopped by a
/// signal, resumes from its checkpoint) in the run, `exp status` and
/// `results.csv` until the cell runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    Done,
    EarlyStopped,
    Diverged,
    /// Trained to the end, but a validation instability check tripped.
    Unstable,
    TimeLimit,
    Failed,
    Cached,
    Pending,
    Running,
    Interrupted,
}

impl CellStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CellStatus::Done => "done",
            CellStatus::EarlyStopped => "early_stopped",
            CellStatus::Diverged => "diverged",
            CellStatus::Unstable => "unstable",
            CellStatus::TimeLimit => "time_limit",
            CellStatus::Failed => "failed",
            CellStatus::Cached => "cached",
            CellStatus::Pending => "pending",
            CellStatus::Running => "running",
            CellStatus::Interrupted => "interrupted",
        }
    }

    pub fn from_train(s: &crate::train::TrainStatus) -> CellStatus {
        use crate::train::TrainStatus as T;
        match s {
            T::Done => CellStatus::Done,
            T::EarlyStopped { .. } => CellStatus::EarlyStopped,
            T::Diverged { .. } => CellStatus::Diverged,
            T::Unstable { .. } => CellStatus::Unstable,
            T::TimeLimit { .. } => CellStatus::TimeLimit,
        }
    }
}

impl std::fmt::Display for CellStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors of the execution phase.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ExecError {
    #[error("cannot write or read {path}: {source}")]
    #[diagnostic(
        code(exp::exec::io),
        help("check that the output directory is writable and the disk is not full")
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bad --device `{spec}`: {reason}")]
    #[diagnostic(
        code(exp::exec::device),
        help("use auto, cpu, cuda or cuda:N (N below the number of visible GPUs)")
    )]
    Device { spec: String, reason: String },
    #[error("{device} ({name}) has compute capability {capability}, and the linked libtorch has GPU kernels only for {archs}; nothing was run")]
    #[diagnostic(code(exp::exec::unsupported_gpu), help("{help}"))]
    UnsupportedGpu {
        device: String,
        name: String,
        capability: String,
        archs: String,
        help: String,
    },
    #[error("no cell `{id}` in this file{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    #[diagnostic(
        code(exp::exec::unknown_cell),
        help("`exp plan FILE` lists the cell ids")
    )]
    UnknownCell {
        id: String,
        suggestion: Option<String>,
    },
    #[error("no sweep `{name}` in this file{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    #[diagnostic(
        code(exp::exec::unknown_sweep),
        help("the sweeps are the `sweep NAME {{ ... }}` blocks of the file")
    )]
    UnknownSweep {
        name: String,
        suggestion: Option<String>,
    },
    #[error("pretrained weights are missing on this machine; nothing was run:\n{}", list.join("\n"))]
    #[diagnostic(
        code(exp::exec::missing_weights),
        help("exp never downloads: fetch them on a machine with network (`hf download ORG/NAME model.safetensors`) and copy the Hugging Face cache here (or set HF_HUB_CACHE / HF_HOME), or fix the backbone's `pretrained` path")
    )]
    MissingWeights { list: Vec<String> },
    #[error("{path} is neither a cell directory (config.json) nor a sweep directory (sweep.json)")]
    #[diagnostic(
        code(exp::exec::not_a_run_dir),
        help("pass a directory `exp run` wrote: runs/SWEEP for every cell, or runs/SWEEP/CELL for one")
    )]
    NotARunDir { path: PathBuf },
    #[error("{path} cannot be read: {reason}")]
    #[diagnostic(
        code(exp::exec::bad_run_file),
        help("the file was written by another version of exp or edited; rerun `exp run` to rewrite it")
    )]
    BadRunFile { path: PathBuf, reason: String },
    #[error("bad --data `{spec}`: expected FILE.exp:NAME")]
    #[diagnostic(
        code(exp::exec::bad_data_ref),
        help("name a file and one of its data declarations, e.g. `--data pipelines/external.exp:clinic`")
    )]
    BadDataRef { spec: String },
    #[error("{} declares no data `{name}`{}", file.display(), suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    #[diagnostic(
        code(exp::exec::unknown_data),
        help("the data declarations are the `data NAME {{ ... }}` blocks of the file (and of files it `use`s)")
    )]
    UnknownData {
        name: String,
        file: PathBuf,
        suggestion: Option<String>,
    },
    #[error("the file declares no sweep, so there is nothing to run")]
    #[diagnostic(code(exp::exec::no_sweep), help("add a `sweep NAME {{ ... }}` block"))]
    NoSweep,
    #[error("slurm: {reason}")]
    #[diagnostic(code(exp::exec::slurm), help("{help}"))]
    Slurm { reason: String, help: String },
    #[error("data-parallel training: {reason}")]
    #[diagnostic(code(exp::exec::ddp), help("{help}"))]
    Ddp { reason: String, help: String },
    #[error("child process for cell `{cell}` could not start: {source}")]
    #[diagnostic(
        code(exp::exec::spawn),
        help("check that the `exp` binary is still in place")
    )]
    Spawn {
        cell: String,
        #[source]
        source: std::io::Error,
    },
}

impl ExecError {
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ExecError {
        let path = path.into();
        move |source| ExecError::Io { path, source }
    }
}

/// The closest name to `wanted` among `names` (for "did you mean"): the
/// checker's rule ([`exp_lang::lang::suggest::closest`]).
pub(crate) fn suggest<'a>(wanted: &str, names: impl Iterator<Item = &'a str>) -> Option<String> {
    crate::lang::suggest::closest(wanted, names).map(str::to_string)
}

pub use exp_lang::dataset::warn_unreadable;

//! `exp status FILE`: each cell's state, read from the shared output
//! directory only (so it works the same for local runs and Slurm tasks on
//! other nodes).

use crate::exec::lock;
use crate::exec::outputs;
use crate::exec::store::{self, StageState};
use crate::exec::{CellStatus, ExecError};
use crate::spec::Cell;
use std::path::Path;
use std::process::ExitCode;

/// A cell's state and a note (top-1, failure, why pending).
#[derive(Debug, Clone, PartialEq)]
pub struct CellState {
    pub status: CellStatus,
    pub note: String,
}

/// The state of one cell in `out`.
pub fn cell_state(out: &Path, cell: &Cell) -> CellState {
    let dir = outputs::cell_dir(out, cell);
    let lock_path = lock::cell_lock_path(&dir);
    if lock::is_held(&lock_path) {
        // "running elsewhere (pid, host)": the state column says running.
        let who = crate::exec::runner::running_elsewhere(&lock_path);
        let mut note = who.trim_start_matches("running ").to_string();
        if dir.join("ckpt").exists() {
            note.push_str("; has checkpoints");
        }
        return CellState {
            status: CellStatus::Running,
            note,
        };
    }
    let keys = store::cell_stages(cell);
    if store::stage_state(out, &keys.score) == StageState::Cached {
        if let Some(s) = outputs::read_scores(&dir) {
            let top1 = s.top1.map(|t| format!("top1 {t:.4} on {}", s.split));
            let note = match (s.reason(), top1) {
                (Some(r), Some(t)) if s.diverged.is_none() => format!("{t}; {r}"),
                (Some(r), _) => r,
                (None, Some(t)) => t,
                (None, None) => String::new(),
            };
            return CellState {
                status: s.status,
                note,
            };
        }
    }
    if let Some(f) = outputs::read_failure(&dir) {
        return CellState {
            status: CellStatus::Failed,
            note: format!(
                "{}: {}",
                f.stage,
                f.error
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(200)
                    .collect::<String>()
            ),
        };
    }
    if let Some(i) = outputs::read_interruption(&dir) {
        let resumes = store::read_dir_keys(&dir).train.as_deref()
            == Some(keys.train_finetune.as_str())
            && dir.join("ckpt").exists();
        let then = if resumes {
            "resumes from its checkpoint"
        } else {
            "starts again"
        };
        return CellState {
            status: CellStatus::Interrupted,
            note: format!("{}; {then}", i.describe()),
        };
    }
    let note = if store::stage_state(out, &keys.train_finetune) == StageState::Cached {
        "trained; scoring pending".to_string()
    } else if store::read_dir_keys(&dir).train.as_deref() == Some(keys.train_finetune.as_str())
        && dir.join("ckpt").exists()
    {
        "interrupted; resumes from its checkpoint".to_string()
    } else if outputs::read_scores(&dir).is_some() {
        "results are from an older configuration".to_string()
    } else {
        String::new()
    };
    CellState {
        status: CellStatus::Pending,
        note,
    }
}

/// The status table of every cell of the selected sweeps.
pub fn status_table(out: &Path, cells: &[&Cell]) -> String {
    let states: Vec<(&Cell, CellState)> = cells.iter().map(|c| (*c, cell_state(out, c))).collect();
    let w = states
        .iter()
        .map(|(c, _)| c.id.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut s = format!("{:<w$}  {:<13}  note\n", "cell", "state");
    for (c, st) in &states {
        s.push_str(format!("{:<w$}  {:<13}  {}", c.id, st.status.as_str(), st.note).trim_end());
        s.push('\n');
    }
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for (_, st) in &states {
        *counts.entry(st.status.as_str()).or_default() += 1;
    }
    let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
    s.push_str(&format!("{} cell(s): {}\n", states.len(), parts.join(", ")));
    s
}

/// `exp status`.
pub fn cmd_status(a: &crate::options::StatusOptions) -> miette::Result<ExitCode> {
    let mut pipeline = match crate::driver::load(&a.file, &a.sets) {
        Ok(p) => p,
        Err(report) => {
            eprintln!("{report:?}");
            return Ok(ExitCode::from(1));
        }
    };
    crate::exec::warn_unreadable(&crate::data::fill_content_keys(&mut pipeline));
    if pipeline.sweeps.is_empty() {
        return Err(ExecError::NoSweep.into());
    }
    let cells: Vec<&Cell> = pipeline
        .sweeps
        .values()
        .flat_map(|s| s.cells.iter())
        .collect();
    print!("{}", status_table(&a.out, &cells));
    Ok(ExitCode::SUCCESS)
}

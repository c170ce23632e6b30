//! `--jobs N` / `--gpus 0,1`: one child process `exp run FILE --cell ID` per
//! cell, N at a time (one per listed GPU). Why child processes: a crash
//! inside libtorch (abort, OOM kill) takes down one cell, not the sweep, and
//! each child's memory is returned to the system when it ends. The children
//! share the on-disk decode cache; each draws its own subset (cheap).

use super::runner::{print_report_line, running_elsewhere, CellReport};
use crate::exec::lock::{self};
use crate::exec::outputs::{self};
use crate::exec::store::{self, StageState};
use crate::exec::{signals, CellStatus, ExecError};
use crate::spec::Cell;
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

/// Env var set in child processes: they run one cell and leave `results.csv`
/// and the report to the parent.
pub const CHILD_ENV: &str = "EXP_CHILD";

/// Run cells as child processes, one per slot at a time; slot `i` uses
/// `devices[i]`: one `--device` value, or one per data-parallel rank.
pub(crate) fn run_children(
    a: &crate::options::RunOptions,
    out: &Path,
    cells: &[&Cell],
    devices: &[Vec<String>],
    workers: usize,
) -> Result<Vec<CellReport>, ExecError> {
    let exe = std::env::current_exe().map_err(ExecError::io("the running exp binary"))?;
    // (cell, deferred once because another run held it)
    let queue: Mutex<VecDeque<(&Cell, bool)>> =
        Mutex::new(cells.iter().map(|c| (*c, false)).collect());
    let reports: Mutex<Vec<CellReport>> = Mutex::new(Vec::new());
    let first_error: Mutex<Option<ExecError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for dev in devices {
            s.spawn(|| loop {
                if signals::stop_requested() {
                    return;
                }
                let Some((cell, deferred)) =
                    queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front()
                else {
                    return;
                };
                let dir = outputs::cell_dir(out, cell);
                let lock_path = lock::cell_lock_path(&dir);
                if !deferred && lock::is_held(&lock_path) {
                    // Another run trains it: run the others first; the child
                    // started for it at the end waits for that run.
                    println!(
                        "  {}: {}; coming back to it at the end",
                        cell.id,
                        running_elsewhere(&lock_path)
                    );
                    queue
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push_back((cell, true));
                    continue;
                }
                if dev.len() > 1 {
                    // Why the parent waits: rank 0 would wait for the lock
                    // while the other ranks time out at the rendezvous.
                    while lock::is_held(&lock_path) {
                        if signals::stop_requested() {
                            return;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(500));
                    }
                }
                let started = Instant::now();
                let since = std::time::SystemTime::now();
                let report = match spawn_cell(&exe, a, out, cell, dev, workers, &dir) {
                    Ok(None) => return,
                    Ok(Some(end)) => {
                        let mut r = child_report(out, cell, &dir, end.code, since);
                        if let (Some(bad), CellStatus::Failed) = (end.bad_rank, r.status) {
                            // Why first: the rank that died is the cause;
                            // rank 0's error is its consequence.
                            r.message = Some(match r.message {
                                Some(m) => format!("{bad}; rank 0: {m}"),
                                None => bad,
                            });
                        }
                        r
                    }
                    Err(e) => {
                        first_error
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        return;
                    }
                };
                print_report_line(&report, started.elapsed().as_secs_f64());
                reports
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(report);
            });
        }
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut reports = reports.into_inner().unwrap_or_else(|p| p.into_inner());
    let order: HashMap<&str, usize> = cells
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i))
        .collect();
    reports.sort_by_key(|r| order.get(r.cell.as_str()).copied().unwrap_or(usize::MAX));
    Ok(reports)
}

/// How a cell's child process (rank 0's, in a data-parallel cell) ended.
struct CellEnd {
    /// Exit status; `None` when a signal killed it.
    code: Option<i32>,
    /// Another rank that ended abnormally first, described, if one did.
    bad_rank: Option<String>,
}

/// Run `exp run FILE --cell ID` for one cell (one process per device in
/// `devices`: the ranks of a data-parallel cell) and wait for it.
/// `Ok(None)`: a stop signal came first.
fn spawn_cell(
    exe: &Path,
    a: &crate::options::RunOptions,
    out: &Path,
    cell: &Cell,
    devices: &[String],
    workers: usize,
    dir: &Path,
) -> Result<Option<CellEnd>, ExecError> {
    std::fs::create_dir_all(dir).map_err(ExecError::io(dir))?;
    let spawn_error = |source| ExecError::Spawn {
        cell: cell.id.clone(),
        source,
    };
    if let [device] = devices {
        let mut cmd = child_command(exe, a, out, cell, device, workers, &dir.join("run.log"))?;
        let Some(mut child) = signals::spawn_child(&mut cmd).map_err(spawn_error)? else {
            return Ok(None);
        };
        let status = child.wait();
        signals::child_ended(child.id());
        return Ok(Some(CellEnd {
            code: status.map_err(spawn_error)?.code(),
            bad_rank: None,
        }));
    }
    let world = devices.len();
    let ran = super::ddp::run_ranks(
        world,
        a.ddp_timeout_s,
        |rank| {
            child_command(
                exe,
                a,
                out,
                cell,
                &devices[rank],
                workers,
                &super::ddp::rank_log(dir, rank),
            )
        },
        spawn_error,
    )?;
    let Some(ended) = ran else {
        return Ok(None);
    };
    let code = ended.ends.iter().find(|e| e.rank == 0).and_then(|e| e.code);
    let bad_rank = ended.first_bad.filter(|e| e.rank != 0).map(|e| {
        format!(
            "{} (see {})",
            e.describe(world),
            super::ddp::rank_log(dir, e.rank).display()
        )
    });
    Ok(Some(CellEnd { code, bad_rank }))
}

/// The command line of a child that runs one cell, its output appended to
/// `log_path`.
fn child_command(
    exe: &Path,
    a: &crate::options::RunOptions,
    out: &Path,
    cell: &Cell,
    device: &str,
    workers: usize,
    log_path: &Path,
) -> Result<std::process::Command, ExecError> {
    let log_path = log_path.to_path_buf();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(ExecError::io(&log_path))?;
    let log2 = log.try_clone().map_err(ExecError::io(&log_path))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("run")
        .arg(&a.file)
        .arg("--out")
        .arg(out)
        .arg("--cell")
        .arg(&cell.id);
    cmd.arg("--device")
        .arg(device)
        .arg("--workers")
        .arg(workers.to_string())
        .arg("--tb-every")
        .arg(a.tb_every.to_string());
    if a.deterministic {
        cmd.arg("--deterministic");
    }
    if a.no_cuda_graphs {
        cmd.arg("--no-cuda-graphs");
    }
    for s in &a.sets {
        cmd.arg("--set").arg(s);
    }
    cmd.env(CHILD_ENV, "1")
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log2);
    Ok(cmd)
}

/// A child's result, read back from the files it wrote (`since` it started).
fn child_report(
    out: &Path,
    cell: &Cell,
    dir: &Path,
    code: Option<i32>,
    since: std::time::SystemTime,
) -> CellReport {
    let keys = store::cell_stages(cell);
    if store::stage_state(out, &keys.score) == StageState::Cached {
        if let Some(s) = outputs::read_scores(dir) {
            let message = s.run_message();
            return CellReport {
                cell: cell.id.clone(),
                status: s.status,
                top1: s.top1,
                message,
            };
        }
    }
    // Why the time: a child stopped before it took the cell's lock leaves
    // the marker of an earlier interruption in place.
    let fresh = std::fs::metadata(dir.join("interrupted.json"))
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= since);
    if let Some(i) = outputs::read_interruption(dir).filter(|_| fresh) {
        return CellReport {
            cell: cell.id.clone(),
            status: CellStatus::Interrupted,
            top1: None,
            message: Some(i.stopped()),
        };
    }
    let stop = signals::stop_signal();
    if let (Some(sig), None) = (stop, outputs::read_failure(dir)) {
        // Stopped before it could say so (the signal came while it started).
        if code.is_none() || code == Some(signals::exit_status(sig)) {
            return CellReport {
                cell: cell.id.clone(),
                status: CellStatus::Interrupted,
                top1: None,
                message: Some(format!(
                    "stopped by {} as it started",
                    signals::signal_name(sig)
                )),
            };
        }
    }
    let message = match outputs::read_failure(dir) {
        Some(f) => format!("{}: {}", f.stage, f.error),
        None => {
            let how = code.map_or("was killed by a signal".to_string(), |c| {
                format!("exited with status {c}")
            });
            format!(
                "the child process {how}; see {}",
                dir.join("run.log").display()
            )
        }
    };
    CellReport {
        cell: cell.id.clone(),
        status: CellStatus::Failed,
        top1: None,
        message: Some(message),
    }
}

//! `exp run`: select cells, run each (skipping what the stage store already
//! holds), write the per-cell and per-sweep outputs, print the summary.
//!
//! Two ways to run several cells at once:
//! - `--jobs 1` (default): cells run one after another in this process, and
//!   cells with equal (data, budget, seed) share one prepared data set.
//! - `--jobs N` or `--gpus 0,1`: one child process `exp run FILE --cell ID`
//!   per cell, N at a time (one per listed GPU). Why child processes: a crash
//!   inside libtorch (abort, OOM kill) takes down one cell, not the sweep, and
//!   each child's memory is returned to the system when it ends. The children
//!   share the on-disk decode cache; each draws its own subset (cheap).

use crate::exec::lock::{self, FileLock};
use crate::exec::outputs::{self, Divergence, Predictions};
use crate::exec::store::{self, StageState};
use crate::exec::{atomic, device, signals, suggest, CellStatus, ExecError};
use crate::spec::{Cell, Pipeline, SweepSpec};
use crate::train::{RunEnd, TrainOptions, TrainOutcome, TrainStatus};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::IsTerminal;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Env var set in child processes: they run one cell and leave `results.csv`
/// and the report to the parent.
pub const CHILD_ENV: &str = "EXP_CHILD";

/// The three steps of a cell, abstracted so the orchestration (store, locks,
/// statuses, outputs) is tested without training real networks.
pub trait CellExecutor: Sync {
    type Data: Send + Sync;
    fn prepare(&self, cell: &Cell) -> Result<Self::Data, String>;
    /// Train (or resume) the cell; `RunEnd::Interrupted` once a stop signal
    /// made the trainer write a checkpoint and return.
    fn train(&self, cell: &Cell, data: &Self::Data, dir: &Path) -> Result<RunEnd, String>;
    fn predict(
        &self,
        cell: &Cell,
        data: &Self::Data,
        dir: &Path,
        split: &str,
    ) -> Result<Predictions, String>;
    /// The images each split used and those skipped, for `data.json` and
    /// `skipped.csv` (`None`: nothing to record).
    fn data_use(&self, _data: &Self::Data) -> Option<outputs::DataUse> {
        None
    }
}

/// A cell's failure on one line: the error's message, then the code and
/// help of its innermost diagnostic (a model or data error inside a
/// training error says what to do more precisely than the wrapper).
fn diag_line(e: &dyn miette::Diagnostic) -> String {
    let mut inner = e;
    while let Some(d) = inner.diagnostic_source() {
        inner = d;
    }
    let mut s = e.to_string();
    if let Some(code) = inner.code() {
        s.push_str(&format!(" [{code}]"));
    }
    if let Some(help) = inner.help() {
        s.push_str(&format!("; help: {help}"));
    }
    s
}

/// The real executor: data, trainer and model zoo on libtorch.
pub struct Libtorch {
    pub opts: TrainOptions,
}

impl CellExecutor for Libtorch {
    type Data = crate::data::PreparedData;

    fn prepare(&self, cell: &Cell) -> Result<Self::Data, String> {
        let d = crate::data::prepare(&cell.data, &cell.budget, cell.seed, self.opts.progress)
            .map_err(|e| diag_line(&e))?;
        // Why here: a split the selection or the score needs but the data
        // lacks would otherwise fail only after training.
        for split in [&cell.recipe.select_split, &cell.score.split] {
            d.split_len(split).map_err(|e| diag_line(&e))?;
        }
        Ok(d)
    }

    fn data_use(&self, d: &Self::Data) -> Option<outputs::DataUse> {
        Some(outputs::DataUse {
            images: d
                .split_names()
                .into_iter()
                .filter_map(|s| Some((s.clone(), d.split_len(&s).ok()?)))
                .collect(),
            skipped: d
                .skipped
                .iter()
                .map(|(p, why)| (p.display().to_string(), why.clone()))
                .collect(),
        })
    }

    fn train(&self, cell: &Cell, data: &Self::Data, dir: &Path) -> Result<RunEnd, String> {
        let stop = crate::train::StopSignal {
            flag: Some(signals::stop_flag()),
            crash_after_steps: None,
        };
        crate::train::train_cell_with(cell, data, dir, &self.opts, &stop).map_err(|e| diag_line(&e))
    }

    fn predict(
        &self,
        cell: &Cell,
        data: &Self::Data,
        dir: &Path,
        split: &str,
    ) -> Result<Predictions, String> {
        let probs =
            crate::train::predict(cell, data, dir, split, &self.opts).map_err(|e| diag_line(&e))?;
        let ids = data.split_ids(split).map_err(|e| diag_line(&e))?;
        let labels = data.split_labels(split).map_err(|e| diag_line(&e))?;
        let classes = data.classes.clone();
        if probs.len() != ids.len() * classes.len() {
            return Err(format!(
                "predict returned {} probabilities for {} rows × {} classes",
                probs.len(),
                ids.len(),
                classes.len()
            ));
        }
        Ok(Predictions {
            ids,
            labels,
            probs,
            classes,
        })
    }
}

/// What happened to one cell in this run.
#[derive(Debug, Clone, PartialEq)]
pub struct CellReport {
    pub cell: String,
    pub status: CellStatus,
    pub top1: Option<f64>,
    pub message: Option<String>,
}

/// Runs cells against an output directory.
pub struct Runner<'a, E: CellExecutor> {
    pub exec: &'a E,
    pub out: PathBuf,
    data_cache: Mutex<HashMap<String, Arc<E::Data>>>,
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// Files of a cell that belong to one training configuration.
const TRAIN_FILES: &[&str] = &[
    "best.safetensors",
    "metrics.csv",
    "scores.json",
    "predictions.csv",
    crate::score::predictions::PROBS_FILE,
];

impl<'a, E: CellExecutor> Runner<'a, E> {
    pub fn new(exec: &'a E, out: &Path) -> Self {
        Runner {
            exec,
            out: out.to_path_buf(),
            data_cache: Mutex::new(HashMap::new()),
        }
    }

    /// Whether both training and scoring of `cell` are in the store.
    pub fn is_cached(&self, cell: &Cell) -> bool {
        let k = store::cell_stages(cell);
        store::stage_state(&self.out, &k.train_finetune) == StageState::Cached
            && store::stage_state(&self.out, &k.score) == StageState::Cached
    }

    /// Run a cell under its lock. With `wait == false`, a cell locked by
    /// another process returns `None` so the caller can come back later;
    /// with `wait`, `None` means a stop signal came while waiting.
    pub fn run_cell(&self, cell: &Cell, wait: bool) -> Option<CellReport> {
        let dir = outputs::cell_dir(&self.out, cell);
        let lock_path = lock::cell_lock_path(&dir);
        let lock = match FileLock::try_acquire(&lock_path) {
            Ok(Some(l)) => Ok(l),
            Ok(None) => {
                let then = if wait {
                    "waiting for it"
                } else {
                    "coming back to it at the end"
                };
                println!("  {}: {}; {then}", cell.id, running_elsewhere(&lock_path));
                if !wait {
                    return None;
                }
                match acquire_unless_stopped(&lock_path) {
                    Ok(Some(l)) => Ok(l),
                    Ok(None) => return None,
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        let held = match lock {
            Ok(l) => l,
            Err(e) => {
                return Some(self.fail(
                    cell,
                    &dir,
                    "lock",
                    &format!("cannot lock {}: {e}", lock_path.display()),
                ))
            }
        };
        // Why ignore errors: the holder's name only informs `exp status`.
        let _ = held.record_holder();
        remove_cell_temps(&dir);
        Some(self.run_locked(cell, &dir))
    }

    /// The cell stopped for a signal (a checkpoint is in `ckpt/` when it
    /// was training): `interrupted.json` and its report.
    fn interrupted(
        &self,
        cell: &Cell,
        dir: &Path,
        stage: &str,
        at: Option<(u32, u64)>,
    ) -> CellReport {
        let signal = signals::stop_signal()
            .map_or_else(|| "a stop request".to_string(), signals::signal_name);
        let i = outputs::Interruption {
            cell: cell.id.clone(),
            signal,
            stage: stage.into(),
            epoch: at.map(|a| a.0),
            step: at.map(|a| a.1),
            exp_version: crate::VERSION.into(),
        };
        let mut message = i.stopped();
        if let Err(e) = outputs::write_interruption(dir, &i) {
            message.push_str(&format!(
                " (and interrupted.json could not be written: {e})"
            ));
        }
        CellReport {
            cell: cell.id.clone(),
            status: CellStatus::Interrupted,
            top1: None,
            message: Some(message),
        }
    }

    fn fail(&self, cell: &Cell, dir: &Path, stage: &str, error: &str) -> CellReport {
        let mut message = format!("{stage}: {error}");
        if let Err(e) = outputs::write_failure(dir, cell, stage, error) {
            message.push_str(&format!(" (and failed.json could not be written: {e})"));
        }
        CellReport {
            cell: cell.id.clone(),
            status: CellStatus::Failed,
            top1: None,
            message: Some(message),
        }
    }

    fn data(&self, cell: &Cell) -> Result<Arc<E::Data>, String> {
        let key = prepared_data_key(cell);
        let mut cache = self.data_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = cache.get(&key) {
            return Ok(Arc::clone(d));
        }
        // Why a lock: concurrent runs on one output directory (two terminals,
        // Slurm array tasks) would otherwise generate or decode the same data
        // set at once; one prepares, the others then find it ready.
        let keys = store::cell_stages(cell);
        let lock_path = self
            .out
            .join(".exp")
            .join("locks")
            .join(format!("prepare-{}.lock", keys.decode));
        let _lock = FileLock::acquire(&lock_path)
            .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
        let d = Arc::new(self.exec.prepare(cell)?);
        cache.insert(key, Arc::clone(&d));
        Ok(d)
    }

    fn run_locked(&self, cell: &Cell, dir: &Path) -> CellReport {
        let keys = store::cell_stages(cell);
        let train_cached =
            store::stage_state(&self.out, &keys.train_finetune) == StageState::Cached;
        let score_cached = store::stage_state(&self.out, &keys.score) == StageState::Cached;
        if train_cached && score_cached {
            let top1 = outputs::read_scores(dir).and_then(|s| s.top1);
            return CellReport {
                cell: cell.id.clone(),
                status: CellStatus::Cached,
                top1,
                message: None,
            };
        }
        println!("  {}: running", cell.id);
        let io_fail = |what: &str, e: std::io::Error| {
            self.fail(cell, dir, "outputs", &format!("{what}: {e}"))
        };
        if let Err(e) = outputs::write_config_json(dir, cell) {
            return io_fail("config.json", e);
        }
        let _ = std::fs::remove_file(dir.join("failed.json"));
        let _ = std::fs::remove_file(dir.join("interrupted.json"));

        let data = match catch_unwind(AssertUnwindSafe(|| self.data(cell))) {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => return self.fail(cell, dir, "prepare", &e),
            Err(p) => return self.fail(cell, dir, "prepare", &panic_text(&*p)),
        };
        if signals::stop_requested() {
            let stage = if train_cached { "score" } else { "train" };
            return self.interrupted(cell, dir, stage, None);
        }
        if let Some(u) = self.exec.data_use(&data) {
            if let Err(e) = outputs::write_data_use(dir, &u) {
                return io_fail("data.json", e);
            }
            if !u.skipped.is_empty() {
                let shown: Vec<String> = u
                    .skipped
                    .iter()
                    .take(5)
                    .map(|(p, why)| format!("{p} ({why})"))
                    .collect();
                println!(
                    "  {}: {} unreadable image(s) skipped (on_bad_image = skip): {}{}; all in {}",
                    cell.id,
                    u.skipped.len(),
                    shown.join(", "),
                    if u.skipped.len() > 5 { ", …" } else { "" },
                    dir.join("skipped.csv").display()
                );
            }
        }
        for (stage, key) in [(store::DECODE, &keys.decode), (store::SUBSET, &keys.subset)] {
            if let Err(e) = store::mark_done(
                &self.out,
                stage,
                key,
                &cell.id,
                dir,
                serde_json::Value::Null,
            ) {
                return io_fail("stage marker", e);
            }
        }

        let outcome: TrainOutcome = if train_cached {
            let marker = store::read_marker(&self.out, &keys.train_finetune);
            match marker
                .and_then(|m| serde_json::from_value(m.detail.get("outcome").cloned()?).ok())
            {
                Some(o) => o,
                None => {
                    return self.fail(
                        cell,
                        dir,
                        "store",
                        "the training record has no outcome; delete it to retrain",
                    )
                }
            }
        } else {
            let mut dk = store::read_dir_keys(dir);
            if dk.train.as_deref() != Some(keys.train_finetune.as_str()) {
                // Why: files and checkpoints of another configuration must not
                // be resumed from or reported; same key = resume from ckpt/.
                for f in TRAIN_FILES {
                    let _ = std::fs::remove_file(dir.join(f));
                }
                let _ = std::fs::remove_dir_all(dir.join("ckpt"));
                crate::train::tensorboard::remove_event_files(dir);
                dk = store::DirKeys {
                    train: Some(keys.train_finetune.clone()),
                    score: None,
                };
                if let Err(e) = store::write_dir_keys(dir, &dk) {
                    return io_fail("stage keys", e);
                }
            }
            let o = match catch_unwind(AssertUnwindSafe(|| self.exec.train(cell, &data, dir))) {
                Ok(Ok(RunEnd::Finished(o))) => o,
                Ok(Ok(RunEnd::Interrupted { epoch, step })) => {
                    return self.interrupted(cell, dir, "train", Some((epoch, step)))
                }
                Ok(Err(e)) => return self.fail(cell, dir, "train", &e),
                Err(p) => return self.fail(cell, dir, "train", &panic_text(&*p)),
            };
            let detail = serde_json::json!({ "train_key": keys.train_finetune, "outcome": o });
            for (stage, key) in [
                (store::TRAIN_FROZEN, &keys.train_frozen),
                (store::TRAIN_FINETUNE, &keys.train_finetune),
            ] {
                if let Err(e) =
                    store::mark_done(&self.out, stage, key, &cell.id, dir, detail.clone())
                {
                    return io_fail("stage marker", e);
                }
            }
            o
        };
        if signals::stop_requested() {
            return self.interrupted(cell, dir, "score", None);
        }

        let status = CellStatus::from_train(&outcome.status);
        let diverged = match &outcome.status {
            TrainStatus::Diverged {
                epoch,
                step,
                reason,
            } => Some(Divergence {
                epoch: *epoch,
                step: *step,
                reason: reason.clone(),
            }),
            _ => None,
        };
        let has_weights = dir.join("best.safetensors").exists();
        let preds = if diverged.is_some() && !has_weights {
            None
        } else {
            match catch_unwind(AssertUnwindSafe(|| {
                self.exec.predict(cell, &data, dir, &cell.score.split)
            })) {
                Ok(Ok(p)) => Some(p),
                // Why: a cell that diverged before its first good epoch may
                // have nothing to score; it is still a result.
                Ok(Err(_)) | Err(_) if diverged.is_some() => None,
                Ok(Err(e)) => return self.fail(cell, dir, "score", &e),
                Err(p) => return self.fail(cell, dir, "score", &panic_text(&*p)),
            }
        };
        let best_epoch = (has_weights || diverged.is_none()).then_some(outcome.best_epoch);
        let mut scores = match catch_unwind(AssertUnwindSafe(|| {
            outputs::compute_scores(cell, status, best_epoch, diverged.clone(), preds.as_ref())
        })) {
            Ok(s) => s,
            Err(p) => return self.fail(cell, dir, "score", &panic_text(&*p)),
        };
        if let TrainStatus::Unstable { epoch, reason } = &outcome.status {
            scores.unstable = Some(outputs::Instability {
                epoch: *epoch,
                reason: reason.clone(),
            });
        }
        let written = outputs::write_predictions(dir, preds.as_ref());
        if let Err(e) = written.and_then(|_| atomic::write_json(&dir.join("scores.json"), &scores))
        {
            return io_fail("scores", e);
        }
        let mut dk = store::read_dir_keys(dir);
        dk.score = Some(keys.score.clone());
        if let Err(e) = store::write_dir_keys(dir, &dk).and_then(|_| {
            store::mark_done(
                &self.out,
                store::SCORE,
                &keys.score,
                &cell.id,
                dir,
                serde_json::Value::Null,
            )
        }) {
            return io_fail("stage marker", e);
        }
        let message = scores.run_message();
        CellReport {
            cell: cell.id.clone(),
            status,
            top1: scores.top1,
            message,
        }
    }

    /// Run `cells` one after another; cells locked by another process are
    /// deferred to the end, then waited for. After a stop signal no cell
    /// starts (the reports cover the cells that did).
    pub fn run_all(
        &self,
        cells: &[&Cell],
        mut on_done: impl FnMut(&CellReport),
    ) -> Vec<CellReport> {
        let mut reports = Vec::new();
        let mut deferred = Vec::new();
        for cell in cells {
            if signals::stop_requested() {
                return reports;
            }
            match self.run_cell(cell, false) {
                Some(r) => {
                    on_done(&r);
                    reports.push(r);
                }
                None => deferred.push(*cell),
            }
        }
        for cell in deferred {
            if signals::stop_requested() {
                break;
            }
            if let Some(r) = self.run_cell(cell, true) {
                on_done(&r);
                reports.push(r);
            }
        }
        reports
    }
}

/// Temp files in a cell directory whose lock the caller holds: no one else
/// writes there, so any is a dead writer's (`kill -9` in the middle of a write).
fn remove_cell_temps(dir: &Path) {
    for d in [dir.to_path_buf(), dir.join("ckpt")] {
        atomic::remove_stale_temps(&d, true);
    }
}

/// Remove a cell directory's stale temp files if its lock is free.
fn tidy_cell_dir(dir: &Path) {
    if let Ok(Some(_lock)) = FileLock::try_acquire(&lock::cell_lock_path(dir)) {
        remove_cell_temps(dir);
    }
}

/// "running elsewhere (pid 4242, host gpu01)": who holds a cell's lock, for
/// the live lines of `exp run` and the notes of `exp status`.
pub fn running_elsewhere(lock_path: &Path) -> String {
    match lock::holder(lock_path) {
        Some(h) => format!("running elsewhere ({h})"),
        None => "running elsewhere (holder unknown)".into(),
    }
}

/// Wait for a lock another process holds, giving up (`Ok(None)`) when a stop
/// signal arrives. Why poll: a blocking `flock` would keep a Ctrl-C'd run
/// waiting for someone else's cell.
fn acquire_unless_stopped(path: &Path) -> std::io::Result<Option<FileLock>> {
    loop {
        if signals::stop_requested() {
            return Ok(None);
        }
        if let Some(l) = FileLock::try_acquire(path)? {
            return Ok(Some(l));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Write `sweep.json` under the sweep lock (every writer of the sweep
/// directory holds it, so temp files there are a dead writer's).
pub fn write_sweep_json_locked(out: &Path, sweep: &SweepSpec) -> Result<(), ExecError> {
    let sdir = outputs::sweep_dir(out, &sweep.name);
    let lock_path = sdir.join(".lock");
    let _lock = FileLock::acquire(&lock_path).map_err(ExecError::io(&lock_path))?;
    atomic::remove_stale_temps(&sdir, true);
    outputs::write_sweep_json(out, sweep).map_err(ExecError::io(sdir.join("sweep.json")))
}

/// Rebuild `results.csv` of a sweep (under the sweep lock) and write the
/// report. Returns the report's terminal table when the report was written.
pub fn finalize_sweep(out: &Path, sweep: &SweepSpec) -> Result<Option<String>, ExecError> {
    let sdir = outputs::sweep_dir(out, &sweep.name);
    let lock_path = sdir.join(".lock");
    let _lock = FileLock::acquire(&lock_path).map_err(ExecError::io(&lock_path))?;
    atomic::remove_stale_temps(&sdir, true);
    let csv_path = sdir.join("results.csv");
    let csv = outputs::results_csv(out, sweep);
    atomic::write_atomic(
        &csv_path,
        outputs::with_verdicts(&csv, sweep, &Default::default()).as_bytes(),
    )
    .map_err(ExecError::io(&csv_path))?;
    let all_scored = sweep
        .cells
        .iter()
        .all(|c| outputs::read_scores(&outputs::cell_dir(out, c)).is_some());
    if !all_scored {
        return Ok(None);
    }
    match catch_unwind(AssertUnwindSafe(|| {
        crate::report::write_report_verdicts(&sdir)
    })) {
        Ok(Ok((table, verdicts))) => {
            atomic::write_atomic(
                &csv_path,
                outputs::with_verdicts(&csv, sweep, &verdicts).as_bytes(),
            )
            .map_err(ExecError::io(&csv_path))?;
            let key = store::compare_key(sweep);
            store::mark_done(
                out,
                store::COMPARE,
                &key,
                &sweep.name,
                &sdir,
                store::compare_detail(out, sweep),
            )
            .map_err(ExecError::io(store::marker_path(out, &key)))?;
            Ok(Some(table))
        }
        Ok(Err(e)) => {
            eprintln!("warning: report of sweep `{}` not written: {e}", sweep.name);
            Ok(None)
        }
        Err(p) => {
            eprintln!(
                "warning: report of sweep `{}` not written: {}",
                sweep.name,
                panic_text(&*p)
            );
            Ok(None)
        }
    }
}

/// The cells selected by `--sweep` / `--cell`, in file order.
pub fn select<'p>(
    p: &'p Pipeline,
    sweep: Option<&str>,
    cell: Option<&str>,
) -> Result<Vec<&'p SweepSpec>, ExecError> {
    if p.sweeps.is_empty() {
        return Err(ExecError::NoSweep);
    }
    if let Some(name) = sweep {
        if !p.sweeps.contains_key(name) {
            return Err(ExecError::UnknownSweep {
                name: name.into(),
                suggestion: suggest(name, p.sweeps.keys().map(String::as_str)),
            });
        }
    }
    if let Some(id) = cell {
        let found = p.sweeps.values().flat_map(|s| &s.cells).any(|c| c.id == id);
        if !found {
            let ids = p
                .sweeps
                .values()
                .flat_map(|s| &s.cells)
                .map(|c| c.id.as_str());
            return Err(ExecError::UnknownCell {
                id: id.into(),
                suggestion: suggest(id, ids),
            });
        }
    }
    Ok(p.sweeps
        .values()
        .filter(|s| sweep.is_none_or(|n| s.name == n))
        .filter(|s| cell.is_none_or(|id| s.cells.iter().any(|c| c.id == id)))
        .collect())
}

/// Counts of a run's statuses and the summary line.
pub fn summary_line(reports: &[CellReport]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in reports {
        *counts.entry(r.status.as_str()).or_default() += 1;
    }
    let n = |s: CellStatus| counts.get(s.as_str()).copied().unwrap_or(0);
    let mut line = format!(
        "{} cell(s): {} done, {} cached, {} diverged, {} failed",
        reports.len(),
        n(CellStatus::Done),
        n(CellStatus::Cached),
        n(CellStatus::Diverged),
        n(CellStatus::Failed)
    );
    for s in [
        CellStatus::EarlyStopped,
        CellStatus::Unstable,
        CellStatus::TimeLimit,
        CellStatus::Interrupted,
    ] {
        if n(s) > 0 {
            line.push_str(&format!(", {} {}", n(s), s.as_str()));
        }
    }
    line
}

/// The first line of a message, at most 300 characters (libtorch errors carry
/// whole C++ backtraces; `failed.json` keeps the full text).
fn short(m: &str) -> String {
    let line = m.lines().next().unwrap_or("");
    let cut: String = line.chars().take(300).collect();
    if cut.len() < m.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

pub(crate) fn print_report_line(r: &CellReport, secs: f64) {
    let top1 = r.top1.map(|t| format!("  top1={t:.4}")).unwrap_or_default();
    let msg = r
        .message
        .as_deref()
        .map(short)
        .as_ref()
        .map(|m| format!("  ({m})"))
        .unwrap_or_default();
    println!("  {}: {}{top1}{msg}  [{secs:.1}s]", r.cell, r.status);
}

/// Run cells as child processes, `slots` at a time; slot `i` uses
/// `devices[i]` (the `--device` value passed to its children).
fn run_children(
    a: &crate::cli::RunArgs,
    out: &Path,
    cells: &[&Cell],
    devices: &[String],
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
                let started = Instant::now();
                let since = std::time::SystemTime::now();
                let report = match spawn_child(&exe, a, out, cell, dev, workers, &dir) {
                    Ok(None) => return,
                    Ok(Some(code)) => child_report(out, cell, &dir, code, since),
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

/// Run `exp run FILE --cell ID` for one cell and wait for it. `Ok(None)`: a
/// stop signal came first and nothing was started; `Ok(Some(status))`:
/// the child's exit status (`None` when a signal killed it).
fn spawn_child(
    exe: &Path,
    a: &crate::cli::RunArgs,
    out: &Path,
    cell: &Cell,
    device: &str,
    workers: usize,
    dir: &Path,
) -> Result<Option<Option<i32>>, ExecError> {
    std::fs::create_dir_all(dir).map_err(ExecError::io(dir))?;
    let log_path = dir.join("run.log");
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
    let spawn_error = |source| ExecError::Spawn {
        cell: cell.id.clone(),
        source,
    };
    let Some(mut child) = signals::spawn_child(&mut cmd).map_err(spawn_error)? else {
        return Ok(None);
    };
    let status = child.wait();
    signals::child_ended(child.id());
    Ok(Some(status.map_err(spawn_error)?.code()))
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

/// Pretrained weights that cells still to train need and this machine
/// lacks, one line per backbone.
///
/// Why before anything runs: a missing file would fail its cells only when
/// they start, possibly hours into a sweep; cells whose training is already
/// in the store need no weights.
fn missing_weights(out: &Path, cells: &[&Cell]) -> Option<ExecError> {
    let mut seen = std::collections::BTreeSet::new();
    let mut list = Vec::new();
    for c in cells {
        let Some(w) = &c.backbone.pretrained else {
            continue;
        };
        let trained =
            store::stage_state(out, &store::cell_stages(c).train_finetune) == StageState::Cached;
        if trained || !seen.insert(c.backbone.name.clone()) {
            continue;
        }
        // The model zoo's own error says how to fetch an uncached HF entry.
        let problem = match crate::models::weights::locate_weights(w) {
            Ok(_) => continue,
            Err(crate::models::ModelError::WeightsNotFound { path }) => {
                format!("`{}` does not exist", path.display())
            }
            Err(e) => diag_line(&e),
        };
        list.push(format!("  backbone `{}`: {problem}", c.backbone.name));
    }
    (!list.is_empty()).then_some(ExecError::MissingWeights { list })
}

/// `exp run`.
pub fn cmd_run(a: &crate::cli::RunArgs) -> miette::Result<ExitCode> {
    let device = device::resolve(&a.device)?;
    let gpu_count = if a.gpus.is_empty() {
        0
    } else {
        device::cuda_count()
    };
    for g in &a.gpus {
        device::resolve_with(&format!("cuda:{g}"), gpu_count)?;
    }
    // Why before loading anything: a GPU the wheel has no kernels for would
    // otherwise fail every cell with libtorch's raw error.
    device::check_kernels(device)?;
    for g in &a.gpus {
        device::check_kernels(tch::Device::Cuda(*g))?;
    }
    let mut pipeline = match crate::lang::load(&a.file, &a.sets) {
        Ok(p) => p,
        Err(report) => {
            eprintln!("{report:?}");
            return Ok(ExitCode::from(1));
        }
    };
    // Why the errors are dropped: a data set that cannot be read fails each
    // of its cells when prepared, with the full diagnostic there.
    let _unreadable = crate::data::fill_content_keys(&mut pipeline);
    let sweeps = select(&pipeline, a.sweep.as_deref(), a.cell.as_deref())?;
    let cells: Vec<&Cell> = sweeps
        .iter()
        .flat_map(|s| s.cells.iter())
        .filter(|c| a.cell.as_deref().is_none_or(|id| c.id == id))
        .collect();
    // Why before Slurm too: there a missing file would otherwise surface
    // only after the array tasks have waited in the queue.
    if let Some(err) = missing_weights(&a.out, &cells) {
        eprintln!("{:?}", miette::Report::new(err));
        return Ok(ExitCode::from(1));
    }
    if a.on == crate::cli::Backend::Slurm {
        return crate::exec::slurm::submit(a, &sweeps, &cells);
    }
    let is_child = std::env::var_os(CHILD_ENV).is_some();
    // Why here: before, nothing is worth a checkpoint and the default
    // action (exit at once) is what Ctrl-C should do.
    signals::install(a.cell.is_some(), is_child).map_err(ExecError::io("signal handlers"))?;
    if is_child && !signals::child_setup() {
        eprintln!("exp: the parent exp run is gone; not starting");
        return Ok(ExitCode::from(signals::exit_status(libc::SIGTERM) as u8));
    }
    // Tidy what dead writers left where no single lock covers the writers.
    for d in [
        crate::exec::store::stages_dir(&a.out),
        a.out.join(".exp").join("slurm"),
    ] {
        atomic::remove_stale_temps(&d, false);
    }
    for s in &sweeps {
        write_sweep_json_locked(&a.out, s)?;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let slots = if a.gpus.is_empty() {
        a.jobs.max(1)
    } else {
        a.gpus.len()
    };
    let workers = a.workers.unwrap_or((cores / slots).max(1));
    crate::models::runtime::set_deterministic(a.deterministic);
    let opts = TrainOptions {
        device,
        deterministic: a.deterministic,
        workers,
        progress: std::io::stderr().is_terminal(),
        tb_every: a.tb_every,
        cuda_graphs: !a.no_cuda_graphs,
    };
    let exec = Libtorch { opts };
    let runner = Runner::new(&exec, &a.out);
    println!(
        "exp run: {} cell(s) in {} sweep(s) on {} → {}",
        cells.len(),
        sweeps.len(),
        device::to_arg(device),
        a.out.display()
    );

    let reports = if slots > 1 && cells.len() > 1 {
        let (cached, todo): (Vec<&Cell>, Vec<&Cell>) =
            cells.iter().copied().partition(|c| runner.is_cached(c));
        let mut reports: Vec<CellReport> = cached
            .iter()
            .map(|c| {
                let dir = outputs::cell_dir(&a.out, c);
                tidy_cell_dir(&dir);
                let r = CellReport {
                    cell: c.id.clone(),
                    status: CellStatus::Cached,
                    top1: outputs::read_scores(&dir).and_then(|s| s.top1),
                    message: None,
                };
                print_report_line(&r, 0.0);
                r
            })
            .collect();
        let devices: Vec<String> = if a.gpus.is_empty() {
            vec![device::to_arg(device); slots]
        } else {
            a.gpus.iter().map(|g| format!("cuda:{g}")).collect()
        };
        reports.extend(run_children(a, &a.out, &todo, &devices, workers)?);
        reports
    } else {
        let mut started = Instant::now();
        runner.run_all(&cells, |r| {
            print_report_line(r, started.elapsed().as_secs_f64());
            started = Instant::now();
        })
    };

    let stopped = signals::stop_signal();
    if stopped == Some(libc::SIGUSR1) {
        return Ok(requeue_after_usr1(&reports));
    }
    if !is_child {
        for s in &sweeps {
            if let Some(table) = finalize_sweep(&a.out, s)? {
                println!("\n{table}");
            }
            println!(
                "results: {}",
                outputs::sweep_dir(&a.out, &s.name)
                    .join("results.csv")
                    .display()
            );
        }
        let mut line = summary_line(&reports);
        if reports.len() < cells.len() {
            line.push_str(&format!(", {} not started", cells.len() - reports.len()));
        }
        println!("{line}");
    }
    if let Some(sig) = stopped {
        let n = reports
            .iter()
            .filter(|r| r.status == CellStatus::Interrupted)
            .count();
        eprintln!(
            "exp: stopped by {}: {n} cell(s) interrupted (they resume from their checkpoints), {} not started\nresume with: {}",
            signals::signal_name(sig),
            cells.len() - reports.len(),
            crate::exec::hints::run_command(a)
        );
        return Ok(ExitCode::from(signals::exit_status(sig) as u8));
    }
    let failed = reports.iter().any(|r| r.status == CellStatus::Failed);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// After SIGUSR1 (a Slurm task near its time limit, or `scancel
/// --signal=USR1`): the cell stopped with a checkpoint; let the watcher
/// requeue the Slurm task, or outside Slurm exit with status 138.
fn requeue_after_usr1(reports: &[CellReport]) -> ExitCode {
    for r in reports
        .iter()
        .filter(|r| r.status == CellStatus::Interrupted)
    {
        eprintln!(
            "exp: {}: {}; `exp run` resumes from it",
            r.cell,
            r.message.as_deref().unwrap_or("stopped")
        );
    }
    signals::checkpointed();
    if std::env::var_os("SLURM_JOB_ID").is_some() {
        // Why wait here: the watcher thread requeues the task and exits the
        // process; nothing of this run is left to write.
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
    ExitCode::from(signals::REQUEUED_EXIT as u8)
}

/// Identity of a prepared data set in this process: everything
/// `data::prepare` reads. Why not the subset stage key: that one leaves out
/// what only training reads (metadata columns, image size), yet the prepared
/// data carries the metadata encoding, so two cells differing only in their
/// metadata columns must not share it.
fn prepared_data_key(cell: &Cell) -> String {
    let b = &cell.budget;
    let settings = serde_json::json!({
        "data": cell.data,
        "train_samples": b.train_samples,
        "val_samples": b.val_samples,
        "seed": cell.seed,
    });
    blake3::hash(settings.to_string().as_bytes())
        .to_hex()
        .to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::exec::store::tests::sample_cell;

    /// Trains nothing: records calls, writes a weights file, and returns
    /// probabilities derived from the cell id. Backbone `diverge` diverges
    /// before any checkpoint, backbone `broken` fails.
    #[derive(Default)]
    struct Fake {
        trained: Mutex<Vec<String>>,
        predicted: Mutex<Vec<String>>,
        prepared: Mutex<usize>,
    }

    impl CellExecutor for Fake {
        type Data = ();
        fn prepare(&self, _cell: &Cell) -> Result<(), String> {
            *self.prepared.lock().unwrap() += 1;
            Ok(())
        }
        fn train(&self, cell: &Cell, _: &(), dir: &Path) -> Result<RunEnd, String> {
            self.trained.lock().unwrap().push(cell.id.clone());
            match cell.backbone.name.as_str() {
                "broken" => Err("out of memory".into()),
                "interrupt" => Ok(RunEnd::Interrupted { epoch: 2, step: 7 }),
                "wobbly" => {
                    atomic::write_atomic(&dir.join("best.safetensors"), cell.id.as_bytes())
                        .unwrap();
                    Ok(RunEnd::Finished(TrainOutcome {
                        status: TrainStatus::Unstable {
                            epoch: 2,
                            reason: "epoch 2: val loss 10.6 is 11.5× the best so far".into(),
                        },
                        best_epoch: 1,
                        best_val_loss: 0.9,
                        best_val_top1: 0.5,
                    }))
                }
                "diverge" => Ok(RunEnd::Finished(TrainOutcome {
                    status: TrainStatus::Diverged {
                        epoch: 0,
                        step: 3,
                        reason: "loss is NaN".into(),
                    },
                    best_epoch: 0,
                    best_val_loss: f64::NAN,
                    best_val_top1: 0.0,
                })),
                _ => {
                    atomic::write_atomic(&dir.join("best.safetensors"), cell.id.as_bytes())
                        .unwrap();
                    Ok(RunEnd::Finished(TrainOutcome {
                        status: TrainStatus::Done,
                        best_epoch: 1,
                        best_val_loss: 0.5,
                        best_val_top1: 0.7,
                    }))
                }
            }
        }
        fn predict(
            &self,
            cell: &Cell,
            _: &(),
            dir: &Path,
            split: &str,
        ) -> Result<Predictions, String> {
            assert!(dir.join("best.safetensors").exists());
            self.predicted
                .lock()
                .unwrap()
                .push(format!("{}@{split}", cell.id));
            let h = blake3::hash(cell.id.as_bytes());
            let b = h.as_bytes();
            let n = 6;
            let mut probs = Vec::new();
            for i in 0..n {
                let raw = [
                    f32::from(b[3 * i]) + 1.0,
                    f32::from(b[3 * i + 1]) + 1.0,
                    f32::from(b[3 * i + 2]) + 1.0,
                ];
                let sum: f32 = raw.iter().sum();
                probs.extend(raw.iter().map(|r| r / sum));
            }
            Ok(Predictions {
                ids: (0..n).map(|i| format!("img{i}.png")).collect(),
                labels: (0..n as i64).map(|i| i % 3).collect(),
                probs,
                classes: vec!["a".into(), "b".into(), "c".into()],
            })
        }
    }

    fn sweep(backbones: &[&str]) -> SweepSpec {
        SweepSpec {
            name: "r".into(),
            axes: vec!["backbone".into()],
            cells: backbones
                .iter()
                .map(|b| sample_cell("r", b, "adamw", 0))
                .collect(),
            baseline: None,
            compare: vec![],
        }
    }

    fn run(fake: &Fake, out: &Path, s: &SweepSpec) -> Vec<CellReport> {
        let runner = Runner::new(fake, out);
        let cells: Vec<&Cell> = s.cells.iter().collect();
        let reports = runner.run_all(&cells, |_| {});
        finalize_sweep(out, s).unwrap();
        reports
    }

    fn statuses(r: &[CellReport]) -> Vec<CellStatus> {
        r.iter().map(|r| r.status).collect()
    }

    #[test]
    fn rerun_is_a_noop_and_results_are_byte_identical() {
        let out = tempfile::tempdir().unwrap();
        let s = sweep(&["b1", "b2"]);
        let fake = Fake::default();
        assert_eq!(
            statuses(&run(&fake, out.path(), &s)),
            [CellStatus::Done, CellStatus::Done]
        );
        let first = std::fs::read(out.path().join("r/results.csv")).unwrap();
        let fake2 = Fake::default();
        let again = run(&fake2, out.path(), &s);
        assert_eq!(statuses(&again), [CellStatus::Cached, CellStatus::Cached]);
        assert!(fake2.trained.lock().unwrap().is_empty());
        assert!(fake2.predicted.lock().unwrap().is_empty());
        assert_eq!(*fake2.prepared.lock().unwrap(), 0);
        assert_eq!(
            std::fs::read(out.path().join("r/results.csv")).unwrap(),
            first
        );
        let text = String::from_utf8(first).unwrap();
        assert!(
            text.starts_with(
                "cell,backbone,recipe,seed,status,reason,top1,top3,auc,verdict\nb1-adamw-s0,b1,adamw,0,done,,"
            ),
            "{text}"
        );
        // Scores and predictions exist, with the documented layout.
        let scores = outputs::read_scores(&out.path().join("r/b1-adamw-s0")).unwrap();
        assert_eq!((scores.n, scores.top3), (6, Some(1.0)));
        let preds =
            std::fs::read_to_string(out.path().join("r/b1-adamw-s0/predictions.csv")).unwrap();
        assert!(preds.starts_with("id,label,pred\nimg0.png,0,"));
        assert!(out
            .path()
            .join("r/b1-adamw-s0")
            .join(crate::score::predictions::PROBS_FILE)
            .is_file());
    }

    #[test]
    fn adding_a_cell_trains_only_it_and_shares_prepared_data() {
        let out = tempfile::tempdir().unwrap();
        let fake = Fake::default();
        run(&fake, out.path(), &sweep(&["b1", "b2"]));
        assert_eq!(
            *fake.prepared.lock().unwrap(),
            1,
            "equal (data, budget, seed) prepare once"
        );
        let fake2 = Fake::default();
        let r = run(&fake2, out.path(), &sweep(&["b1", "b2", "b3"]));
        assert_eq!(
            statuses(&r),
            [CellStatus::Cached, CellStatus::Cached, CellStatus::Done]
        );
        assert_eq!(*fake2.trained.lock().unwrap(), ["r/b3-adamw-s0"]);
    }

    #[test]
    fn changing_the_score_split_rescores_without_training() {
        let out = tempfile::tempdir().unwrap();
        let mut s = sweep(&["b1"]);
        run(&Fake::default(), out.path(), &s);
        s.cells[0].score.split = "val".into();
        let fake = Fake::default();
        let r = run(&fake, out.path(), &s);
        assert_eq!(statuses(&r), [CellStatus::Done]);
        assert!(fake.trained.lock().unwrap().is_empty());
        assert_eq!(*fake.predicted.lock().unwrap(), ["r/b1-adamw-s0@val"]);
        assert_eq!(
            outputs::read_scores(&out.path().join("r/b1-adamw-s0"))
                .unwrap()
                .split,
            "val"
        );
    }

    #[test]
    fn a_changed_recipe_retrains_and_drops_the_old_files() {
        let out = tempfile::tempdir().unwrap();
        let mut s = sweep(&["b1"]);
        run(&Fake::default(), out.path(), &s);
        let dir = out.path().join("r/b1-adamw-s0");
        std::fs::create_dir_all(dir.join("ckpt")).unwrap();
        std::fs::write(dir.join("metrics.csv"), "old").unwrap();
        s.cells[0].recipe.optimizer.lr = 0.1;
        let fake = Fake::default();
        run(&fake, out.path(), &s);
        assert_eq!(fake.trained.lock().unwrap().len(), 1);
        assert!(!dir.join("ckpt").exists() && !dir.join("metrics.csv").exists());
        let cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(cfg["cell"]["recipe"]["optimizer"]["lr"], 0.1);
    }

    #[test]
    fn diverged_and_failed_cells_do_not_stop_the_sweep() {
        let out = tempfile::tempdir().unwrap();
        let s = sweep(&["diverge", "broken", "b1", "wobbly"]);
        let r = run(&Fake::default(), out.path(), &s);
        assert_eq!(
            statuses(&r),
            [
                CellStatus::Diverged,
                CellStatus::Failed,
                CellStatus::Done,
                CellStatus::Unstable
            ]
        );
        assert_eq!(
            r[3].message.as_deref(),
            Some("unstable from epoch 2: val loss 10.6 is 11.5× the best so far")
        );
        assert!(r[0]
            .message
            .as_deref()
            .unwrap()
            .contains("epoch 0 step 3: loss is NaN"));
        assert!(r[1].message.as_deref().unwrap().contains("out of memory"));
        let csv = std::fs::read_to_string(out.path().join("r/results.csv")).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[1],
            "diverge-adamw-s0,diverge,adamw,0,diverged,epoch 0 step 3: loss is NaN,,,,"
        );
        assert_eq!(lines[2], "broken-adamw-s0,broken,adamw,0,failed,,,,,");
        assert!(lines[4].starts_with(
            "wobbly-adamw-s0,wobbly,adamw,0,unstable,epoch 2: val loss 10.6 is 11.5× the best so far,0."
        ));
        let sc = outputs::read_scores(&out.path().join("r/diverge-adamw-s0")).unwrap();
        assert_eq!(sc.diverged.unwrap().step, 3);
        let sc = outputs::read_scores(&out.path().join("r/wobbly-adamw-s0")).unwrap();
        assert_eq!(sc.unstable.unwrap().epoch, 2);
        assert_eq!(
            summary_line(&r),
            "4 cell(s): 1 done, 0 cached, 1 diverged, 1 failed, 1 unstable"
        );
        // A rerun retries only the failed cell: the diverged one is a result.
        let fake = Fake::default();
        let r = run(&fake, out.path(), &s);
        assert_eq!(
            statuses(&r),
            [
                CellStatus::Cached,
                CellStatus::Failed,
                CellStatus::Cached,
                CellStatus::Cached
            ]
        );
        assert_eq!(*fake.trained.lock().unwrap(), ["r/broken-adamw-s0"]);
    }

    #[test]
    fn concurrent_runners_train_each_cell_once() {
        let out = tempfile::tempdir().unwrap();
        let s = sweep(&["b1", "b2", "b3", "b4"]);
        let (f1, f2) = (Fake::default(), Fake::default());
        std::thread::scope(|sc| {
            sc.spawn(|| run(&f1, out.path(), &s));
            sc.spawn(|| run(&f2, out.path(), &s));
        });
        let mut all: Vec<String> = f1.trained.lock().unwrap().clone();
        all.extend(f2.trained.lock().unwrap().iter().cloned());
        all.sort();
        assert_eq!(
            all,
            [
                "r/b1-adamw-s0",
                "r/b2-adamw-s0",
                "r/b3-adamw-s0",
                "r/b4-adamw-s0"
            ]
        );
        let csv = std::fs::read_to_string(out.path().join("r/results.csv")).unwrap();
        assert_eq!(
            csv.lines().filter(|l| l.contains(",done,")).count(),
            4,
            "{csv}"
        );
    }

    #[test]
    fn an_interrupted_cell_is_marked_and_the_sweep_goes_on() {
        let out = tempfile::tempdir().unwrap();
        let s = sweep(&["interrupt", "b1"]);
        let r = run(&Fake::default(), out.path(), &s);
        assert_eq!(statuses(&r), [CellStatus::Interrupted, CellStatus::Done]);
        assert_eq!(
            r[0].message.as_deref(),
            Some("stopped by a stop request at epoch 2 step 7 with a checkpoint")
        );
        let dir = out.path().join("r/interrupt-adamw-s0");
        let i = outputs::read_interruption(&dir).unwrap();
        assert_eq!(
            (i.stage.as_str(), i.epoch, i.step),
            ("train", Some(2), Some(7))
        );
        let csv = std::fs::read_to_string(out.path().join("r/results.csv")).unwrap();
        assert!(
            csv.contains("\ninterrupt-adamw-s0,interrupt,adamw,0,interrupted,,,,,\n"),
            "{csv}"
        );
        let st = crate::exec::status::cell_state(out.path(), &s.cells[0]);
        assert_eq!(st.status, CellStatus::Interrupted);
        assert!(
            st.note.starts_with("by a stop request at epoch 2 step 7; "),
            "{}",
            st.note
        );
        assert_eq!(
            summary_line(&r),
            "2 cell(s): 1 done, 0 cached, 0 diverged, 0 failed, 1 interrupted"
        );
    }

    #[test]
    fn a_cell_held_elsewhere_is_named_and_stale_temps_go() {
        let out = tempfile::tempdir().unwrap();
        let s = sweep(&["b1"]);
        let dir = out.path().join("r/b1-adamw-s0");
        let held = FileLock::try_acquire(&lock::cell_lock_path(&dir))
            .unwrap()
            .unwrap();
        held.record_holder().unwrap();
        let want = format!(
            "running elsewhere (pid {}, host {})",
            std::process::id(),
            crate::process::host_name()
        );
        assert_eq!(running_elsewhere(&lock::cell_lock_path(&dir)), want);
        let st = crate::exec::status::cell_state(out.path(), &s.cells[0]);
        assert_eq!(st.status, CellStatus::Running);
        assert_eq!(format!("running {}", st.note), want);
        let fake = Fake::default();
        let runner = Runner::new(&fake, out.path());
        assert!(runner.run_cell(&s.cells[0], false).is_none(), "deferred");
        drop(held);
        // A temp file a killed writer left in the cell directory.
        std::fs::create_dir_all(dir.join("ckpt")).unwrap();
        let stale = dir.join(".metrics.csv~1@gone~abcdef.tmp");
        std::fs::write(&stale, b"half").unwrap();
        let r = runner.run_cell(&s.cells[0], false).unwrap();
        assert_eq!(r.status, CellStatus::Done);
        assert!(!stale.exists(), "a dead writer's temp file is removed");
    }

    #[test]
    fn compare_stage_is_pending_once_a_cell_directory_is_deleted() {
        let out = tempfile::tempdir().unwrap();
        let s = sweep(&["b1", "b2"]);
        write_sweep_json_locked(out.path(), &s).unwrap();
        run(&Fake::default(), out.path(), &s);
        let key = store::compare_key(&s);
        assert_eq!(store::stage_state(out.path(), &key), StageState::Cached);
        std::fs::remove_dir_all(out.path().join("r/b2-adamw-s0")).unwrap();
        assert_eq!(store::stage_state(out.path(), &key), StageState::Pending);
    }

    #[test]
    fn select_suggests_close_names() {
        let mut p = Pipeline::default();
        p.sweeps.insert("round1".into(), sweep(&["b1"]));
        let e = select(&p, Some("round2"), None).unwrap_err().to_string();
        assert!(e.contains("did you mean `round1`"), "{e}");
        let e = select(&p, None, Some("r/b2-adamw-s0"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("did you mean `r/b1-adamw-s0`"), "{e}");
    }
}

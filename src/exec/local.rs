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
use crate::train::{TrainOptions, TrainOutcome, TrainStatus};
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
    fn train(&self, cell: &Cell, data: &Self::Data, dir: &Path) -> Result<TrainOutcome, String>;
    fn predict(
        &self,
        cell: &Cell,
        data: &Self::Data,
        dir: &Path,
        split: &str,
    ) -> Result<Predictions, String>;
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
        crate::data::prepare(&cell.data, &cell.budget, cell.seed, self.opts.progress)
            .map_err(|e| diag_line(&e))
    }

    fn train(&self, cell: &Cell, data: &Self::Data, dir: &Path) -> Result<TrainOutcome, String> {
        let stop = crate::train::StopSignal {
            flag: Some(signals::stop_flag()),
            crash_after_steps: None,
        };
        match crate::train::train_cell_with(cell, data, dir, &self.opts, &stop)
            .map_err(|e| diag_line(&e))?
        {
            crate::train::RunEnd::Finished(o) => Ok(o),
            crate::train::RunEnd::Interrupted { epoch, step } => {
                eprintln!("exp: stopped at epoch {epoch}, step {step} with a checkpoint; `exp run` resumes from it");
                signals::checkpointed();
                if std::env::var_os("SLURM_JOB_ID").is_some() {
                    // Why wait here: the watcher thread requeues the task and
                    // exits the process; nothing of this run is left to write.
                    loop {
                        std::thread::sleep(std::time::Duration::from_secs(1));
                    }
                }
                std::process::exit(signals::REQUEUED_EXIT);
            }
        }
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
    /// another process returns `None` so the caller can come back later.
    pub fn run_cell(&self, cell: &Cell, wait: bool) -> Option<CellReport> {
        let dir = outputs::cell_dir(&self.out, cell);
        let lock_path = lock::cell_lock_path(&dir);
        let lock = if wait {
            match FileLock::try_acquire(&lock_path) {
                Ok(Some(l)) => Ok(l),
                Ok(None) => {
                    println!("  {}: another exp run is working on it; waiting", cell.id);
                    FileLock::acquire(&lock_path)
                }
                Err(e) => Err(e),
            }
        } else {
            match FileLock::try_acquire(&lock_path) {
                Ok(Some(l)) => Ok(l),
                Ok(None) => return None,
                Err(e) => Err(e),
            }
        };
        let _lock = match lock {
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
        Some(self.run_locked(cell, &dir))
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
        let io_fail = |what: &str, e: std::io::Error| {
            self.fail(cell, dir, "outputs", &format!("{what}: {e}"))
        };
        if let Err(e) = outputs::write_config_json(dir, cell) {
            return io_fail("config.json", e);
        }
        let _ = std::fs::remove_file(dir.join("failed.json"));

        let data = match catch_unwind(AssertUnwindSafe(|| self.data(cell))) {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => return self.fail(cell, dir, "prepare", &e),
            Err(p) => return self.fail(cell, dir, "prepare", &panic_text(&*p)),
        };
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
                dk = store::DirKeys {
                    train: Some(keys.train_finetune.clone()),
                    score: None,
                };
                if let Err(e) = store::write_dir_keys(dir, &dk) {
                    return io_fail("stage keys", e);
                }
            }
            let o = match catch_unwind(AssertUnwindSafe(|| self.exec.train(cell, &data, dir))) {
                Ok(Ok(o)) => o,
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
        let scores = match catch_unwind(AssertUnwindSafe(|| {
            outputs::compute_scores(cell, status, best_epoch, diverged.clone(), preds.as_ref())
        })) {
            Ok(s) => s,
            Err(p) => return self.fail(cell, dir, "score", &panic_text(&*p)),
        };
        let pred_path = dir.join("predictions.csv");
        let probs_path = dir.join(crate::score::predictions::PROBS_FILE);
        let written = match &preds {
            Some(p) => outputs::probs_file(p)
                .and_then(|b| atomic::write_atomic(&probs_path, &b))
                .and_then(|_| {
                    atomic::write_atomic(&pred_path, outputs::predictions_csv(p).as_bytes())
                }),
            None => std::fs::remove_file(&pred_path)
                .or(Ok(()))
                .and_then(|_| std::fs::remove_file(&probs_path).or(Ok(()))),
        };
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
        let message = diverged.map(|d| {
            format!(
                "diverged at epoch {} step {}: {}",
                d.epoch, d.step, d.reason
            )
        });
        CellReport {
            cell: cell.id.clone(),
            status,
            top1: scores.top1,
            message,
        }
    }

    /// Run `cells` one after another; cells locked by another process are
    /// deferred to the end, then waited for.
    pub fn run_all(
        &self,
        cells: &[&Cell],
        mut on_done: impl FnMut(&CellReport),
    ) -> Vec<CellReport> {
        let mut reports = Vec::new();
        let mut deferred = Vec::new();
        for cell in cells {
            if !self.is_cached(cell) {
                println!("  {}: running", cell.id);
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
            if let Some(r) = self.run_cell(cell, true) {
                on_done(&r);
                reports.push(r);
            }
        }
        reports
    }
}

/// Rebuild `results.csv` of a sweep (under the sweep lock) and write the
/// report. Returns the report's terminal table when the report was written.
pub fn finalize_sweep(out: &Path, sweep: &SweepSpec) -> Result<Option<String>, ExecError> {
    let sdir = outputs::sweep_dir(out, &sweep.name);
    let lock_path = sdir.join(".lock");
    let _lock = FileLock::acquire(&lock_path).map_err(ExecError::io(&lock_path))?;
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
                serde_json::Value::Null,
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
    for s in [CellStatus::EarlyStopped, CellStatus::TimeLimit] {
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

fn print_report_line(r: &CellReport, secs: f64) {
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
    let queue: Mutex<VecDeque<&Cell>> = Mutex::new(cells.iter().copied().collect());
    let reports: Mutex<Vec<CellReport>> = Mutex::new(Vec::new());
    let first_error: Mutex<Option<ExecError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for dev in devices {
            s.spawn(|| loop {
                let Some(cell) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front() else {
                    return;
                };
                let dir = outputs::cell_dir(out, cell);
                let started = Instant::now();
                let report = match spawn_child(&exe, a, out, cell, dev, workers, &dir) {
                    Ok(code) => child_report(out, cell, &dir, code),
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

fn spawn_child(
    exe: &Path,
    a: &crate::cli::RunArgs,
    out: &Path,
    cell: &Cell,
    device: &str,
    workers: usize,
    dir: &Path,
) -> Result<Option<i32>, ExecError> {
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
        .arg(workers.to_string());
    if a.deterministic {
        cmd.arg("--deterministic");
    }
    for s in &a.sets {
        cmd.arg("--set").arg(s);
    }
    cmd.env(CHILD_ENV, "1")
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log2);
    let status = cmd.status().map_err(|source| ExecError::Spawn {
        cell: cell.id.clone(),
        source,
    })?;
    Ok(status.code())
}

/// A child's result, read back from the files it wrote.
fn child_report(out: &Path, cell: &Cell, dir: &Path, code: Option<i32>) -> CellReport {
    let keys = store::cell_stages(cell);
    if store::stage_state(out, &keys.score) == StageState::Cached {
        if let Some(s) = outputs::read_scores(dir) {
            let message = s.diverged.as_ref().map(|d| {
                format!(
                    "diverged at epoch {} step {}: {}",
                    d.epoch, d.step, d.reason
                )
            });
            return CellReport {
                cell: cell.id.clone(),
                status: s.status,
                top1: s.top1,
                message,
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
    if a.cell.is_some() {
        signals::install_requeue_on_usr1().map_err(ExecError::io("SIGUSR1 handler"))?;
    }
    for s in &sweeps {
        let p = outputs::sweep_dir(&a.out, &s.name).join("sweep.json");
        outputs::write_sweep_json(&a.out, s).map_err(ExecError::io(p))?;
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
                let top1 = outputs::read_scores(&outputs::cell_dir(&a.out, c)).and_then(|s| s.top1);
                let r = CellReport {
                    cell: c.id.clone(),
                    status: CellStatus::Cached,
                    top1,
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
        println!("{}", summary_line(&reports));
    }
    let failed = reports.iter().any(|r| r.status == CellStatus::Failed);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
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
        fn train(&self, cell: &Cell, _: &(), dir: &Path) -> Result<TrainOutcome, String> {
            self.trained.lock().unwrap().push(cell.id.clone());
            match cell.backbone.name.as_str() {
                "broken" => Err("out of memory".into()),
                "diverge" => Ok(TrainOutcome {
                    status: TrainStatus::Diverged {
                        epoch: 0,
                        step: 3,
                        reason: "loss is NaN".into(),
                    },
                    best_epoch: 0,
                    best_val_loss: f64::NAN,
                    best_val_top1: 0.0,
                }),
                _ => {
                    atomic::write_atomic(&dir.join("best.safetensors"), cell.id.as_bytes())
                        .unwrap();
                    Ok(TrainOutcome {
                        status: TrainStatus::Done,
                        best_epoch: 1,
                        best_val_loss: 0.5,
                        best_val_top1: 0.7,
                    })
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
                "cell,backbone,recipe,seed,status,top1,top3,auc,verdict\nb1-adamw-s0,b1,adamw,0,done,"
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
        let s = sweep(&["diverge", "broken", "b1"]);
        let r = run(&Fake::default(), out.path(), &s);
        assert_eq!(
            statuses(&r),
            [CellStatus::Diverged, CellStatus::Failed, CellStatus::Done]
        );
        assert!(r[0]
            .message
            .as_deref()
            .unwrap()
            .contains("epoch 0 step 3: loss is NaN"));
        assert!(r[1].message.as_deref().unwrap().contains("out of memory"));
        let csv = std::fs::read_to_string(out.path().join("r/results.csv")).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[1], "diverge-adamw-s0,diverge,adamw,0,diverged,,,");
        assert_eq!(lines[2], "broken-adamw-s0,broken,adamw,0,failed,,,");
        let sc = outputs::read_scores(&out.path().join("r/diverge-adamw-s0")).unwrap();
        assert_eq!(sc.diverged.unwrap().step, 3);
        assert_eq!(
            summary_line(&r),
            "3 cell(s): 1 done, 0 cached, 1 diverged, 1 failed"
        );
        // A rerun retries only the failed cell: the diverged one is a result.
        let fake = Fake::default();
        let r = run(&fake, out.path(), &s);
        assert_eq!(
            statuses(&r),
            [CellStatus::Cached, CellStatus::Failed, CellStatus::Cached]
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

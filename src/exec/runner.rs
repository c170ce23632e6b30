//! Running cells in this process: skip what the stage store already holds,
//! hold each cell's lock, train and score through a [`CellExecutor`], write
//! the per-cell and per-sweep outputs and the summary line.

use super::executor::{prepared_data_key, CellExecutor};
use crate::exec::lock::{self, FileLock};
use crate::exec::outputs::{self, Divergence};
use crate::exec::store::{self, StageState};
use crate::exec::{atomic, signals, CellStatus, ExecError};
use crate::spec::{Cell, SweepSpec};
use crate::train::{RunEnd, TrainOutcome, TrainStatus};
use std::collections::{BTreeMap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
pub(crate) fn tidy_cell_dir(dir: &Path) {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::exec::outputs::Predictions;
    use crate::exec::run::select;
    use crate::exec::store::testing::sample_cell;
    use crate::spec::Pipeline;

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

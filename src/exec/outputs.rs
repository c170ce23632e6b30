//! The files a run leaves behind (besides the trainer's `metrics.csv`,
//! `best.safetensors` and `ckpt/`): `sweep.json`, per cell `config.json`,
//! `scores.json`, `predictions.csv` + `probs.safetensors`, `failed.json`,
//! `data.json` (images used per split) and `skipped.csv` (images skipped as
//! unreadable), and per sweep `results.csv`.
//!
//! Why fixed float formats: `results.csv` and `predictions.csv` must compare
//! byte for byte between two runs; printing with a fixed number of digits
//! keeps the bytes a function of the values alone. `results.csv` is rebuilt
//! from the cells' `scores.json` files every time, so it is the same whether
//! the cells ran in one process, in parallel children or as Slurm tasks.

use crate::exec::atomic;
use crate::exec::CellStatus;
use crate::spec::{Cell, Metric, SweepSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// Probabilities of one split, in the data module's split order.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    pub ids: Vec<String>,
    pub labels: Vec<i64>,
    /// Row-major `N × C`.
    pub probs: Vec<f32>,
    pub classes: Vec<String>,
}

/// Where a diverged cell stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Divergence {
    pub epoch: u32,
    pub step: u64,
    pub reason: String,
}

/// Why a cell that trained to the end is `unstable` (see `train::instability`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instability {
    /// 1-based epoch of the first tripped check.
    pub epoch: u32,
    pub reason: String,
}

/// `scores.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub cell: String,
    pub status: CellStatus,
    pub split: String,
    pub n: usize,
    pub classes: Vec<String>,
    pub top1: Option<f64>,
    pub top3: Option<f64>,
    pub auc: Option<f64>,
    /// Every top-k of the score spec (k ≥ 2), by k.
    pub topk: BTreeMap<String, f64>,
    pub per_class_accuracy: Vec<Option<f64>>,
    pub confusion: Vec<Vec<u64>>,
    pub best_epoch: Option<u32>,
    pub diverged: Option<Divergence>,
    /// Absent in files of older versions.
    #[serde(default)]
    pub unstable: Option<Instability>,
    pub exp_version: String,
}

impl Scores {
    /// Why the cell is `diverged` or `unstable`, with the epoch: the
    /// `reason` column of `results.csv` and the note of `exp status`.
    pub fn reason(&self) -> Option<String> {
        match (&self.diverged, &self.unstable) {
            (Some(d), _) => Some(format!("epoch {} step {}: {}", d.epoch, d.step, d.reason)),
            (None, Some(u)) => Some(u.reason.clone()),
            (None, None) => None,
        }
    }

    /// The line `exp run` prints under a diverged or unstable cell.
    pub fn run_message(&self) -> Option<String> {
        let kind = if self.diverged.is_some() {
            "diverged at"
        } else {
            "unstable from"
        };
        self.reason().map(|r| format!("{kind} {r}"))
    }
}

/// `failed.json`: why a cell failed (removed when the cell runs again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub cell: String,
    pub stage: String,
    pub error: String,
    pub exp_version: String,
}

/// `interrupted.json`: a signal stopped the cell (removed when it runs again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interruption {
    pub cell: String,
    /// `SIGINT`, `SIGTERM` or `SIGUSR1`.
    pub signal: String,
    /// The stage it stopped in or before (prepare, train, score).
    pub stage: String,
    /// Where training stopped with a checkpoint (1-based epoch, global step).
    pub epoch: Option<u32>,
    pub step: Option<u64>,
    pub exp_version: String,
}

impl Interruption {
    /// "by SIGINT at epoch 2 step 14" / "by SIGTERM before score".
    pub fn describe(&self) -> String {
        match (self.epoch, self.step) {
            (Some(e), Some(s)) => format!("by {} at epoch {e} step {s}", self.signal),
            _ => format!("by {} before {}", self.signal, self.stage),
        }
    }

    /// "stopped by SIGINT at epoch 2 step 14 with a checkpoint": the note of
    /// the live line.
    pub fn stopped(&self) -> String {
        let with = if self.epoch.is_some() {
            " with a checkpoint"
        } else {
            ""
        };
        format!("stopped {}{with}", self.describe())
    }
}

pub fn write_interruption(dir: &Path, i: &Interruption) -> io::Result<()> {
    atomic::write_json(&dir.join("interrupted.json"), i)
}

pub fn read_interruption(dir: &Path) -> Option<Interruption> {
    serde_json::from_slice(&std::fs::read(dir.join("interrupted.json")).ok()?).ok()
}

/// `data.json`: the images each split of a cell used, and the images
/// skipped as unreadable under `on_bad_image = skip` (also in `skipped.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataUse {
    /// Split → images used (after subsetting).
    pub images: BTreeMap<String, usize>,
    /// (image path, why) of every skipped image.
    pub skipped: Vec<(String, String)>,
}

/// Write `data.json`, and `skipped.csv` (`path,reason`) when images were
/// skipped (removed otherwise, so it never describes another run).
pub fn write_data_use(dir: &Path, u: &DataUse) -> io::Result<()> {
    atomic::write_json(&dir.join("data.json"), u)?;
    let skipped = dir.join("skipped.csv");
    if u.skipped.is_empty() {
        return match std::fs::remove_file(&skipped) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let mut text = String::from("path,reason\n");
    for (p, why) in &u.skipped {
        let _ = writeln!(text, "{},{}", csv_field(p), csv_field(why));
    }
    atomic::write_atomic(&skipped, text.as_bytes())
}

pub use exp_lang::plan::store::{cell_dir, sweep_dir};

/// `DIR/<sweep>/sweep.json`.
pub fn write_sweep_json(out_dir: &Path, sweep: &SweepSpec) -> io::Result<()> {
    let cells: Vec<&str> = sweep.cells.iter().map(Cell::short_id).collect();
    atomic::write_json(
        &sweep_dir(out_dir, &sweep.name).join("sweep.json"),
        &serde_json::json!({
            "sweep": sweep.name, "axes": sweep.axes, "baseline": sweep.baseline,
            "cells": cells, "compare": sweep.compare, "exp_version": crate::VERSION,
        }),
    )
}

/// `config.json`: the resolved cell, the weights it loads (for a Hugging
/// Face entry the snapshot commit, see `models::weights::weights_record`) and
/// the exp version that ran it.
pub fn write_config_json(dir: &Path, cell: &Cell) -> io::Result<()> {
    let weights = cell
        .backbone
        .pretrained
        .as_ref()
        .map(crate::models::weights::weights_record);
    atomic::write_json(
        &dir.join("config.json"),
        &serde_json::json!({ "cell": cell, "weights": weights, "exp_version": crate::VERSION }),
    )
}

pub fn write_failure(dir: &Path, cell: &Cell, stage: &str, error: &str) -> io::Result<()> {
    let f = Failure {
        cell: cell.id.clone(),
        stage: stage.into(),
        error: error.into(),
        exp_version: crate::VERSION.into(),
    };
    atomic::write_json(&dir.join("failed.json"), &f)
}

pub fn read_failure(dir: &Path) -> Option<Failure> {
    serde_json::from_slice(&std::fs::read(dir.join("failed.json")).ok()?).ok()
}

pub fn read_scores(dir: &Path) -> Option<Scores> {
    serde_json::from_slice(&std::fs::read(dir.join("scores.json")).ok()?).ok()
}

/// Metrics of `preds` for `cell`'s score spec. `preds == None` (a cell that
/// diverged before any checkpoint) gives empty metrics.
pub fn compute_scores(
    cell: &Cell,
    status: CellStatus,
    best_epoch: Option<u32>,
    diverged: Option<Divergence>,
    preds: Option<&Predictions>,
) -> Scores {
    use crate::score::metrics;
    let mut s = Scores {
        cell: cell.id.clone(),
        status,
        split: cell.score.split.clone(),
        n: 0,
        classes: vec![],
        top1: None,
        top3: None,
        auc: None,
        topk: BTreeMap::new(),
        per_class_accuracy: vec![],
        confusion: vec![],
        best_epoch,
        diverged,
        unstable: None,
        exp_version: crate::VERSION.into(),
    };
    let Some(p) = preds else { return s };
    let c = p.classes.len();
    s.n = p.labels.len();
    s.classes = p.classes.clone();
    if s.n == 0 || c == 0 {
        return s;
    }
    s.top1 = Some(metrics::top_k(&p.probs, &p.labels, c, 1));
    s.top3 = Some(metrics::top_k(&p.probs, &p.labels, c, 3));
    s.auc = Some(metrics::macro_auc(&p.probs, &p.labels, c));
    for m in &cell.score.metrics {
        if let Metric::TopK(k) = m {
            s.topk.insert(
                k.to_string(),
                metrics::top_k(&p.probs, &p.labels, c, *k as usize),
            );
        }
    }
    s.per_class_accuracy = metrics::per_class_accuracy(&p.probs, &p.labels, c);
    s.confusion = metrics::confusion(&p.probs, &p.labels, c);
    s
}

/// A float with a fixed number of digits (non-finite values spelled out).
pub fn fmt_f(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else if x.is_nan() {
        "nan".into()
    } else if x > 0.0 {
        "inf".into()
    } else {
        "-inf".into()
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `predictions.csv`: `id,label,pred`; `pred` is the arg-max (lowest index
/// on ties). The probabilities go to `probs.safetensors` ([`probs_file`]).
pub fn predictions_csv(p: &Predictions) -> String {
    let c = p.classes.len().max(1);
    let mut out = String::from("id,label,pred\n");
    for (i, id) in p.ids.iter().enumerate() {
        let pred = p
            .probs
            .get(i * c..(i + 1) * c)
            .map_or(0, crate::score::metrics::argmax);
        let label = p.labels.get(i).copied().unwrap_or(-1);
        let _ = writeln!(out, "{},{label},{pred}", csv_field(id));
    }
    out
}

/// `probs.safetensors`: the probabilities, f32 `[N, C]`, bit for bit
/// (`crate::score::predictions`).
pub fn probs_file(p: &Predictions) -> io::Result<Vec<u8>> {
    crate::score::predictions::encode(&p.probs, p.ids.len(), p.classes.len())
        .map_err(io::Error::other)
}

/// Write a cell's predictions into `dir`: `probs.safetensors` (the numbers
/// every score is computed from) first, then `predictions.csv`; with no
/// predictions, remove both so they never describe another run.
pub fn write_predictions(dir: &Path, preds: Option<&Predictions>) -> io::Result<()> {
    let pred_path = dir.join("predictions.csv");
    let probs_path = dir.join(crate::score::predictions::PROBS_FILE);
    match preds {
        Some(p) => {
            atomic::write_atomic(&probs_path, &probs_file(p)?)?;
            atomic::write_atomic(&pred_path, predictions_csv(p).as_bytes())
        }
        None => {
            for path in [&pred_path, &probs_path] {
                match std::fs::remove_file(path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            Ok(())
        }
    }
}

/// `results.csv` with a last column `verdict`: each cell's configuration-level
/// top-1 verdict against the baseline configuration (from the report, by
/// cell directory name; empty until the report is written).
pub fn with_verdicts(csv: &str, sweep: &SweepSpec, verdicts: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(csv.len() + 16 * (sweep.cells.len() + 1));
    for (i, line) in csv.lines().enumerate() {
        out.push_str(line);
        if i == 0 {
            out.push_str(",verdict");
        } else if let Some(c) = sweep.cells.get(i - 1) {
            out.push(',');
            out.push_str(&csv_field(
                verdicts.get(c.short_id()).map_or("", String::as_str),
            ));
        }
        out.push('\n');
    }
    out
}

/// The state of a cell as read back from its directory, for `results.csv`.
fn cell_row_status(dir: &Path) -> (String, Option<Scores>) {
    if let Some(s) = read_scores(dir) {
        return (s.status.as_str().to_string(), Some(s));
    }
    if read_failure(dir).is_some() {
        return (CellStatus::Failed.as_str().into(), None);
    }
    if read_interruption(dir).is_some() {
        return (CellStatus::Interrupted.as_str().into(), None);
    }
    (CellStatus::Pending.as_str().into(), None)
}

/// `results.csv` of a sweep, rebuilt from its cells' files: one row per cell
/// in declaration order; columns `cell,backbone,recipe,seed,status,reason,top1,top3,auc`
/// then the other axes in declaration order, then `top<k>` of the score spec
/// beyond top-3. `reason`: why a cell is `diverged` or `unstable`, with the
/// epoch (`Scores::reason`). Metrics with 6 decimals, empty when absent.
pub fn results_csv(out_dir: &Path, sweep: &SweepSpec) -> String {
    let fixed = ["backbone", "recipe", "seed"];
    let extra_axes: Vec<&String> = sweep
        .axes
        .iter()
        .filter(|a| !fixed.contains(&a.as_str()))
        .collect();
    let mut ks: Vec<u32> = sweep
        .cells
        .iter()
        .flat_map(|c| c.score.metrics.iter())
        .filter_map(|m| match m {
            Metric::TopK(k) if *k != 3 => Some(*k),
            _ => None,
        })
        .collect();
    ks.sort_unstable();
    ks.dedup();
    let mut out = String::from("cell,backbone,recipe,seed,status,reason,top1,top3,auc");
    for a in &extra_axes {
        let _ = write!(out, ",{}", csv_field(a));
    }
    for k in &ks {
        let _ = write!(out, ",top{k}");
    }
    out.push('\n');
    let opt = |x: Option<f64>| x.map(|v| fmt_f(v, 6)).unwrap_or_default();
    for cell in &sweep.cells {
        let (status, scores) = cell_row_status(&cell_dir(out_dir, cell));
        let sc = scores.as_ref();
        let _ = write!(
            out,
            "{},{},{},{},{status},{},{},{},{}",
            csv_field(cell.short_id()),
            csv_field(&cell.backbone.name),
            csv_field(&cell.recipe.name),
            cell.seed,
            csv_field(&sc.and_then(Scores::reason).unwrap_or_default()),
            opt(sc.and_then(|s| s.top1)),
            opt(sc.and_then(|s| s.top3)),
            opt(sc.and_then(|s| s.auc)),
        );
        for a in &extra_axes {
            let _ = write!(
                out,
                ",{}",
                csv_field(cell.axis_values.get(*a).map_or("", String::as_str))
            );
        }
        for k in &ks {
            let _ = write!(
                out,
                ",{}",
                opt(sc.and_then(|s| s.topk.get(&k.to_string()).copied()))
            );
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::exec::store::testing::sample_cell;

    #[test]
    fn predictions_csv_has_fixed_format_and_argmax() {
        let p = Predictions {
            ids: vec!["a.png".into(), "b,c.png".into()],
            labels: vec![1, 0],
            probs: vec![0.2, 0.7, 0.1, 0.5, 0.5, 0.0],
            classes: vec!["x".into(), "y".into(), "z".into()],
        };
        assert_eq!(
            predictions_csv(&p),
            "id,label,pred\na.png,1,1\n\"b,c.png\",0,0\n"
        );
        let (probs, c) = crate::score::predictions::decode(&probs_file(&p).unwrap()).unwrap();
        assert_eq!((probs, c), (p.probs.clone(), 3));
    }

    #[test]
    fn results_csv_reads_cells_and_orders_columns() {
        let out = tempfile::tempdir().unwrap();
        let mut a = sample_cell("r", "b1", "adamw", 0);
        let mut b = sample_cell("r", "b2", "adamw", 0);
        for c in [&mut a, &mut b] {
            c.axis_values.insert("lr".into(), "hi".into());
            c.score.metrics.push(Metric::TopK(5));
        }
        let sweep = SweepSpec {
            name: "r".into(),
            axes: vec!["backbone".into(), "lr".into()],
            cells: vec![a.clone(), b.clone()],
            baseline: None,
            compare: vec![],
        };
        let mut s = compute_scores(&a, CellStatus::Done, Some(2), None, None);
        s.top1 = Some(0.5);
        s.top3 = Some(1.0);
        s.auc = Some(2.0 / 3.0);
        s.topk.insert("5".into(), 1.0);
        atomic::write_json(&cell_dir(out.path(), &a).join("scores.json"), &s).unwrap();
        write_failure(&cell_dir(out.path(), &b), &b, "train", "boom").unwrap();
        assert_eq!(
            results_csv(out.path(), &sweep),
            "cell,backbone,recipe,seed,status,reason,top1,top3,auc,lr,top5\n\
             b1-adamw-s0,b1,adamw,0,done,,0.500000,1.000000,0.666667,hi,1.000000\n\
             b2-adamw-s0,b2,adamw,0,failed,,,,,hi,\n"
        );
        let v = BTreeMap::from([("b1-adamw-s0".to_string(), "baseline".to_string())]);
        assert_eq!(
            with_verdicts(&results_csv(out.path(), &sweep), &sweep, &v)
                .lines()
                .map(|l| l.rsplit(',').next().unwrap_or(""))
                .collect::<Vec<_>>(),
            ["verdict", "baseline", ""]
        );
    }
}

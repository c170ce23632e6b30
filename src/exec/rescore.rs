//! `exp score DIR [--split NAME] [--data FILE.exp:NAME]`: score the best
//! checkpoint of a trained cell (or of every cell of a sweep directory) on
//! another split or another data declaration, as the report's
//! `test_split_eval.py --model-dir` does. docs/running.md describes it.
//!
//! Nothing of the run is changed: the scores go to a `scores/<data>.<split>/`
//! directory beside them — inside the cell directory for a cell, inside the
//! sweep directory for a sweep, where it is a sweep directory of its own
//! (`sweep.json`, `results.csv`, the report and one directory per cell), so
//! `exp report` reads it like any other. Predictions and metrics come from
//! the same functions `exp run` uses ([`Libtorch::predict`],
//! [`outputs::compute_scores`], [`outputs::predictions_csv`]).

use crate::exec::executor::{CellExecutor, Libtorch};
use crate::exec::outputs::{self, Scores};
use crate::exec::runner::CellReport;
use crate::exec::{atomic, device, suggest, CellStatus, ExecError};
use crate::spec::{Cell, DataSpec, SweepSpec};
use crate::train::TrainOptions;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Name of the directory (in a cell or sweep directory) holding re-scores.
pub const SCORES_DIR: &str = "scores";

/// `--data FILE.exp:NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRef {
    pub file: PathBuf,
    pub name: String,
}

impl DataRef {
    pub fn parse(s: &str) -> Result<DataRef, ExecError> {
        match s.rsplit_once(':') {
            Some((file, name)) if !file.is_empty() && !name.is_empty() => Ok(DataRef {
                file: PathBuf::from(file),
                name: name.to_string(),
            }),
            _ => Err(ExecError::BadDataRef { spec: s.into() }),
        }
    }
}

/// What to score: the data declaration (when not the cell's own) and split.
#[derive(Debug, Clone)]
pub struct ScoreTarget {
    /// Another data declaration (`--data`); `None` scores the cell's own data.
    pub data: Option<DataSpec>,
    /// `None` takes each cell's score split.
    pub split: Option<String>,
}

/// Directory name of one target: `<data>.<split>`, characters other than
/// letters, digits, `_`, `-` and `.` replaced by `_`.
pub fn target_tag(data: &str, split: &str) -> String {
    format!("{data}.{split}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The resolved cell a run saved in `dir/config.json`.
pub fn read_cell(dir: &Path) -> Result<Cell, ExecError> {
    let path = dir.join("config.json");
    let bytes = std::fs::read(&path).map_err(ExecError::io(&path))?;
    #[derive(serde::Deserialize)]
    struct Config {
        cell: Cell,
    }
    serde_json::from_slice::<Config>(&bytes)
        .map(|c| c.cell)
        .map_err(|e| ExecError::BadRunFile {
            path,
            reason: e.to_string(),
        })
}

/// One cell scored on a target.
#[derive(Debug, Clone)]
pub struct ScoredCell {
    pub report: CellReport,
    pub scores: Option<Scores>,
    /// Wall time of preparing and scoring, seconds.
    pub secs: f64,
}

/// Scores the cells of one `exp score` call, sharing prepared data.
pub struct Rescorer {
    pub exec: Libtorch,
    pub target: ScoreTarget,
    prepared: HashMap<String, crate::data::PreparedData>,
}

impl Rescorer {
    pub fn new(opts: TrainOptions, target: ScoreTarget) -> Self {
        Rescorer {
            exec: Libtorch { opts },
            target,
            prepared: HashMap::new(),
        }
    }

    /// The split and data of `cell` under this target, and the output tag.
    fn resolve(&self, cell: &Cell) -> (DataSpec, String, String) {
        let split = self
            .target
            .split
            .clone()
            .unwrap_or_else(|| cell.score.split.clone());
        let data = match &self.target.data {
            None => cell.data.clone(),
            Some(d) => {
                let mut d = d.clone();
                // Why the model's size: the network was built for it; the
                // other data's own crop size would not fit a ViT's patches.
                d.image_size = cell.data.image_size;
                d.cache_size = d.cache_size.max(d.image_size);
                d
            }
        };
        let tag = target_tag(&data.name, &split);
        (data, split, tag)
    }

    /// Prepared data (every split whole: the budget's sample caps are for
    /// training) for `cell` on `spec`, the metadata encoded as in training.
    fn prepare(&mut self, cell: &Cell, spec: &DataSpec) -> Result<String, String> {
        let own = self.target.data.is_none();
        let key = serde_json::json!({ "data": spec, "trained_on": (!own).then_some(&cell.data) })
            .to_string();
        if self.prepared.contains_key(&key) {
            return Ok(key);
        }
        let mut budget = cell.budget.clone();
        budget.train_samples = None;
        budget.val_samples = None;
        let progress = self.exec.opts.progress;
        let data = if own {
            crate::data::prepare(spec, &budget, cell.seed, progress).map_err(|e| e.to_string())?
        } else {
            if spec.metadata != cell.data.metadata {
                return Err(format!(
                    "data `{}` has metadata columns [{}], the model was trained with [{}]",
                    spec.name,
                    spec.metadata.join(", "),
                    cell.data.metadata.join(", ")
                ));
            }
            let trained = crate::data::prepare(&cell.data, &budget, cell.seed, progress)
                .map_err(|e| {
                    format!(
                        "the cell's own data `{}` is needed for its classes and metadata encoding: {e}",
                        cell.data.name
                    )
                })?;
            let data = crate::data::prepare_with_encoding(
                spec,
                &budget,
                cell.seed,
                progress,
                Some(&trained.metadata_encoding),
            )
            .map_err(|e| e.to_string())?;
            if data.classes != trained.classes {
                return Err(format!(
                    "data `{}` has classes [{}], the model was trained on [{}] (same names in the same order are needed)",
                    spec.name,
                    data.classes.join(", "),
                    trained.classes.join(", ")
                ));
            }
            data
        };
        self.prepared.insert(key.clone(), data);
        Ok(key)
    }

    /// Score the cell in `cell_dir`, writing `scores.json` and
    /// `predictions.csv` to `out`.
    pub fn score_cell(&mut self, cell_dir: &Path, out: &Path) -> ScoredCell {
        let id = cell_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let started = std::time::Instant::now();
        let failed = |id: String, message: String| ScoredCell {
            report: CellReport {
                cell: id,
                status: CellStatus::Failed,
                top1: None,
                message: Some(message),
            },
            scores: None,
            secs: started.elapsed().as_secs_f64(),
        };
        let cell = match read_cell(cell_dir) {
            Ok(c) => c,
            Err(e) => return failed(id, e.to_string()),
        };
        let Some(original) = outputs::read_scores(cell_dir) else {
            return failed(
                cell.id,
                "the cell has no scores.json: it has not finished (`exp run` it first)".into(),
            );
        };
        if !cell_dir.join("best.safetensors").exists() {
            return failed(
                cell.id,
                "no best.safetensors: the cell ended before its first validated epoch".into(),
            );
        }
        let (spec, split, _) = self.resolve(&cell);
        let key = match self.prepare(&cell, &spec) {
            Ok(k) => k,
            Err(e) => return failed(cell.id, format!("prepare: {e}")),
        };
        let Some(data) = self.prepared.get(&key) else {
            return failed(cell.id, "prepared data went missing".into());
        };
        let mut scored = cell.clone();
        scored.score.split = split.clone();
        let preds = match self.exec.predict(&scored, data, cell_dir, &split) {
            Ok(p) => p,
            Err(e) => return failed(cell.id, format!("score: {e}")),
        };
        let mut scores = outputs::compute_scores(
            &scored,
            original.status,
            original.best_epoch,
            original.diverged.clone(),
            Some(&preds),
        );
        // The training history is the original run's, instability included.
        scores.unstable = original.unstable.clone();
        let written = outputs::write_predictions(out, Some(&preds))
            .and_then(|_| atomic::write_json(&out.join("scores.json"), &scores))
            .and_then(|_| {
                atomic::write_json(
                    &out.join("scored.json"),
                    &serde_json::json!({
                        "cell": cell.id, "data": spec.name, "split": split,
                        "checkpoint": cell_dir.join("best.safetensors"),
                        "exp_version": crate::VERSION,
                    }),
                )
            });
        if let Err(e) = written {
            return failed(cell.id, format!("writing {}: {e}", out.display()));
        }
        ScoredCell {
            report: CellReport {
                cell: cell.id,
                status: original.status,
                top1: scores.top1,
                message: None,
            },
            scores: Some(scores),
            secs: started.elapsed().as_secs_f64(),
        }
    }
}

/// What `exp score` did.
#[derive(Debug)]
pub struct ScoreOutcome {
    /// Where the scores went.
    pub out: PathBuf,
    pub cells: Vec<ScoredCell>,
    /// The report's terminal table (sweep directories whose cells all scored).
    pub table: Option<String>,
}

/// Copy `name` from `from` to `to` when it exists.
fn copy_if_present(from: &Path, to: &Path, name: &str) -> Result<(), ExecError> {
    let src = from.join(name);
    match std::fs::read(&src) {
        Ok(bytes) => atomic::write_atomic(&to.join(name), &bytes).map_err(ExecError::io(to)),
        Err(_) => Ok(()),
    }
}

/// Score a cell directory or every cell of a sweep directory on `target`.
pub fn rescore(dir: &Path, rescorer: &mut Rescorer) -> Result<ScoreOutcome, ExecError> {
    if dir.join("sweep.json").is_file() {
        return rescore_sweep(dir, rescorer);
    }
    if !dir.join("config.json").is_file() {
        return Err(ExecError::NotARunDir {
            path: dir.to_path_buf(),
        });
    }
    let cell = read_cell(dir)?;
    let (_, _, tag) = rescorer.resolve(&cell);
    let out = dir.join(SCORES_DIR).join(tag);
    let scored = rescorer.score_cell(dir, &out);
    Ok(ScoreOutcome {
        out,
        cells: vec![scored],
        table: None,
    })
}

fn rescore_sweep(dir: &Path, rescorer: &mut Rescorer) -> Result<ScoreOutcome, ExecError> {
    let sweep_path = dir.join("sweep.json");
    let sweep: crate::report::load::SweepFile =
        serde_json::from_slice(&std::fs::read(&sweep_path).map_err(ExecError::io(&sweep_path))?)
            .map_err(|e| ExecError::BadRunFile {
                path: sweep_path.clone(),
                reason: e.to_string(),
            })?;
    // Cells never run have no config.json: they are listed, not scored.
    let specs: Vec<Option<Cell>> = sweep
        .cells
        .iter()
        .map(|short| read_cell(&dir.join(short)).ok())
        .collect();
    let tag = sweep_tag(rescorer, specs.iter().flatten());
    let scores_root = dir.join(SCORES_DIR);
    let out = scores_root.join(&tag);
    copy_if_present(dir, &out, "sweep.json")?;
    let mut cells = Vec::new();
    for (short, cell) in sweep.cells.iter().zip(&specs) {
        let cell_dir = dir.join(short);
        let cell_out = out.join(short);
        for f in ["config.json", "metrics.csv"] {
            copy_if_present(&cell_dir, &cell_out, f)?;
        }
        let scored = rescorer.score_cell(&cell_dir, &cell_out);
        match (&scored.scores, cell, &scored.report.message) {
            (None, Some(cell), Some(m)) => outputs::write_failure(&cell_out, cell, "score", m)
                .map_err(ExecError::io(&cell_out))?,
            _ => {
                let _ = std::fs::remove_file(cell_out.join("failed.json"));
            }
        }
        cells.push(scored);
    }
    // results.csv: the run's own builder, pointed at the copy (cells of a
    // sweep named after the tag live in `scores/<tag>/`).
    let renamed = SweepSpec {
        name: tag.clone(),
        axes: sweep.axes.clone(),
        cells: specs
            .into_iter()
            .flatten()
            .map(|mut c| {
                c.sweep = tag.clone();
                c
            })
            .collect(),
        baseline: sweep.baseline.clone(),
        compare: sweep.compare.clone(),
    };
    let csv = out.join("results.csv");
    atomic::write_atomic(
        &csv,
        outputs::results_csv(&scores_root, &renamed).as_bytes(),
    )
    .map_err(ExecError::io(&csv))?;
    let table = if cells.iter().all(|c| c.scores.is_some()) {
        match crate::report::write_report(&out) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("warning: report of {} not written: {e}", out.display());
                None
            }
        }
    } else {
        None
    };
    Ok(ScoreOutcome { out, cells, table })
}

/// The directory name of a sweep's re-score: the target's data and split,
/// or the cells' own when they all share one (else `data` / `score`).
fn sweep_tag<'a>(rescorer: &Rescorer, cells: impl Iterator<Item = &'a Cell>) -> String {
    let mut datas = std::collections::BTreeSet::new();
    let mut splits = std::collections::BTreeSet::new();
    for c in cells {
        let (d, s, _) = rescorer.resolve(c);
        datas.insert(d.name);
        splits.insert(s);
    }
    let one = |set: std::collections::BTreeSet<String>, many: &str| {
        if set.len() == 1 {
            set.into_iter().next().unwrap_or_default()
        } else {
            many.to_string()
        }
    };
    target_tag(&one(datas, "data"), &one(splits, "score"))
}

/// The data declaration `r` names, from its file.
fn load_data(r: &DataRef) -> Result<Option<DataSpec>, miette::Report> {
    let p = crate::driver::load(&r.file, &[])?;
    match p.data.get(&r.name) {
        Some(d) => Ok(Some(d.clone())),
        None => Err(ExecError::UnknownData {
            name: r.name.clone(),
            file: r.file.clone(),
            suggestion: suggest(&r.name, p.data.keys().map(String::as_str)),
        }
        .into()),
    }
}

/// `exp score`.
pub fn cmd_score(a: &crate::options::ScoreOptions) -> miette::Result<ExitCode> {
    let device = device::resolve(a.device)?;
    device::check_kernels(device)?;
    let data = match &a.data {
        Some(s) => match load_data(&DataRef::parse(s)?) {
            Ok(d) => d,
            Err(report) => {
                eprintln!("{report:?}");
                return Ok(ExitCode::from(1));
            }
        },
        None => None,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let opts = TrainOptions {
        device,
        deterministic: false,
        workers: a.workers.unwrap_or(cores),
        progress: std::io::stderr().is_terminal(),
        // Re-scoring trains nothing: no TensorBoard steps.
        tb_every: 0,
        cuda_graphs: false,
        dist: None,
    };
    let mut rescorer = Rescorer::new(
        opts,
        ScoreTarget {
            data,
            split: a.split.clone(),
        },
    );
    let outcome = rescore(&a.dir, &mut rescorer)?;
    for c in &outcome.cells {
        super::runner::print_report_line(&c.report, c.secs);
    }
    if let Some(table) = &outcome.table {
        println!("\n{table}");
    }
    println!("scores: {}", outcome.out.display());
    let failed = outcome
        .cells
        .iter()
        .any(|c| c.report.status == CellStatus::Failed);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn data_refs_and_tags() {
        let r = DataRef::parse("pipelines/x.exp:external").unwrap();
        assert_eq!(
            (r.file, r.name.as_str()),
            (PathBuf::from("pipelines/x.exp"), "external")
        );
        assert!(DataRef::parse("pipelines/x.exp").is_err());
        assert!(DataRef::parse("x.exp:").is_err());
        assert_eq!(target_tag("shapes", "val"), "shapes.val");
        assert_eq!(target_tag("shapes", "test/2 a"), "shapes.test_2_a");
    }
}

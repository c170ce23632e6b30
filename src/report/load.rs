//! Reading a sweep directory (`DIR/<sweep>`): `sweep.json`, and per cell
//! `config.json`, `scores.json`, `predictions.csv` + `probs.safetensors`,
//! `metrics.csv`. A baseline in another sweep of the same file is read from
//! `DIR/../<that sweep>/<cell>`.
//! docs/report.md describes the format. Missing or unreadable per-cell
//! files are not errors: the cell is reported with what it has and a note.

use super::ReportError;
use crate::spec::Metric;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
pub struct SweepFile {
    pub sweep: String,
    #[serde(default)]
    pub axes: Vec<String>,
    #[serde(default)]
    pub baseline: Option<String>,
    pub cells: Vec<String>,
    /// Extra pairs of configurations to compare (axis values without the
    /// seed), from the sweep's `compare` field.
    #[serde(default)]
    pub compare: Vec<(BTreeMap<String, String>, BTreeMap<String, String>)>,
    #[serde(default)]
    pub exp_version: Option<String>,
}

/// The parts of `scores.json` the report reads.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct ScoresFile {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub split: Option<String>,
    #[serde(default)]
    pub classes: Vec<String>,
    #[serde(default)]
    pub best_epoch: Option<u32>,
    #[serde(default)]
    pub diverged: Option<Divergence>,
    #[serde(default)]
    pub unstable: Option<Instability>,
}

/// Why a cell that trained to the end is `unstable`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct Instability {
    pub epoch: u32,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct Divergence {
    pub epoch: u32,
    pub step: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize)]
struct ConfigFile {
    cell: CellInfo,
}

/// The parts of the resolved `spec::Cell` in `config.json` the report reads
/// (the rest is ignored, so configs of other versions still load).
#[derive(Debug, Clone, Deserialize)]
pub struct CellInfo {
    pub seed: u64,
    #[serde(default)]
    pub axis_values: BTreeMap<String, String>,
    #[serde(default)]
    pub score: Option<ScoreInfo>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ScoreInfo {
    #[serde(default)]
    pub metrics: Vec<Metric>,
    pub confidence: f64,
    pub bootstrap: u32,
}

/// Test predictions of one cell.
#[derive(Debug, Clone)]
pub struct Preds {
    pub ids: Vec<String>,
    pub labels: Vec<i64>,
    pub probs: Vec<f32>,
    pub num_classes: usize,
}

/// One `metrics.csv` row.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct EpochRow {
    pub epoch: u32,
    pub phase: String,
    pub train_loss: f64,
    pub val_loss: f64,
    pub val_top1: f64,
    pub lr: f64,
    pub img_per_s: f64,
    pub data_wait: f64,
    /// Absent in metrics.csv files written before the column existed.
    #[serde(default = "nan")]
    pub mfu: f64,
}

fn nan() -> f64 {
    f64::NAN
}

#[derive(Debug, Clone)]
pub struct CellData {
    /// Directory name (`<axis values>-s<seed>`).
    pub id: String,
    pub cell: Option<CellInfo>,
    pub scores: Option<ScoresFile>,
    pub preds: Option<Preds>,
    pub epochs: Vec<EpochRow>,
    /// Why something is missing, for the report.
    pub notes: Vec<String>,
}

impl CellData {
    pub fn status(&self) -> String {
        self.scores
            .as_ref()
            .and_then(|s| s.status.clone())
            .unwrap_or_else(|| "not scored".into())
    }

    /// Axis values without the seed (the configuration a seed group shares).
    pub fn config_key(&self) -> BTreeMap<String, String> {
        let mut m = self
            .cell
            .as_ref()
            .map(|c| c.axis_values.clone())
            .unwrap_or_default();
        m.remove("seed");
        m
    }

    pub fn axis_value(&self, axis: &str) -> Option<String> {
        self.cell
            .as_ref()
            .and_then(|c| c.axis_values.get(axis).cloned())
    }
}

#[derive(Debug, Clone)]
pub struct SweepData {
    pub dir: PathBuf,
    pub file: SweepFile,
    pub cells: Vec<CellData>,
}

impl SweepData {
    /// The declared baseline as a cell id of [`SweepData::cells`]: the
    /// directory name for a cell of this sweep, `<sweep>/<cell>` for a cell
    /// of another sweep.
    pub fn baseline_id(&self) -> Option<String> {
        let b = self.file.baseline.as_ref()?;
        Some(match b.split_once('/') {
            Some((s, rest)) if s == self.file.sweep => rest.to_string(),
            Some(_) => b.clone(),
            None => b.clone(),
        })
    }
}

pub fn load(dir: &Path) -> Result<SweepData, ReportError> {
    let path = dir.join("sweep.json");
    let text = std::fs::read_to_string(&path).map_err(|e| ReportError::NoSweep {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let file: SweepFile = serde_json::from_str(&text).map_err(|e| ReportError::BadFile {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let mut cells: Vec<CellData> = file
        .cells
        .iter()
        .map(|id| load_cell(&dir.join(id), id))
        .collect();
    let mut data = SweepData {
        dir: dir.to_path_buf(),
        file,
        cells: Vec::new(),
    };
    // A baseline from another sweep of the same file sits beside this one.
    if let Some(b) = data.baseline_id() {
        if let (Some((other, cell)), Some(parent)) = (b.split_once('/'), dir.parent()) {
            cells.insert(0, load_cell(&parent.join(other).join(cell), &b));
        }
    }
    data.cells = cells;
    Ok(data)
}

fn load_cell(dir: &Path, id: &str) -> CellData {
    let mut notes = Vec::new();
    let mut json = |name: &str| -> Option<String> {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(t) => Some(t),
            Err(_) => {
                notes.push(format!("no {name}"));
                None
            }
        }
    };
    let cell = json("config.json")
        .and_then(|t| serde_json::from_str::<ConfigFile>(&t).ok())
        .map(|c| c.cell);
    let scores = json("scores.json").and_then(|t| serde_json::from_str::<ScoresFile>(&t).ok());
    let preds = match std::fs::read_to_string(dir.join("predictions.csv")) {
        Ok(t) => match parse_predictions(&t).and_then(|p| with_probs(p, dir)) {
            Ok(p) => Some(p),
            Err(e) => {
                notes.push(format!("predictions.csv unreadable: {e}"));
                None
            }
        },
        Err(_) => {
            notes.push("no predictions".into());
            None
        }
    };
    // `data.json` (exec::outputs::DataUse): the images each split used.
    if let Some(u) = std::fs::read_to_string(dir.join("data.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<crate::exec::outputs::DataUse>(&t).ok())
    {
        let used: Vec<String> = u.images.iter().map(|(s, n)| format!("{s} {n}")).collect();
        let mut note = format!("images used: {}", used.join(", "));
        if !u.skipped.is_empty() {
            note.push_str(&format!(
                "; {} unreadable image(s) skipped, listed in skipped.csv",
                u.skipped.len()
            ));
        }
        notes.push(note);
    }
    let epochs = match std::fs::read_to_string(dir.join("metrics.csv")) {
        Ok(t) => parse_metrics(&t).unwrap_or_else(|e| {
            notes.push(format!("metrics.csv unreadable: {e}"));
            Vec::new()
        }),
        Err(_) => Vec::new(),
    };
    CellData {
        id: id.to_string(),
        cell,
        scores,
        preds,
        epochs,
        notes,
    }
}

/// The probabilities of `probs.safetensors` in `dir` when it exists (the
/// lossless store); else those of the CSV's `p_j` columns (sweeps written
/// before it existed).
fn with_probs(mut p: Preds, dir: &Path) -> Result<Preds, String> {
    use crate::score::predictions::{decode, PROBS_FILE};
    let Ok(bytes) = std::fs::read(dir.join(PROBS_FILE)) else {
        return if p.num_classes == 0 {
            Err(format!("no {PROBS_FILE} and no `p_0` column"))
        } else {
            Ok(p)
        };
    };
    let (probs, c) = decode(&bytes).map_err(|e| format!("{PROBS_FILE}: {e}"))?;
    if probs.len() != p.ids.len() * c {
        return Err(format!(
            "{PROBS_FILE} holds {} rows, predictions.csv {}",
            probs.len() / c.max(1),
            p.ids.len()
        ));
    }
    p.probs = probs;
    p.num_classes = c;
    Ok(p)
}

/// `id,label,pred` (+ `p_0,...,p_{C-1}` in files written before
/// `probs.safetensors`).
pub fn parse_predictions(text: &str) -> Result<Preds, String> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers = rdr.headers().map_err(|e| e.to_string())?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or(format!("no `{name}` column"))
    };
    let (id_c, label_c) = (col("id")?, col("label")?);
    let mut prob_cols = Vec::new();
    while let Some(i) = headers
        .iter()
        .position(|h| h == format!("p_{}", prob_cols.len()))
    {
        prob_cols.push(i);
    }
    let mut p = Preds {
        ids: vec![],
        labels: vec![],
        probs: vec![],
        num_classes: prob_cols.len(),
    };
    for (row, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| format!("row {}: {e}", row + 1))?;
        let field = |i: usize| rec.get(i).ok_or(format!("row {}: too few fields", row + 1));
        p.ids.push(field(id_c)?.to_string());
        p.labels.push(
            field(label_c)?
                .parse()
                .map_err(|_| format!("row {}: label is not an integer", row + 1))?,
        );
        for &i in &prob_cols {
            p.probs.push(
                field(i)?
                    .parse()
                    .map_err(|_| format!("row {}: probability is not a number", row + 1))?,
            );
        }
    }
    Ok(p)
}

pub fn parse_metrics(text: &str) -> Result<Vec<EpochRow>, String> {
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    rdr.deserialize()
        .map(|r| r.map_err(|e| e.to_string()))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn predictions_and_metrics_parse() {
        let p = parse_predictions("id,label,pred,p_0,p_1\na,0,0,0.9,0.1\nb,1,0,0.6,0.4\n").unwrap();
        assert_eq!(p.num_classes, 2);
        assert_eq!(p.labels, vec![0, 1]);
        assert_eq!(p.probs, vec![0.9, 0.1, 0.6, 0.4]);
        let tmp = tempfile::tempdir().unwrap();
        let bare = parse_predictions("id,label\na,0\n").unwrap();
        assert!(with_probs(bare.clone(), tmp.path())
            .unwrap_err()
            .contains("p_0"));
        // The binary file wins over the CSV columns, bit for bit.
        let probs = [1e-9f32, 1.0 - 1e-9];
        std::fs::write(
            tmp.path().join(crate::score::predictions::PROBS_FILE),
            crate::score::predictions::encode(&probs, 1, 2).unwrap(),
        )
        .unwrap();
        let p = with_probs(bare, tmp.path()).unwrap();
        assert_eq!((p.probs, p.num_classes), (probs.to_vec(), 2));
        assert!(parse_predictions("id,label,pred,p_0\na,x,0,1\n")
            .unwrap_err()
            .contains("row 1"));
        let m = parse_metrics(
            "epoch,phase,train_loss,val_loss,val_top1,lr,img_per_s,data_wait\n1,frozen,1.5,1.2,0.4,0.001,350.0,0.1200\n",
        )
        .unwrap();
        assert_eq!(m[0].phase, "frozen");
        assert_eq!(m[0].data_wait, 0.12);
    }
}

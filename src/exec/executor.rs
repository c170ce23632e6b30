//! The three steps of a cell (prepare the data, train, predict) behind one
//! trait, and their libtorch implementation. Why a trait: the orchestration
//! in [`super::runner`] (store, locks, statuses, outputs) is tested with a fake
//! that trains nothing.
use crate::exec::outputs::{self, Predictions};
use crate::exec::signals;
use crate::spec::Cell;
use crate::train::{RunEnd, TrainOptions};
use std::path::Path;

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
pub(crate) fn diag_line(e: &dyn miette::Diagnostic) -> String {
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

/// Identity of a prepared data set in this process: everything
/// `data::prepare` reads. Why not the subset stage key: that one leaves out
/// what only training reads (metadata columns, image size), yet the prepared
/// data carries the metadata encoding, so two cells differing only in their
/// metadata columns must not share it.
pub(crate) fn prepared_data_key(cell: &Cell) -> String {
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

//! Data: manifests, image folders, subsets, decode cache, augmentation, loader.
//! (Being built: issue 3. The signatures below are the contract the trainer
//! codes against; bodies are placeholders until the module lands.)

use crate::spec::{Augment, BudgetSpec, DataSpec};
use std::path::PathBuf;
use tch::{Device, Tensor};

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DataError {
    #[error("{0}")]
    #[diagnostic(code(exp::data::other))]
    Other(String),
}

/// A data set opened, validated, decoded into the cache and subset for one
/// (data, budget, seed): shared by every cell with those three equal.
#[derive(Debug)]
pub struct PreparedData {
    /// Fixed class order (index = label id).
    pub classes: Vec<String>,
    /// Width of the encoded metadata vector (0 = no metadata branch).
    pub metadata_dim: usize,
    /// Names of the encoded metadata features (`age`, `sex=F`, `sex=<unknown>`...).
    pub metadata_names: Vec<String>,
    /// Images skipped under `on_bad_image = skip`, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

impl PreparedData {
    /// Split names present (`train`, `val`, `test`, ...).
    pub fn split_names(&self) -> Vec<String> {
        Vec::new()
    }
    /// Number of samples of a split after subsetting.
    pub fn split_len(&self, _split: &str) -> Result<usize, DataError> {
        Err(DataError::Other("data module not built yet".into()))
    }
    /// Stable sample ids (manifest path) of a split, in loader order for eval.
    pub fn split_ids(&self, _split: &str) -> Result<Vec<String>, DataError> {
        Err(DataError::Other("data module not built yet".into()))
    }
    /// Labels of a split, same order as `split_ids`.
    pub fn split_labels(&self, _split: &str) -> Result<Vec<i64>, DataError> {
        Err(DataError::Other("data module not built yet".into()))
    }
}

/// Open, validate, decode-cache and subset. `progress` shows a bar on a terminal.
pub fn prepare(_spec: &DataSpec, _budget: &BudgetSpec, _root_seed: u64, _progress: bool) -> Result<PreparedData, DataError> {
    Err(DataError::Other("data module not built yet".into()))
}

#[derive(Debug, Clone)]
pub struct LoaderConfig {
    pub batch_size: usize,
    pub image_size: u32,
    pub mean: [f64; 3],
    pub std: [f64; 3],
    /// Train: shuffle + augment (+ mixup/cutmix soft targets); eval: resize + centre crop, in order.
    pub train: bool,
    pub augment: Vec<Augment>,
    /// Cell-derived seed; each sample's randomness is derived from (seed, epoch, index).
    pub seed: u64,
    pub epoch: u64,
    pub workers: usize,
    pub prefetch: usize,
    pub device: Device,
    pub drop_last: bool,
    /// Start at this batch (resume mid-epoch).
    pub start_batch: usize,
    /// Output channels-last memory format (CUDA).
    pub channels_last: bool,
}

pub struct Batch {
    /// `[B, 3, S, S]` f32, normalised, on the device.
    pub images: Tensor,
    /// `[B]` i64 class ids.
    pub labels: Tensor,
    /// `[B, C]` f32 soft targets when mixup/cutmix applied this batch.
    pub soft_targets: Option<Tensor>,
    /// `[B, M]` f32 encoded metadata (M may be 0).
    pub metadata: Tensor,
    /// Row indices into the split.
    pub index: Vec<usize>,
}

pub struct Loader {
    _private: (),
}

impl Loader {
    /// Batches in this epoch.
    pub fn len(&self) -> usize {
        0
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fraction of wall time the consumer spent blocked waiting for a batch.
    pub fn wait_fraction(&self) -> f64 {
        0.0
    }
}

impl Iterator for Loader {
    type Item = Result<Batch, DataError>;
    fn next(&mut self) -> Option<Self::Item> {
        None
    }
}

pub fn loader(_data: &PreparedData, _split: &str, _cfg: &LoaderConfig) -> Result<Loader, DataError> {
    Err(DataError::Other("data module not built yet".into()))
}

/// What `exp check --data` needs to know about a data set without decoding
/// every image.
#[derive(Debug, Clone, Default)]
pub struct DataSummary {
    /// Split name → number of rows.
    pub split_sizes: std::collections::BTreeMap<String, usize>,
    pub classes: Vec<String>,
    /// Columns of the manifest (empty for image folders).
    pub columns: Vec<String>,
    /// Problems found, each naming the file/row: missing or unreadable images,
    /// unknown labels, duplicate paths, bad rows, empty splits.
    pub problems: Vec<DataProblem>,
}

#[derive(Debug, Clone)]
pub struct DataProblem {
    /// Stable code, e.g. `exp::data::missing_image`.
    pub code: &'static str,
    pub message: String,
    /// Manifest file and 1-based row, or the image path.
    pub location: String,
    pub help: String,
}

/// Read the manifest / folder layout, check that every image exists and its
/// header parses (without full decode), and summarise.
pub fn inspect(_spec: &DataSpec) -> Result<DataSummary, DataError> {
    Err(DataError::Other("data module not built yet".into()))
}

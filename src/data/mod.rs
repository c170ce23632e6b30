//! Data: manifests, image folders, the generated data set, seeded subsets,
//! the decode cache, augmentation and the loader.
//!
//! `prepare` opens and validates a data set, decodes every image once into
//! the memory-mapped cache and draws the per-split subsets; `loader` turns a
//! split into device batches; `inspect` is the cheap header-only check behind
//! `exp check --data`. See docs/data.md.

pub mod augment;
pub mod cache;
pub mod decode;
mod error;
pub mod files;
pub mod generated;
mod loader;
pub mod metadata;
mod source;
pub mod subset;
mod tj;

pub use error::DataError;
pub use loader::{Batch, Loader, LoaderConfig};
pub use metadata::{ColumnEncoding, MetadataEncoding};

use crate::spec::{BudgetSpec, DataSource, DataSpec};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The rows of one split after subsetting, in source order.
#[derive(Debug)]
pub(crate) struct SplitData {
    pub ids: Vec<String>,
    pub labels: Vec<i64>,
    /// `len × metadata_dim`, row-major.
    pub meta: Vec<f32>,
    /// Record index of each row (its place in the cache).
    pub rec: Vec<usize>,
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
    /// Name of the data declaration.
    pub name: String,
    /// The fitted metadata encoding (train-split statistics).
    pub metadata_encoding: MetadataEncoding,
    /// The decode cache file in use.
    pub cache_path: PathBuf,
    /// Images decoded by this `prepare` (0 when the cache was reused).
    pub decoded: usize,
    /// Shorter side of the cached images.
    pub cache_size: u32,
    pub(crate) splits: BTreeMap<String, Arc<SplitData>>,
    pub(crate) cache: Arc<cache::Cache>,
}

impl PreparedData {
    /// Split names present (`train`, `val`, `test`, ...).
    pub fn split_names(&self) -> Vec<String> {
        self.splits.keys().cloned().collect()
    }

    pub(crate) fn split(&self, split: &str) -> Result<&Arc<SplitData>, DataError> {
        self.splits
            .get(split)
            .ok_or_else(|| DataError::UnknownSplit {
                data: self.name.clone(),
                split: split.to_string(),
                found: self.split_names().join(", "),
            })
    }

    /// Number of samples of a split after subsetting.
    pub fn split_len(&self, split: &str) -> Result<usize, DataError> {
        Ok(self.split(split)?.ids.len())
    }
    /// Stable sample ids (manifest path) of a split, in loader order for eval.
    pub fn split_ids(&self, split: &str) -> Result<Vec<String>, DataError> {
        Ok(self.split(split)?.ids.clone())
    }
    /// Labels of a split, same order as `split_ids`.
    pub fn split_labels(&self, split: &str) -> Result<Vec<i64>, DataError> {
        Ok(self.split(split)?.labels.clone())
    }
    /// The cached image (width, height, uint8 HWC bytes; shorter side
    /// `cache_size`) of row `row` of a split.
    pub fn cached_image(&self, split: &str, row: usize) -> Result<augment::View<'_>, DataError> {
        let sd = self.split(split)?;
        let rec = *sd.rec.get(row).ok_or_else(|| {
            DataError::Settings(format!("row {row} is past the end of split `{split}`"))
        })?;
        let (w, h, data) = self.cache.image(rec).ok_or_else(|| {
            DataError::Other(format!(
                "image `{}` is missing from the decode cache",
                sd.ids[row]
            ))
        })?;
        Ok(augment::View { w, h, data })
    }
    /// Encoded metadata of a split, `split_len × metadata_dim` row-major.
    pub fn split_metadata(&self, split: &str) -> Result<Vec<f32>, DataError> {
        Ok(self.split(split)?.meta.clone())
    }
}

/// Write the generated data set if the spec uses one and it is missing or stale.
fn ensure_generated(spec: &DataSpec) -> Result<(), DataError> {
    if let DataSource::Generated(g) = &spec.source {
        generated::ensure(g, &spec.columns)?;
    }
    Ok(())
}

/// Key of what a result depends on in a data set's files: every row's id,
/// split, label and metadata values, and each image's size in bytes.
///
/// Why: without it a relabelled manifest, or images added or replaced, would
/// leave the stage store's keys unchanged and `exp run` would reuse results
/// trained on the old data. Why sizes and not modification times: copying a
/// data set to another disk changes every mtime but no result, and a replaced
/// image almost always changes size. (The decode cache, cheap to rebuild, also
/// keys on mtimes.) A generated data set is a pure function of its settings,
/// which the stage key already holds, so it needs no file access.
pub fn content_key(spec: &DataSpec) -> Result<String, DataError> {
    if let DataSource::Generated(_) = &spec.source {
        return Ok("generated".into());
    }
    let (src, _row_problems) = source::read(spec)?;
    let mut h = blake3::Hasher::new();
    h.update(b"exp-data-content-v1\0");
    let mut part = |bytes: &[u8]| {
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    for r in &src.records {
        part(r.id.as_bytes());
        part(r.split.as_bytes());
        part(r.label.as_bytes());
        for m in &r.meta {
            match m {
                Some(v) => part(format!("+{v}").as_bytes()),
                None => part(b"-"),
            }
        }
        match std::fs::metadata(&r.path) {
            Ok(m) => part(&m.len().to_le_bytes()),
            Err(_) => part(b"missing"),
        }
    }
    Ok(h.finalize().to_hex()[..32].to_string())
}

/// Fill in [`DataSpec::content`] of every data declaration and every cell of
/// `p`, reading each distinct data set once. Returns the data sets that could
/// not be read, with why; their cells keep `None` (and fail when prepared).
pub fn fill_content_keys(p: &mut crate::spec::Pipeline) -> Vec<(String, DataError)> {
    let mut keys: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut failed = Vec::new();
    let mut key_of = |d: &DataSpec| -> Option<String> {
        let id = serde_json::to_string(d).unwrap_or_default();
        keys.entry(id)
            .or_insert_with(|| match content_key(d) {
                Ok(k) => Some(k),
                Err(e) => {
                    failed.push((d.name.clone(), e));
                    None
                }
            })
            .clone()
    };
    for d in p.data.values_mut() {
        d.content = key_of(d);
    }
    for c in p.sweeps.values_mut().flat_map(|s| s.cells.iter_mut()) {
        c.data.content = key_of(&c.data);
    }
    failed
}

/// Open, validate, decode-cache and subset. `progress` shows a bar on a terminal.
pub fn prepare(
    spec: &DataSpec,
    budget: &BudgetSpec,
    root_seed: u64,
    progress: bool,
) -> Result<PreparedData, DataError> {
    prepare_with_encoding(spec, budget, root_seed, progress, None)
}

/// `prepare`, encoding the metadata with `encoding` (fitted on another data
/// set's train split) instead of fitting it on this one's: what scoring a
/// trained model on other data needs (`exp score --data`).
pub fn prepare_with_encoding(
    spec: &DataSpec,
    budget: &BudgetSpec,
    root_seed: u64,
    progress: bool,
    encoding: Option<&MetadataEncoding>,
) -> Result<PreparedData, DataError> {
    ensure_generated(spec)?;
    let (src, problems) = source::read(spec)?;
    if let Some(p) = problems.into_iter().next() {
        return Err(p);
    }
    let enc = match encoding {
        Some(e) => e.clone(),
        None => {
            let (enc, problems) =
                metadata::fit(&spec.metadata, &src.records, src.manifest.as_deref());
            if let Some(p) = problems.into_iter().next() {
                return Err(p);
            }
            enc
        }
    };
    let cache = cache::open_or_build(spec, &src.records, progress)?;
    let skipped = cache
        .skipped
        .iter()
        .map(|(i, reason)| (src.records[*i].path.clone(), reason.clone()))
        .collect::<Vec<_>>();

    let class_id: BTreeMap<&str, i64> = src
        .classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i as i64))
        .collect();
    let mut rows: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, r) in src.records.iter().enumerate() {
        if cache.entries[i].is_some() {
            rows.entry(r.split.clone()).or_default().push(i);
        }
    }
    for split in src.records.iter().map(|r| &r.split) {
        if !rows.contains_key(split) {
            return Err(DataError::EmptySplit {
                data: spec.name.clone(),
                split: split.clone(),
                help: "every image of this split was skipped as unreadable; see the skipped list"
                    .into(),
            });
        }
    }
    let mut splits = BTreeMap::new();
    for (split, idx) in rows {
        let labels: Vec<i64> = idx
            .iter()
            .map(|&i| {
                class_id
                    .get(src.records[i].label.as_str())
                    .copied()
                    .unwrap_or(-1)
            })
            .collect();
        let want = match split.as_str() {
            "train" => budget.train_samples,
            "val" => budget.val_samples,
            // Why: the scored split is never subset, so every budget is
            // compared on the same test images.
            _ => None,
        };
        let chosen = match want {
            Some(n) => {
                let seed = subset::subset_seed(root_seed, &spec.name, &split, n, spec.stratify);
                subset::choose(
                    &labels,
                    usize::try_from(n).unwrap_or(usize::MAX),
                    seed,
                    spec.stratify,
                )
            }
            None => (0..idx.len()).collect(),
        };
        let mut sd = SplitData {
            ids: Vec::new(),
            labels: Vec::new(),
            meta: Vec::new(),
            rec: Vec::new(),
        };
        for &k in &chosen {
            let i = idx[k];
            sd.ids.push(src.records[i].id.clone());
            sd.labels.push(labels[k]);
            metadata::encode(&enc, &src.records[i].meta, &mut sd.meta);
            sd.rec.push(i);
        }
        splits.insert(split, Arc::new(sd));
    }
    Ok(PreparedData {
        classes: src.classes,
        metadata_dim: enc.dim(),
        metadata_names: enc.names.clone(),
        skipped,
        name: spec.name.clone(),
        metadata_encoding: enc,
        cache_path: cache.path.clone(),
        decoded: cache.decoded,
        cache_size: spec.cache_size,
        splits,
        cache: Arc::new(cache),
    })
}

pub use loader::loader;

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

impl From<&DataError> for DataProblem {
    fn from(e: &DataError) -> Self {
        DataProblem {
            code: e.code(),
            message: e.to_string(),
            location: e.location(),
            help: e.help_line(),
        }
    }
}

/// Read the manifest / folder layout, check that every image exists and its
/// header parses (without full decode), and summarise. A generated data set
/// not yet written is summarised from its settings (nothing is written).
pub fn inspect(spec: &DataSpec) -> Result<DataSummary, DataError> {
    if let DataSource::Generated(g) = &spec.source {
        if !generated::is_current(g, &spec.columns) {
            let mut split_sizes = BTreeMap::new();
            for (s, n) in [("train", g.train), ("val", g.val), ("test", g.test)] {
                if n > 0 {
                    split_sizes.insert(s.to_string(), n as usize);
                }
            }
            let c = &spec.columns;
            return Ok(DataSummary {
                split_sizes,
                classes: (0..g.classes)
                    .map(|k| generated::class_name(k, g.classes))
                    .collect(),
                columns: vec![
                    c.path.clone(),
                    c.label.clone(),
                    c.split.clone(),
                    "age".into(),
                    "site".into(),
                ],
                problems: Vec::new(),
            });
        }
    }
    let (src, mut problems) = source::read(spec)?;
    let (_, meta_problems) = metadata::fit(&spec.metadata, &src.records, src.manifest.as_deref());
    problems.extend(meta_problems);
    let image_problems: Vec<DataError> = src
        .records
        .par_iter()
        .filter_map(|r| {
            if !r.path.is_file() {
                return Some(DataError::MissingImage {
                    location: r.location.clone(),
                    path: r.path.clone(),
                });
            }
            decode::header_dims(&r.path)
                .err()
                .map(|reason| DataError::BadImage {
                    location: r.location.clone(),
                    path: r.path.clone(),
                    reason,
                })
        })
        .collect();
    problems.extend(image_problems);
    Ok(DataSummary {
        split_sizes: source::split_sizes(&src),
        classes: src.classes,
        columns: src.columns,
        problems: problems.iter().map(DataProblem::from).collect(),
    })
}

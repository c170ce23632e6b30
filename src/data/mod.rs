//! Data: manifests, image folders, the generated data set, seeded subsets,
//! the decode cache, augmentation and the loader.
//!
//! `prepare` opens and validates a data set, decodes every image once into
//! the memory-mapped cache and draws the per-split subsets; `loader` turns a
//! split into device batches; `inspect` is the cheap header-only check behind
//! `exp check --data`. See docs/data.md.

pub mod augment;
pub mod augment_device;
pub mod cache;
pub mod decode;
pub mod files;
pub mod generated;
mod loader;
pub mod metadata;
pub mod subset;
mod tj;

use exp_lang::dataset::{content, source};
pub use exp_lang::dataset::{content_key, fill_content_keys, DataError};
pub use loader::{AugmentOn, Batch, Loader, LoaderConfig};
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
    /// Files under an image-folder root that are not images of the layout,
    /// with why.
    pub ignored: Vec<(PathBuf, String)>,
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

/// Write the generated data set if the spec uses one and it is missing or
/// stale, under the data root's own lock (`.exp-generated.lock` in it), so
/// any number of runs, output directories and Slurm tasks can share one
/// root: one writes, the others wait for it (and say so), then read.
fn ensure_generated(spec: &DataSpec) -> Result<(), DataError> {
    if let DataSource::Generated(g) = &spec.source {
        if generated::is_current(g, &spec.columns) {
            return Ok(());
        }
        std::fs::create_dir_all(&g.root).map_err(|e| DataError::io(&g.root, e))?;
        let lock = g.root.join(generated::LOCK);
        let _held = lock_or_wait(
            &lock,
            &format!("the generated data set {}", g.root.display()),
        )?;
        generated::ensure(g, &spec.columns)?;
    }
    Ok(())
}

/// Take the advisory lock at `path`; when another process holds it, say on
/// stderr what this one waits for, then wait.
pub(crate) fn lock_or_wait(
    path: &std::path::Path,
    what: &str,
) -> Result<crate::exec::lock::FileLock, DataError> {
    use crate::exec::lock::FileLock;
    match FileLock::try_acquire(path) {
        Ok(Some(l)) => Ok(l),
        Ok(None) => {
            eprintln!(
                "exp: waiting for another exp process writing {what} (lock {})",
                path.display()
            );
            FileLock::acquire(path).map_err(|e| DataError::io(path, e))
        }
        Err(e) => Err(DataError::io(path, e)),
    }
}

/// One line saying which files of an image-folder layout were not used and
/// why, e.g. `3 file(s) not used: 2 × .txt is not an image format exp reads
/// (e.g. train/a/notes.txt); 1 × hidden (e.g. train/.DS_Store)`.
pub fn ignored_summary(root: &std::path::Path, ignored: &[(PathBuf, String)]) -> String {
    let mut by_reason: BTreeMap<&str, Vec<&PathBuf>> = BTreeMap::new();
    for (p, why) in ignored {
        by_reason.entry(why.as_str()).or_default().push(p);
    }
    let parts: Vec<String> = by_reason
        .iter()
        .map(|(why, ps)| {
            let eg = ps[0].strip_prefix(root).unwrap_or(ps[0]).display();
            format!("{} × {why} (e.g. {eg})", ps.len())
        })
        .collect();
    format!("{} file(s) not used: {}", ignored.len(), parts.join("; "))
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
            let (enc, problems) = fit_metadata(spec, &src);
            if let Some(p) = problems.into_iter().next() {
                return Err(p);
            }
            enc
        }
    };
    if !src.ignored.is_empty() {
        if let DataSource::ImageFolder { root } = &spec.source {
            eprintln!(
                "exp: data `{}` under {}: {}",
                spec.name,
                root.display(),
                ignored_summary(root, &src.ignored)
            );
        }
    }
    let hashes = content::hashes(spec, &src.records);
    let cache = cache::open_or_build(spec, &src.records, &hashes, progress)?;
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
        ignored: src.ignored,
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

fn fit_metadata(spec: &DataSpec, src: &source::Source) -> (MetadataEncoding, Vec<DataError>) {
    metadata::fit(
        &spec.metadata,
        &spec.metadata_types,
        &spec.columns.label,
        &src.records,
        src.manifest.as_deref(),
    )
}

/// What `exp check --data` needs to know about a data set.
#[derive(Debug, Clone, Default)]
pub struct DataSummary {
    /// Split name → number of rows.
    pub split_sizes: std::collections::BTreeMap<String, usize>,
    pub classes: Vec<String>,
    /// Columns of the manifest (empty for image folders).
    pub columns: Vec<String>,
    /// Problems `exp run` would fail on, each naming the file/row: missing,
    /// unreadable or special files, unknown labels, duplicate paths (also
    /// under two spellings), bad rows, empty splits, bad metadata values and
    /// types, a label in the metadata.
    pub problems: Vec<DataProblem>,
    /// Images with the same content (BLAKE3) in two splits.
    pub same_content: Vec<ImagePair>,
    /// Images that look alike (perceptual hash) in two splits; only with
    /// `near_duplicates = true`.
    pub near_duplicates: Vec<ImagePair>,
    /// Files under an image-folder root that are not used, with why.
    pub ignored: Vec<(PathBuf, String)>,
}

/// Two images of a data set in different splits (ids as in the manifest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePair {
    pub a: String,
    pub a_split: String,
    pub b: String,
    pub b_split: String,
}

impl std::fmt::Display for ImagePair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}) = {} ({})",
            self.a, self.a_split, self.b, self.b_split
        )
    }
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

/// Read the manifest / folder layout and check everything `prepare` would
/// refuse except full decoding: every image exists, is a regular file and
/// its header parses; rows, labels, splits and metadata values are valid.
/// Also hashes every image's content (kept in the content index, so the
/// next `exp run` does not read the files again) to find the same image in
/// two splits, and with `near_duplicates` compares perceptual hashes. A
/// generated data set not yet written is summarised from its settings
/// (nothing is written).
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
                ..DataSummary::default()
            });
        }
    }
    // A metadata column the manifest lacks is one problem; the others are
    // still checked.
    let mut spec = spec.clone();
    let mut problems = Vec::new();
    let (src, row_problems) = loop {
        match source::read(&spec) {
            Err(DataError::MissingColumn {
                manifest,
                column,
                found,
            }) if spec.metadata.contains(&column) => {
                spec.metadata.retain(|m| *m != column);
                problems.push(DataError::MissingColumn {
                    manifest,
                    column,
                    found,
                });
            }
            other => break other?,
        }
    };
    problems.extend(row_problems);
    let (_, meta_problems) = fit_metadata(&spec, &src);
    problems.extend(meta_problems);
    let hashes = content::hashes(&spec, &src.records);
    let image_problems: Vec<DataError> = src
        .records
        .par_iter()
        .zip(&hashes)
        .filter_map(|(r, hash)| {
            if std::fs::metadata(&r.path).is_err() {
                return Some(DataError::MissingImage {
                    location: r.location.clone(),
                    path: r.path.clone(),
                });
            }
            let checked = match hash {
                Err(reason) => Err(reason.clone()),
                Ok(_) => decode::header_dims(&r.path).map(|_| ()),
            };
            checked.err().map(|reason| DataError::BadImage {
                location: r.location.clone(),
                path: r.path.clone(),
                reason,
            })
        })
        .collect();
    problems.extend(image_problems);
    let same_content = pairs_across_splits(&src.records, |i| hashes[i].as_ref().ok().cloned());
    let near_duplicates = if spec.near_duplicates {
        near_duplicate_pairs(&src.records, &same_content)
    } else {
        Vec::new()
    };
    Ok(DataSummary {
        split_sizes: source::split_sizes(&src),
        classes: src.classes,
        columns: src.columns,
        problems: problems.iter().map(DataProblem::from).collect(),
        same_content,
        near_duplicates,
        ignored: src.ignored,
    })
}

/// Pairs of records in different splits with the same key.
fn pairs_across_splits(
    records: &[source::Record],
    key: impl Fn(usize) -> Option<String>,
) -> Vec<ImagePair> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for i in 0..records.len() {
        if let Some(k) = key(i) {
            groups.entry(k).or_default().push(i);
        }
    }
    let mut out = Vec::new();
    for idx in groups.values() {
        for (n, &i) in idx.iter().enumerate() {
            for &j in &idx[n + 1..] {
                let (a, b) = (&records[i], &records[j]);
                if a.split != b.split {
                    out.push(ImagePair {
                        a: a.id.clone(),
                        a_split: a.split.clone(),
                        b: b.id.clone(),
                        b_split: b.split.clone(),
                    });
                }
            }
        }
    }
    out
}

/// Largest Hamming distance between two 64-bit difference hashes that
/// counts as "the same picture" (resized, recompressed, slightly edited).
pub const NEAR_DUPLICATE_BITS: u32 = 6;

/// The 64-bit difference hash (dHash) of an image: its 9 × 8 grayscale
/// thumbnail, one bit per horizontally adjacent pair (left brighter).
pub fn difference_hash(img: &decode::Rgb) -> Result<u64, String> {
    let t = decode::resize_rgb(img, (0.0, 0.0, f64::from(img.w), f64::from(img.h)), 9, 8)?;
    let grey: Vec<u32> = t
        .data
        .chunks_exact(3)
        .map(|p| 299 * u32::from(p[0]) + 587 * u32::from(p[1]) + 114 * u32::from(p[2]))
        .collect();
    let mut h = 0u64;
    for y in 0..8 {
        for x in 0..8 {
            h <<= 1;
            if grey[y * 9 + x] > grey[y * 9 + x + 1] {
                h |= 1;
            }
        }
    }
    Ok(h)
}

/// Pairs of images in different splits whose difference hashes differ in at
/// most [`NEAR_DUPLICATE_BITS`] bits, leaving out exact duplicates.
fn near_duplicate_pairs(records: &[source::Record], exact: &[ImagePair]) -> Vec<ImagePair> {
    let hashes: Vec<Option<u64>> = records
        .par_iter()
        .map(|r| {
            decode::decode_resized(&r.path, 32)
                .ok()
                .and_then(|img| difference_hash(&img).ok())
        })
        .collect();
    let mut out = Vec::new();
    for (i, (a, hi)) in records.iter().zip(&hashes).enumerate() {
        let Some(hi) = hi else { continue };
        for (b, hj) in records.iter().zip(&hashes).skip(i + 1) {
            if a.split == b.split {
                continue;
            }
            let Some(hj) = hj else { continue };
            if (hi ^ hj).count_ones() <= NEAR_DUPLICATE_BITS {
                let pair = ImagePair {
                    a: a.id.clone(),
                    a_split: a.split.clone(),
                    b: b.id.clone(),
                    b_split: b.split.clone(),
                };
                if !exact.contains(&pair) {
                    out.push(pair);
                }
            }
        }
    }
    out
}

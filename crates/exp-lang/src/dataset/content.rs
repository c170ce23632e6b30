//! Content hashes of a data set's image files (BLAKE3), computed lazily.
//!
//! Each image's hash is kept in a content index beside the decode cache
//! (`decoded/content-<location>.json`) with the file's size, modification
//! time, change time and inode; it is recomputed only when one of those
//! changed. Why ctime too: `cp -p` and `rsync -a` restore the modification
//! time of an edited file, but no user-space tool can set its change time,
//! so an edit is always seen. The hashes are what stage keys
//! ([`super::content_key`]) and the decode cache's key are built from, so a
//! moved project keeps its stages and an edited image of any size
//! invalidates exactly what depends on it.

use super::files as decode;
use super::source::Record;
use crate::spec::DataSpec;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const VERSION: u32 = 1;

/// What identifies a file's current version without reading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    ino: u64,
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Self {
        Stamp {
            size: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            ino: m.ino(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Known {
    stamp: Stamp,
    hash: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct IndexFile {
    version: u32,
    /// Canonical path → stamp and hash.
    files: BTreeMap<String, Known>,
}

/// The content hash of one record's file, or why it could not be read
/// (missing, not a regular file, over the size limit).
pub type ContentHash = Result<String, String>;

/// Where a data set's content index lives: one per data location, so two
/// projects whose data sets share a name never share (or evict) an index.
fn index_path(spec: &DataSpec) -> PathBuf {
    super::cache_root(spec).join(format!("content-{}.json", location_key(spec)))
}

/// A short hash of where the data set lives (canonical manifest or root).
pub fn location_key(spec: &DataSpec) -> String {
    use crate::spec::DataSource;
    let place = match &spec.source {
        DataSource::Manifest { manifest, .. } => manifest.clone(),
        DataSource::ImageFolder { root } => root.clone(),
        DataSource::Generated(g) => g.root.clone(),
    };
    let canon = std::fs::canonicalize(&place).unwrap_or(place);
    blake3::hash(canon.as_os_str().as_encoded_bytes()).to_hex()[..8].to_string()
}

/// BLAKE3 of a file's bytes, read as an image would be (regular files only,
/// size limit enforced while reading).
fn hash_file(path: &Path) -> ContentHash {
    decode::read_image_file(path).map(|b| blake3::hash(&b).to_hex().to_string())
}

/// Content hashes of every record's file, in record order. Files whose
/// stamp matches the index are not read; the others are hashed in parallel
/// and the index is rewritten (atomically) when anything changed.
pub fn hashes(spec: &DataSpec, records: &[Record]) -> Vec<ContentHash> {
    let path = index_path(spec);
    let mut index: IndexFile = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<IndexFile>(&t).ok())
        .filter(|i| i.version == VERSION)
        .unwrap_or_default();
    let found: Vec<(ContentHash, Option<Known>)> = records
        .par_iter()
        .map(|r| {
            let meta = match std::fs::metadata(&r.path) {
                Ok(m) => m,
                Err(e) => return (Err(e.to_string()), None),
            };
            let stamp = Stamp::of(&meta);
            let key = r.canonical.to_string_lossy();
            if let Some(k) = index.files.get(key.as_ref()) {
                if k.stamp == stamp {
                    return (Ok(k.hash.clone()), None);
                }
            }
            match hash_file(&r.path) {
                Ok(hash) => (Ok(hash.clone()), Some(Known { stamp, hash })),
                Err(e) => (Err(e), None),
            }
        })
        .collect();
    let mut changed = false;
    let mut out = Vec::with_capacity(found.len());
    for (r, (hash, new)) in records.iter().zip(found) {
        if let Some(k) = new {
            index
                .files
                .insert(r.canonical.to_string_lossy().into_owned(), k);
            changed = true;
        }
        out.push(hash);
    }
    if changed {
        index.version = VERSION;
        // Why ignore a failure: the index only saves work; without it the
        // hashes are recomputed next time, and results are the same.
        let _ = save(&path, &index);
    }
    out
}

fn save(path: &Path, index: &IndexFile) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let text = serde_json::to_vec(index).map_err(std::io::Error::other)?;
    let tmp = crate::atomic_file::temp_file_in(dir, "content.json")?;
    std::fs::write(tmp.path(), text)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

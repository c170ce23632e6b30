//! What identifies a data set without opening a tensor: its rows (manifest
//! or image folder), the content hashes of its image files and the key the
//! stage store builds from them. Why in the core: `exp plan` and `exp status`
//! mark stages cached or pending from these keys and must not load libtorch.

pub mod content;
mod error;
pub mod files;
pub mod source;

pub use error::DataError;

use crate::spec::{DataSource, DataSpec};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Key of what a result depends on in a data set's files: every row's id,
/// split, label and metadata values, and each image's content hash.
///
/// Why: without it a relabelled manifest, or images added or replaced, would
/// leave the stage store's keys unchanged and `exp run` would reuse results
/// trained on the old data. Why content hashes (BLAKE3, kept in the content
/// index beside the decode cache and recomputed only when a file's size,
/// mtime, ctime or inode changed): an edit that keeps the byte size, or whose
/// mtime was restored (`cp -p`, `rsync -a`), is still seen, while copying the
/// data set elsewhere changes no key. A generated data set is a pure function
/// of its settings, which the stage key already holds, so it needs no file
/// access.
pub fn content_key(spec: &DataSpec) -> Result<String, DataError> {
    if let DataSource::Generated(_) = &spec.source {
        return Ok("generated".into());
    }
    let (src, _row_problems) = source::read(spec)?;
    let hashes = content::hashes(spec, &src.records);
    let mut h = blake3::Hasher::new();
    h.update(b"exp-data-content-v2\0");
    let mut part = |bytes: &[u8]| {
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    for (r, hash) in src.records.iter().zip(&hashes) {
        part(r.id.as_bytes());
        part(r.split.as_bytes());
        part(r.label.as_bytes());
        for m in &r.meta {
            match m {
                Some(v) => part(format!("+{v}").as_bytes()),
                None => part(b"-"),
            }
        }
        match hash {
            Ok(x) => part(x.as_bytes()),
            Err(_) => part(b"unreadable"),
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

/// The cache directory: the data's `cache` field, else `$EXP_CACHE`, else `~/.cache/exp`;
/// decoded images go to its `decoded/` subdirectory.
pub fn cache_root(spec: &DataSpec) -> PathBuf {
    let base = spec
        .cache_dir
        .clone()
        .or_else(|| {
            std::env::var_os("EXP_CACHE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("exp")))
        .unwrap_or_else(|| PathBuf::from(".exp-cache"));
    base.join("decoded")
}

/// Warn about data sets whose content could not be read (`exp plan`,
/// `exp status`): their cells' stages are keyed without it and show as
/// pending, and `exp run` will fail them when it prepares the data.
pub fn warn_unreadable(unreadable: &[(String, DataError)]) {
    for (name, e) in unreadable {
        eprintln!("warning: data `{name}` cannot be read ({e}); its cells show as pending");
    }
}

//! The decode cache: every image of a data set decoded once, its shorter side
//! resized to `cache_size`, stored as uint8 HWC in one memory-mapped file per
//! (data, size) with a JSON index beside it.
//!
//! The file name carries a content key: a hash of the cache settings and of
//! every source file's identity (manifest path, resolved path, byte size and
//! modification time). Any change to an image, a row or the size gives a new
//! key, so the stale file is never read; it is removed once the new one is
//! complete. Creation is atomic: data and index are written to temp files in
//! the cache directory and renamed, the index last, so a crash leaves either
//! the old cache or none.

use super::decode::{self, Rgb};
use super::error::DataError;
use super::source::Record;
use crate::spec::{BadImagePolicy, DataSpec};
use memmap2::Mmap;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

const VERSION: u32 = 1;

/// Where one image lives in the cache file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub offset: u64,
    pub w: u32,
    pub h: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct Index {
    version: u32,
    key: String,
    cache_size: u32,
    total_bytes: u64,
    /// One per record, in record order; None = skipped.
    entries: Vec<Option<Entry>>,
    /// (record index, reason) of images that could not be decoded.
    skipped: Vec<(usize, String)>,
}

/// An opened cache.
#[derive(Debug)]
pub struct Cache {
    pub path: PathBuf,
    mmap: Mmap,
    pub entries: Vec<Option<Entry>>,
    pub skipped: Vec<(usize, String)>,
    /// Images decoded while opening (0 when the cache was reused).
    pub decoded: usize,
}

impl Cache {
    /// The cached image of record `i` as (width, height, HWC bytes).
    pub fn image(&self, i: usize) -> Option<(u32, u32, &[u8])> {
        let e = self.entries.get(i).copied().flatten()?;
        let len = e.w as usize * e.h as usize * 3;
        let start = e.offset as usize;
        self.mmap.get(start..start + len).map(|b| (e.w, e.h, b))
    }
}

/// The cache directory: `cache_dir`, else `$EXP_CACHE`, else `~/.cache/exp`;
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

fn safe_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Open the cache of `records` at `spec.cache_size`, building it if needed.
pub(crate) fn open_or_build(
    spec: &DataSpec,
    records: &[Record],
    progress: bool,
) -> Result<Cache, DataError> {
    let size = spec.cache_size;
    if size == 0 || size > 4096 {
        return Err(DataError::Settings(format!(
            "cache_size must be 1..=4096 px, got {size}"
        )));
    }
    // Content key over the settings and every file's identity.
    let mut h = blake3::Hasher::new();
    h.update(b"exp-decode-cache\0");
    h.update(&VERSION.to_le_bytes());
    h.update(&size.to_le_bytes());
    let mut missing: Vec<usize> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        h.update(r.id.as_bytes());
        h.update(&[0]);
        h.update(r.path.as_os_str().as_encoded_bytes());
        h.update(&[0]);
        match std::fs::metadata(&r.path) {
            Ok(m) => {
                h.update(&m.len().to_le_bytes());
                let mtime = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                h.update(&mtime.to_le_bytes());
            }
            Err(_) => {
                if spec.on_bad_image == BadImagePolicy::Fail {
                    return Err(DataError::MissingImage {
                        location: r.location.clone(),
                        path: r.path.clone(),
                    });
                }
                h.update(b"missing");
                missing.push(i);
            }
        }
    }
    let key = h.finalize().to_hex().to_string();
    let key = &key[..20];
    let dir = cache_root(spec);
    std::fs::create_dir_all(&dir).map_err(|e| DataError::Cache {
        path: dir.clone(),
        reason: e.to_string(),
    })?;
    let stem = format!("{}-{}-", safe_name(&spec.name), size);
    let bin = dir.join(format!("{stem}{key}.bin"));
    let idx = dir.join(format!("{stem}{key}.idx.json"));
    if let Some(c) = try_open(&bin, &idx, key, records.len()) {
        check_skipped(spec, records, &c)?;
        return Ok(c);
    }
    let cache = build(spec, records, &bin, &idx, key, &missing, progress)?;
    // Remove older caches of the same (data, size).
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            if n.starts_with(&stem)
                && !n.contains(key)
                && (n.ends_with(".bin") || n.ends_with(".idx.json"))
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(cache)
}

fn check_skipped(spec: &DataSpec, records: &[Record], c: &Cache) -> Result<(), DataError> {
    if spec.on_bad_image == BadImagePolicy::Fail {
        if let Some((i, reason)) = c.skipped.first() {
            let r = &records[*i];
            return Err(DataError::BadImage {
                location: r.location.clone(),
                path: r.path.clone(),
                reason: reason.clone(),
            });
        }
    }
    Ok(())
}

fn try_open(bin: &Path, idx: &Path, key: &str, n: usize) -> Option<Cache> {
    let text = std::fs::read_to_string(idx).ok()?;
    let index: Index = serde_json::from_str(&text).ok()?;
    if index.version != VERSION || index.key != key || index.entries.len() != n {
        return None;
    }
    let file = std::fs::File::open(bin).ok()?;
    if file.metadata().ok()?.len() < index.total_bytes {
        return None;
    }
    // SAFETY: the file is only ever created whole and renamed into place,
    // never modified after; a concurrent rebuild writes a new file.
    let mmap = unsafe { Mmap::map(&file) }.ok()?;
    Some(Cache {
        path: bin.to_path_buf(),
        mmap,
        entries: index.entries,
        skipped: index.skipped,
        decoded: 0,
    })
}

struct Progress {
    bar: Option<indicatif::ProgressBar>,
    plain: bool,
    total: usize,
    done: usize,
    next_line: usize,
}

impl Progress {
    fn new(show: bool, total: usize, what: &str) -> Self {
        let term = std::io::stderr().is_terminal();
        let bar = (show && term).then(|| {
            let b = indicatif::ProgressBar::new(total as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{msg} {bar:30} {pos}/{len} [{elapsed_precise}, {per_sec}, eta {eta}]",
            ) {
                b.set_style(style);
            }
            b.set_message(format!("decoding {what}"));
            b
        });
        if show && !term {
            eprintln!("exp: decoding {total} images of {what} into the cache");
        }
        Self {
            bar,
            plain: show && !term,
            total,
            done: 0,
            next_line: total / 10,
        }
    }
    fn inc(&mut self, n: usize) {
        self.done += n;
        if let Some(b) = &self.bar {
            b.inc(n as u64);
        } else if self.plain && self.done >= self.next_line && self.done < self.total {
            eprintln!("exp: decoded {}/{}", self.done, self.total);
            self.next_line = self.done + self.total.div_ceil(10);
        }
    }
    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        } else if self.plain {
            eprintln!("exp: decoded {}/{}", self.done, self.total);
        }
    }
}

fn build(
    spec: &DataSpec,
    records: &[Record],
    bin: &Path,
    idx: &Path,
    key: &str,
    missing: &[usize],
    progress: bool,
) -> Result<Cache, DataError> {
    let dir = bin.parent().unwrap_or(Path::new("."));
    let cerr = |p: &Path, e: &dyn std::fmt::Display| DataError::Cache {
        path: p.to_path_buf(),
        reason: e.to_string(),
    };
    let tmp = crate::atomic_file::temp_file_in(dir, "cache.bin").map_err(|e| cerr(dir, &e))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file());
    let mut entries = vec![None; records.len()];
    let mut skipped: Vec<(usize, String)> = Vec::new();
    let mut offset = 0u64;
    let mut bar = Progress::new(progress, records.len(), &spec.name);
    // Why chunks: decode in parallel but keep at most one chunk of decoded
    // pixels in memory, and write in record order (a reproducible file).
    let chunk = 64 * rayon::current_num_threads().max(1);
    let mut decoded = 0usize;
    for start in (0..records.len()).step_by(chunk) {
        let end = (start + chunk).min(records.len());
        let results: Vec<Result<Rgb, String>> = (start..end)
            .into_par_iter()
            .map(|i| {
                if missing.binary_search(&i).is_ok() {
                    return Err("file does not exist".to_string());
                }
                decode::decode_resized(&records[i].path, spec.cache_size)
            })
            .collect();
        for (k, res) in results.into_iter().enumerate() {
            let i = start + k;
            match res {
                Ok(img) => {
                    out.write_all(&img.data).map_err(|e| cerr(bin, &e))?;
                    entries[i] = Some(Entry {
                        offset,
                        w: img.w,
                        h: img.h,
                    });
                    offset += img.data.len() as u64;
                    decoded += 1;
                }
                Err(reason) => {
                    let r = &records[i];
                    if spec.on_bad_image == BadImagePolicy::Fail {
                        bar.finish();
                        return Err(if r.path.exists() {
                            DataError::BadImage {
                                location: r.location.clone(),
                                path: r.path.clone(),
                                reason,
                            }
                        } else {
                            DataError::MissingImage {
                                location: r.location.clone(),
                                path: r.path.clone(),
                            }
                        });
                    }
                    skipped.push((i, reason));
                }
            }
        }
        bar.inc(end - start);
    }
    if offset == 0 {
        // Why: an empty file cannot be memory-mapped everywhere.
        out.write_all(&[0]).map_err(|e| cerr(bin, &e))?;
    }
    out.flush().map_err(|e| cerr(bin, &e))?;
    drop(out);
    bar.finish();
    tmp.as_file().sync_all().map_err(|e| cerr(bin, &e))?;
    tmp.persist(bin).map_err(|e| cerr(bin, &e.error))?;
    let index = Index {
        version: VERSION,
        key: key.to_string(),
        cache_size: spec.cache_size,
        total_bytes: offset,
        entries,
        skipped,
    };
    let itmp = crate::atomic_file::temp_file_in(dir, "cache.idx").map_err(|e| cerr(dir, &e))?;
    {
        let mut w = std::io::BufWriter::new(itmp.as_file());
        serde_json::to_writer(&mut w, &index).map_err(|e| cerr(idx, &e))?;
        w.flush().map_err(|e| cerr(idx, &e))?;
    }
    itmp.persist(idx).map_err(|e| cerr(idx, &e.error))?;
    let file = std::fs::File::open(bin).map_err(|e| cerr(bin, &e))?;
    // SAFETY: see `try_open`: the file is complete and never modified again.
    let mmap = unsafe { Mmap::map(&file) }.map_err(|e| cerr(bin, &e))?;
    Ok(Cache {
        path: bin.to_path_buf(),
        mmap,
        entries: index.entries,
        skipped: index.skipped,
        decoded,
    })
}

//! The decode cache: every image of a data set decoded once, its shorter side
//! resized to `cache_size`, stored as uint8 HWC in one memory-mapped file per
//! (data location, size) with a JSON index beside it.
//!
//! The file name carries a content key: a hash of the cache settings and of
//! every image's content hash ([`super::content`]), so an edited image gives
//! a new key whatever its size and mtime, and a data set moved elsewhere
//! keeps its cache. The stale file is removed once the new one is complete.
//! Creation is atomic: data and index are written to temp files in the cache
//! directory and renamed, the index last, so a crash leaves either the old
//! cache or none. Each entry has its own advisory lock beside it
//! (`….lock`): one process builds, the others wait for it, then read.
//! The pixel file is checksummed per block of records (BLAKE3 in the index)
//! and verified when opened; a block changed behind exp's back is decoded
//! again, with one warning line. Files follow the umask, so a cache
//! directory shared by a group works.

use super::decode::{self, Rgb};
use super::source::Record;
use super::DataError;
use crate::spec::{BadImagePolicy, DataSpec};
use memmap2::Mmap;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

// 2: content-hash keys and per-block checksums.
const VERSION: u32 = 2;

/// A block closes after this many bytes of pixels (or [`BLOCK_RECORDS`]).
const BLOCK_BYTES: u64 = 8 << 20;
const BLOCK_RECORDS: usize = 256;

/// The checksum of one block of records: records `first..end` occupy bytes
/// `offset..offset + len` of the pixel file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Block {
    first: usize,
    end: usize,
    offset: u64,
    len: u64,
    blake3: String,
}

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
    /// Checksums of the pixel file, block by block, covering every record.
    blocks: Vec<Block>,
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

pub use exp_lang::dataset::cache_root;

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

/// Open the cache of `records` at `spec.cache_size`, building (or
/// repairing) it if needed. `hashes` are the records' content hashes.
pub(crate) fn open_or_build(
    spec: &DataSpec,
    records: &[Record],
    hashes: &[super::content::ContentHash],
    progress: bool,
) -> Result<Cache, DataError> {
    let size = spec.cache_size;
    if size == 0 || size > 4096 {
        return Err(DataError::Settings(format!(
            "cache_size must be 1..=4096 px, got {size}"
        )));
    }
    // Content key over the settings and every image's content.
    let mut h = blake3::Hasher::new();
    h.update(b"exp-decode-cache\0");
    h.update(&VERSION.to_le_bytes());
    h.update(&size.to_le_bytes());
    // (record, why) of files that cannot be read at all.
    let mut missing: Vec<(usize, String)> = Vec::new();
    for (i, (r, hash)) in records.iter().zip(hashes).enumerate() {
        match hash {
            Ok(x) => {
                h.update(x.as_bytes());
            }
            Err(reason) => {
                if !r.path.exists() {
                    if spec.on_bad_image == BadImagePolicy::Fail {
                        return Err(DataError::MissingImage {
                            location: r.location.clone(),
                            path: r.path.clone(),
                        });
                    }
                } else if spec.on_bad_image == BadImagePolicy::Fail {
                    return Err(DataError::BadImage {
                        location: r.location.clone(),
                        path: r.path.clone(),
                        reason: reason.clone(),
                    });
                }
                h.update(b"unreadable\0");
                h.update(reason.as_bytes());
                missing.push((i, reason.clone()));
            }
        }
        h.update(&[0]);
    }
    let key = h.finalize().to_hex().to_string();
    let key = &key[..20];
    let dir = cache_root(spec);
    std::fs::create_dir_all(&dir).map_err(|e| DataError::Cache {
        path: dir.clone(),
        reason: e.to_string(),
    })?;
    // Why the location in the name: two projects whose data sets share a
    // name must not evict each other's cache.
    let stem = format!(
        "{}-{}-{}-",
        safe_name(&spec.name),
        super::content::location_key(spec),
        size
    );
    let bin = dir.join(format!("{stem}{key}.bin"));
    let idx = dir.join(format!("{stem}{key}.idx.json"));
    let lock = dir.join(format!("{stem}{key}.lock"));
    if let Some(Opened::Valid(c)) = try_open(&bin, &idx, key, records.len()) {
        check_skipped(spec, records, &c)?;
        return Ok(c);
    }
    let _held = super::lock_or_wait(&lock, &format!("the decode cache {}", bin.display()))?;
    let reuse = match try_open(&bin, &idx, key, records.len()) {
        Some(Opened::Valid(c)) => {
            check_skipped(spec, records, &c)?;
            return Ok(c);
        }
        Some(Opened::Damaged(old, bad)) => {
            eprintln!(
                "exp: warning: decode cache {}: {} of {} blocks do not match their checksum (changed on disk); decoding those images again",
                bin.display(),
                bad.len(),
                old.blocks.len()
            );
            Some((old, bad))
        }
        None => None,
    };
    let cache = build(
        spec,
        records,
        &bin,
        &idx,
        key,
        &missing,
        reuse.as_ref(),
        progress,
    )?;
    // Remove older caches of the same (data, location, size); a lock file
    // only when no process holds it.
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            if !n.starts_with(&stem) || n.contains(key) {
                continue;
            }
            if n.ends_with(".bin") || n.ends_with(".idx.json") {
                let _ = std::fs::remove_file(e.path());
            } else if n.ends_with(".lock") {
                if let Ok(Some(_l)) = crate::exec::lock::FileLock::try_acquire(&e.path()) {
                    let _ = std::fs::remove_file(e.path());
                }
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

/// An opened cache file: valid, or with blocks whose checksum fails.
enum Opened {
    Valid(Cache),
    Damaged(OldCache, Vec<usize>),
}

/// A cache file with damaged blocks, kept open to copy its good blocks.
struct OldCache {
    mmap: Mmap,
    entries: Vec<Option<Entry>>,
    skipped: Vec<(usize, String)>,
    blocks: Vec<Block>,
}

fn try_open(bin: &Path, idx: &Path, key: &str, n: usize) -> Option<Opened> {
    let text = std::fs::read_to_string(idx).ok()?;
    let index: Index = serde_json::from_str(&text).ok()?;
    if index.version != VERSION || index.key != key || index.entries.len() != n {
        return None;
    }
    let file = std::fs::File::open(bin).ok()?;
    // SAFETY: the file is only ever created whole and renamed into place,
    // never modified after by exp; a concurrent rebuild writes a new file.
    // A change by another program is caught by the block checksums below.
    let mmap = unsafe { Mmap::map(&file) }.ok()?;
    let bad: Vec<usize> = index
        .blocks
        .par_iter()
        .enumerate()
        .filter(|(_, b)| {
            let bytes = usize::try_from(b.offset)
                .ok()
                .zip(usize::try_from(b.offset + b.len).ok())
                .and_then(|(s, e)| mmap.get(s..e));
            bytes.is_none_or(|bytes| blake3::hash(bytes).to_hex().as_str() != b.blake3)
        })
        .map(|(i, _)| i)
        .collect();
    let covered = index.blocks.last().map_or(0, |b| b.end) == n
        && index.blocks.windows(2).all(|w| w[0].end == w[1].first);
    if !covered {
        return None;
    }
    if bad.is_empty() {
        Some(Opened::Valid(Cache {
            path: bin.to_path_buf(),
            mmap,
            entries: index.entries,
            skipped: index.skipped,
            decoded: 0,
        }))
    } else {
        Some(Opened::Damaged(
            OldCache {
                mmap,
                entries: index.entries,
                skipped: index.skipped,
                blocks: index.blocks,
            },
            bad,
        ))
    }
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

#[allow(clippy::too_many_arguments)]
fn build(
    spec: &DataSpec,
    records: &[Record],
    bin: &Path,
    idx: &Path,
    key: &str,
    missing: &[(usize, String)],
    reuse: Option<&(OldCache, Vec<usize>)>,
    progress: bool,
) -> Result<Cache, DataError> {
    let dir = bin.parent().unwrap_or(Path::new("."));
    let cerr = |p: &Path, e: &dyn std::fmt::Display| DataError::Cache {
        path: p.to_path_buf(),
        reason: e.to_string(),
    };
    // Records whose bytes can be copied from a damaged cache's good blocks.
    let mut reusable = vec![false; records.len()];
    if let Some((old, bad)) = reuse {
        for (bi, b) in old.blocks.iter().enumerate() {
            if bad.binary_search(&bi).is_err() {
                for r in reusable.iter_mut().take(b.end).skip(b.first) {
                    *r = true;
                }
            }
        }
    }
    let old_bytes = |i: usize| -> Option<Result<Rgb, String>> {
        let (old, _) = reuse?;
        if !reusable[i] {
            return None;
        }
        Some(match old.entries[i] {
            Some(e) => {
                let start = e.offset as usize;
                let len = e.w as usize * e.h as usize * 3;
                match old.mmap.get(start..start + len) {
                    Some(b) => Ok(Rgb {
                        w: e.w,
                        h: e.h,
                        data: b.to_vec(),
                    }),
                    None => return None,
                }
            }
            None => Err(old
                .skipped
                .iter()
                .find(|(k, _)| *k == i)
                .map_or_else(|| "skipped".to_string(), |(_, r)| r.clone())),
        })
    };
    let tmp = crate::atomic_file::temp_file_in(dir, "cache.bin").map_err(|e| cerr(dir, &e))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file());
    let mut entries = vec![None; records.len()];
    let mut skipped: Vec<(usize, String)> = Vec::new();
    let mut blocks: Vec<Block> = Vec::new();
    let mut block = (0usize, 0u64, blake3::Hasher::new());
    let mut offset = 0u64;
    let todo = (0..records.len()).filter(|&i| !reusable[i]).count();
    let mut bar = Progress::new(progress && todo > 0, todo, &spec.name);
    // Why chunks: decode in parallel but keep at most one chunk of decoded
    // pixels in memory, and write in record order (a reproducible file).
    let chunk = 64 * rayon::current_num_threads().max(1);
    let mut decoded = 0usize;
    for start in (0..records.len()).step_by(chunk) {
        let end = (start + chunk).min(records.len());
        let results: Vec<(bool, Result<Rgb, String>)> = (start..end)
            .into_par_iter()
            .map(|i| {
                if let Some(r) = old_bytes(i) {
                    return (false, r);
                }
                if let Ok(k) = missing.binary_search_by_key(&i, |(j, _)| *j) {
                    return (true, Err(missing[k].1.clone()));
                }
                (
                    true,
                    decode::decode_resized(&records[i].path, spec.cache_size),
                )
            })
            .collect();
        let mut fresh = 0;
        for (k, (new, res)) in results.into_iter().enumerate() {
            let i = start + k;
            fresh += usize::from(new);
            match res {
                Ok(img) => {
                    out.write_all(&img.data).map_err(|e| cerr(bin, &e))?;
                    block.2.update(&img.data);
                    entries[i] = Some(Entry {
                        offset,
                        w: img.w,
                        h: img.h,
                    });
                    offset += img.data.len() as u64;
                    decoded += usize::from(new);
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
            if offset - block.1 >= BLOCK_BYTES
                || i + 1 - block.0 >= BLOCK_RECORDS
                || i + 1 == records.len()
            {
                let done = std::mem::replace(&mut block, (i + 1, offset, blake3::Hasher::new()));
                blocks.push(Block {
                    first: done.0,
                    end: i + 1,
                    offset: done.1,
                    len: offset - done.1,
                    blake3: done.2.finalize().to_hex().to_string(),
                });
            }
        }
        bar.inc(fresh);
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
        blocks,
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

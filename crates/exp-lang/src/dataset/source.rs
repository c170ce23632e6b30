//! Reading a data set's rows: a CSV manifest or an ImageFolder tree, into one
//! list of records with their split, label and raw metadata values.
//!
//! Fatal problems (no manifest, a missing column) are errors; problems of one
//! row (bad row, duplicate path, unknown label, empty split) are collected so
//! `exp check --data` can list them all and `prepare` can fail on the first.

use super::error::DataError;

/// File name of a generated data set's manifest, in its root.
pub const GENERATED_MANIFEST: &str = "manifest.csv";
use crate::spec::{DataSource, DataSpec};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// One image of the data set.
#[derive(Debug, Clone)]
pub struct Record {
    /// Stable id: the path as written in the manifest (or relative to the
    /// ImageFolder root, with `/` separators).
    pub id: String,
    /// Resolved file path.
    pub path: PathBuf,
    /// The file's canonical path (symlinks, `.`, `..` and `//` resolved):
    /// one file under two spellings is one file.
    pub canonical: PathBuf,
    pub label: String,
    pub split: String,
    /// `manifest.csv:12` or the image path: where to look when it is wrong.
    pub location: String,
    /// Raw values of the `metadata` columns (None = missing).
    pub meta: Vec<Option<String>>,
    /// 1-based manifest line (0 for image folders).
    pub row: usize,
}

#[derive(Debug, Clone)]
pub struct Source {
    pub records: Vec<Record>,
    /// Manifest columns (empty for image folders).
    pub columns: Vec<String>,
    pub manifest: Option<PathBuf>,
    /// Sorted class names of the train split.
    pub classes: Vec<String>,
    /// Files under an image-folder root that are not images of the layout,
    /// with why (said by `exp check --data` and `exp run`, never silent).
    pub ignored: Vec<(PathBuf, String)>,
}

/// The canonical form of `path`: resolved on disk when it exists, else
/// made absolute and cleaned of `.` and `..` components lexically.
pub fn canonical(path: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(path) {
        return c;
    }
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A label as compared and stored: Unicode NFC, so `é` typed two ways is
/// one class.
pub fn normalise_label(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    s.nfc().collect()
}

/// Tokens read as a missing metadata value.
pub fn is_missing(v: &str) -> bool {
    matches!(
        v.trim(),
        "" | "NA" | "N/A" | "na" | "n/a" | "NaN" | "nan" | "null" | "NULL" | "None" | "?"
    )
}

/// Read the rows of `spec` (the generated source must already be written).
/// Returns the records and the per-row problems found.
pub fn read(spec: &DataSpec) -> Result<(Source, Vec<DataError>), DataError> {
    let (mut src, mut problems) = match &spec.source {
        DataSource::Manifest { manifest, root } => read_manifest(spec, manifest, root)?,
        DataSource::Generated(g) => read_manifest(spec, &g.root.join(GENERATED_MANIFEST), &g.root)?,
        DataSource::ImageFolder { root } => read_folder(spec, root)?,
    };
    check_labels(spec, &mut src, &mut problems);
    Ok((src, problems))
}

fn read_manifest(
    spec: &DataSpec,
    manifest: &Path,
    root: &Path,
) -> Result<(Source, Vec<DataError>), DataError> {
    let file = super::files::open_regular(manifest).map_err(|e| DataError::io(manifest, e))?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(file);
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| DataError::io(manifest, e))?
        .iter()
        .map(|s| s.to_string())
        .collect();
    for (i, h) in headers.iter().enumerate() {
        if !h.is_empty() && headers[..i].contains(h) {
            return Err(DataError::DuplicateColumn {
                manifest: manifest.to_path_buf(),
                column: h.clone(),
            });
        }
    }
    let col = |name: &str| -> Result<usize, DataError> {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| DataError::MissingColumn {
                manifest: manifest.to_path_buf(),
                column: name.to_string(),
                found: headers.join(", "),
            })
    };
    let (ip, il, is) = (
        col(&spec.columns.path)?,
        col(&spec.columns.label)?,
        col(&spec.columns.split)?,
    );
    let meta_cols = spec
        .metadata
        .iter()
        .map(|m| col(m))
        .collect::<Result<Vec<_>, _>>()?;
    let mut records = Vec::new();
    let mut problems = Vec::new();
    // Canonical path → (location, spelling, split) of its first row.
    let mut seen: HashMap<PathBuf, (String, String, String)> = HashMap::new();
    let mshow = manifest.display().to_string();
    for (i, rec) in rdr.records().enumerate() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let row = e.position().map_or(i + 2, |p| p.line() as usize);
                problems.push(DataError::BadRow {
                    manifest: manifest.to_path_buf(),
                    row,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let row = rec.position().map_or(i + 2, |p| p.line() as usize);
        let bad = |reason: String| DataError::BadRow {
            manifest: manifest.to_path_buf(),
            row,
            reason,
        };
        if rec.len() != headers.len() {
            // A trailing blank line is not a row.
            if rec.len() == 1 && rec.get(0).is_some_and(str::is_empty) {
                continue;
            }
            problems.push(bad(format!(
                "{} fields, expected {} ({})",
                rec.len(),
                headers.len(),
                headers.join(",")
            )));
            continue;
        }
        let get = |i: usize| rec.get(i).unwrap_or("").to_string();
        let (id, label, split) = (get(ip), get(il), get(is));
        if id.is_empty() || label.is_empty() || split.is_empty() {
            let which = [
                (&id, &spec.columns.path),
                (&label, &spec.columns.label),
                (&split, &spec.columns.split),
            ]
            .iter()
            .filter(|(v, _)| v.is_empty())
            .map(|(_, n)| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
            problems.push(bad(format!("empty {which}")));
            continue;
        }
        let label = normalise_label(&label);
        let location = format!("{mshow}:{row}");
        let p = Path::new(&id);
        let path = if p.is_absolute() {
            p.to_path_buf()
        } else {
            root.join(p)
        };
        let canon = canonical(&path);
        if let Some((first, spelling, first_split)) = seen.get(&canon) {
            let mut first = first.clone();
            if *spelling != id {
                first.push_str(&format!(" as `{spelling}`"));
            }
            if *first_split != split {
                first.push_str(&format!(
                    ", split `{first_split}`; here split `{split}`: the same file in two splits leaks"
                ));
            }
            problems.push(DataError::DuplicatePath {
                location,
                path: id,
                first,
            });
            continue;
        }
        seen.insert(canon.clone(), (location.clone(), id.clone(), split.clone()));
        let meta = meta_cols
            .iter()
            .map(|&c| {
                let v = get(c);
                (!is_missing(&v)).then_some(v)
            })
            .collect();
        records.push(Record {
            id,
            path,
            canonical: canon,
            label,
            split,
            location,
            meta,
            row,
        });
    }
    Ok((
        Source {
            records,
            columns: headers,
            manifest: Some(manifest.to_path_buf()),
            classes: Vec::new(),
            ignored: Vec::new(),
        },
        problems,
    ))
}

/// Entries of `dir`, sorted: (visible subdirectories, other entries with
/// why they are not used as a directory).
type DirEntries = (Vec<(String, PathBuf)>, Vec<PathBuf>);

fn dir_entries(dir: &Path) -> Result<DirEntries, DataError> {
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let e = e.map_err(|e| DataError::io(dir, e))?;
        let name = e.file_name().to_string_lossy().to_string();
        if e.path().is_dir() && !name.starts_with('.') {
            dirs.push((name, e.path()));
        } else {
            files.push(e.path());
        }
    }
    dirs.sort();
    files.sort();
    Ok((dirs, files))
}

/// Every image file under a class directory, descending into subfolders
/// (sorted, hidden entries skipped); what is not an image goes to `ignored`.
fn walk_class(
    dir: &Path,
    exts: &[&str],
    depth: usize,
    files: &mut Vec<PathBuf>,
    ignored: &mut Vec<(PathBuf, String)>,
) -> Result<(), DataError> {
    // Why a cap: a symlink loop would otherwise recurse forever.
    if depth > 16 {
        ignored.push((
            dir.to_path_buf(),
            "nested deeper than 16 directories".into(),
        ));
        return Ok(());
    }
    let (dirs, entries) = dir_entries(dir)?;
    for p in entries {
        let name = p
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default();
        let ext = p
            .extension()
            .map(|x| x.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if name.starts_with('.') {
            ignored.push((p, "hidden".into()));
        } else if p.is_dir() {
            ignored.push((p, "hidden directory".into()));
        } else if !exts.contains(&ext.as_str()) {
            let why = if ext.is_empty() {
                "no file extension".to_string()
            } else {
                format!(".{ext} is not an image format exp reads")
            };
            ignored.push((p, why));
        } else {
            files.push(p);
        }
    }
    for (_, d) in dirs {
        walk_class(&d, exts, depth + 1, files, ignored)?;
    }
    Ok(())
}

fn read_folder(spec: &DataSpec, root: &Path) -> Result<(Source, Vec<DataError>), DataError> {
    let mut records = Vec::new();
    let mut problems = Vec::new();
    let mut ignored = Vec::new();
    if !spec.metadata.is_empty() {
        return Err(DataError::Settings(format!(
            "data `{}` is an image folder, which has no metadata columns; remove `metadata` or use a manifest",
            spec.name
        )));
    }
    let exts = super::files::image_extensions();
    let (splits, root_files) = dir_entries(root)?;
    for p in root_files {
        if !p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            ignored.push((p, "not inside a <split>/<class>/ directory".into()));
        }
    }
    for (split, sdir) in splits {
        let mut n = 0;
        let (classes, split_files) = dir_entries(&sdir)?;
        for p in split_files {
            ignored.push((p, "not inside a <class>/ directory".into()));
        }
        for (class, cdir) in classes {
            let label = normalise_label(&class);
            let mut files = Vec::new();
            walk_class(&cdir, &exts, 0, &mut files, &mut ignored)?;
            for p in files {
                let rel = p.strip_prefix(root).unwrap_or(&p);
                let id = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                let location = p.display().to_string();
                records.push(Record {
                    id,
                    canonical: canonical(&p),
                    path: p,
                    label: label.clone(),
                    split: split.clone(),
                    location,
                    meta: Vec::new(),
                    row: 0,
                });
                n += 1;
            }
        }
        if n == 0 {
            problems.push(DataError::EmptySplit {
                data: spec.name.clone(),
                split: split.clone(),
                help: format!(
                    "put images in {}/<class>/ or remove the directory",
                    sdir.display()
                ),
            });
        }
    }
    if records.is_empty() && problems.is_empty() {
        return Err(DataError::NoImages {
            root: root.to_path_buf(),
        });
    }
    Ok((
        Source {
            records,
            columns: Vec::new(),
            manifest: None,
            classes: Vec::new(),
            ignored,
        },
        problems,
    ))
}

/// Fix the class order (sorted labels of the train split) and report labels
/// of other splits that the model could never predict.
fn check_labels(spec: &DataSpec, src: &mut Source, problems: &mut Vec<DataError>) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &src.records {
        if r.split == "train" {
            *counts.entry(r.label.as_str()).or_default() += 1;
        }
    }
    if counts.is_empty() {
        problems.push(DataError::EmptySplit {
            data: spec.name.clone(),
            split: "train".into(),
            help: match &src.manifest {
                Some(m) => format!("give some rows of {} the split `train`", m.display()),
                None => "add images under <root>/train/<class>/".into(),
            },
        });
        return;
    }
    let classes: Vec<String> = counts.keys().map(|s| s.to_string()).collect();
    let shown = if classes.len() > 12 {
        format!(
            "{}, … ({} classes)",
            classes[..12].join(", "),
            classes.len()
        )
    } else {
        classes.join(", ")
    };
    for r in &src.records {
        if classes.binary_search(&r.label).is_err() {
            problems.push(DataError::UnknownLabel {
                location: r.location.clone(),
                label: r.label.clone(),
                classes: shown.clone(),
            });
        }
    }
    src.classes = classes;
}

/// Split name → count, for summaries.
pub fn split_sizes(src: &Source) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in &src.records {
        *m.entry(r.split.clone()).or_default() += 1;
    }
    m
}

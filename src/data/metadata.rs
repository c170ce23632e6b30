//! Encoding metadata columns into one float vector per image.
//!
//! A column's kind is declared (`metadata = [age: numeric, site: category]`)
//! or inferred: numeric when every present value is a number, categorical
//! when most are not. A column that is mostly numbers with some words in it
//! is an error naming the rows (`exp::data::metadata_type`): it is almost
//! always a numeric column with a stray `unknown`, which inferring
//! "categorical" would silently turn into one one-hot feature per age.
//! Numeric columns are standardised with the train split's mean and standard
//! deviation (missing → 0, i.e. the mean, plus a `<missing>` indicator when
//! the column has gaps); categorical ones are one-hot over the train split's
//! values plus an `<unknown>` slot for missing or unseen values. A column
//! with no value in the train split, and a column that is the label (or a
//! one-to-one function of it), are errors.

use super::source::Record;
use super::DataError;
use crate::spec::MetadataKind;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub enum ColumnEncoding {
    Numeric {
        mean: f64,
        std: f64,
        has_missing: bool,
    },
    Categorical {
        values: Vec<String>,
    },
}

/// The fitted encoding of every metadata column.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataEncoding {
    pub columns: Vec<(String, ColumnEncoding)>,
    pub names: Vec<String>,
}

impl MetadataEncoding {
    pub fn dim(&self) -> usize {
        self.names.len()
    }
}

fn number(v: &str) -> Option<f64> {
    v.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// Rows shown in one message, then "… (N rows)".
fn rows_text(rows: &[usize]) -> String {
    let shown: Vec<String> = rows.iter().take(8).map(|r| r.to_string()).collect();
    if rows.len() > 8 {
        format!("{}, … ({} rows)", shown.join(", "), rows.len())
    } else {
        shown.join(", ")
    }
}

/// Fit on the train split of `records` and return the encoding, plus the
/// problems found (each naming its row or column). `kinds` holds the
/// declared kinds; `label_column` is the manifest's label column name.
pub(crate) fn fit(
    columns: &[String],
    kinds: &BTreeMap<String, MetadataKind>,
    label_column: &str,
    records: &[Record],
    manifest: Option<&Path>,
) -> (MetadataEncoding, Vec<DataError>) {
    let mut out = Vec::new();
    let mut names = Vec::new();
    let mut problems = Vec::new();
    let mpath = manifest.map(Path::to_path_buf).unwrap_or_default();
    for (c, name) in columns.iter().enumerate() {
        if name == label_column {
            problems.push(DataError::LabelInMetadata {
                column: name.clone(),
                why: "is the label column".into(),
            });
        } else if let Some(why) = label_function(c, records) {
            problems.push(DataError::LabelInMetadata {
                column: name.clone(),
                why,
            });
        }
        if !records
            .iter()
            .any(|r| r.split == "train" && r.meta[c].is_some())
        {
            problems.push(DataError::EmptyColumn {
                manifest: mpath.clone(),
                column: name.clone(),
            });
        }
        let present: Vec<(&Record, &str)> = records
            .iter()
            .filter_map(|r| r.meta[c].as_deref().map(|v| (r, v)))
            .collect();
        let words: Vec<(&Record, &str)> = present
            .iter()
            .copied()
            .filter(|(_, v)| number(v).is_none())
            .collect();
        let kind = match kinds.get(name) {
            Some(k) => *k,
            None if words.is_empty() && !present.is_empty() => MetadataKind::Numeric,
            None if words.len() * 2 > present.len() || present.is_empty() => MetadataKind::Category,
            None => {
                // Mostly numbers, some words: ambiguous, so say so.
                let rows: Vec<usize> = words.iter().map(|(r, _)| r.row).collect();
                let values: BTreeSet<&str> = words.iter().map(|(_, v)| *v).collect();
                let values: Vec<String> = values.iter().take(5).map(|v| format!("`{v}`")).collect();
                problems.push(DataError::MetadataType {
                    manifest: mpath.clone(),
                    row: rows[0],
                    column: name.clone(),
                    problem: format!(
                        "is {}% numbers but holds {} in rows {}",
                        (present.len() - words.len()) * 100 / present.len(),
                        values.join(", "),
                        rows_text(&rows)
                    ),
                    help: format!(
                        "if those values mean \"unknown\", leave the cells empty (or NA); if the column really is categorical, declare it: `metadata = [{name}: category]`"
                    ),
                });
                MetadataKind::Numeric
            }
        };
        if kind == MetadataKind::Numeric {
            if kinds.contains_key(name) {
                for (r, v) in &words {
                    problems.push(DataError::BadValue {
                        manifest: mpath.clone(),
                        row: r.row,
                        column: name.clone(),
                        value: v.to_string(),
                    });
                }
            }
            let mut has_missing = false;
            let (mut s, mut s2, mut n) = (0.0f64, 0.0f64, 0usize);
            for r in records {
                match r.meta[c].as_deref() {
                    None => has_missing = true,
                    Some(v) => {
                        if let (Some(x), true) = (number(v), r.split == "train") {
                            s += x;
                            s2 += x * x;
                            n += 1;
                        }
                    }
                }
            }
            let mean = if n > 0 { s / n as f64 } else { 0.0 };
            let var = if n > 0 {
                (s2 / n as f64 - mean * mean).max(0.0)
            } else {
                0.0
            };
            // Why: a constant column would divide by zero; it carries no signal anyway.
            let std = if var.sqrt() > 1e-12 { var.sqrt() } else { 1.0 };
            names.push(name.clone());
            if has_missing {
                names.push(format!("{name}=<missing>"));
            }
            out.push((
                name.clone(),
                ColumnEncoding::Numeric {
                    mean,
                    std,
                    has_missing,
                },
            ));
        } else {
            let mut values: Vec<String> = records
                .iter()
                .filter(|r| r.split == "train")
                .filter_map(|r| r.meta[c].clone())
                .collect();
            values.sort();
            values.dedup();
            for v in &values {
                names.push(format!("{name}={v}"));
            }
            names.push(format!("{name}=<unknown>"));
            out.push((name.clone(), ColumnEncoding::Categorical { values }));
        }
    }
    (
        MetadataEncoding {
            columns: out,
            names,
        },
        problems,
    )
}

/// Why column `c` is a one-to-one function of the label, if it is: every
/// class has exactly one value, no two classes share a value, and no row
/// lacks it. Why only then: a column that merely correlates with the label
/// is what metadata is for.
fn label_function(c: usize, records: &[Record]) -> Option<String> {
    let mut by_label: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut by_value: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in records {
        let v = r.meta[c].as_deref()?;
        by_label.entry(r.label.as_str()).or_default().insert(v);
        by_value.entry(v).or_default().insert(r.label.as_str());
    }
    let one_to_one = by_label.len() >= 2
        && by_label.values().all(|s| s.len() == 1)
        && by_value.values().all(|s| s.len() == 1);
    one_to_one.then(|| {
        let pairs: Vec<String> = by_label
            .iter()
            .take(3)
            .filter_map(|(l, v)| v.iter().next().map(|v| format!("`{v}` ↔ `{l}`")))
            .collect();
        format!(
            "is a one-to-one function of the label ({}{})",
            pairs.join(", "),
            if by_label.len() > 3 { ", …" } else { "" }
        )
    })
}

/// Encode one record's raw values (appends `enc.dim()` floats to `out`).
pub(crate) fn encode(enc: &MetadataEncoding, raw: &[Option<String>], out: &mut Vec<f32>) {
    for (c, (_, col)) in enc.columns.iter().enumerate() {
        let v = raw.get(c).and_then(|v| v.as_deref());
        match col {
            ColumnEncoding::Numeric {
                mean,
                std,
                has_missing,
            } => {
                match v
                    .and_then(|v| v.parse::<f64>().ok())
                    .filter(|x| x.is_finite())
                {
                    Some(x) => {
                        out.push(((x - mean) / std) as f32);
                        if *has_missing {
                            out.push(0.0);
                        }
                    }
                    None => {
                        out.push(0.0);
                        if *has_missing {
                            out.push(1.0);
                        }
                    }
                }
            }
            ColumnEncoding::Categorical { values } => {
                let hit = v.and_then(|v| values.binary_search_by(|x| x.as_str().cmp(v)).ok());
                for i in 0..values.len() {
                    out.push(if hit == Some(i) { 1.0 } else { 0.0 });
                }
                out.push(if hit.is_none() { 1.0 } else { 0.0 });
            }
        }
    }
}

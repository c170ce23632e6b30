//! Encoding metadata columns into one float vector per image.
//!
//! A column is numeric when at least 90 % of its present values parse as
//! numbers (then any other present value is a bad row); otherwise it is
//! categorical. Numeric columns are standardised with the train split's mean
//! and standard deviation (missing → 0, i.e. the mean, plus a `<missing>`
//! indicator when the column has gaps); categorical ones are one-hot over the
//! train split's values plus an `<unknown>` slot for missing or unseen values.

use super::error::DataError;
use super::source::Record;
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

/// Fit on the train split of `records` and return the encoding, plus the bad
/// values found (each naming its row).
pub(crate) fn fit(
    columns: &[String],
    records: &[Record],
    manifest: Option<&Path>,
) -> (MetadataEncoding, Vec<DataError>) {
    let mut out = Vec::new();
    let mut names = Vec::new();
    let mut problems = Vec::new();
    for (c, name) in columns.iter().enumerate() {
        let present: Vec<&str> = records
            .iter()
            .filter_map(|r| r.meta[c].as_deref())
            .collect();
        let numeric = present
            .iter()
            .filter(|v| v.parse::<f64>().is_ok_and(f64::is_finite))
            .count();
        let is_numeric = numeric > 0 && numeric * 10 >= present.len() * 9;
        if is_numeric {
            let mut has_missing = false;
            let (mut s, mut s2, mut n) = (0.0f64, 0.0f64, 0usize);
            for r in records {
                match r.meta[c].as_deref() {
                    None => has_missing = true,
                    Some(v) => match v.parse::<f64>() {
                        Ok(x) if x.is_finite() => {
                            if r.split == "train" {
                                s += x;
                                s2 += x * x;
                                n += 1;
                            }
                        }
                        _ => problems.push(DataError::BadValue {
                            manifest: manifest.map(Path::to_path_buf).unwrap_or_default(),
                            row: r.row,
                            column: name.clone(),
                            value: v.to_string(),
                        }),
                    },
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

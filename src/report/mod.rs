//! Reports of a sweep directory (`DIR/<sweep>`): `report.md`, the
//! self-contained `report.html`, `report.json` with every number, plots as
//! PNG and SVG under `plots/`, and the terminal table printed at the end of
//! `exp run` and by `exp report`.
//!
//! [`load`] reads the files the run left, [`analysis`] computes every number
//! (intervals, comparisons, verdicts, seed groups, decomposition, power),
//! [`render`] formats them, [`plots`] draws. docs/report.md explains each number.

pub mod analysis;
pub mod load;
pub mod plots;
pub mod render;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use thiserror::Error;

/// Why a report could not be written.
#[derive(Debug, Error, miette::Diagnostic)]
pub enum ReportError {
    #[error("no sweep at {path}: {reason}")]
    #[diagnostic(
        code(exp::report::no_sweep),
        help("pass a sweep output directory such as runs/round1 (it holds sweep.json); `exp run` writes it")
    )]
    NoSweep { path: PathBuf, reason: String },
    #[error("{path} is not a valid sweep file: {reason}")]
    #[diagnostic(
        code(exp::report::bad_file),
        help("the file was not written by this version of exp or was edited; rerun `exp run` to rewrite it")
    )]
    BadFile { path: PathBuf, reason: String },
    #[error("cannot write {path}: {reason}")]
    #[diagnostic(
        code(exp::report::write),
        help("check that the sweep directory is writable and the disk is not full")
    )]
    Write { path: PathBuf, reason: String },
}

fn write(path: PathBuf, bytes: &[u8]) -> Result<(), ReportError> {
    // Why write-then-rename: a report opened while `exp run` rewrites it is
    // never half written.
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| ReportError::Write {
            path,
            reason: e.to_string(),
        })
}

/// Write report.md, report.html, report.json and plots for a sweep directory
/// (`DIR/<sweep>`) and return the terminal summary table.
pub fn write_report(sweep_dir: &Path) -> miette::Result<String> {
    Ok(write_report_files(sweep_dir)?.0)
}

/// [`write_report`], and each cell's configuration-level verdict by cell
/// directory name (results.csv's `verdict` column).
pub fn write_report_verdicts(
    sweep_dir: &Path,
) -> miette::Result<(String, std::collections::BTreeMap<String, String>)> {
    Ok(write_report_files(sweep_dir)?)
}

type Written = (String, std::collections::BTreeMap<String, String>);

fn write_report_files(dir: &Path) -> Result<Written, ReportError> {
    let data = load::load(dir)?;
    let a = analysis::analyse(&data);
    let plot_dir = dir.join("plots");
    let mut md_plots = Vec::new();
    let mut curves = Vec::new();
    let mut confusions = Vec::new();
    let mut plot_note = None;
    let save = |plot: &plots::Plot, stem: &str| -> Result<(), ReportError> {
        plots::save(plot, &plot_dir, stem).map_err(|e| ReportError::Write {
            path: plot_dir.join(stem),
            reason: e.to_string(),
        })
    };
    match plots::ensure_font() {
        Err(e) => plot_note = Some(e),
        Ok(()) => {
            if a.cells.iter().any(|c| !c.epochs.is_empty()) {
                for curve in [plots::Curve::ValLoss, plots::Curve::ValTop1] {
                    match plots::curves(&a.cells, curve) {
                        Ok(p) => {
                            save(&p, curve.file_stem())?;
                            md_plots.push((
                                curve.title().to_string(),
                                format!("plots/{}.png", curve.file_stem()),
                            ));
                            curves.push((curve.title().to_string(), p.svg));
                        }
                        Err(e) => plot_note = Some(format!("{}: {e}", curve.title())),
                    }
                }
            }
            for c in a.cells.iter().filter(|c| !c.confusion.is_empty()) {
                // Why the replace: a baseline from another sweep is `other/cell`.
                let stem = format!("confusion_{}", c.id.replace('/', "_"));
                match plots::confusion(c) {
                    Ok(p) => {
                        save(&p, &stem)?;
                        md_plots.push((format!("confusion {}", c.id), format!("plots/{stem}.png")));
                        confusions.push((c.id.clone(), p.svg));
                    }
                    Err(e) => plot_note = Some(format!("confusion {}: {e}", c.id)),
                }
            }
        }
    }
    let json = serde_json::to_vec_pretty(&a).map_err(|e| ReportError::Write {
        path: dir.join("report.json"),
        reason: e.to_string(),
    })?;
    write(dir.join("report.json"), &json)?;
    write(
        dir.join("report.md"),
        render::markdown(&a, &md_plots).as_bytes(),
    )?;
    write(
        dir.join("report.html"),
        render::html(&a, &curves, &confusions, plot_note.as_deref()).as_bytes(),
    )?;
    Ok((render::terminal(&a), render::cell_verdicts(&a)))
}

/// `exp report DIR`.
pub fn cmd_report(dir: &Path) -> miette::Result<ExitCode> {
    let table = write_report(dir)?;
    print!("{table}");
    println!("wrote {}", dir.join("report.html").display());
    Ok(ExitCode::SUCCESS)
}

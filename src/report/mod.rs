//! Reports: markdown, HTML, JSON and plots. (Being built: issue 7.)

use std::path::Path;

/// Write report.md, report.html, report.json and plots for a sweep directory
/// (`DIR/<sweep>`) and return the terminal summary table.
pub fn write_report(_sweep_dir: &Path) -> miette::Result<String> {
    Err(miette::miette!("the report is not built yet"))
}

pub fn cmd_report(_a: &crate::cli::ReportArgs) -> miette::Result<std::process::ExitCode> {
    Err(miette::miette!("`exp report` is not built yet"))
}

//! Reports: markdown, HTML, JSON and plots. (Being built: issue 7.)

pub fn cmd_report(_a: &crate::cli::ReportArgs) -> miette::Result<std::process::ExitCode> {
    Err(miette::miette!("`exp report` is not built yet"))
}

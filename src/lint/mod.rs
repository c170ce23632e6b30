//! Lints: one module per rule. (Being built: issue 2.)

pub fn cmd_explain(_a: &crate::cli::ExplainArgs) -> miette::Result<std::process::ExitCode> {
    Err(miette::miette!("`exp explain` is not built yet"))
}

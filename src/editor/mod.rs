//! Editor support: formatter and language server. (Being built: issue 8.)

pub fn cmd_fmt(_a: &crate::cli::FmtArgs) -> miette::Result<std::process::ExitCode> {
    Err(miette::miette!("`exp fmt` is not built yet"))
}

pub fn cmd_lsp() -> miette::Result<std::process::ExitCode> {
    Err(miette::miette!("`exp lsp` is not built yet"))
}

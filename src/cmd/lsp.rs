//! `exp lsp`: serve the language server protocol on stdio until `exit`.

use std::process::ExitCode;

pub fn run() -> miette::Result<ExitCode> {
    exp_lang::editor::lsp::run_stdio()?;
    Ok(ExitCode::SUCCESS)
}

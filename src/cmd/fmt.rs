//! `exp fmt [--check] FILE...`: exit 0 when every file is (now) formatted,
//! 1 when `--check` finds an unformatted file or a file does not parse, 2 on
//! IO errors. Every file is tried even after a failure.

use exp_lang::editor::{format_path, FmtError, FmtOutcome};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Exit 1 if a file is not formatted, writing nothing.
    #[arg(long)]
    pub check: bool,
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

pub fn run(a: &Args) -> miette::Result<ExitCode> {
    let mut worst = 0u8;
    for path in &a.files {
        match format_path(path, a.check) {
            Ok(FmtOutcome::Unchanged) => {}
            Ok(FmtOutcome::Rewritten) => eprintln!("formatted {}", path.display()),
            Ok(FmtOutcome::WouldChange) => {
                eprintln!(
                    "{:?}",
                    miette::Report::new(FmtError::Unformatted { path: path.clone() })
                );
                worst = worst.max(1);
            }
            Err(e) => {
                let code = if matches!(*e, FmtError::Read { .. } | FmtError::Write { .. }) {
                    2
                } else {
                    1
                };
                eprintln!("{:?}", miette::Report::new(*e));
                worst = worst.max(code);
            }
        }
    }
    Ok(ExitCode::from(worst))
}

//! `exp report DIR`: report.md / report.html / report.json of a finished
//! sweep directory (runs in the runtime).

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A sweep output directory, e.g. runs/round1.
    pub dir: PathBuf,
}

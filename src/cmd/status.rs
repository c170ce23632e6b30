//! `exp status FILE [--out DIR]`: each cell's state (runs in the runtime).

use exp_lang::options::StatusOptions;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    pub file: PathBuf,
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
}

impl Args {
    pub fn into_options(self) -> StatusOptions {
        StatusOptions {
            file: self.file,
            out: self.out,
            sets: self.sets,
        }
    }
}

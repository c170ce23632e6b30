//! `exp score DIR [--split S] [--data FILE.exp:NAME]`: re-score trained cells
//! (runs in the runtime).

use exp_lang::options::{DeviceRequest, ScoreOptions};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A cell directory (runs/SWEEP/CELL) or a sweep directory (runs/SWEEP).
    pub dir: PathBuf,
    /// Split to score (default: each cell's score split).
    #[arg(long)]
    pub split: Option<String>,
    /// Score on this data declaration instead of the cell's own data.
    #[arg(long, value_name = "FILE.exp:NAME")]
    pub data: Option<String>,
    /// auto | cpu | cuda | cuda:N
    #[arg(long, default_value = "auto")]
    pub device: DeviceRequest,
    /// Loader worker threads (default: available cores).
    #[arg(long)]
    pub workers: Option<usize>,
}

impl Args {
    pub fn into_options(self) -> ScoreOptions {
        ScoreOptions {
            dir: self.dir,
            split: self.split,
            data: self.data,
            device: self.device,
            workers: self.workers,
        }
    }
}

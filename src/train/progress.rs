//! Progress display: an indicatif bar per epoch (loss, img/s, data-wait %)
//! when asked for and stderr is a terminal, otherwise one plain log line per
//! epoch on stderr.

use super::history::EpochRow;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

pub struct Progress {
    cell: String,
    total_epochs: u32,
    bars: bool,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(cell: &str, total_epochs: u32, want_bars: bool) -> Self {
        let bars = want_bars && std::io::stderr().is_terminal();
        Self {
            cell: cell.to_string(),
            total_epochs,
            bars,
            bar: None,
        }
    }

    pub fn start_epoch(&mut self, epoch: u32, phase: &str, steps: u64, done: u64) {
        if !self.bars {
            return;
        }
        let bar = ProgressBar::new(steps);
        let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(format!(
            "{} {}/{} {phase}",
            self.cell,
            epoch + 1,
            self.total_epochs
        ));
        bar.set_position(done);
        self.bar = Some(bar);
    }

    /// Called when losses are read back (every few steps), never per step.
    pub fn update(&self, batch: u64, loss: f64, img_per_s: f64, wait: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(batch);
            bar.set_message(format!(
                "loss {loss:.4} {img_per_s:.0} img/s wait {:.0}%",
                wait * 100.0
            ));
        }
    }

    pub fn end_epoch(&mut self, row: &EpochRow) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        eprintln!(
            "{} epoch {}/{} [{}] train_loss {:.4} val_loss {:.4} val_top1 {:.4} lr {:.3e} {:.0} img/s wait {:.0}%",
            self.cell,
            row.epoch,
            self.total_epochs,
            row.phase,
            row.train_loss,
            row.val_loss,
            row.val_top1,
            row.lr,
            row.img_per_s,
            row.data_wait * 100.0
        );
    }

    pub fn note(&self, msg: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("{}: {msg}", self.cell)),
            None => eprintln!("{}: {msg}", self.cell),
        }
    }
}

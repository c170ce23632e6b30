//! The divergence watchdog: batch losses stay on the device in a window and
//! are read back once every `LOSS_WINDOW` steps (and before every checkpoint
//! and at epoch end); the read-back feeds the epoch's loss and the checks.

use super::loop_state::LoopState;
use super::tensorboard::CellLog;
use tch::{Device, Kind, Tensor};

/// Steps between loss read-backs (watchdog checks and progress updates).
pub const LOSS_WINDOW: usize = 25;

/// Batch losses kept on the device until the next read-back.
pub(super) struct LossWindow {
    buf: Tensor,
    sizes: Vec<u64>,
    /// Global step (1-based) of the first loss in the window.
    first_step: u64,
}

impl LossWindow {
    pub(super) fn new(device: Device) -> Self {
        Self {
            buf: Tensor::zeros([LOSS_WINDOW as i64], (Kind::Float, device)),
            sizes: Vec::new(),
            first_step: 0,
        }
    }

    pub(super) fn push(&mut self, loss: &Tensor, batch_size: u64, global_step: u64) {
        if self.sizes.is_empty() {
            self.first_step = global_step;
        }
        let i = self.sizes.len() as i64;
        let mut slot = self.buf.narrow(0, i, 1);
        slot.copy_(&loss.detach().to_kind(Kind::Float).reshape([1]));
        self.sizes.push(batch_size);
    }

    /// Replace each rank's losses by their mean over the ranks (the loss of
    /// the whole batch, each rank holding an equal share of it), so every
    /// rank's watchdog sees the same numbers.
    pub(super) fn average_over(&mut self, g: &crate::dist::Group) -> Result<(), String> {
        if self.sizes.is_empty() {
            return Ok(());
        }
        g.all_reduce_sum(&[&self.buf])?;
        let _ = self.buf.g_div_scalar_(g.world as f64);
        Ok(())
    }

    pub(super) fn full(&self) -> bool {
        self.sizes.len() >= LOSS_WINDOW
    }

    /// Read the losses back (one sync); returns (global step, loss, batch size) each.
    pub(super) fn drain(&mut self) -> Vec<(u64, f64, u64)> {
        let n = self.sizes.len();
        if n == 0 {
            return Vec::new();
        }
        let host = self.buf.narrow(0, 0, n as i64).to_device(Device::Cpu);
        let mut vals = vec![0f32; n];
        host.copy_data(&mut vals, n);
        let out = vals
            .iter()
            .zip(&self.sizes)
            .enumerate()
            .map(|(i, (&l, &s))| (self.first_step + i as u64, f64::from(l), s))
            .collect();
        self.sizes.clear();
        out
    }
}

pub(super) struct Diverged {
    pub step: u64,
    pub reason: String,
}

/// Fold read-back losses into the epoch totals and run the watchdog.
pub(super) fn absorb(
    st: &mut LoopState,
    window: &mut LossWindow,
    diverge_factor: f64,
    tb: &mut CellLog,
) -> Option<Diverged> {
    let mut found = None;
    for (step, loss, size) in window.drain() {
        tb.step(step, loss);
        st.epoch_loss_sum += loss * size as f64;
        st.epoch_samples += size;
        if found.is_some() {
            continue;
        }
        if !loss.is_finite() {
            found = Some(Diverged {
                step,
                reason: format!("non-finite training loss ({loss}) at step {step}"),
            });
        } else if let Some(first) = st.first_epoch_loss {
            let limit = diverge_factor * first;
            if diverge_factor > 0.0 && loss > limit {
                found = Some(Diverged {
                    step,
                    reason: format!(
                        "training loss {loss:.4} at step {step} exceeds {diverge_factor} × the first epoch's mean loss {first:.4}"
                    ),
                });
            }
        }
    }
    found
}

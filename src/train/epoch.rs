//! One epoch's steps: the loader loop, per-step reseeding, the update, EMA,
//! loss read-backs for the watchdog and progress, mid-epoch checkpoints and
//! the budget's and stop signal's cut-offs.

use super::ema::Ema;
use super::fit::{CellRun, TRAIN_SPLIT};
use super::graph::GraphStep;
use super::history::EpochRow;
use super::loop_state::{save_checkpoint, LoopState};
use super::optim::Optimizer;
use super::phases::{Phase, PhaseKind};
use super::progress::Progress;
use super::schedule::PhaseSchedule;
use super::step::StepSetup;
use super::tensorboard::CellLog;
use super::watchdog::{absorb, Diverged, LossWindow};
use super::{TrainError, TrainStatus};
use crate::data::{self, Batch, LoaderConfig};
use crate::dist::Reducer;
use crate::models::flops;
use crate::seeds::{derive_seed, SeedPurpose};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// An epoch whose steps ran (possibly cut short), before validation.
pub(super) struct TrainedEpoch {
    /// The epoch's row without its validation columns.
    pub row: EpochRow,
    /// Why training ends after this epoch (time limit, sample cap), if it does.
    pub cut_short: Option<TrainStatus>,
    pub diverged: Option<Diverged>,
}

pub(super) enum EpochRun {
    Trained(TrainedEpoch),
    /// Stopped on request (or by the crash hook) after `step` global steps.
    Interrupted {
        epoch: u32,
        step: u64,
    },
}

/// The mutable parts of a cell's training that every epoch advances.
pub(super) struct Tracking<'a> {
    pub st: &'a mut LoopState,
    pub ema: &'a mut Option<Ema>,
    pub tb: &'a mut CellLog,
    pub progress: &'a mut Progress,
}

/// Run the steps of epoch `t.st.epoch` of `phase` from batch `t.st.batch`.
pub(super) fn train_epoch(
    run: &CellRun,
    t: &mut Tracking,
    phase: &Phase,
    sched: &PhaseSchedule,
    optimizer: &mut Optimizer,
    graph: &mut GraphStep,
    reducer: Option<&Reducer>,
) -> Result<EpochRun, TrainError> {
    let recipe = &run.cell.recipe;
    let budget = &run.cell.budget;
    let cfg = LoaderConfig {
        batch_size: run.batch,
        train: true,
        augment: recipe.augment.clone(),
        seed: run.augment_seed,
        epoch: u64::from(t.st.epoch),
        drop_last: run.drop_last,
        start_batch: t.st.batch,
        ..run.eval_cfg.clone()
    };
    let mut loader = data::loader(run.data, TRAIN_SPLIT, &cfg)?;
    if cfg.device.is_cuda() && t.st.epoch == 0 && t.st.batch == 0 {
        if let Err(why) = loader.augments_on_device() {
            t.progress
                .note(&format!("augmentation runs on the CPU path ({why})"));
        }
    }
    t.progress.start_epoch(
        t.st.epoch,
        phase.kind.name(),
        run.steps_per_epoch,
        t.st.batch as u64,
    );
    let setup = StepSetup {
        model: run.model,
        micro_batches: run.micro_batches,
        autocast: run.mode.autocast,
        frozen: phase.kind == PhaseKind::Frozen,
        label_smoothing: recipe.label_smoothing,
        grad_clip: recipe.grad_clip,
        reducer,
    };
    // Why not under sync_bn: its running statistics are equal everywhere.
    let broadcast_buffers = run.group.as_ref().is_some_and(|g| !g.sync_bn);
    let mut window = LossWindow::new(run.eval_cfg.device);
    let epoch_start = Instant::now();
    let mut samples_here = 0u64;
    let mut cut_short: Option<TrainStatus> = None;
    let mut diverged: Option<Diverged> = None;

    while let Some(item) = loader.next() {
        let b: Batch = item?;
        // The whole batch over all ranks: sample counts, caps and the loss
        // weights are those of the single-process run.
        let bs = b.global_len as u64;
        if broadcast_buffers {
            run.sync_buffers()?;
        }
        let st = &mut *t.st;
        // Why per-step reseeding: dropout and drop-path masks depend only
        // on (seed, cell, step), so a resumed run draws the same masks.
        tch::manual_seed(derive_seed(
            run.cell.seed,
            SeedPurpose::Dropout,
            &[&run.cell.id, &st.global_step],
        ) as i64);
        let lr = sched.lr(st.phase_step);
        let (loss, gave_up) = graph
            .step(&setup, &b, optimizer, st.scaler.as_mut(), lr)
            .map_err(TrainError::Other)?;
        if let Some(e) = crate::dist::take_failure() {
            return Err(TrainError::Other(e));
        }
        if let Some(why) = gave_up {
            t.progress.note(&format!(
                "CUDA graphs off for this phase ({why}); training eagerly"
            ));
        }
        if let Some(e) = t.ema.as_mut() {
            e.update(run.vars);
        }
        st.global_step += 1;
        st.phase_step += 1;
        st.batch += 1;
        st.samples_seen += bs;
        st.last_lr = lr;
        samples_here += bs;
        window.push(&loss, bs, st.global_step);

        let want_ckpt = budget
            .checkpoint_every_steps
            .is_some_and(|n| n > 0 && st.global_step % n == 0);
        let interrupted = run
            .stop
            .flag
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed));
        let over_time = budget
            .time_limit_s
            .is_some_and(|limit| run.clock.elapsed() >= limit as f64);
        // Why agreed every step: a rank that stopped alone would leave the
        // others waiting in the next all-reduce. Two integers over Gloo on
        // the host, no device sync.
        let (interrupted, over_time) = match &run.group {
            Some(g) => {
                let any = g
                    .any(&[interrupted, over_time])
                    .map_err(TrainError::Other)?;
                (any[0], any[1])
            }
            None => (interrupted, over_time),
        };
        let over_samples = budget.max_samples.is_some_and(|m| st.samples_seen >= m);
        if window.full() || want_ckpt || interrupted || over_time || over_samples {
            if let Some(g) = &run.group {
                window.average_over(g).map_err(TrainError::Other)?;
            }
            if let Some(d) = absorb(st, &mut window, recipe.diverge_factor, t.tb) {
                diverged = Some(d);
                break;
            }
            let secs = epoch_start.elapsed().as_secs_f64().max(1e-9);
            let shown = if st.epoch_samples > 0 {
                st.epoch_loss_sum / st.epoch_samples as f64
            } else {
                f64::NAN
            };
            t.progress.update(
                st.batch as u64,
                shown,
                samples_here as f64 / secs,
                loader.wait_fraction(),
            );
        }
        if (want_ckpt || interrupted) && run.writes() {
            st.elapsed_s = run.clock.elapsed();
            save_checkpoint(&run.ckpt, run.vars, Some(optimizer), t.ema.as_ref(), st)?;
        }
        if interrupted {
            return Ok(EpochRun::Interrupted {
                epoch: st.epoch + 1,
                step: st.global_step,
            });
        }
        if run
            .stop
            .crash_after_steps
            .is_some_and(|n| st.global_step >= n)
        {
            // Test hook: vanish like a killed process, saving nothing.
            return Ok(EpochRun::Interrupted {
                epoch: st.epoch + 1,
                step: st.global_step,
            });
        }
        if over_time {
            cut_short = Some(TrainStatus::TimeLimit {
                epoch: st.epoch + 1,
            });
            break;
        }
        if over_samples {
            cut_short = Some(TrainStatus::Done);
            break;
        }
    }
    let st = &mut *t.st;
    if diverged.is_none() {
        if let Some(g) = &run.group {
            window.average_over(g).map_err(TrainError::Other)?;
        }
        diverged = absorb(st, &mut window, recipe.diverge_factor, t.tb);
    }
    let train_secs = epoch_start.elapsed().as_secs_f64().max(1e-9);
    let train_loss = if st.epoch_samples > 0 {
        st.epoch_loss_sum / st.epoch_samples as f64
    } else {
        f64::NAN
    };
    let img_per_s = samples_here as f64 / train_secs;
    let mfu = run.flops.map_or(f64::NAN, |(fwd, peak)| {
        let per_image = flops::train_flops_per_image(fwd, phase.kind == PhaseKind::Frozen);
        flops::mfu(per_image, img_per_s, peak)
    });
    let row = EpochRow {
        epoch: st.epoch + 1,
        phase: phase.kind.name().to_string(),
        train_loss,
        val_loss: f64::NAN,
        val_top1: f64::NAN,
        lr: st.last_lr,
        img_per_s,
        data_wait: loader.wait_fraction(),
        skipped_steps: st.scaler.as_ref().map_or(0, |s| s.skipped_in_epoch),
        loss_scale: st.scaler.as_ref().map_or(1.0, |s| s.scale),
        mfu,
    };
    Ok(EpochRun::Trained(TrainedEpoch {
        row,
        cut_short,
        diverged,
    }))
}

//! The end of a trained epoch: validation (on the EMA weights when kept),
//! best-checkpoint selection, early stopping, the validation instability
//! checks, the metrics row and the epoch's checkpoint.

use super::epoch::{Tracking, TrainedEpoch};
use super::fit::{evaluate, CellRun};
use super::history;
use super::loop_state::{save_best, save_checkpoint};
use super::optim::Optimizer;
use super::phases::Phase;
use super::{TrainError, TrainStatus};
use crate::spec::OnUnstable;

/// Finish epoch `t.st.epoch` of `phase` and advance the loop state to the
/// next epoch; returns the status that ends training after it, if any.
pub(super) fn finish_epoch(
    run: &CellRun,
    t: &mut Tracking,
    phase: &Phase,
    trained: TrainedEpoch,
    opt: Option<&Optimizer>,
    overlap: Option<crate::dist::Overlap>,
) -> Result<Option<TrainStatus>, TrainError> {
    let recipe = &run.cell.recipe;
    let io = |e: std::io::Error| run.io_error(e);
    let TrainedEpoch {
        mut row,
        cut_short,
        diverged,
    } = trained;
    let st = &mut *t.st;
    if let Some(d) = diverged {
        // No validation of a diverged model: the row shows the loss that
        // tripped the watchdog; best.safetensors keeps the last good epoch.
        t.progress.note(&format!("diverged: {}", d.reason));
        t.tb.epoch(&row).map_err(io)?;
        st.rows.push(row);
        if run.writes() {
            history::write(&run.metrics_path, &st.rows)?;
        }
        return Ok(Some(TrainStatus::Diverged {
            epoch: st.epoch + 1,
            step: d.step,
            reason: d.reason,
        }));
    }

    // Every rank validates rank 0's model: its running statistics.
    run.sync_buffers()?;
    if let Some(e) = t.ema.as_mut() {
        e.swap(run.vars);
    }
    let (val_loss, val_top1) = evaluate(
        run.model,
        run.data,
        &recipe.select_split,
        &run.eval_cfg,
        run.mode.autocast,
        run.group.as_deref(),
    )?;
    row.val_loss = val_loss;
    row.val_top1 = val_top1;
    // Why observe first: every rank tracks the selection; rank 0 writes.
    let improved = st
        .selection
        .observe(recipe.monitor, st.epoch + 1, val_loss, val_top1);
    if improved && run.writes() {
        save_best(&run.best_path, run.vars, run.cell, st.epoch + 1)?;
    }
    if let Some(e) = t.ema.as_mut() {
        e.swap(run.vars);
    }
    let stop_early = recipe
        .early_stop
        .as_ref()
        .is_some_and(|rule| st.early.observe(rule, val_loss, val_top1));
    let tripped = st.instability.observe_epoch(
        st.epoch + 1,
        val_loss,
        val_top1,
        run.chance,
        recipe.val_loss_factor,
    );
    for trip in &tripped {
        t.progress.note(&format!(
            "unstable at epoch {}: {}",
            trip.epoch, trip.reason
        ));
    }
    if st.epoch == 0 && st.first_epoch_loss.is_none() && row.train_loss.is_finite() {
        st.first_epoch_loss = Some(row.train_loss);
    }
    t.progress.end_epoch(&row);
    if let Some(o) = overlap {
        t.progress.note(&format!(
            "data-parallel backward {:.1} ms, gradient all-reduce {:.1} ms, {:.0}% of it hidden behind the backward",
            o.backward_ms,
            o.all_reduce_ms,
            100.0 * o.hidden()
        ));
    }
    t.tb.epoch(&row).map_err(io)?;
    st.rows.push(row);
    if run.writes() {
        history::write(&run.metrics_path, &st.rows)?;
    }

    let finished_epoch = st.epoch + 1;
    st.epoch += 1;
    st.batch = 0;
    st.epoch_loss_sum = 0.0;
    st.epoch_samples = 0;
    if let Some(s) = st.scaler.as_mut() {
        s.skipped_in_epoch = 0;
    }
    if !phase.contains(st.epoch) {
        st.phase_step = 0;
    }
    st.elapsed_s = run.clock.elapsed();

    if !val_loss.is_finite() {
        t.progress.note("diverged: non-finite validation loss");
        return Ok(Some(TrainStatus::Diverged {
            epoch: finished_epoch,
            step: st.global_step,
            reason: format!("non-finite validation loss ({val_loss}) after epoch {finished_epoch}"),
        }));
    }
    if run.writes() {
        save_checkpoint(&run.ckpt, run.vars, opt, t.ema.as_ref(), st)?;
    }
    if !tripped.is_empty() && recipe.on_unstable == OnUnstable::Stop {
        let reasons: Vec<&str> = tripped.iter().map(|t| t.reason.as_str()).collect();
        return Ok(Some(TrainStatus::Diverged {
            epoch: finished_epoch,
            step: st.global_step,
            reason: reasons.join("; "),
        }));
    }
    if cut_short.is_some() {
        return Ok(cut_short);
    }
    if stop_early {
        t.progress
            .note(&format!("early stop after epoch {finished_epoch}"));
        return Ok(Some(TrainStatus::EarlyStopped {
            epoch: finished_epoch,
        }));
    }
    Ok(None)
}

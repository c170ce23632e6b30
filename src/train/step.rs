//! One optimisation step: the loss, forward and backward over micro-batches,
//! and the update.

use super::optim::Optimizer;
use super::precision::LossScaler;
use crate::data::Batch;
use crate::dist::Reducer;
use crate::models::runtime::{self, Half};
use crate::models::BakeoffModel;
use tch::{Kind, Reduction, Tensor};

/// Training loss: cross-entropy with label smoothing on hard labels; on
/// mixup/cutmix batches the soft targets are smoothed the same way
/// (`t·(1−ε) + ε/C`) and the loss is `−Σ t·log_softmax`.
pub fn training_loss(
    logits: &Tensor,
    labels: &Tensor,
    soft: Option<&Tensor>,
    label_smoothing: f64,
) -> Tensor {
    match soft {
        Some(t) => {
            let c = logits.size().last().copied().unwrap_or(1).max(1) as f64;
            let t = if label_smoothing > 0.0 {
                t * (1.0 - label_smoothing) + label_smoothing / c
            } else {
                t.shallow_clone()
            };
            (t * logits.log_softmax(-1, Kind::Float))
                .sum_dim_intlist(-1, false, Kind::Float)
                .mean(Kind::Float)
                .neg()
        }
        None => logits.cross_entropy_loss(
            labels,
            None::<Tensor>,
            Reduction::Mean,
            -100,
            label_smoothing,
        ),
    }
}

/// Forward and backward of one effective batch `b` in `micro_batches`
/// parts, gradients summed into the parameters' `.grad`; returns the batch's
/// mean training loss (detached).
///
/// Each part's mean loss is weighted by its share of the batch, so the
/// summed gradient is that of the whole batch's mean loss; with a scaler
/// each part's loss is scaled before its backward.
///
/// With a `reducer` (data parallelism) only the last part's backward
/// all-reduces, as torch DDP's `no_sync` over the others: the reducer then
/// averages the accumulated gradients over the ranks while that backward
/// still runs.
#[allow(clippy::too_many_arguments)]
pub(super) fn accumulate_gradients(
    model: &BakeoffModel,
    b: &Batch,
    micro_batches: i64,
    autocast: Option<Half>,
    frozen: bool,
    label_smoothing: f64,
    scaler: Option<&LossScaler>,
    reducer: Option<&Reducer>,
) -> Result<Tensor, String> {
    let backward = |loss: &Tensor, last: bool| -> Result<(), String> {
        if let (Some(r), true) = (reducer, last) {
            r.pre_backward()?;
        }
        let scaled;
        let l = match scaler {
            Some(s) => {
                scaled = s.scale_loss(loss);
                &scaled
            }
            None => loss,
        };
        // Why f_backward: a failed all-reduce inside the backward (a rank
        // gone) is an error of the cell, not a panic.
        l.f_backward().map_err(|e| e.to_string())
    };
    let forward = |images: &Tensor,
                   metadata: &Tensor,
                   labels: &Tensor,
                   soft: Option<&Tensor>,
                   last: bool|
     -> Result<Tensor, String> {
        if let (Some(r), true) = (reducer, last) {
            r.pre_forward()?;
        }
        let logits = runtime::autocast(autocast, || model.forward(images, metadata, true, frozen))
            .to_kind(Kind::Float);
        Ok(training_loss(&logits, labels, soft, label_smoothing))
    };
    if micro_batches <= 1 {
        let loss = forward(
            &b.images,
            &b.metadata,
            &b.labels,
            b.soft_targets.as_ref(),
            true,
        )?;
        backward(&loss, true)?;
        return Ok(loss.detach());
    }
    let n = b.index.len().max(1) as f64;
    let images = b.images.chunk(micro_batches, 0);
    let metadata = b.metadata.chunk(micro_batches, 0);
    let labels = b.labels.chunk(micro_batches, 0);
    let soft = b.soft_targets.as_ref().map(|t| t.chunk(micro_batches, 0));
    let mut total: Option<Tensor> = None;
    let parts = images.len();
    for (i, ((x, m), y)) in images.iter().zip(&metadata).zip(&labels).enumerate() {
        let share = y.size().first().copied().unwrap_or(0) as f64 / n;
        let t = soft.as_ref().and_then(|s| s.get(i));
        let last = i + 1 == parts;
        let loss = forward(x, m, y, t, last)? * share;
        backward(&loss, last)?;
        let loss = loss.detach();
        total = Some(match total {
            Some(sum) => sum + loss,
            None => loss,
        });
    }
    Ok(total.unwrap_or_else(|| Tensor::zeros([], (Kind::Float, b.images.device()))))
}

/// What every step of a phase shares.
pub(super) struct StepSetup<'a> {
    pub model: &'a BakeoffModel,
    pub micro_batches: i64,
    pub autocast: Option<Half>,
    /// Frozen phase: the backbone runs without gradients.
    pub frozen: bool,
    pub label_smoothing: f64,
    pub grad_clip: Option<f64>,
    /// Data parallelism: the reducer that averages gradients over ranks.
    pub reducer: Option<&'a Reducer>,
}

/// One update of `optimizer` at lr `lr` from batch `b`: fresh gradients,
/// then either the loss scaler's unscale-check-step or clipping and the
/// step. Returns the batch's mean training loss, detached, on the device.
pub(super) fn train_step(
    setup: &StepSetup,
    b: &Batch,
    optimizer: &mut Optimizer,
    scaler: Option<&mut LossScaler>,
    lr: f64,
) -> Result<Tensor, String> {
    optimizer.zero_grad()?;
    let loss = accumulate_gradients(
        setup.model,
        b,
        setup.micro_batches,
        setup.autocast,
        setup.frozen,
        setup.label_smoothing,
        scaler.as_deref(),
        setup.reducer,
    )?;
    match scaler {
        Some(scaler) => {
            scaler.step(optimizer, setup.grad_clip, lr)?;
        }
        None => {
            if let Some(max) = setup.grad_clip {
                let _ = optimizer.clip_grad_norm(max);
            }
            optimizer.step(lr)?;
        }
    }
    Ok(loss)
}

/// `train_step` as a CUDA graph records it: no gradient reset (they were
/// dropped before the capture and every replay rewrites them), no loss
/// scaling, the lr read from the device (`Optimizer::step_device_lr`).
pub(super) fn accumulate_step(
    setup: &StepSetup,
    b: &Batch,
    optimizer: &mut Optimizer,
) -> Result<Tensor, String> {
    let loss = accumulate_gradients(
        setup.model,
        b,
        setup.micro_batches,
        setup.autocast,
        setup.frozen,
        setup.label_smoothing,
        None,
        setup.reducer,
    )?;
    if let Some(max) = setup.grad_clip {
        let _ = optimizer.clip_grad_norm(max);
    }
    optimizer.step_device_lr()?;
    Ok(loss)
}

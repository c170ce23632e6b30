//! Whole-step CUDA graphs: each phase's training step (forward, loss,
//! backward, clipping, optimizer update) is recorded once and replayed.
//!
//! Per phase: `WARMUP_STEPS` eager steps on the graph's side stream (lazy
//! allocations, cuDNN autotuning, optimizer state), then one capture into
//! a private memory pool with the batch in static buffers, then for every
//! further batch: copy it into the static buffers, refresh the device lr
//! (`Optimizer::set_lr`) and replay. A batch of another shape (a last
//! partial batch, which training drops unless the split is smaller than a
//! batch) runs eagerly. When the graph cannot be made (CPU, fp16 loss
//! scaling, a build without the CUDA headers, an op that syncs during
//! capture) the phase runs eagerly and `GraphStep` says why once.

use super::optim::Optimizer;
use super::precision::LossScaler;
use super::step::{accumulate_step, train_step, StepSetup};
use crate::data::Batch;
use crate::models::cuda_graph::CudaGraph;
use tch::Tensor;

/// Eager steps before the capture.
pub const WARMUP_STEPS: u32 = 3;

/// The batch tensors a captured step reads: every batch is copied into
/// them, so the graph's recorded addresses always hold the current batch.
pub struct StaticBatch {
    pub images: Tensor,
    pub labels: Tensor,
    pub metadata: Tensor,
    pub soft_targets: Option<Tensor>,
}

impl StaticBatch {
    /// Buffers of `b`'s shapes, dtypes, device and memory layout.
    pub fn like(b: &Batch) -> Self {
        Self {
            images: b.images.empty_like(),
            labels: b.labels.empty_like(),
            metadata: b.metadata.empty_like(),
            soft_targets: b.soft_targets.as_ref().map(Tensor::empty_like),
        }
    }

    /// Whether `b` fits the buffers (same shapes and kinds, soft targets
    /// present in both or neither).
    pub fn accepts(&self, b: &Batch) -> bool {
        let same = |s: &Tensor, t: &Tensor| s.size() == t.size() && s.kind() == t.kind();
        same(&self.images, &b.images)
            && same(&self.labels, &b.labels)
            && same(&self.metadata, &b.metadata)
            && match (&self.soft_targets, &b.soft_targets) {
                (Some(s), Some(t)) => same(s, t),
                (None, None) => true,
                _ => false,
            }
    }

    /// Copy `b` into the buffers (device-side copies, no host sync).
    pub fn fill(&self, b: &Batch) -> Result<(), String> {
        if !self.accepts(b) {
            return Err(format!(
                "batch of shape {:?} does not fit the static buffers of shape {:?}",
                b.images.size(),
                self.images.size()
            ));
        }
        tch::no_grad(|| {
            let copy = |dst: &Tensor, src: &Tensor| {
                let mut d = dst.shallow_clone();
                d.f_copy_(src).map_err(|e| e.to_string())
            };
            copy(&self.images, &b.images)?;
            copy(&self.labels, &b.labels)?;
            copy(&self.metadata, &b.metadata)?;
            if let (Some(d), Some(s)) = (&self.soft_targets, &b.soft_targets) {
                copy(d, s)?;
            }
            Ok(())
        })
    }

    /// The buffers as a batch (sharing their storage) for the captured step.
    pub fn as_batch(&self) -> Batch {
        let n = self.labels.size().first().copied().unwrap_or(0).max(0) as usize;
        Batch {
            images: self.images.shallow_clone(),
            labels: self.labels.shallow_clone(),
            soft_targets: self.soft_targets.as_ref().map(Tensor::shallow_clone),
            metadata: self.metadata.shallow_clone(),
            index: (0..n).collect(),
            global_len: n,
        }
    }
}

struct Captured {
    graph: CudaGraph,
    batch: StaticBatch,
    /// The step's mean loss, rewritten by every replay.
    loss: Tensor,
}

enum State {
    Eager,
    Warmup { graph: CudaGraph, done: u32 },
    Captured(Captured),
}

/// How the steps of one phase run: eagerly, or warm-up then graph replays.
pub struct GraphStep {
    state: State,
}

impl GraphStep {
    /// Always eager.
    pub fn eager() -> Self {
        Self {
            state: State::Eager,
        }
    }

    /// Graphs for a phase on a CUDA device when `wanted`; `Err` carries why
    /// not (for one log line) and the phase then runs eagerly.
    pub fn for_phase(
        wanted: bool,
        device: tch::Device,
        loss_scaling: bool,
        optimizer: &Optimizer,
    ) -> (Self, Option<String>) {
        if !wanted || !device.is_cuda() {
            return (Self::eager(), None);
        }
        let why_not = if loss_scaling {
            Some("fp16 loss scaling reads the overflow flag back every step".to_string())
        } else if !optimizer.is_capturable() {
            Some("the optimizer keeps its lr on the host".to_string())
        } else {
            None
        };
        if let Some(why) = why_not {
            return (Self::eager(), Some(why));
        }
        match CudaGraph::new() {
            Ok(graph) => (
                Self {
                    state: State::Warmup { graph, done: 0 },
                },
                None,
            ),
            Err(e) => (Self::eager(), Some(e)),
        }
    }

    pub fn is_captured(&self) -> bool {
        matches!(self.state, State::Captured(_))
    }

    /// One training step on `b` at lr `lr`; returns its mean loss on the
    /// device, and the reason when the graph was given up in this step.
    pub(super) fn step(
        &mut self,
        setup: &StepSetup,
        b: &Batch,
        optimizer: &mut Optimizer,
        scaler: Option<&mut LossScaler>,
        lr: f64,
    ) -> Result<(Tensor, Option<String>), String> {
        match &mut self.state {
            State::Eager => Ok((train_step(setup, b, optimizer, scaler, lr)?, None)),
            State::Warmup { graph, done } if *done < WARMUP_STEPS => {
                let loss = graph.on_side_stream(|| train_step(setup, b, optimizer, None, lr))??;
                *done += 1;
                Ok((loss, None))
            }
            State::Warmup { .. } => {
                let State::Warmup { graph, .. } = std::mem::replace(&mut self.state, State::Eager)
                else {
                    return Err("graph state changed during a step".into());
                };
                match capture(graph, setup, b, optimizer, lr) {
                    Ok(c) => {
                        self.state = State::Captured(c);
                        self.step(setup, b, optimizer, None, lr)
                    }
                    Err(why) => {
                        optimizer.zero_grad()?;
                        let loss = train_step(setup, b, optimizer, None, lr)?;
                        Ok((loss, Some(format!("capture failed: {why}"))))
                    }
                }
            }
            State::Captured(c) => {
                if !c.batch.accepts(b) {
                    // Why eager: the graph's shapes are fixed; the captured
                    // kernels keep their own gradient buffers, so an eager
                    // step in between does not disturb later replays.
                    return Ok((train_step(setup, b, optimizer, None, lr)?, None));
                }
                c.batch.fill(b)?;
                optimizer.set_lr(lr);
                c.graph.replay()?;
                optimizer.count_replayed_step();
                Ok((c.loss.shallow_clone(), None))
            }
        }
    }
}

/// Record one step on the static copy of `b`. The first replay (by the
/// caller) is the step itself: capturing runs nothing.
fn capture(
    mut graph: CudaGraph,
    setup: &StepSetup,
    b: &Batch,
    optimizer: &mut Optimizer,
    lr: f64,
) -> Result<Captured, String> {
    let batch = StaticBatch::like(b);
    let saved_steps = optimizer.host_steps();
    // Why gradients dropped before the capture: backward then allocates
    // them inside the graph's pool, where every replay rewrites them.
    optimizer.zero_grad()?;
    optimizer.set_lr(lr);
    let fed = batch.as_batch();
    let recorded = graph.capture(|| accumulate_step(setup, &fed, optimizer));
    // Capturing counted one host step the device has not taken yet; the
    // replays count their own.
    optimizer.restore_host_steps(&saved_steps);
    let loss = recorded?;
    Ok(Captured { graph, batch, loss })
}

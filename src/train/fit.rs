//! The training loop of one cell: setup, resume, then per phase its
//! optimizer and per epoch its steps (`epoch`) and end (`epoch_end`:
//! validation, selection, early stopping, the validation instability checks
//! and checkpoints). One step is `step`; the divergence watchdog is
//! `watchdog`; the loop state a checkpoint carries is `loop_state`.
//!
//! Host/device traffic: per step the loop only launches work; the batch
//! losses are copied into a device buffer and read back once every
//! `LOSS_WINDOW` steps (and before every checkpoint and at epoch end), which
//! is also when the watchdog looks at them. Validation reads back two
//! scalars per pass.

use super::checkpoint::copy_into;
use super::ema::Ema;
use super::epoch::{train_epoch, EpochRun, Tracking};
use super::epoch_end::finish_epoch;
use super::graph::GraphStep;
use super::history;
use super::instability::chance_top1;
use super::loop_state::{save_checkpoint, try_resume, LoopState, Resumed};
use super::optim::Optimizer;
use super::phases::{self, Phase, PhaseKind};
use super::precision::{self, LossScaler, PrecisionMode};
use super::progress::Progress;
use super::schedule::PhaseSchedule;
use super::tensorboard::CellLog;
use super::{RunEnd, StopSignal, TrainError, TrainOptions, TrainOutcome, TrainStatus};
use crate::data::{self, LoaderConfig, PreparedData};
use crate::dist::{self, Group, Reducer};
use crate::models::runtime::{self, Half};
use crate::models::{self, flops, BakeoffModel, HeadConfig};
use crate::seeds::{derive_seed, SeedPurpose};
use crate::spec::{Cell, CudaGraphs};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tch::{nn, Device, Kind, Reduction, Tensor};

pub use super::loop_state::checkpoint_path;
pub use super::step::training_loss;
pub use super::watchdog::LOSS_WINDOW;
pub const TRAIN_SPLIT: &str = "train";

/// The model, its variables by VarStore name, and which are trainable.
pub(crate) struct Built {
    pub vs: nn::VarStore,
    pub model: BakeoffModel,
    pub vars: BTreeMap<String, Tensor>,
    pub trainable: BTreeSet<String>,
}

/// Build the cell's model with its init seed; load pretrained weights when
/// `pretrained` (training), skip them when the weights come from a checkpoint.
pub(crate) fn build_model(
    cell: &Cell,
    data: &PreparedData,
    device: Device,
    pretrained: bool,
) -> Result<Built, TrainError> {
    tch::manual_seed(derive_seed(cell.seed, SeedPurpose::Init, &[&cell.id]) as i64);
    let mut vs = nn::VarStore::new(device);
    let head = HeadConfig {
        num_classes: data.classes.len() as i64,
        metadata_dim: data.metadata_dim as i64,
        metadata_hidden: i64::from(cell.recipe.metadata_hidden),
        dropout: cell.recipe.dropout,
    };
    let model = BakeoffModel::new(&vs.root(), &cell.backbone, cell.data.image_size, &head)?;
    if pretrained {
        if let Some(w) = &cell.backbone.pretrained {
            models::load_pretrained(&mut vs, w)?;
        }
    }
    let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let trainable = vars
        .iter()
        .filter(|(_, v)| v.requires_grad())
        .map(|(n, _)| n.clone())
        .collect();
    Ok(Built {
        vs,
        model,
        vars,
        trainable,
    })
}

/// The cell's precision on `device`, and whether to run channels-last
/// (CUDA CNNs only).
pub(crate) fn device_modes(cell: &Cell, device: Device) -> (PrecisionMode, bool) {
    let mode = precision::mode_on(cell.recipe.precision, device);
    let channels_last = device.is_cuda() && cell.backbone.family.is_cnn();
    (mode, channels_last)
}

pub(crate) fn to_channels_last(vars: &BTreeMap<String, Tensor>) {
    tch::no_grad(|| {
        for v in vars.values() {
            if v.dim() == 4 {
                let cl = runtime::to_channels_last(v);
                let mut v = v.shallow_clone();
                v.set_data(&cl);
            }
        }
    });
}

pub(crate) fn eval_loader_config(
    cell: &Cell,
    opts: &TrainOptions,
    channels_last: bool,
) -> LoaderConfig {
    // Why twice the batch on CUDA only: evaluation keeps no activations for a
    // backward pass, and fewer launches keep the GPU busy; on the CPU the
    // batch stays that of training so its numbers do not move.
    let per_device = if opts.device.is_cuda() { 2 } else { 1 };
    LoaderConfig {
        batch_size: per_device * cell.recipe.batch.max(1) as usize,
        image_size: cell.data.image_size,
        mean: cell.backbone.mean,
        std: cell.backbone.std,
        train: false,
        augment: Vec::new(),
        seed: derive_seed(cell.seed, SeedPurpose::Augment, &[&cell.id]),
        epoch: 0,
        workers: opts.workers,
        prefetch: 2 * opts.workers.max(1),
        device: opts.device,
        drop_last: false,
        start_batch: 0,
        channels_last,
        augment_on: crate::data::AugmentOn::Auto,
        shard: None,
    }
}

/// Mean cross-entropy and top-1 of the model on `split` (in order). In a
/// data-parallel cell (`group`) each rank evaluates its share of every batch
/// (`cfg.shard`) and the sums are all-reduced: every rank gets the result.
pub(crate) fn evaluate(
    model: &BakeoffModel,
    data: &PreparedData,
    split: &str,
    cfg: &LoaderConfig,
    autocast: Option<Half>,
    group: Option<&Group>,
) -> Result<(f64, f64), TrainError> {
    let loader = data::loader(data, split, cfg)?;
    let mut loss_sum = Tensor::zeros([1], (Kind::Double, cfg.device));
    let mut correct = Tensor::zeros([1], (Kind::Double, cfg.device));
    let mut n = 0usize;
    for item in loader {
        let b = item?;
        n += b.index.len();
        if b.index.is_empty() {
            // A last batch smaller than the ranks: this one has no share.
            continue;
        }
        tch::no_grad(|| {
            let logits = runtime::autocast(autocast, || {
                model.forward(&b.images, &b.metadata, false, false)
            })
            .to_kind(Kind::Float);
            let l = logits.cross_entropy_loss(&b.labels, None::<Tensor>, Reduction::Sum, -100, 0.0);
            let _ = loss_sum.g_add_(&l.to_kind(Kind::Double));
            let hit = logits
                .argmax(-1, false)
                .eq_tensor(&b.labels)
                .sum(Kind::Double);
            let _ = correct.g_add_(&hit);
        });
    }
    // Why doubles: counts below 2^53 are exact, and one all-reduce carries
    // the loss, the hits and the count together.
    let count = Tensor::from_slice(&[n as f64]).to_device(cfg.device);
    if let Some(g) = group {
        g.all_reduce_sum(&[&loss_sum, &correct, &count])
            .map_err(TrainError::Other)?;
    }
    let n = count.double_value(&[0]);
    if n == 0.0 {
        return Err(TrainError::EmptySplit {
            split: split.to_string(),
        });
    }
    let loss = loss_sum.double_value(&[0]) / n;
    let top1 = correct.double_value(&[0]) / n;
    Ok((loss, top1))
}

/// Wall time trained, counting the processes before a resume.
pub(super) struct Clock {
    start: Instant,
    before_s: f64,
}

impl Clock {
    pub(super) fn elapsed(&self) -> f64 {
        self.before_s + self.start.elapsed().as_secs_f64()
    }
}

/// What stays fixed while one cell trains.
pub(super) struct CellRun<'a> {
    pub cell: &'a Cell,
    pub data: &'a PreparedData,
    pub cell_dir: &'a Path,
    pub stop: &'a StopSignal,
    pub model: &'a BakeoffModel,
    pub vars: &'a BTreeMap<String, Tensor>,
    pub mode: PrecisionMode,
    pub ckpt: PathBuf,
    pub metrics_path: PathBuf,
    pub best_path: PathBuf,
    /// Effective batch (`batch × accumulate`) the loader serves.
    pub batch: usize,
    pub micro_batches: i64,
    pub drop_last: bool,
    pub steps_per_epoch: u64,
    /// Top-1 of always guessing the selection split's majority class.
    pub chance: f64,
    pub eval_cfg: LoaderConfig,
    pub augment_seed: u64,
    pub clock: Clock,
    /// Forward FLOPs per image and the GPU's bf16 peak (TFLOP/s), for the
    /// MFU column; `None` on the CPU or an unknown GPU.
    pub flops: Option<(f64, f64)>,
    /// The data-parallel group, when the cell trains on several ranks.
    pub group: Option<Arc<Group>>,
    /// Buffers (batch-norm running statistics: the variables that were
    /// never trainable), broadcast from rank 0 before every forward pass
    /// and validation, as torch DDP's `broadcast_buffers`.
    pub buffers: Vec<Tensor>,
}

impl CellRun<'_> {
    /// Whether this process writes the cell's files: the only process, or
    /// rank 0 of a data-parallel cell.
    pub(super) fn writes(&self) -> bool {
        self.group.as_ref().is_none_or(|g| g.rank == 0)
    }

    /// Rank 0's buffers everywhere (no-op in one process or without any).
    pub(super) fn sync_buffers(&self) -> Result<(), TrainError> {
        match &self.group {
            Some(g) if !self.buffers.is_empty() => {
                let refs: Vec<&Tensor> = self.buffers.iter().collect();
                g.broadcast(&refs, 0).map_err(TrainError::Other)
            }
            _ => Ok(()),
        }
    }

    pub(super) fn io_error(&self, e: std::io::Error) -> TrainError {
        TrainError::Io {
            path: self.cell_dir.to_path_buf(),
            message: e.to_string(),
        }
    }
}

/// Train (or resume, or return the finished outcome of) one cell.
pub fn run(
    cell: &Cell,
    data: &PreparedData,
    cell_dir: &Path,
    opts: &TrainOptions,
    stop: &StopSignal,
) -> Result<RunEnd, TrainError> {
    let io = |e: std::io::Error| TrainError::Io {
        path: cell_dir.to_path_buf(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(cell_dir.join("ckpt")).map_err(io)?;
    if opts.deterministic {
        if opts.device.is_cuda() && std::env::var_os("CUBLAS_WORKSPACE_CONFIG").is_none() {
            // Why: with deterministic algorithms on, cuBLAS refuses to run
            // (libtorch throws) unless this is set before its first handle.
            std::env::set_var("CUBLAS_WORKSPACE_CONFIG", ":4096:8");
        }
        runtime::set_deterministic(true);
    }
    let recipe = &cell.recipe;
    let budget = &cell.budget;
    let device = opts.device;
    let (mode, channels_last) = device_modes(cell, device);
    let total_epochs = budget.total_epochs();
    let mut progress = Progress::new(&cell.id, total_epochs, opts.progress);
    let ckpt = checkpoint_path(cell_dir);
    let metrics_path = cell_dir.join("metrics.csv");
    let best_path = cell_dir.join("best.safetensors");

    let resumed = try_resume(&ckpt, cell, &progress)?;
    if let Some(Resumed {
        state:
            LoopState {
                outcome: Some(outcome),
                rows,
                ..
            },
        ..
    }) = &resumed
    {
        if opts.writes() {
            history::write(&metrics_path, rows)?;
        }
        return Ok(RunEnd::Finished(outcome.clone()));
    }

    // Why after the finished check: every rank reads the same checkpoint,
    // so all of them either return above or meet here.
    // A group of one is a real group too (scripts/gpu_check.sh's NCCL
    // sanity run on a one-GPU machine); the launcher starts ranks only for
    // `--ddp 2` and more.
    let group = match &opts.dist {
        Some(d) => Some(Arc::new(
            Group::join(d, device.is_cuda(), recipe.sync_bn).map_err(TrainError::Other)?,
        )),
        None => None,
    };
    let _sync_bn = group.as_ref().map(dist::Activation::new);
    let mut tb = if opts.writes() {
        CellLog::create(cell_dir, opts.tb_every).map_err(io)?
    } else {
        CellLog::off()
    };
    let built = build_model(cell, data, device, resumed.is_none())?;
    let Built {
        vs: _vs,
        model,
        vars,
        trainable,
    } = &built;
    if channels_last {
        to_channels_last(vars);
    }
    let mut ema = recipe.ema.map(|d| Ema::new(d, vars));
    let (mut st, mut saved_optim) = match resumed {
        Some(r) => {
            copy_into(vars, &r.tensors, "model.", &ckpt)?;
            if let Some(e) = &mut ema {
                copy_into(&e.shadow, &r.tensors, "ema.", &ckpt)?;
            }
            progress.note(&format!(
                "resuming at epoch {} batch {} (step {})",
                r.state.epoch + 1,
                r.state.batch,
                r.state.global_step
            ));
            (r.state, Some(r.tensors))
        }
        None => (LoopState::fresh(cell), None),
    };
    if let Some(g) = &group {
        // torch DDP's module-state sync: every rank starts from rank 0's
        // weights (the same seeds make them equal already; this makes it so).
        let mut all: Vec<&Tensor> = vars.values().collect();
        if let Some(e) = &ema {
            all.extend(e.shadow.values());
        }
        g.broadcast(&all, 0).map_err(TrainError::Other)?;
    }

    let train_len = data.split_len(TRAIN_SPLIT)?;
    if train_len == 0 {
        return Err(TrainError::EmptySplit {
            split: TRAIN_SPLIT.into(),
        });
    }
    if data.split_len(&recipe.select_split)? == 0 {
        return Err(TrainError::EmptySplit {
            split: recipe.select_split.clone(),
        });
    }
    // Why the loader serves whole effective batches (`batch × accumulate`),
    // cut into micro-batches here: the samples, their order, augmentations
    // and mixup pairs are then exactly those of one `batch × accumulate`
    // batch, and accumulation only trades memory for time.
    let batch = recipe.effective_batch() as usize;
    let micro_batches = recipe.accumulate.max(1) as i64;
    let shard = group.as_ref().map(|g| (g.rank, g.world));
    if let Some(g) = &group {
        if recipe.rank_share(g.world).is_none() {
            return Err(TrainError::Other(format!(
                "the global batch of {batch} does not split into {} equal shares of at least {micro_batches} sample(s); choose a batch (× accumulate) divisible by the number of ranks",
                g.world
            )));
        }
    }
    // Why drop_last: a trailing batch of one sample breaks batch norm and
    // skews the step count; keep it only when the split is smaller than a batch.
    let drop_last = train_len >= batch;
    let steps_per_epoch = recipe.steps_per_epoch(train_len as u64);
    let chance = chance_top1(&data.split_labels(&recipe.select_split)?);
    if !mode.loss_scaling {
        st.scaler = None;
    } else if st.scaler.is_none() {
        st.scaler = Some(LossScaler::default());
    }
    let phase_plan = phases::plan(budget, &recipe.optimizer);
    let run = CellRun {
        cell,
        data,
        cell_dir,
        stop,
        model,
        vars,
        mode,
        ckpt,
        metrics_path,
        best_path,
        batch,
        micro_batches,
        drop_last,
        steps_per_epoch,
        chance,
        eval_cfg: LoaderConfig {
            shard,
            ..eval_loader_config(cell, opts, channels_last)
        },
        augment_seed: derive_seed(cell.seed, SeedPurpose::Augment, &[&cell.id]),
        clock: Clock {
            start: Instant::now(),
            before_s: st.elapsed_s,
        },
        flops: flops_and_peak(model, cell, data, device),
        buffers: vars
            .iter()
            .filter(|(n, _)| !trainable.contains(*n))
            .map(|(_, t)| t.shallow_clone())
            .collect(),
        group,
    };
    let mut t = Tracking {
        st: &mut st,
        ema: &mut ema,
        tb: &mut tb,
        progress: &mut progress,
    };

    let mut opt: Option<(PhaseKind, Optimizer)> = None;
    // Why CUDA only: `auto` means off on the CPU, whose results stay those
    // of the host-lr optimizers bit for bit.
    // Why not under data parallelism: the gradient all-reduce runs from
    // autograd hooks outside any captured graph.
    let graphs_wanted = opts.cuda_graphs
        && recipe.cuda_graphs == CudaGraphs::Auto
        && device.is_cuda()
        && run.group.is_none();
    let mut reducer: Option<Reducer> = None;
    let mut graph = GraphStep::eager();
    let mut status = TrainStatus::Done;
    while t.st.epoch < total_epochs {
        let Some(phase) = phase_plan.iter().find(|p| p.contains(t.st.epoch)).cloned() else {
            break;
        };
        let sched = PhaseSchedule::new(
            phase.base_lr,
            &recipe.schedule,
            recipe.warmup,
            steps_per_epoch,
            phase.epochs,
        )
        .capped(phase_step_cap(
            budget.max_samples,
            &phase,
            steps_per_epoch,
            batch.min(train_len) as u64,
        ));
        if opt.as_ref().map(|(k, _)| *k) != Some(phase.kind) {
            let mut o = make_optimizer(cell, &phase, model, vars, trainable, graphs_wanted);
            // A checkpoint taken at the end of a phase holds the old phase's
            // state; the new phase starts fresh, exactly as without a restart.
            let same_phase = t.st.optim_phase.as_deref() == Some(phase.kind.name());
            if let (Some(saved), true) = (saved_optim.take(), same_phase) {
                o.load_state(&saved, "optim.")
                    .map_err(|m| TrainError::Checkpoint {
                        path: run.ckpt.clone(),
                        message: m,
                    })?;
            }
            t.st.optim_phase = Some(phase.kind.name().to_string());
            if let Some(g) = &run.group {
                // A phase trains its own parameter set: its own reducer (the
                // old one's hooks go with it first).
                drop(reducer.take());
                let params: Vec<&Tensor> = vars.values().filter(|v| v.requires_grad()).collect();
                reducer = Some(Reducer::new(g, &params).map_err(TrainError::Other)?);
            }
            let (g, why) = GraphStep::for_phase(graphs_wanted, device, mode.loss_scaling, &o);
            if let Some(why) = why {
                t.progress.note(&format!(
                    "CUDA graphs off for this phase ({why}); training eagerly"
                ));
            }
            graph = g;
            opt = Some((phase.kind, o));
        }
        saved_optim = None;
        let Some((_, optimizer)) = opt.as_mut() else {
            break;
        };
        let trained = match train_epoch(
            &run,
            &mut t,
            &phase,
            &sched,
            optimizer,
            &mut graph,
            reducer.as_ref(),
        )? {
            EpochRun::Trained(e) => e,
            EpochRun::Interrupted { epoch, step } => {
                return Ok(RunEnd::Interrupted { epoch, step })
            }
        };
        let overlap = reducer.as_ref().and_then(Reducer::overlap);
        if let Some(end) = finish_epoch(
            &run,
            &mut t,
            &phase,
            trained,
            opt.as_ref().map(|(_, o)| o),
            overlap,
        )? {
            status = end;
            break;
        }
    }

    if !matches!(status, TrainStatus::Diverged { .. }) {
        let val_losses: Vec<f64> = st.rows.iter().map(|r| r.val_loss).collect();
        if let Some(trip) =
            st.instability
                .observe_end(st.selection.best_epoch, budget.frozen_epochs, &val_losses)
        {
            progress.note(&format!("unstable: {}", trip.reason));
        }
        // Why over early_stopped and time_limit: a comparison must know
        // first that the cell's score is not a clean finetune.
        if let Some((epoch, reason)) = st.instability.summary() {
            status = TrainStatus::Unstable { epoch, reason };
        }
    }
    let outcome = TrainOutcome {
        status,
        best_epoch: st.selection.best_epoch,
        best_val_loss: st.selection.best_val_loss,
        best_val_top1: st.selection.best_val_top1,
    };
    st.outcome = Some(outcome.clone());
    st.elapsed_s = run.clock.elapsed();
    if !run.writes() {
        return Ok(RunEnd::Finished(outcome));
    }
    save_checkpoint(
        &run.ckpt,
        vars,
        opt.as_ref().map(|(_, o)| o),
        ema.as_ref(),
        &st,
    )?;
    Ok(RunEnd::Finished(outcome))
}

/// Steps `phase` can run before `max_samples` ends training, counted from
/// its first step (every step sees `samples_per_step` samples).
fn phase_step_cap(
    max_samples: Option<u64>,
    phase: &Phase,
    steps_per_epoch: u64,
    samples_per_step: u64,
) -> Option<u64> {
    let cap = max_samples?;
    let per_step = samples_per_step.max(1);
    let before = u64::from(phase.start_epoch) * steps_per_epoch * per_step;
    Some(cap.saturating_sub(before).div_ceil(per_step))
}

/// The model's forward FLOPs per image and the device's bf16 peak, when the
/// device is a GPU in the peak table (docs/benchmarks.md).
fn flops_and_peak(
    model: &BakeoffModel,
    cell: &Cell,
    data: &PreparedData,
    device: Device,
) -> Option<(f64, f64)> {
    let Device::Cuda(index) = device else {
        return None;
    };
    let peak = flops::bf16_peak_tflops(&runtime::cuda_device_info(index)?.name)?;
    let fwd = flops::forward_flops_per_image(
        model,
        cell.data.image_size,
        data.metadata_dim as i64,
        device,
    );
    Some((fwd, peak))
}

fn make_optimizer(
    cell: &Cell,
    phase: &Phase,
    model: &BakeoffModel,
    vars: &BTreeMap<String, Tensor>,
    trainable: &BTreeSet<String>,
    capturable: bool,
) -> Optimizer {
    phases::set_trainable(phase.kind, vars, trainable);
    let num_layers = model.num_layers();
    let decay = cell.recipe.layer_decay;
    let scale = |name: &str| phases::layer_decay_scale(decay, model.layer_id(name), num_layers);
    let params = phases::param_specs(
        phase.kind,
        vars,
        trainable,
        cell.recipe.optimizer.weight_decay,
        &scale,
    );
    let kind = cell.recipe.optimizer.kind.clone();
    if capturable {
        Optimizer::capturable(kind, params)
    } else {
        Optimizer::new(kind, params)
    }
}

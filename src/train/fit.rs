//! The training loop of one cell: phases, per-step updates, validation,
//! selection, early stopping, the divergence watchdog, the validation
//! instability checks (`instability`), budget caps and crash-safe checkpoints.
//!
//! Host/device traffic: per step the loop only launches work; the batch
//! losses are copied into a device buffer and read back once every
//! `LOSS_WINDOW` steps (and before every checkpoint and at epoch end), which
//! is also when the watchdog looks at them. Validation reads back two
//! scalars per pass.

use super::checkpoint::{copy_into, load_tensors, save_tensors, STATE_KEY};
use super::early_stop::{EarlyStopper, Selection};
use super::ema::Ema;
use super::history::{self, EpochRow};
use super::instability::{chance_top1, InstabilityWatch};
use super::optim::Optimizer;
use super::phases::{self, Phase, PhaseKind};
use super::precision::{self, LossScaler, PrecisionMode};
use super::progress::Progress;
use super::schedule::PhaseSchedule;
use super::tensorboard::CellLog;
use super::{RunEnd, StopSignal, TrainError, TrainOptions, TrainOutcome, TrainStatus};
use crate::data::{self, Batch, LoaderConfig, PreparedData};
use crate::models::runtime::{self, Half};
use crate::models::{self, BakeoffModel, HeadConfig};
use crate::seeds::{derive_seed, SeedPurpose};
use crate::spec::{Cell, OnUnstable};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;
use tch::{nn, Device, Kind, Reduction, Tensor};

/// Steps between loss read-backs (watchdog checks and progress updates).
pub const LOSS_WINDOW: usize = 25;
/// Version of the checkpoint's loop state; a different one starts afresh.
const STATE_VERSION: u32 = 1;
pub const TRAIN_SPLIT: &str = "train";

/// Everything besides tensors needed to continue a run exactly where it
/// stopped. Saved as JSON inside the checkpoint file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LoopState {
    version: u32,
    cell_id: String,
    /// Hash of the settings training reads; a checkpoint of other settings is ignored.
    config_hash: String,
    /// 0-based global epoch in progress.
    epoch: u32,
    /// Next batch index within the epoch.
    batch: usize,
    global_step: u64,
    /// Step within the current phase (drives warmup and schedule).
    phase_step: u64,
    /// Phase the saved optimizer state belongs to.
    optim_phase: Option<String>,
    samples_seen: u64,
    /// Wall time trained before this process (time-limit budget).
    #[serde(deserialize_with = "history::f64_or_nan")]
    elapsed_s: f64,
    #[serde(deserialize_with = "history::f64_or_nan")]
    epoch_loss_sum: f64,
    epoch_samples: u64,
    first_epoch_loss: Option<f64>,
    #[serde(deserialize_with = "history::f64_or_nan")]
    last_lr: f64,
    selection: Selection,
    early: EarlyStopper,
    rows: Vec<EpochRow>,
    /// Validation instability checks (absent in older checkpoints).
    #[serde(default)]
    instability: InstabilityWatch,
    /// fp16 loss scale and its growth count (None without loss scaling).
    #[serde(default)]
    scaler: Option<LossScaler>,
    /// Set once the cell finished: train_cell then returns it unchanged.
    outcome: Option<TrainOutcome>,
}

fn config_hash(cell: &Cell) -> String {
    // Why these fields: they are exactly what the trainer reads; the score
    // spec and axis labels do not change the weights.
    let v = serde_json::json!({
        "id": cell.id, "seed": cell.seed, "data": cell.data, "backbone": cell.backbone,
        "recipe": cell.recipe, "budget": cell.budget,
    });
    blake3::hash(v.to_string().as_bytes()).to_hex().to_string()
}

impl LoopState {
    fn fresh(cell: &Cell) -> Self {
        Self {
            version: STATE_VERSION,
            cell_id: cell.id.clone(),
            config_hash: config_hash(cell),
            epoch: 0,
            batch: 0,
            global_step: 0,
            phase_step: 0,
            optim_phase: None,
            samples_seen: 0,
            elapsed_s: 0.0,
            epoch_loss_sum: 0.0,
            epoch_samples: 0,
            first_epoch_loss: None,
            last_lr: 0.0,
            selection: Selection::default(),
            early: EarlyStopper::default(),
            rows: Vec::new(),
            instability: InstabilityWatch::default(),
            scaler: None,
            outcome: None,
        }
    }
}

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
    LoaderConfig {
        batch_size: cell.recipe.batch.max(1) as usize,
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
    }
}

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

/// Mean cross-entropy and top-1 of the model on `split` (in order).
pub(crate) fn evaluate(
    model: &BakeoffModel,
    data: &PreparedData,
    split: &str,
    cfg: &LoaderConfig,
    autocast: Option<Half>,
) -> Result<(f64, f64), TrainError> {
    let loader = data::loader(data, split, cfg)?;
    let mut loss_sum = Tensor::zeros([1], (Kind::Double, cfg.device));
    let mut correct = Tensor::zeros([1], (Kind::Int64, cfg.device));
    let mut n = 0usize;
    for item in loader {
        let b = item?;
        n += b.index.len();
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
                .sum(Kind::Int64);
            let _ = correct.g_add_(&hit);
        });
    }
    if n == 0 {
        return Err(TrainError::EmptySplit {
            split: split.to_string(),
        });
    }
    let loss = loss_sum.double_value(&[0]) / n as f64;
    let top1 = correct.int64_value(&[0]) as f64 / n as f64;
    Ok((loss, top1))
}

/// Batch losses kept on the device until the next read-back.
struct LossWindow {
    buf: Tensor,
    sizes: Vec<u64>,
    /// Global step (1-based) of the first loss in the window.
    first_step: u64,
}

impl LossWindow {
    fn new(device: Device) -> Self {
        Self {
            buf: Tensor::zeros([LOSS_WINDOW as i64], (Kind::Float, device)),
            sizes: Vec::new(),
            first_step: 0,
        }
    }

    fn push(&mut self, loss: &Tensor, batch_size: u64, global_step: u64) {
        if self.sizes.is_empty() {
            self.first_step = global_step;
        }
        let i = self.sizes.len() as i64;
        let mut slot = self.buf.narrow(0, i, 1);
        slot.copy_(&loss.detach().to_kind(Kind::Float).reshape([1]));
        self.sizes.push(batch_size);
    }

    fn full(&self) -> bool {
        self.sizes.len() >= LOSS_WINDOW
    }

    /// Read the losses back (one sync); returns (global step, loss, batch size) each.
    fn drain(&mut self) -> Vec<(u64, f64, u64)> {
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

struct Diverged {
    step: u64,
    reason: String,
}

/// Fold read-back losses into the epoch totals and run the watchdog.
fn absorb(
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

fn save_checkpoint(
    path: &Path,
    vars: &BTreeMap<String, Tensor>,
    opt: Option<&Optimizer>,
    ema: Option<&Ema>,
    st: &LoopState,
) -> Result<(), TrainError> {
    let mut tensors: Vec<(String, Tensor)> = vars
        .iter()
        .map(|(n, t)| (format!("model.{n}"), t.shallow_clone()))
        .collect();
    if let Some(opt) = opt {
        tensors.extend(
            opt.state_tensors()
                .into_iter()
                .map(|(n, t)| (format!("optim.{n}"), t)),
        );
    }
    if let Some(ema) = ema {
        tensors.extend(
            ema.shadow
                .iter()
                .map(|(n, t)| (format!("ema.{n}"), t.shallow_clone())),
        );
    }
    let json = serde_json::to_string(st).map_err(|e| TrainError::Checkpoint {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut meta = BTreeMap::new();
    meta.insert(STATE_KEY.to_string(), json);
    save_tensors(path, &tensors, meta)
}

pub(crate) fn save_best(
    path: &Path,
    vars: &BTreeMap<String, Tensor>,
    cell: &Cell,
    epoch: u32,
) -> Result<(), TrainError> {
    let tensors: Vec<(String, Tensor)> = vars
        .iter()
        .map(|(n, t)| (n.clone(), t.shallow_clone()))
        .collect();
    // Why one key: safetensors keeps metadata in a HashMap, whose order would
    // make two identical runs write different header bytes.
    let info = serde_json::json!({ "cell": cell.id, "epoch": epoch, "version": env!("CARGO_PKG_VERSION") });
    let mut meta = BTreeMap::new();
    meta.insert("exp".to_string(), info.to_string());
    save_tensors(path, &tensors, meta)
}

pub fn checkpoint_path(cell_dir: &Path) -> PathBuf {
    cell_dir.join("ckpt").join("last.safetensors")
}

/// What a loaded checkpoint restores besides the loop state.
struct Resumed {
    state: LoopState,
    tensors: BTreeMap<String, Tensor>,
}

fn try_resume(
    path: &Path,
    cell: &Cell,
    progress: &Progress,
) -> Result<Option<Resumed>, TrainError> {
    if !path.exists() {
        return Ok(None);
    }
    let file = load_tensors(path)?;
    let json = file
        .metadata
        .get(STATE_KEY)
        .ok_or_else(|| TrainError::Checkpoint {
            path: path.to_path_buf(),
            message: "no loop state in the checkpoint".into(),
        })?;
    let state: LoopState = serde_json::from_str(json).map_err(|e| TrainError::Checkpoint {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if state.version != STATE_VERSION
        || state.cell_id != cell.id
        || state.config_hash != config_hash(cell)
    {
        progress.note("checkpoint was written for other settings; training from scratch");
        return Ok(None);
    }
    Ok(Some(Resumed {
        state,
        tensors: file.tensors,
    }))
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
        history::write(&metrics_path, rows)?;
        return Ok(RunEnd::Finished(outcome.clone()));
    }

    let mut tb = CellLog::create(cell_dir, opts.tb_every).map_err(io)?;
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
    let eval_cfg = eval_loader_config(cell, opts, channels_last);
    let augment_seed = derive_seed(cell.seed, SeedPurpose::Augment, &[&cell.id]);
    let process_start = Instant::now();
    let elapsed_before = st.elapsed_s;
    let elapsed = |start: &Instant| elapsed_before + start.elapsed().as_secs_f64();

    let mut opt: Option<(PhaseKind, Optimizer)> = None;
    let mut status = TrainStatus::Done;

    'epochs: while st.epoch < total_epochs {
        let Some(phase) = phase_plan.iter().find(|p| p.contains(st.epoch)).cloned() else {
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
            let mut o = make_optimizer(cell, &phase, model, vars, trainable);
            // A checkpoint taken at the end of a phase holds the old phase's
            // state; the new phase starts fresh, exactly as without a restart.
            let same_phase = st.optim_phase.as_deref() == Some(phase.kind.name());
            if let (Some(saved), true) = (saved_optim.take(), same_phase) {
                o.load_state(&saved, "optim.")
                    .map_err(|m| TrainError::Checkpoint {
                        path: ckpt.clone(),
                        message: m,
                    })?;
            }
            st.optim_phase = Some(phase.kind.name().to_string());
            opt = Some((phase.kind, o));
        }
        saved_optim = None;
        let Some((_, optimizer)) = opt.as_mut() else {
            break;
        };

        let cfg = LoaderConfig {
            batch_size: batch,
            train: true,
            augment: recipe.augment.clone(),
            seed: augment_seed,
            epoch: u64::from(st.epoch),
            drop_last,
            start_batch: st.batch,
            ..eval_cfg.clone()
        };
        let mut loader = data::loader(data, TRAIN_SPLIT, &cfg)?;
        progress.start_epoch(
            st.epoch,
            phase.kind.name(),
            steps_per_epoch,
            st.batch as u64,
        );
        let mut window = LossWindow::new(device);
        let epoch_start = Instant::now();
        let mut samples_here = 0u64;
        let mut cut_short: Option<TrainStatus> = None;
        let mut diverged: Option<Diverged> = None;

        while let Some(item) = loader.next() {
            let b: Batch = item?;
            let bs = b.index.len() as u64;
            // Why per-step reseeding: dropout and drop-path masks depend only
            // on (seed, cell, step), so a resumed run draws the same masks.
            tch::manual_seed(derive_seed(
                cell.seed,
                SeedPurpose::Dropout,
                &[&cell.id, &st.global_step],
            ) as i64);
            let lr = sched.lr(st.phase_step);
            optimizer.zero_grad().map_err(TrainError::Other)?;
            let frozen = phase.kind == PhaseKind::Frozen;
            let loss = accumulate_gradients(
                model,
                &b,
                micro_batches,
                mode.autocast,
                frozen,
                recipe.label_smoothing,
                st.scaler.as_ref(),
            );
            match st.scaler.as_mut() {
                Some(scaler) => {
                    scaler
                        .step(optimizer, recipe.grad_clip, lr)
                        .map_err(TrainError::Other)?;
                }
                None => {
                    if let Some(max) = recipe.grad_clip {
                        let _ = optimizer.clip_grad_norm(max);
                    }
                    optimizer.step(lr).map_err(TrainError::Other)?;
                }
            }
            if let Some(e) = &mut ema {
                e.update(vars);
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
            let interrupted = stop
                .flag
                .as_ref()
                .is_some_and(|f| f.load(Ordering::Relaxed));
            let over_time = budget
                .time_limit_s
                .is_some_and(|t| elapsed(&process_start) >= t as f64);
            let over_samples = budget.max_samples.is_some_and(|m| st.samples_seen >= m);
            if window.full() || want_ckpt || interrupted || over_time || over_samples {
                if let Some(d) = absorb(&mut st, &mut window, recipe.diverge_factor, &mut tb) {
                    diverged = Some(d);
                    break;
                }
                let secs = epoch_start.elapsed().as_secs_f64().max(1e-9);
                let shown = if st.epoch_samples > 0 {
                    st.epoch_loss_sum / st.epoch_samples as f64
                } else {
                    f64::NAN
                };
                progress.update(
                    st.batch as u64,
                    shown,
                    samples_here as f64 / secs,
                    loader.wait_fraction(),
                );
            }
            if want_ckpt || interrupted {
                st.elapsed_s = elapsed(&process_start);
                save_checkpoint(&ckpt, vars, Some(optimizer), ema.as_ref(), &st)?;
            }
            if interrupted {
                return Ok(RunEnd::Interrupted {
                    epoch: st.epoch + 1,
                    step: st.global_step,
                });
            }
            if stop.crash_after_steps.is_some_and(|n| st.global_step >= n) {
                // Test hook: vanish like a killed process, saving nothing.
                return Ok(RunEnd::Interrupted {
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
        if diverged.is_none() {
            diverged = absorb(&mut st, &mut window, recipe.diverge_factor, &mut tb);
        }
        let train_secs = epoch_start.elapsed().as_secs_f64().max(1e-9);
        let train_loss = if st.epoch_samples > 0 {
            st.epoch_loss_sum / st.epoch_samples as f64
        } else {
            f64::NAN
        };
        let mut row = EpochRow {
            epoch: st.epoch + 1,
            phase: phase.kind.name().to_string(),
            train_loss,
            val_loss: f64::NAN,
            val_top1: f64::NAN,
            lr: st.last_lr,
            img_per_s: samples_here as f64 / train_secs,
            data_wait: loader.wait_fraction(),
            skipped_steps: st.scaler.as_ref().map_or(0, |s| s.skipped_in_epoch),
            loss_scale: st.scaler.as_ref().map_or(1.0, |s| s.scale),
        };
        drop(loader);

        if let Some(d) = diverged {
            // No validation of a diverged model: the row shows the loss that
            // tripped the watchdog; best.safetensors keeps the last good epoch.
            status = TrainStatus::Diverged {
                epoch: st.epoch + 1,
                step: d.step,
                reason: d.reason.clone(),
            };
            progress.note(&format!("diverged: {}", d.reason));
            tb.epoch(&row).map_err(io)?;
            st.rows.push(row);
            history::write(&metrics_path, &st.rows)?;
            break 'epochs;
        }

        if let Some(e) = &mut ema {
            e.swap(vars);
        }
        let (val_loss, val_top1) =
            evaluate(model, data, &recipe.select_split, &eval_cfg, mode.autocast)?;
        row.val_loss = val_loss;
        row.val_top1 = val_top1;
        if st
            .selection
            .observe(recipe.monitor, st.epoch + 1, val_loss, val_top1)
        {
            save_best(&best_path, vars, cell, st.epoch + 1)?;
        }
        if let Some(e) = &mut ema {
            e.swap(vars);
        }
        let stop_early = recipe
            .early_stop
            .as_ref()
            .is_some_and(|rule| st.early.observe(rule, val_loss, val_top1));
        let tripped = st.instability.observe_epoch(
            st.epoch + 1,
            val_loss,
            val_top1,
            chance,
            recipe.val_loss_factor,
        );
        for t in &tripped {
            progress.note(&format!("unstable at epoch {}: {}", t.epoch, t.reason));
        }
        if st.epoch == 0 && st.first_epoch_loss.is_none() && train_loss.is_finite() {
            st.first_epoch_loss = Some(train_loss);
        }
        progress.end_epoch(&row);
        tb.epoch(&row).map_err(io)?;
        st.rows.push(row);
        history::write(&metrics_path, &st.rows)?;

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
        st.elapsed_s = elapsed(&process_start);

        if !val_loss.is_finite() {
            status = TrainStatus::Diverged {
                epoch: finished_epoch,
                step: st.global_step,
                reason: format!(
                    "non-finite validation loss ({val_loss}) after epoch {finished_epoch}"
                ),
            };
            progress.note("diverged: non-finite validation loss");
            break 'epochs;
        }
        save_checkpoint(&ckpt, vars, opt.as_ref().map(|(_, o)| o), ema.as_ref(), &st)?;
        if !tripped.is_empty() && recipe.on_unstable == OnUnstable::Stop {
            let reasons: Vec<&str> = tripped.iter().map(|t| t.reason.as_str()).collect();
            status = TrainStatus::Diverged {
                epoch: finished_epoch,
                step: st.global_step,
                reason: reasons.join("; "),
            };
            break 'epochs;
        }
        if let Some(s) = cut_short {
            status = s;
            break 'epochs;
        }
        if stop_early {
            status = TrainStatus::EarlyStopped {
                epoch: finished_epoch,
            };
            progress.note(&format!("early stop after epoch {finished_epoch}"));
            break 'epochs;
        }
    }

    if !matches!(status, TrainStatus::Diverged { .. }) {
        let val_losses: Vec<f64> = st.rows.iter().map(|r| r.val_loss).collect();
        if let Some(t) =
            st.instability
                .observe_end(st.selection.best_epoch, budget.frozen_epochs, &val_losses)
        {
            progress.note(&format!("unstable: {}", t.reason));
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
    st.elapsed_s = elapsed(&process_start);
    save_checkpoint(&ckpt, vars, opt.as_ref().map(|(_, o)| o), ema.as_ref(), &st)?;
    Ok(RunEnd::Finished(outcome))
}

/// Forward and backward of one effective batch `b` in `micro_batches`
/// parts, gradients summed into the parameters' `.grad`; returns the batch's
/// mean training loss (detached).
///
/// Each part's mean loss is weighted by its share of the batch, so the
/// summed gradient is that of the whole batch's mean loss; with a scaler
/// each part's loss is scaled before its backward.
fn accumulate_gradients(
    model: &BakeoffModel,
    b: &Batch,
    micro_batches: i64,
    autocast: Option<Half>,
    frozen: bool,
    label_smoothing: f64,
    scaler: Option<&LossScaler>,
) -> Tensor {
    let backward = |loss: &Tensor| match scaler {
        Some(s) => s.scale_loss(loss).backward(),
        None => loss.backward(),
    };
    let forward = |images: &Tensor, metadata: &Tensor, labels: &Tensor, soft: Option<&Tensor>| {
        let logits = runtime::autocast(autocast, || model.forward(images, metadata, true, frozen))
            .to_kind(Kind::Float);
        training_loss(&logits, labels, soft, label_smoothing)
    };
    if micro_batches <= 1 {
        let loss = forward(&b.images, &b.metadata, &b.labels, b.soft_targets.as_ref());
        backward(&loss);
        return loss.detach();
    }
    let n = b.index.len().max(1) as f64;
    let images = b.images.chunk(micro_batches, 0);
    let metadata = b.metadata.chunk(micro_batches, 0);
    let labels = b.labels.chunk(micro_batches, 0);
    let soft = b.soft_targets.as_ref().map(|t| t.chunk(micro_batches, 0));
    let mut total: Option<Tensor> = None;
    for (i, ((x, m), y)) in images.iter().zip(&metadata).zip(&labels).enumerate() {
        let share = y.size().first().copied().unwrap_or(0) as f64 / n;
        let t = soft.as_ref().and_then(|s| s.get(i));
        let loss = forward(x, m, y, t) * share;
        backward(&loss);
        let loss = loss.detach();
        total = Some(match total {
            Some(sum) => sum + loss,
            None => loss,
        });
    }
    total.unwrap_or_else(|| Tensor::zeros([], (Kind::Float, b.images.device())))
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

fn make_optimizer(
    cell: &Cell,
    phase: &Phase,
    model: &BakeoffModel,
    vars: &BTreeMap<String, Tensor>,
    trainable: &BTreeSet<String>,
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
    Optimizer::new(cell.recipe.optimizer.kind.clone(), params)
}

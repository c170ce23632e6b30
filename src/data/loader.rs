//! The loader: worker threads cut and augment cached uint8 images into
//! batches, a bounded queue per worker prefetches them, and the consumer
//! moves each batch's bytes to the device and normalises there.
//!
//! Why bytes on the host: uint8 NHWC is a quarter of f32, and the normalise
//! (uint8 → f32, −mean, ÷std) is one fused elementwise kernel on the GPU. On
//! CUDA the batch is pinned by the worker, so the copy is asynchronous.
//! Permuting NHWC to NCHW gives a channels-last tensor for free; plain NCHW
//! is made contiguous only when `channels_last` is off.
//!
//! Batch `b` is built by worker `b mod workers` and read from that worker's
//! queue in order, so batches arrive in order and each sample's randomness is
//! `derive_seed(seed, Augment, [epoch, row])` whatever the thread count.

use super::augment::{apply_plan, eval_transform, plan_sample, View};
use super::augment_device;
use super::DataError;
use super::{cache::Cache, PreparedData, SplitData};
use crate::seeds::{derive_seed, SampleRng, SeedPurpose};
use crate::spec::Augment;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone)]
pub struct LoaderConfig {
    pub batch_size: usize,
    pub image_size: u32,
    pub mean: [f64; 3],
    pub std: [f64; 3],
    /// Train: shuffle + augment (+ mixup/cutmix soft targets); eval: resize + centre crop, in order.
    pub train: bool,
    pub augment: Vec<Augment>,
    /// Cell-derived seed; each sample's randomness is derived from (seed, epoch, index).
    pub seed: u64,
    pub epoch: u64,
    pub workers: usize,
    pub prefetch: usize,
    pub device: Device,
    pub drop_last: bool,
    /// Start at this batch (resume mid-epoch).
    pub start_batch: usize,
    /// Output channels-last memory format (CUDA).
    pub channels_last: bool,
    /// Where training augmentation runs (see [`AugmentOn`]).
    pub augment_on: AugmentOn,
    /// `(rank, ranks)` of a data-parallel cell: every batch is the global
    /// batch of the single-process run, and this rank takes its contiguous
    /// `rank`-th share of it (equal shares when the batch divides).
    pub shard: Option<(usize, usize)>,
}

/// Where the training transform runs. Either way each sample gets the same
/// crop, flips and draws (`augment::plan_sample`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AugmentOn {
    /// The device path when the device is CUDA, else the CPU path.
    #[default]
    Auto,
    /// Workers transform every sample on the host.
    Cpu,
    /// Workers ship uint8 crop regions; the device resizes and augments
    /// (also on a CPU tensor device: the twin the tests compare).
    Device,
}

pub struct Batch {
    /// `[B, 3, S, S]` f32, normalised, on the device.
    pub images: Tensor,
    /// `[B]` i64 class ids.
    pub labels: Tensor,
    /// `[B, C]` f32 soft targets when mixup/cutmix applied this batch.
    pub soft_targets: Option<Tensor>,
    /// `[B, M]` f32 encoded metadata (M may be 0).
    pub metadata: Tensor,
    /// Row indices into the split.
    pub index: Vec<usize>,
    /// Samples in the whole batch across data-parallel ranks (`index.len()`
    /// in a single process).
    pub global_len: usize,
}

/// A batch as the workers hand it over: bytes, pinned when the device is CUDA.
struct HostBatch {
    /// `[B, S, S, 3]` transformed images, or on the device path `[B, TH, TW, 3]`
    /// crop regions that `plan` says what to do with.
    images: Tensor,
    plan: Option<DevicePlan>,
    labels: Vec<i64>,
    meta: Vec<f32>,
    index: Vec<usize>,
    global_len: usize,
}

/// What the device path applies to a batch of crop regions.
struct DevicePlan {
    crops: Vec<f32>,
    plans: Vec<super::augment::SamplePlan>,
}

type Msg = Result<HostBatch, DataError>;

pub struct Loader {
    n_batches: usize,
    next: usize,
    start: usize,
    rxs: Vec<Receiver<Msg>>,
    workers: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    waited: Duration,
    first_call: Option<Instant>,
    last_return: Option<Instant>,
    cfg: LoaderConfig,
    classes: usize,
    metadata_dim: usize,
    normalize: Normalize,
    on_device: Result<(), &'static str>,
}

/// uint8 NHWC images → normalised f32 NCHW on the device: `x / 255 − mean`,
/// `÷ std`, as one multiply and one subtract. The one definition of the
/// model's input, for the loader and for `exp embed`'s files alike.
pub(crate) struct Normalize {
    /// `[1, 3, 1, 1]` scale `1 / (255 · std)` and shift `mean / std` on the device.
    scale: Tensor,
    shift: Tensor,
}

impl Normalize {
    pub(crate) fn new(mean: [f64; 3], std: [f64; 3], d: Device) -> Result<Self, DataError> {
        let scale: Vec<f32> = std.iter().map(|s| (1.0 / (255.0 * s)) as f32).collect();
        let shift: Vec<f32> = mean.iter().zip(std).map(|(m, s)| (m / s) as f32).collect();
        let dev = |e: tch::TchError| DataError::Device(e.to_string());
        let scale = Tensor::f_from_slice(&scale)
            .map_err(dev)?
            .f_view([1, 3, 1, 1])
            .map_err(dev)?
            .f_to_device_(d, Kind::Float, false, false)
            .map_err(dev)?;
        let shift = Tensor::f_from_slice(&shift)
            .map_err(dev)?
            .f_view([1, 3, 1, 1])
            .map_err(dev)?
            .f_to_device_(d, Kind::Float, false, false)
            .map_err(dev)?;
        Ok(Self { scale, shift })
    }

    /// Normalise a uint8 `[N, H, W, 3]` batch of host bytes on `d`
    /// (asynchronously when the bytes are pinned).
    pub(crate) fn apply(
        &self,
        nhwc: &Tensor,
        d: Device,
        channels_last: bool,
    ) -> Result<Tensor, DataError> {
        let dev = |e: tch::TchError| DataError::Device(e.to_string());
        let x = nhwc
            .f_to_device_(d, Kind::Uint8, true, false)
            .map_err(dev)?;
        self.finish(x, channels_last)
    }

    /// Normalise an `[N, H, W, 3]` batch already on the device (uint8, or
    /// f32 in 0..=255 from the device augmentation).
    fn finish(&self, x: Tensor, channels_last: bool) -> Result<Tensor, DataError> {
        let dev = |e: tch::TchError| DataError::Device(e.to_string());
        // NHWC → NCHW view: strides are channels-last already. Plain NCHW
        // is made contiguous while still bytes (a quarter of the traffic),
        // then one conversion and two in-place passes normalise it.
        let x = x.f_permute([0, 3, 1, 2]).map_err(dev)?;
        let x = if channels_last {
            x
        } else {
            x.f_contiguous().map_err(dev)?
        };
        let mut x = x.f_to_kind(Kind::Float).map_err(dev)?;
        let _ = x.f_mul_(&self.scale).map_err(dev)?;
        let _ = x.f_sub_(&self.shift).map_err(dev)?;
        Ok(x)
    }
}

impl Loader {
    /// Batches in this epoch (including those before `start_batch`).
    pub fn len(&self) -> usize {
        self.n_batches
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Batches still to come.
    pub fn remaining(&self) -> usize {
        self.n_batches.saturating_sub(self.next)
    }
    /// Fraction of wall time the consumer spent blocked waiting for a batch,
    /// measured from its first `next()` to its latest return.
    pub fn wait_fraction(&self) -> f64 {
        match (self.first_call, self.last_return) {
            (Some(a), Some(b)) if b > a => {
                (self.waited.as_secs_f64() / (b - a).as_secs_f64()).min(1.0)
            }
            _ => 0.0,
        }
    }
    /// Total time the consumer spent blocked.
    pub fn wait_time(&self) -> Duration {
        self.waited
    }

    /// Whether this loader's training transform runs on the device, or why not.
    pub fn augments_on_device(&self) -> Result<(), &'static str> {
        self.on_device
    }

    fn to_device(&self, host: HostBatch, batch_index: usize) -> Result<Batch, DataError> {
        let dev = |e: tch::TchError| DataError::Device(e.to_string());
        let d = self.cfg.device;
        let mut x = match &host.plan {
            None => self
                .normalize
                .apply(&host.images, d, self.cfg.channels_last)?,
            Some(p) => {
                let tiles = host
                    .images
                    .f_to_device_(d, Kind::Uint8, true, false)
                    .map_err(dev)?;
                let x = augment_device::apply(&tiles, &p.crops, &p.plans, self.cfg.image_size)
                    .map_err(dev)?;
                self.normalize.finish(x, self.cfg.channels_last)?
            }
        };
        let b = host.labels.len() as i64;
        let labels = Tensor::f_from_slice(&host.labels)
            .map_err(dev)?
            .f_to_device_(d, Kind::Int64, true, false)
            .map_err(dev)?;
        let mut meta = Tensor::f_from_slice(&host.meta)
            .map_err(dev)?
            .f_view([b, self.metadata_dim as i64])
            .map_err(dev)?
            .f_to_device_(d, Kind::Float, true, false)
            .map_err(dev)?;
        let mut soft = None;
        if self.cfg.train && b > 1 {
            if let Some(m) = self.mix(batch_index) {
                let onehot = labels
                    .f_one_hot(self.classes as i64)
                    .map_err(dev)?
                    .f_to_kind(Kind::Float)
                    .map_err(dev)?;
                let lam = match m {
                    Mix::Mixup(lam) => {
                        let xf = x.f_flip([0]).map_err(dev)?;
                        x = (&x * lam) + (xf * (1.0 - lam));
                        lam
                    }
                    Mix::Cutmix { x0, y0, w, h } => {
                        let xf = x.f_flip([0]).map_err(dev)?;
                        let mut dst = x
                            .f_narrow(2, y0, h)
                            .map_err(dev)?
                            .f_narrow(3, x0, w)
                            .map_err(dev)?;
                        let src = xf
                            .f_narrow(2, y0, h)
                            .map_err(dev)?
                            .f_narrow(3, x0, w)
                            .map_err(dev)?;
                        dst.f_copy_(&src).map_err(dev)?;
                        let s = i64::from(self.cfg.image_size);
                        1.0 - (w * h) as f64 / (s * s) as f64
                    }
                };
                let of = onehot.f_flip([0]).map_err(dev)?;
                soft = Some((&onehot * lam) + (of * (1.0 - lam)));
                if self.metadata_dim > 0 {
                    let mf = meta.f_flip([0]).map_err(dev)?;
                    meta = (&meta * lam) + (mf * (1.0 - lam));
                }
            }
        }
        Ok(Batch {
            images: x,
            labels,
            soft_targets: soft,
            metadata: meta,
            index: host.index,
            global_len: host.global_len,
        })
    }

    /// The batch-level mix of batch `b`, if any (mixup and cutmix listed:
    /// one of the two with equal chance, as timm).
    fn mix(&self, b: usize) -> Option<Mix> {
        let mut mixup = None;
        let mut cutmix = None;
        for a in &self.cfg.augment {
            match a {
                Augment::Mixup { alpha } if *alpha > 0.0 => mixup = Some(*alpha),
                Augment::Cutmix { alpha } if *alpha > 0.0 => cutmix = Some(*alpha),
                _ => {}
            }
        }
        if mixup.is_none() && cutmix.is_none() {
            return None;
        }
        let mut rng = SampleRng::new(derive_seed(
            self.cfg.seed,
            SeedPurpose::Augment,
            &[&"batch-mix", &self.cfg.epoch, &b],
        ));
        let use_cutmix = match (mixup, cutmix) {
            (Some(_), Some(_)) => rng.uniform() < 0.5,
            (None, Some(_)) => true,
            _ => false,
        };
        if use_cutmix {
            let alpha = cutmix.unwrap_or(1.0);
            let lam = rng.beta(alpha, alpha);
            let s = f64::from(self.cfg.image_size);
            let cut = (1.0 - lam).sqrt();
            let (cw, ch) = ((s * cut) as i64, (s * cut) as i64);
            let cx = rng.below(self.cfg.image_size as u64) as i64;
            let cy = rng.below(self.cfg.image_size as u64) as i64;
            let si = i64::from(self.cfg.image_size);
            let (x0, x1) = ((cx - cw / 2).clamp(0, si), (cx + cw / 2).clamp(0, si));
            let (y0, y1) = ((cy - ch / 2).clamp(0, si), (cy + ch / 2).clamp(0, si));
            Some(Mix::Cutmix {
                x0,
                y0,
                w: x1 - x0,
                h: y1 - y0,
            })
        } else {
            let alpha = mixup.unwrap_or(1.0);
            Some(Mix::Mixup(rng.beta(alpha, alpha)))
        }
    }
}

enum Mix {
    Mixup(f64),
    Cutmix { x0: i64, y0: i64, w: i64, h: i64 },
}

impl Iterator for Loader {
    type Item = Result<Batch, DataError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.n_batches || self.rxs.is_empty() {
            return None;
        }
        let t0 = Instant::now();
        self.first_call.get_or_insert(t0);
        let w = (self.next - self.start) % self.rxs.len();
        let msg = self.rxs[w].recv();
        self.waited += t0.elapsed();
        let b = self.next;
        self.next += 1;
        let out = match msg {
            Ok(Ok(host)) => self.to_device(host, b),
            Ok(Err(e)) => {
                self.next = self.n_batches;
                Err(e)
            }
            Err(_) => {
                self.next = self.n_batches;
                Err(DataError::Other(
                    "a loader worker stopped unexpectedly".into(),
                ))
            }
        };
        self.last_return = Some(Instant::now());
        Some(out)
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receivers unblocks workers waiting on a full queue.
        self.rxs.clear();
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

/// What every worker shares.
struct Job {
    split: Arc<SplitData>,
    cache: Arc<Cache>,
    order: Vec<usize>,
    cfg: LoaderConfig,
    metadata_dim: usize,
    on_device: bool,
}

impl Job {
    fn batch(&self, b: usize) -> Result<HostBatch, DataError> {
        let bs = self.cfg.batch_size;
        let global = &self.order[b * bs..((b + 1) * bs).min(self.order.len())];
        let rows = match self.cfg.shard {
            Some((rank, ranks)) if ranks > 1 => {
                let n = global.len();
                &global[rank * n / ranks..(rank + 1) * n / ranks]
            }
            _ => global,
        };
        let global_len = global.len();
        let s = self.cfg.image_size as usize;
        let mut bytes = Vec::with_capacity(rows.len() * s * s * 3);
        let mut labels = Vec::with_capacity(rows.len());
        let mut meta = Vec::with_capacity(rows.len() * self.metadata_dim);
        let mut views = Vec::new();
        let mut plans = Vec::new();
        for &row in rows {
            let rec = self.split.rec[row];
            let (w, h, data) = self.cache.image(rec).ok_or_else(|| {
                DataError::Other(format!(
                    "image `{}` is missing from the decode cache",
                    self.split.ids[row]
                ))
            })?;
            let view = View { w, h, data };
            labels.push(self.split.labels[row]);
            meta.extend_from_slice(
                &self.split.meta[row * self.metadata_dim..(row + 1) * self.metadata_dim],
            );
            let failed = |e: String| {
                DataError::Other(format!("transforming `{}`: {e}", self.split.ids[row]))
            };
            if !self.cfg.train {
                bytes.extend_from_slice(
                    &eval_transform(view, self.cfg.image_size)
                        .map_err(failed)?
                        .data,
                );
                continue;
            }
            let mut rng = SampleRng::new(derive_seed(
                self.cfg.seed,
                SeedPurpose::Augment,
                &[&self.cfg.epoch, &row],
            ));
            let plan = plan_sample(w, h, self.cfg.image_size, &self.cfg.augment, &mut rng);
            if self.on_device {
                views.push(view);
                plans.push(plan);
            } else {
                let img = apply_plan(view, self.cfg.image_size, &plan).map_err(failed)?;
                bytes.extend_from_slice(&img.data);
            }
        }
        let pinned = self.cfg.device.is_cuda();
        if self.on_device {
            let t = augment_device::pack(&views, plans, self.cfg.image_size);
            let images = crate::models::runtime::u8_tensor(
                &t.bytes,
                &[rows.len() as i64, t.th as i64, t.tw as i64, 3],
                pinned,
            )
            .map_err(DataError::Device)?;
            return Ok(HostBatch {
                images,
                plan: Some(DevicePlan {
                    crops: t.crops,
                    plans: t.plans,
                }),
                labels,
                meta,
                index: rows.to_vec(),
                global_len,
            });
        }
        // Pinned on CUDA, so the consumer's copy is asynchronous.
        let images = crate::models::runtime::u8_tensor(
            &bytes,
            &[rows.len() as i64, s as i64, s as i64, 3],
            pinned,
        )
        .map_err(DataError::Device)?;
        Ok(HostBatch {
            images,
            plan: None,
            labels,
            meta,
            index: rows.to_vec(),
            global_len,
        })
    }
}

/// A loader over one split of prepared data.
pub fn loader(data: &PreparedData, split: &str, cfg: &LoaderConfig) -> Result<Loader, DataError> {
    if cfg.batch_size == 0 || cfg.image_size == 0 {
        return Err(DataError::Settings(
            "batch_size and image_size must be at least 1".into(),
        ));
    }
    let sd = Arc::clone(data.split(split)?);
    let n = sd.ids.len();
    let mut order: Vec<usize> = (0..n).collect();
    if cfg.train {
        SampleRng::new(derive_seed(cfg.seed, SeedPurpose::Shuffle, &[&cfg.epoch]))
            .shuffle(&mut order);
    }
    let n_batches = if cfg.drop_last {
        n / cfg.batch_size
    } else {
        n.div_ceil(cfg.batch_size)
    };
    let start = cfg.start_batch.min(n_batches);
    let workers = cfg.workers.max(1);
    let on_device = augment_path(cfg);
    let job = Arc::new(Job {
        on_device: on_device.is_ok(),
        split: sd,
        cache: Arc::clone(&data.cache),
        order,
        cfg: cfg.clone(),
        metadata_dim: data.metadata_dim,
    });
    let stop = Arc::new(AtomicBool::new(false));
    let mut rxs = Vec::new();
    let mut handles = Vec::new();
    for w in 0..workers {
        let (tx, rx) = sync_channel::<Msg>(cfg.prefetch.max(1));
        rxs.push(rx);
        let job = Arc::clone(&job);
        let stop = Arc::clone(&stop);
        let h = std::thread::Builder::new()
            .name(format!("exp-loader-{w}"))
            .spawn(move || {
                let mut b = start + w;
                while b < n_batches && !stop.load(Ordering::Relaxed) {
                    let msg = job.batch(b);
                    let failed = msg.is_err();
                    if tx.send(msg).is_err() || failed {
                        break;
                    }
                    b += workers;
                }
            })
            .map_err(|e| DataError::Other(format!("cannot start a loader thread: {e}")))?;
        handles.push(h);
    }
    let normalize = Normalize::new(cfg.mean, cfg.std, cfg.device)?;
    Ok(Loader {
        n_batches,
        next: start,
        start,
        rxs,
        workers: handles,
        stop,
        waited: Duration::ZERO,
        first_call: None,
        last_return: None,
        cfg: cfg.clone(),
        classes: data.classes.len(),
        metadata_dim: data.metadata_dim,
        normalize,
        on_device,
    })
}

/// Whether the training transform runs on the device, or why not. Why
/// automatic on CUDA: the host resize is what caps a loader near 5k img/s;
/// on a CPU device the host path is the same work without the tile copies.
/// A recipe with an op the device path lacks runs wholly on the CPU path
/// (an op is never skipped).
fn augment_path(cfg: &LoaderConfig) -> Result<(), &'static str> {
    if !cfg.train {
        return Err("evaluation crops on the host");
    }
    match cfg.augment_on {
        AugmentOn::Cpu => Err("augment_on = cpu"),
        AugmentOn::Auto if !cfg.device.is_cuda() => Err("the device is the CPU"),
        AugmentOn::Auto | AugmentOn::Device => {
            augment_device::unsupported(&cfg.augment).map_or(Ok(()), Err)
        }
    }
}

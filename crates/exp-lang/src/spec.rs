//! The typed, fully resolved model of a pipeline: what the checker produces and
//! what every executor (data, models, training, scoring, report) consumes.
//!
//! Why a separate module: the language front end and the execution back end
//! meet only here, so each side can change without the other knowing. Every
//! type is plain data (serde), hashed for the stage store and saved with every
//! result as the resolved config.
//!
//! Units are normalised here: epochs are counts, durations are seconds, angles
//! are degrees, probabilities are fractions in `[0, 1]`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A whole checked pipeline: every declaration, resolved, plus the sweeps
/// expanded into cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Pipeline {
    /// The file's `seed` (default 0).
    pub seed: u64,
    pub data: BTreeMap<String, DataSpec>,
    pub backbones: BTreeMap<String, BackboneSpec>,
    pub recipes: BTreeMap<String, RecipeSpec>,
    pub budgets: BTreeMap<String, BudgetSpec>,
    pub scores: BTreeMap<String, ScoreSpec>,
    pub sweeps: BTreeMap<String, SweepSpec>,
}

// ---------------------------------------------------------------- data

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSpec {
    pub name: String,
    pub source: DataSource,
    /// Train/eval crop size fed to the model (pixels, square).
    pub image_size: u32,
    /// Shorter side stored in the decode cache; defaults to `image_size * 8 / 7`
    /// rounded (256 for 224), the usual resize-then-crop ratio.
    pub cache_size: u32,
    /// Metadata columns feeding the metadata MLP branch (manifest only).
    pub metadata: Vec<String>,
    /// Declared kinds of metadata columns (`metadata = [age: numeric]`); a
    /// column not listed here has its kind inferred from its values.
    /// Why skipped when empty: stage keys of pipelines that declare no kind
    /// stay what they were.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata_types: BTreeMap<String, MetadataKind>,
    /// Column names in the manifest.
    pub columns: Columns,
    /// Draw per-split subsets stratified by class.
    pub stratify: bool,
    /// What to do with an unreadable image: fail (default) or skip and list it.
    pub on_bad_image: BadImagePolicy,
    /// Directory of the decode cache (the `cache` field); `None` =
    /// `$EXP_CACHE` or `~/.cache/exp`.
    pub cache_dir: Option<PathBuf>,
    /// Look for near-duplicate images across splits (perceptual hashes) in
    /// `exp check --data`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub near_duplicates: bool,
    /// Key of the data's content on disk ([`crate::data::content_key`]),
    /// filled in by the commands that read the stage store; `None` until then
    /// or when the data cannot be read. Part of the decode stage's identity.
    #[serde(default)]
    pub content: Option<String>,
}

impl DataSpec {
    /// The cache size of a data set that declares none: `image_size × 8/7`
    /// rounded (256 for 224), the usual resize-then-crop ratio.
    pub fn default_cache_size(image_size: u32) -> u32 {
        (f64::from(image_size) * 8.0 / 7.0).round() as u32
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DataSource {
    /// CSV with one row per image. Paths in it are relative to `root`.
    Manifest { manifest: PathBuf, root: PathBuf },
    /// `root/<split>/<class>/*.{jpg,png}`.
    ImageFolder { root: PathBuf },
    /// Built-in synthetic data set with a learnable signal in the pixels and in
    /// one metadata column; written under `root` on first use.
    Generated(GeneratedSpec),
}

impl DataSource {
    /// What of the source enters stage identity next to the data's content
    /// key: its kind, and a generator's settings without its `root`.
    ///
    /// Why no paths: the content key already says what the files hold, so a
    /// project moved to another directory, or data mounted elsewhere on a
    /// cluster node, keeps its finished stages.
    pub fn identity(&self) -> serde_json::Value {
        match self {
            DataSource::Manifest { .. } => serde_json::json!("manifest"),
            DataSource::ImageFolder { .. } => serde_json::json!("image_folder"),
            DataSource::Generated(g) => {
                let mut v = serde_json::to_value(g).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.remove("root");
                }
                serde_json::json!({ "generated": v })
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratedSpec {
    pub root: PathBuf,
    pub classes: u32,
    pub train: u64,
    pub val: u64,
    pub test: u64,
    /// Side of the generated images (pixels).
    pub size: u32,
    /// Seed of the generator (independent of the pipeline seed so the data set
    /// is the same whatever the sweep's seeds are).
    pub seed: u64,
    /// Strength of the class signal in the pixels, 0 = none, 1 = obvious.
    pub image_signal: f64,
    /// Strength of the class signal in the metadata column, 0 = none.
    pub metadata_signal: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Columns {
    pub path: String,
    pub label: String,
    pub split: String,
}

impl Default for Columns {
    fn default() -> Self {
        Self {
            path: "path".into(),
            label: "label".into(),
            split: "split".into(),
        }
    }
}

/// The declared kind of a metadata column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetadataKind {
    /// Numbers, standardised; a value that is not a number is an error.
    Numeric,
    /// Categories, one-hot; numbers are read as category names.
    Category,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum BadImagePolicy {
    #[default]
    Fail,
    Skip,
}

// ---------------------------------------------------------------- backbone

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackboneSpec {
    pub name: String,
    /// Canonical architecture name from the model zoo (`convnextv2_tiny`, ...).
    pub arch: String,
    pub pretrained: Option<Weights>,
    /// Stochastic depth rate (0 = off).
    pub drop_path: f64,
    /// Default input size of the architecture (pixels).
    pub input_size: u32,
    /// Normalisation applied to `[0, 1]` pixels.
    pub mean: [f64; 3],
    pub std: [f64; 3],
    /// Architecture family, used by lints and layer-wise lr decay.
    pub family: Family,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Family {
    ResNet,
    ConvNeXtV2,
    EfficientNetV2,
    Vit,
    /// Tiny test networks.
    Tiny,
}

impl Family {
    pub fn is_cnn(self) -> bool {
        matches!(
            self,
            Family::ResNet | Family::ConvNeXtV2 | Family::EfficientNetV2 | Family::Tiny
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Weights {
    /// A local `.safetensors` file.
    File(PathBuf),
    /// `hf("org/name")` or `hf("org/name", revision = "...", file = "...")`,
    /// resolved in the local Hugging Face cache without network access.
    Hf {
        repo: String,
        revision: Option<String>,
        file: Option<String>,
    },
}

// ---------------------------------------------------------------- recipe

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipeSpec {
    pub name: String,
    pub optimizer: OptimizerSpec,
    pub schedule: Schedule,
    pub warmup: Warmup,
    /// Samples per forward/backward pass (the micro-batch).
    pub batch: u32,
    /// Micro-batches whose gradients are summed before one optimizer step:
    /// the effective batch is `batch × accumulate` (1 = no accumulation).
    // Why skipped at 1: stage keys hash the recipe's JSON, so results of
    // recipes without accumulation keep the keys they had before the field.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub accumulate: u32,
    pub augment: Vec<Augment>,
    pub dropout: Dropout,
    pub label_smoothing: f64,
    pub early_stop: Option<EarlyStop>,
    /// Metric that selects the best checkpoint (on the validation split).
    pub monitor: Monitor,
    /// Split used for checkpoint selection and early stopping.
    pub select_split: String,
    pub precision: Precision,
    /// Max global gradient norm (None = no clipping).
    pub grad_clip: Option<f64>,
    /// EMA decay of the weights (None = off).
    pub ema: Option<f64>,
    /// Layer-wise lr decay factor for the finetune phase (None = off).
    pub layer_decay: Option<f64>,
    /// Hidden width of the metadata MLP branch.
    pub metadata_hidden: u32,
    /// Divergence watchdog: a loss above `diverge_factor` × the first
    /// epoch's mean train loss, or a non-finite loss, ends the cell.
    pub diverge_factor: f64,
    /// Instability check: a validation loss above `val_loss_factor` × the
    /// best so far trips it (see `train::instability`).
    pub val_loss_factor: f64,
    /// What a tripped instability check does.
    pub on_unstable: OnUnstable,
    /// Whole-step CUDA graphs on CUDA (`auto`) or eager steps only (`off`).
    // Why skipped at auto: stage keys hash the recipe's JSON, so recipes
    // without the field keep the keys they had before it.
    #[serde(default, skip_serializing_if = "CudaGraphs::is_auto")]
    pub cuda_graphs: CudaGraphs,
    /// Data-parallel cells: batch-norm statistics over every rank's samples
    /// (SyncBatchNorm) instead of each rank's own (docs/distributed.md).
    // Why skipped when false: recipes without the field keep their keys.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sync_bn: bool,
}

/// `cuda_graphs`: capture each phase's training step as a CUDA graph where
/// possible (`auto`; on the CPU it means off), or never (`off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CudaGraphs {
    #[default]
    Auto,
    Off,
}

impl CudaGraphs {
    pub fn is_auto(&self) -> bool {
        *self == CudaGraphs::Auto
    }
}

/// `on_unstable`: train on and end `unstable`, or stop and end `diverged`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnUnstable {
    #[default]
    Continue,
    Stop,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

impl RecipeSpec {
    /// Samples per optimizer step: `batch × accumulate`.
    pub fn effective_batch(&self) -> u64 {
        u64::from(self.batch.max(1)) * u64::from(self.accumulate.max(1))
    }

    /// Samples each of `ranks` data-parallel ranks takes from every
    /// effective batch: `None` unless it splits into equal shares of at
    /// least one sample per micro-batch (docs/distributed.md).
    pub fn rank_share(&self, ranks: usize) -> Option<u64> {
        let (batch, ranks) = (self.effective_batch(), ranks.max(1) as u64);
        let share = batch / ranks;
        (batch % ranks == 0 && share >= u64::from(self.accumulate.max(1))).then_some(share)
    }

    /// Optimizer steps in one epoch over `train_len` samples, as the trainer
    /// counts them: the last incomplete effective batch is dropped, unless
    /// the split is smaller than one effective batch (then one short step).
    ///
    /// Why here: warmup, schedules, the budget caps and the checker's lints
    /// must all count the same steps.
    pub fn steps_per_epoch(&self, train_len: u64) -> u64 {
        let b = self.effective_batch();
        if train_len >= b {
            train_len / b
        } else {
            1
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerSpec {
    pub kind: OptimizerKind,
    /// Learning rate of the frozen-backbone phase (head and metadata branch).
    pub lr: f64,
    /// Learning rate of the finetune phase (all parameters).
    pub finetune_lr: f64,
    pub weight_decay: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OptimizerKind {
    AdamW {
        beta1: f64,
        beta2: f64,
        eps: f64,
    },
    Adam {
        beta1: f64,
        beta2: f64,
        eps: f64,
    },
    Sgd {
        momentum: f64,
        nesterov: bool,
    },
    /// `tf_style`: epsilon inside the square root and the square-average
    /// initialised to one, as timm's `RMSpropTF`.
    RmsProp {
        alpha: f64,
        eps: f64,
        momentum: f64,
        tf_style: bool,
    },
}

impl OptimizerKind {
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerKind::AdamW { .. } => "adamw",
            OptimizerKind::Adam { .. } => "adam",
            OptimizerKind::Sgd { .. } => "sgd",
            OptimizerKind::RmsProp { .. } => "rmsprop",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    Constant,
    /// Cosine decay to `min_lr_ratio × lr` over the phase.
    Cosine {
        min_lr_ratio: f64,
    },
    /// Multiply by `gamma` every `every_epochs`.
    Step {
        every_epochs: u32,
        gamma: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Warmup {
    None,
    Steps(u64),
    Epochs(f64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Augment {
    RandomResizedCrop {
        scale: (f64, f64),
        ratio: (f64, f64),
    },
    HFlip {
        p: f64,
    },
    VFlip {
        p: f64,
    },
    /// Uniform rotation in `[-degrees, degrees]`.
    Rotate {
        degrees: f64,
    },
    ColorJitter {
        brightness: f64,
        contrast: f64,
        saturation: f64,
        hue: f64,
    },
    RandAugment {
        n: u32,
        m: u32,
    },
    RandomErasing {
        p: f64,
    },
    Mixup {
        alpha: f64,
    },
    Cutmix {
        alpha: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Dropout {
    pub head: f64,
    pub metadata: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyStop {
    pub patience: u32,
    pub monitor: Monitor,
    /// Minimum improvement that resets patience.
    pub min_delta: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Monitor {
    ValLoss,
    ValTop1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precision {
    /// bf16 autocast on CUDA GPUs with bf16 support (compute capability ≥
    /// 8.0), fp16 with loss scaling on older CUDA GPUs, f32 on CPU.
    Auto,
    F32,
    /// bf16 autocast on CUDA (f32 on CPU).
    Bf16,
    /// fp16 autocast on CUDA with dynamic loss scaling (PyTorch GradScaler's
    /// rules); on CPU the forward runs in f32, the loss scaler still runs.
    F16,
}

// ---------------------------------------------------------------- budget

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetSpec {
    pub name: String,
    /// Seeded subset size of the train split (None = full split).
    pub train_samples: Option<u64>,
    pub val_samples: Option<u64>,
    pub frozen_epochs: u32,
    pub finetune_epochs: u32,
    /// Wall-clock cap for one cell, seconds.
    pub time_limit_s: Option<u64>,
    /// Cap on the total training samples seen by one cell.
    pub max_samples: Option<u64>,
    /// Write a resumable checkpoint every N optimizer steps (and each epoch).
    pub checkpoint_every_steps: Option<u64>,
}

impl BudgetSpec {
    pub fn total_epochs(&self) -> u32 {
        self.frozen_epochs + self.finetune_epochs
    }
}

// ---------------------------------------------------------------- score

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreSpec {
    pub name: String,
    pub split: String,
    pub metrics: Vec<Metric>,
    /// Confidence level of intervals (0.95).
    pub confidence: f64,
    /// Bootstrap resamples for intervals and paired comparisons.
    pub bootstrap: u32,
}

/// Bootstrap resamples when a score does not say. Why 10,000: 1,000 leave
/// about ±0.003 of Monte Carlo error on an interval end.
pub const DEFAULT_RESAMPLES: u32 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Metric {
    Top1,
    /// top-k accuracy, k ≥ 2.
    TopK(u32),
    /// Macro one-vs-rest ROC AUC.
    Auc,
    PerClass,
    Confusion,
}

impl Metric {
    pub fn column(self) -> String {
        match self {
            Metric::Top1 => "top1".into(),
            Metric::TopK(k) => format!("top{k}"),
            Metric::Auc => "auc".into(),
            Metric::PerClass => "per_class".into(),
            Metric::Confusion => "confusion".into(),
        }
    }
}

// ---------------------------------------------------------------- sweep

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSpec {
    pub name: String,
    /// Axis names in declaration order (`backbone`, `recipe`, `seed`, ...);
    /// only fields given as lists are axes.
    pub axes: Vec<String>,
    pub cells: Vec<Cell>,
    /// Id of the baseline cell, when declared: `<sweep>/<cell>`, where the
    /// sweep may be another sweep of the same file.
    pub baseline: Option<String>,
    /// Extra pairs of configurations to compare (the `compare` field): axis
    /// values without the seed, first − second.
    #[serde(default)]
    pub compare: Vec<(BTreeMap<String, String>, BTreeMap<String, String>)>,
}

/// One fully resolved combination: everything needed to train and score it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Stable readable id: `<sweep>/<axis values joined by '-'>-s<seed>`,
    /// e.g. `round1/convnextv2_tiny-adamw_cosine-s17`.
    pub id: String,
    pub sweep: String,
    pub seed: u64,
    pub data: DataSpec,
    pub backbone: BackboneSpec,
    pub recipe: RecipeSpec,
    pub budget: BudgetSpec,
    pub score: ScoreSpec,
    /// Axis name → the declaration name (or value) this cell takes.
    pub axis_values: BTreeMap<String, String>,
}

impl Cell {
    /// The id without the `<sweep>/` prefix: the cell's directory name.
    pub fn short_id(&self) -> &str {
        self.id
            .split_once('/')
            .map_or(self.id.as_str(), |(_, rest)| rest)
    }
}

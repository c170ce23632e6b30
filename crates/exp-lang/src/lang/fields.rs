//! One-line documentation of every declaration field, with its type and
//! units: what `exp` shows on hover and completion (`docs/language.md` has
//! the long form). One table for the checker and the editor.

use super::ast::DeclKind;

/// A field of a declaration kind: its type (with units) and meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDoc {
    pub kind: DeclKind,
    pub field: &'static str,
    pub ty: &'static str,
    pub doc: &'static str,
}

/// Every field of [`super::check::fields_of`], in documentation order.
#[rustfmt::skip]
pub const FIELD_DOCS: &[FieldDoc] = &[
    // data
    FieldDoc { kind: DeclKind::Data, field: "manifest", ty: "string (path)", doc: "CSV with one row per image (path, label, split, metadata columns); relative to this file." },
    FieldDoc { kind: DeclKind::Data, field: "root", ty: "string (path)", doc: "Directory image paths are relative to; for `layout = image_folder` holds <split>/<class>/*; for `source = generated(...)` where it is written." },
    FieldDoc { kind: DeclKind::Data, field: "columns", ty: "record { path, label, split }", doc: "Manifest column names: `{ path = \"path\", label = \"label\", split = \"split\" }`." },
    FieldDoc { kind: DeclKind::Data, field: "metadata", ty: "list of column names, each optionally `name: numeric | category`", doc: "Metadata columns feeding the metadata MLP branch, e.g. `[age: numeric, sex: category]`; an undeclared kind is inferred (numbers only → numeric). Default: none." },
    FieldDoc { kind: DeclKind::Data, field: "image_size", ty: "integer (pixels)", doc: "Square crop fed to the model, pixels. Default 224 (generated: its size)." },
    FieldDoc { kind: DeclKind::Data, field: "cache_size", ty: "integer (pixels)", doc: "Shorter side stored in the decode cache. Default round(image_size × 8/7)." },
    FieldDoc { kind: DeclKind::Data, field: "stratify", ty: "boolean", doc: "Draw subsets stratified by class. Default true." },
    FieldDoc { kind: DeclKind::Data, field: "on_bad_image", ty: "`fail` | `skip`", doc: "`fail` (default) or `skip` and list unreadable images." },
    FieldDoc { kind: DeclKind::Data, field: "cache", ty: "string (path)", doc: "Directory of the decode cache. Default $EXP_CACHE or ~/.cache/exp." },
    FieldDoc { kind: DeclKind::Data, field: "layout", ty: "`manifest` | `image_folder`", doc: "`manifest` (default) or `image_folder` (root/<split>/<class>/*)." },
    FieldDoc { kind: DeclKind::Data, field: "near_duplicates", ty: "boolean", doc: "`exp check --data` also looks for near-duplicate images across splits (perceptual hashes). Default false." },
    FieldDoc { kind: DeclKind::Data, field: "source", ty: "call `generated(classes, train, val, test, size, seed, image_signal, metadata_signal)`", doc: "`generated(classes, train, val, test, size, seed, image_signal, metadata_signal)`: the built-in synthetic data set." },
    // backbone
    FieldDoc { kind: DeclKind::Backbone, field: "arch", ty: "string or name (architecture)", doc: "Model-zoo architecture, e.g. \"resnet50\", \"convnextv2_tiny\". Required." },
    FieldDoc { kind: DeclKind::Backbone, field: "pretrained", ty: "string (path) | `hf(\"org/name\")` | `none`", doc: "\"file.safetensors\", hf(\"org/name\", revision = ..., file = ...) or none." },
    FieldDoc { kind: DeclKind::Backbone, field: "drop_path", ty: "number in [0, 1)", doc: "Stochastic depth rate in [0, 1). Default 0." },
    FieldDoc { kind: DeclKind::Backbone, field: "input_size", ty: "integer (pixels)", doc: "The architecture's native input size (pixels)." },
    FieldDoc { kind: DeclKind::Backbone, field: "mean", ty: "list of 3 numbers", doc: "Per-channel normalisation mean of [0, 1] pixels." },
    FieldDoc { kind: DeclKind::Backbone, field: "std", ty: "list of 3 numbers > 0", doc: "Per-channel normalisation std." },
    // recipe
    FieldDoc { kind: DeclKind::Recipe, field: "optimizer", ty: "call `adamw(...)` | `adam(...)` | `sgd(...)` | `rmsprop(...)`", doc: "adamw(...) | adam(...) | sgd(...) | rmsprop(...) with lr (frozen phase) and finetune_lr. Required." },
    FieldDoc { kind: DeclKind::Recipe, field: "schedule", ty: "`constant` | `cosine(min_lr_ratio)` | `step(every, gamma)`", doc: "constant (default) | cosine | cosine(min_lr_ratio = r) | step(every = N epochs, gamma = g)." },
    FieldDoc { kind: DeclKind::Recipe, field: "warmup", ty: "quantity in `steps` or `epochs` | `none`", doc: "Linear warmup: `200 steps` or `1 epoch`. Default none." },
    FieldDoc { kind: DeclKind::Recipe, field: "batch", ty: "integer", doc: "Samples per forward/backward pass. Default 32." },
    FieldDoc { kind: DeclKind::Recipe, field: "accumulate", ty: "integer", doc: "Micro-batches per optimizer step (gradient accumulation): the effective batch is batch × accumulate. Default 1." },
    FieldDoc { kind: DeclKind::Recipe, field: "augment", ty: "list of augmentations", doc: "Train augmentations, e.g. [hflip, rotate(30 deg), color_jitter(0.4)]. Default none." },
    FieldDoc { kind: DeclKind::Recipe, field: "dropout", ty: "record { head, metadata } (fractions)", doc: "`{ head = p, metadata = p }`, each in [0, 1). Default 0." },
    FieldDoc { kind: DeclKind::Recipe, field: "label_smoothing", ty: "fraction in [0, 1)", doc: "Label smoothing in [0, 1). Default 0." },
    FieldDoc { kind: DeclKind::Recipe, field: "early_stop", ty: "record { patience, monitor, min_delta } | `none`", doc: "`{ patience = N epochs, monitor = val_loss | val_top1, min_delta = x }`. Default off." },
    FieldDoc { kind: DeclKind::Recipe, field: "select", ty: "record { split, monitor }", doc: "Checkpoint selection: `{ split = \"val\", monitor = val_loss }` (the default)." },
    FieldDoc { kind: DeclKind::Recipe, field: "precision", ty: "`auto` | `bf16` | `fp16` | `f32`", doc: "auto (bf16 on GPUs that support it, fp16 with loss scaling on older GPUs, f32 on CPU; default) | bf16 | fp16 | f32." },
    FieldDoc { kind: DeclKind::Recipe, field: "grad_clip", ty: "number > 0", doc: "Max global gradient norm. Default off." },
    FieldDoc { kind: DeclKind::Recipe, field: "ema", ty: "number in (0, 1)", doc: "EMA decay of the weights in (0, 1). Default off." },
    FieldDoc { kind: DeclKind::Recipe, field: "layer_decay", ty: "number in (0, 1]", doc: "Layer-wise lr decay factor in (0, 1] for finetuning (ViTs). Default off." },
    FieldDoc { kind: DeclKind::Recipe, field: "metadata_hidden", ty: "integer", doc: "Hidden width of the metadata MLP. Default 64." },
    FieldDoc { kind: DeclKind::Recipe, field: "diverge_factor", ty: "number > 1", doc: "End a cell whose loss exceeds this × the first epoch's mean. Default 10." },
    FieldDoc { kind: DeclKind::Recipe, field: "val_loss_factor", ty: "number > 1", doc: "Instability: a validation loss above this × the best so far. Default 10." },
    FieldDoc { kind: DeclKind::Recipe, field: "on_unstable", ty: "`continue` | `stop`", doc: "On a tripped instability check: train on and end `unstable` (default), or stop and end `diverged`." },
    FieldDoc { kind: DeclKind::Recipe, field: "cuda_graphs", ty: "`auto` | `off`", doc: "Capture each phase's training step as a CUDA graph on CUDA (`auto`, default; off on the CPU), or run every step eagerly (`off`)." },
    FieldDoc { kind: DeclKind::Recipe, field: "sync_bn", ty: "`true` | `false`", doc: "In a data-parallel cell (`exp run --ddp N`), compute batch-norm statistics over every rank's samples (SyncBatchNorm); default `false`: each rank's own, as timm." },
    // budget
    FieldDoc { kind: DeclKind::Budget, field: "train", ty: "quantity in `samples`", doc: "Seeded train subset, `24_000 samples`. Default the full split." },
    FieldDoc { kind: DeclKind::Budget, field: "val", ty: "quantity in `samples`", doc: "Seeded val subset, `4_000 samples`. Default the full split." },
    FieldDoc { kind: DeclKind::Budget, field: "frozen", ty: "quantity in `epochs`", doc: "Epochs with a frozen backbone (head + metadata branch). Default 0." },
    FieldDoc { kind: DeclKind::Budget, field: "finetune", ty: "quantity in `epochs`", doc: "Epochs training every parameter. Required." },
    FieldDoc { kind: DeclKind::Budget, field: "time", ty: "duration (`s`, `min`, `h`)", doc: "Wall-clock cap per cell: `90 min`, `2 h`. Default none." },
    FieldDoc { kind: DeclKind::Budget, field: "max_samples", ty: "quantity in `samples`", doc: "Cap on training samples seen per cell. Default none." },
    FieldDoc { kind: DeclKind::Budget, field: "checkpoint_every", ty: "quantity in `steps`", doc: "Resumable checkpoint every `N steps` (and each epoch)." },
    // score
    FieldDoc { kind: DeclKind::Score, field: "split", ty: "string", doc: "Split that is scored. Default \"test\"." },
    FieldDoc { kind: DeclKind::Score, field: "metrics", ty: "list of `top1`, `topK`, `auc`, `per_class`, `confusion`", doc: "[top1, top3, topk(5), auc, per_class, confusion]. Default [top1]." },
    FieldDoc { kind: DeclKind::Score, field: "confidence", ty: "fraction (`0.95` or `95%`)", doc: "Interval level, `95%` (default) or 0.95." },
    FieldDoc { kind: DeclKind::Score, field: "bootstrap", ty: "integer", doc: "Bootstrap resamples for intervals and paired comparisons. Default 10000." },
    // sweep
    FieldDoc { kind: DeclKind::Sweep, field: "data", ty: "data name, or a list of them (an axis)", doc: "A data name, or a list of names (an axis)." },
    FieldDoc { kind: DeclKind::Sweep, field: "backbone", ty: "backbone name, or a list of them (an axis)", doc: "A backbone name, or a list of names (an axis)." },
    FieldDoc { kind: DeclKind::Sweep, field: "recipe", ty: "recipe name, or a list of them (an axis)", doc: "A recipe name, or a list of names (an axis)." },
    FieldDoc { kind: DeclKind::Sweep, field: "budget", ty: "budget name, or a list of them (an axis)", doc: "A budget name, or a list of names (an axis)." },
    FieldDoc { kind: DeclKind::Sweep, field: "score", ty: "score name", doc: "A score name, or a list of names (an axis)." },
    FieldDoc { kind: DeclKind::Sweep, field: "seed", ty: "integer", doc: "The sweep's one seed. Default the file's `seed`." },
    FieldDoc { kind: DeclKind::Sweep, field: "seeds", ty: "list of integers (an axis)", doc: "Seeds as an axis, e.g. [17, 18, 19]." },
    FieldDoc { kind: DeclKind::Sweep, field: "baseline", ty: "record of axis values", doc: "The cell others are compared with, e.g. `{ backbone = resnet50, recipe = rmsprop_baseline }`; `{ sweep = other, ... }` names a cell of another sweep of the file with the same data and split." },
    FieldDoc { kind: DeclKind::Sweep, field: "replicates", ty: "integer", doc: "Train the baseline configuration N more times with other seeds, so single-seed comparisons get a seed spread. Default 0." },
    FieldDoc { kind: DeclKind::Sweep, field: "compare", ty: "list of pairs of records of axis values", doc: "Extra pairs of configurations to compare, e.g. `[[{ backbone = convnextv2_base }, { backbone = convnextv2_tiny }]]`; Holm-corrected with the baseline comparisons." },
    FieldDoc { kind: DeclKind::Sweep, field: "exclude", ty: "list of records of axis values", doc: "Cells to drop: a list of `{ axis = value, ... }` rules." },
];

/// The entry of `field` in a declaration of `kind`.
pub fn field_doc(kind: DeclKind, field: &str) -> Option<&'static FieldDoc> {
    FIELD_DOCS
        .iter()
        .find(|d| d.kind == kind && d.field == field)
}

/// The fields of `kind`, in documentation order.
pub fn fields_in(kind: DeclKind) -> impl Iterator<Item = &'static FieldDoc> {
    FIELD_DOCS.iter().filter(move |d| d.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_exactly_the_checkers_fields() {
        for kind in DeclKind::ALL {
            let mut ours: Vec<&str> = fields_in(kind).map(|d| d.field).collect();
            let mut theirs: Vec<&str> = super::super::check::fields_of(kind).to_vec();
            ours.sort_unstable();
            theirs.sort_unstable();
            assert_eq!(ours, theirs, "fields of {}", kind.keyword());
        }
    }
}

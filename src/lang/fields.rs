//! One-line documentation of every declaration field (editor hover and
//! completion; `docs/language.md` has the long form).

use super::ast::DeclKind;

/// (kind, field, doc). Every field of [`super::check::fields_of`] is here.
pub const FIELD_DOCS: &[(DeclKind, &str, &str)] = &[
    (DeclKind::Data, "manifest", "CSV with one row per image (path, label, split, metadata columns); relative to this file."),
    (DeclKind::Data, "root", "Directory image paths are relative to; for `layout = image_folder` holds <split>/<class>/*; for `source = generated(...)` where it is written."),
    (DeclKind::Data, "columns", "Manifest column names: `{ path = \"path\", label = \"label\", split = \"split\" }`."),
    (DeclKind::Data, "metadata", "Metadata columns feeding the metadata MLP branch, e.g. `[\"age\", \"sex\"]`. Default: none."),
    (DeclKind::Data, "image_size", "Square crop fed to the model, pixels. Default 224 (generated: its size)."),
    (DeclKind::Data, "cache_size", "Shorter side stored in the decode cache. Default round(image_size × 8/7)."),
    (DeclKind::Data, "stratify", "Draw subsets stratified by class. Default true."),
    (DeclKind::Data, "on_bad_image", "`fail` (default) or `skip` and list unreadable images."),
    (DeclKind::Data, "cache", "Directory of the decode cache. Default $EXP_CACHE or ~/.cache/exp."),
    (DeclKind::Data, "layout", "`manifest` (default) or `image_folder` (root/<split>/<class>/*)."),
    (DeclKind::Data, "source", "`generated(classes, train, val, test, size, seed, image_signal, metadata_signal)`: the built-in synthetic data set."),
    (DeclKind::Backbone, "arch", "Model-zoo architecture, e.g. \"resnet50\", \"convnextv2_tiny\". Required."),
    (DeclKind::Backbone, "pretrained", "\"file.safetensors\", hf(\"org/name\", revision = ..., file = ...) or none."),
    (DeclKind::Backbone, "drop_path", "Stochastic depth rate in [0, 1). Default 0."),
    (DeclKind::Backbone, "input_size", "The architecture's native input size (pixels)."),
    (DeclKind::Backbone, "mean", "Per-channel normalisation mean of [0, 1] pixels."),
    (DeclKind::Backbone, "std", "Per-channel normalisation std."),
    (DeclKind::Recipe, "optimizer", "adamw(...) | adam(...) | sgd(...) | rmsprop(...) with lr (frozen phase) and finetune_lr. Required."),
    (DeclKind::Recipe, "schedule", "constant (default) | cosine | cosine(min_lr_ratio = r) | step(every = N epochs, gamma = g)."),
    (DeclKind::Recipe, "warmup", "Linear warmup: `200 steps` or `1 epoch`. Default none."),
    (DeclKind::Recipe, "batch", "Batch size. Default 32."),
    (DeclKind::Recipe, "augment", "Train augmentations, e.g. [hflip, rotate(30 deg), color_jitter(0.4)]. Default none."),
    (DeclKind::Recipe, "dropout", "`{ head = p, metadata = p }`, each in [0, 1). Default 0."),
    (DeclKind::Recipe, "label_smoothing", "Label smoothing in [0, 1). Default 0."),
    (DeclKind::Recipe, "early_stop", "`{ patience = N epochs, monitor = val_loss | val_top1, min_delta = x }`. Default off."),
    (DeclKind::Recipe, "select", "Checkpoint selection: `{ split = \"val\", monitor = val_loss }` (the default)."),
    (DeclKind::Recipe, "precision", "auto (bf16 on CUDA, f32 on CPU; default) | bf16 | f32."),
    (DeclKind::Recipe, "grad_clip", "Max global gradient norm. Default off."),
    (DeclKind::Recipe, "ema", "EMA decay of the weights in (0, 1). Default off."),
    (DeclKind::Recipe, "layer_decay", "Layer-wise lr decay factor in (0, 1] for finetuning (ViTs). Default off."),
    (DeclKind::Recipe, "metadata_hidden", "Hidden width of the metadata MLP. Default 64."),
    (DeclKind::Recipe, "diverge_factor", "End a cell whose loss exceeds this × the first epoch's mean. Default 10."),
    (DeclKind::Budget, "train", "Seeded train subset, `24_000 samples`. Default the full split."),
    (DeclKind::Budget, "val", "Seeded val subset, `4_000 samples`. Default the full split."),
    (DeclKind::Budget, "frozen", "Epochs with a frozen backbone (head + metadata branch). Default 0."),
    (DeclKind::Budget, "finetune", "Epochs training every parameter. Required."),
    (DeclKind::Budget, "time", "Wall-clock cap per cell: `90 min`, `2 h`. Default none."),
    (DeclKind::Budget, "max_samples", "Cap on training samples seen per cell. Default none."),
    (DeclKind::Budget, "checkpoint_every", "Resumable checkpoint every `N steps` (and each epoch)."),
    (DeclKind::Score, "split", "Split that is scored. Default \"test\"."),
    (DeclKind::Score, "metrics", "[top1, top3, topk(5), auc, per_class, confusion]. Default [top1]."),
    (DeclKind::Score, "confidence", "Interval level, `95%` (default) or 0.95."),
    (DeclKind::Score, "bootstrap", "Bootstrap resamples for intervals and paired comparisons. Default 1000."),
    (DeclKind::Sweep, "data", "A data name, or a list of names (an axis)."),
    (DeclKind::Sweep, "backbone", "A backbone name, or a list of names (an axis)."),
    (DeclKind::Sweep, "recipe", "A recipe name, or a list of names (an axis)."),
    (DeclKind::Sweep, "budget", "A budget name, or a list of names (an axis)."),
    (DeclKind::Sweep, "score", "A score name, or a list of names (an axis)."),
    (DeclKind::Sweep, "seed", "The sweep's one seed. Default the file's `seed`."),
    (DeclKind::Sweep, "seeds", "Seeds as an axis, e.g. [17, 18, 19]."),
    (DeclKind::Sweep, "baseline", "The cell others are compared with, e.g. `{ backbone = resnet50, recipe = rmsprop_baseline }`."),
    (DeclKind::Sweep, "exclude", "Cells to drop: a list of `{ axis = value, ... }` rules."),
];

/// The one-line doc of `field` in a declaration of `kind`.
pub fn field_doc(kind: DeclKind, field: &str) -> Option<&'static str> {
    FIELD_DOCS
        .iter()
        .find(|(k, f, _)| *k == kind && *f == field)
        .map(|(_, _, d)| *d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_documented() {
        for kind in DeclKind::ALL {
            for f in super::super::check::fields_of(kind) {
                assert!(field_doc(kind, f).is_some(), "{} {f}", kind.keyword());
            }
        }
    }
}

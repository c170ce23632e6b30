//! What hover and completion say about each field of each declaration kind:
//! its type (with units) and meaning. A test keeps the names in step with the
//! checker's own lists (`crate::lang::check::fields_of`).

/// (declaration keyword, field, type and units, meaning).
pub const FIELD_DOCS: &[(&str, &str, &str, &str)] = &[
    // data
    ("data", "manifest", "string (path)", "CSV with one row per image (`path,label,split,...`), relative to this file."),
    ("data", "root", "string (path)", "Folder the manifest's image paths are relative to (or the image folder / generated data set)."),
    ("data", "columns", "record { path, label, split }", "Names of the manifest columns holding the image path, the label and the split."),
    ("data", "metadata", "list of strings", "Manifest columns fed to the metadata MLP branch."),
    ("data", "image_size", "integer (pixels)", "Square crop size fed to the model."),
    ("data", "cache_size", "integer (pixels)", "Shorter side kept in the decode cache; default `image_size × 8 / 7` (256 for 224)."),
    ("data", "stratify", "boolean", "Draw the per-split subsets stratified by class (default true)."),
    ("data", "on_bad_image", "`fail` | `skip`", "What to do with an unreadable image: stop (default), or skip and list it."),
    ("data", "cache", "string (path)", "Folder of the decode cache; default `$EXP_CACHE` or `~/.cache/exp`."),
    ("data", "layout", "`manifest` | `image_folder`", "`image_folder` reads `root/<split>/<class>/*.jpg` instead of a manifest."),
    (
        "data",
        "source",
        "call `generated(classes, train, val, test, size, seed, image_signal, metadata_signal)`",
        "A built-in synthetic data set with a learnable signal, written under `root` on first use.",
    ),
    // backbone
    ("backbone", "arch", "string or name (architecture)", "Architecture from the model zoo, e.g. `convnextv2_tiny`."),
    ("backbone", "pretrained", "string (path) | `hf(\"org/name\")` | `none`", "Weights: a local `.safetensors` file or a Hugging Face cache entry (no network)."),
    ("backbone", "drop_path", "number in [0, 1)", "Stochastic depth rate (0 = off)."),
    ("backbone", "input_size", "integer (pixels)", "Input size of the architecture; defaults to the zoo's."),
    ("backbone", "mean", "list of 3 numbers", "Normalisation mean for `[0, 1]` pixels; defaults to the architecture's."),
    ("backbone", "std", "list of 3 numbers > 0", "Normalisation standard deviation; defaults to the architecture's."),
    // recipe
    (
        "recipe",
        "optimizer",
        "call `adamw(...)` | `adam(...)` | `sgd(...)` | `rmsprop(...)`",
        "Optimizer with `lr` (frozen phase), `finetune_lr`, `weight_decay` and its own settings.",
    ),
    ("recipe", "schedule", "`constant` | `cosine(min_lr_ratio)` | `step(every, gamma)`", "Learning-rate schedule within each phase."),
    ("recipe", "warmup", "quantity in `steps` or `epochs` | `none`", "Linear learning-rate warmup at the start of each phase."),
    ("recipe", "batch", "integer", "Batch size (default 32)."),
    ("recipe", "augment", "list of augmentations", "`hflip`, `vflip`, `rotate(30 deg)`, `color_jitter(0.4)`, `rand_augment(n, m)`, `random_erasing(p)`, `mixup`, `cutmix`, `random_resized_crop`."),
    ("recipe", "dropout", "record { head, metadata } (fractions)", "Dropout before the classifier and in the metadata branch."),
    ("recipe", "label_smoothing", "fraction in [0, 1)", "Label smoothing of the cross-entropy loss."),
    ("recipe", "early_stop", "record { patience, monitor, min_delta } | `none`", "Stop a phase when the monitored validation metric stops improving."),
    ("recipe", "select", "record { split, monitor }", "Split and metric that select the best checkpoint (default: `val`, validation loss)."),
    ("recipe", "precision", "`auto` | `bf16` | `f32`", "Numeric precision: `auto` = bf16 autocast on CUDA, f32 on CPU."),
    ("recipe", "grad_clip", "number > 0 | `none`", "Max global gradient norm."),
    ("recipe", "ema", "number in (0, 1] | `none`", "EMA decay of the weights, e.g. 0.999."),
    ("recipe", "layer_decay", "number in (0, 1) | `none`", "Layer-wise learning-rate decay in the finetune phase (ViTs)."),
    ("recipe", "metadata_hidden", "integer", "Hidden width of the metadata MLP branch (default 64)."),
    ("recipe", "diverge_factor", "number > 1", "A loss above this × the first epoch's mean train loss ends the cell as diverged."),
    // budget
    ("budget", "train", "quantity in `samples`", "Seeded subset of the train split, the same for every cell (default: all)."),
    ("budget", "val", "quantity in `samples`", "Seeded subset of the validation split (default: all)."),
    ("budget", "frozen", "quantity in `epochs`", "Epochs training the head with the backbone frozen."),
    ("budget", "finetune", "quantity in `epochs`", "Epochs training the whole network (required)."),
    ("budget", "time", "duration (`s`, `min`, `h`)", "Wall-clock cap for one cell."),
    ("budget", "max_samples", "quantity in `samples`", "Cap on the training samples one cell sees."),
    ("budget", "checkpoint_every", "quantity in `steps`", "Write a resumable checkpoint every N optimizer steps (and each epoch)."),
    // score
    ("score", "split", "string", "Split the metrics are computed on, e.g. `\"test\"`."),
    ("score", "metrics", "list of `top1`, `topK`, `auc`, `per_class`, `confusion`", "Metrics reported per cell."),
    ("score", "confidence", "fraction (`0.95` or `95%`)", "Confidence level of the intervals."),
    ("score", "bootstrap", "integer", "Bootstrap resamples for intervals and paired comparisons."),
    // sweep
    ("sweep", "data", "data name, or a list of them (an axis)", "Data set of every cell."),
    ("sweep", "backbone", "backbone name, or a list of them (an axis)", "Backbones compared."),
    ("sweep", "recipe", "recipe name, or a list of them (an axis)", "Training recipes compared."),
    ("sweep", "budget", "budget name, or a list of them (an axis)", "Training budget of every cell."),
    ("sweep", "score", "score name", "How every cell is judged."),
    ("sweep", "seed", "integer", "The seed of every cell (overrides the file's `seed`)."),
    ("sweep", "seeds", "list of integers (an axis)", "Repeat every cell with each seed."),
    ("sweep", "baseline", "record of axis values", "The cell every other cell is compared against, e.g. `{ backbone = resnet50 }`."),
    ("sweep", "exclude", "list of records of axis values", "Combinations not to run."),
];

/// What each declaration keyword declares.
pub const KIND_DOCS: &[(&str, &str)] = &[
    (
        "data",
        "Where the images, labels, splits and metadata columns are.",
    ),
    ("backbone", "An image model from the zoo and its weights."),
    (
        "recipe",
        "How to train: optimizer, schedule, warmup, augmentation, regularisation.",
    ),
    (
        "budget",
        "How much to train: frozen and finetune epochs, subset sizes, time limit.",
    ),
    ("score", "How to judge: split, metrics, confidence."),
    (
        "sweep",
        "Which combinations to run: axes over the declarations, seeds, baseline, exclusions.",
    ),
    ("experiment", "Same as `sweep`: which combinations to run."),
];

/// The doc entry of `field` in declarations of `kind`.
/// The meaning is the checker's own one-line doc (`crate::lang::fields`)
/// when it has one.
pub fn field_doc(kind: &str, field: &str) -> Option<(&'static str, &'static str)> {
    let kind = if kind == "experiment" { "sweep" } else { kind };
    let checker = crate::lang::ast::DeclKind::from_keyword(kind)
        .and_then(|k| crate::lang::fields::field_doc(k, field));
    FIELD_DOCS
        .iter()
        .find(|(k, f, _, _)| *k == kind && *f == field)
        .map(|(_, _, t, d)| (*t, checker.unwrap_or(d)))
}

/// Fields of a declaration kind, in documentation order.
pub fn fields_of(
    kind: &str,
) -> impl Iterator<Item = &'static (&'static str, &'static str, &'static str, &'static str)> + '_ {
    let kind = if kind == "experiment" { "sweep" } else { kind };
    FIELD_DOCS.iter().filter(move |(k, ..)| *k == kind)
}

pub fn kind_doc(kind: &str) -> Option<&'static str> {
    KIND_DOCS.iter().find(|(k, _)| *k == kind).map(|(_, d)| *d)
}

/// Calls the checker understands: (declaration keyword, field, call, named
/// arguments, meaning). Hover shows them on the call's name; completion
/// offers the calls after `field =` and the arguments inside the parentheses.
pub const CALL_DOCS: &[(&str, &str, &str, &[&str], &str)] = &[
    ("data", "source", "generated", &["classes", "train", "val", "test", "size", "seed", "image_signal", "metadata_signal"], "A synthetic data set with a learnable class signal in the pixels and in one metadata column."),
    ("backbone", "pretrained", "hf", &["repo", "revision", "file"], "Weights from the local Hugging Face cache (no network): `hf(\"org/name\")`."),
    ("recipe", "optimizer", "adamw", &["lr", "finetune_lr", "weight_decay", "betas", "eps"], "AdamW (decoupled weight decay)."),
    ("recipe", "optimizer", "adam", &["lr", "finetune_lr", "weight_decay", "betas", "eps"], "Adam with L2 weight decay."),
    ("recipe", "optimizer", "sgd", &["lr", "finetune_lr", "momentum", "nesterov", "weight_decay"], "SGD with momentum."),
    ("recipe", "optimizer", "rmsprop", &["lr", "finetune_lr", "alpha", "eps", "momentum", "tf_style", "weight_decay"], "RMSprop; `tf_style` (default true) as timm's RMSpropTF."),
    ("recipe", "schedule", "cosine", &["min_lr_ratio"], "Cosine decay to `min_lr_ratio × lr` over each phase."),
    ("recipe", "schedule", "step", &["every", "gamma"], "Multiply the learning rate by `gamma` every `every` epochs."),
    ("recipe", "augment", "random_resized_crop", &["scale", "ratio"], "Random crop of a random area (`scale`) and aspect ratio, resized to the input size."),
    ("recipe", "augment", "hflip", &["p"], "Horizontal flip with probability `p` (default 0.5)."),
    ("recipe", "augment", "vflip", &["p"], "Vertical flip with probability `p` (default 0.5)."),
    ("recipe", "augment", "rotate", &["degrees"], "Uniform rotation in `[-degrees, degrees]`, e.g. `rotate(30 deg)`."),
    ("recipe", "augment", "color_jitter", &["strength", "brightness", "contrast", "saturation", "hue"], "Random brightness, contrast, saturation and hue changes."),
    ("recipe", "augment", "rand_augment", &["n", "m"], "RandAugment: `n` random operations at magnitude `m`."),
    ("recipe", "augment", "random_erasing", &["p"], "Erase a random rectangle with probability `p`."),
    ("recipe", "augment", "mixup", &["alpha"], "Mixup of image pairs, Beta(`alpha`, `alpha`) weights."),
    ("recipe", "augment", "cutmix", &["alpha"], "CutMix of image pairs, Beta(`alpha`, `alpha`) areas."),
    ("score", "metrics", "topk", &["k"], "Top-k accuracy, e.g. `topk(k = 5)`."),
];

/// Keys of record-valued fields: (declaration keyword, field, keys).
pub const RECORD_FIELDS: &[(&str, &str, &[&str])] = &[
    ("data", "columns", &["path", "label", "split"]),
    ("recipe", "dropout", &["head", "metadata"]),
    ("recipe", "select", &["split", "monitor"]),
    (
        "recipe",
        "early_stop",
        &["patience", "monitor", "min_delta"],
    ),
    (
        "sweep",
        "baseline",
        &["data", "backbone", "recipe", "budget", "score", "seed"],
    ),
    (
        "sweep",
        "exclude",
        &["data", "backbone", "recipe", "budget", "score", "seed"],
    ),
];

/// The keys of the record that is the value of `field`.
pub fn record_keys(kind: &str, field: &str) -> &'static [&'static str] {
    let kind = if kind == "experiment" { "sweep" } else { kind };
    RECORD_FIELDS
        .iter()
        .find(|(k, f, _)| *k == kind && *f == field)
        .map_or(&[], |(_, _, keys)| *keys)
}

/// The calls a field takes.
pub fn calls_of<'a>(
    kind: &'a str,
    field: &'a str,
) -> impl Iterator<
    Item = &'static (
        &'static str,
        &'static str,
        &'static str,
        &'static [&'static str],
        &'static str,
    ),
> + 'a {
    let kind = if kind == "experiment" { "sweep" } else { kind };
    CALL_DOCS
        .iter()
        .filter(move |(k, f, ..)| *k == kind && *f == field)
}

/// The entry of a call by name (any field).
pub fn call_doc(
    name: &str,
) -> Option<&'static (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static str,
)> {
    CALL_DOCS.iter().find(|(_, _, c, ..)| *c == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::ast::DeclKind;

    #[test]
    fn every_checker_field_is_documented_and_nothing_else() {
        for kind in DeclKind::ALL {
            let mut ours: Vec<&str> = fields_of(kind.keyword()).map(|(_, f, _, _)| *f).collect();
            let mut theirs: Vec<&str> = crate::lang::check::fields_of(kind).to_vec();
            ours.sort_unstable();
            theirs.sort_unstable();
            assert_eq!(ours, theirs, "fields of {}", kind.keyword());
        }
    }

    #[test]
    fn every_documented_call_argument_is_accepted_by_the_checker() {
        for (kind, field, call, args, _) in CALL_DOCS {
            for arg in *args {
                let src = format!(
                    "use std.recipes\n{kind} x {{\n  {field} = {wrap}\n}}\n",
                    wrap = if *field == "augment" || *field == "metrics" {
                        format!("[{call}({arg} = 1)]")
                    } else {
                        format!("{call}({arg} = 1)")
                    }
                );
                let out = crate::lang::check_text(
                    "t.exp",
                    &src,
                    std::path::Path::new("."),
                    &[],
                    crate::lang::CheckOptions::default(),
                );
                let bad: Vec<String> = out
                    .diagnostics
                    .iter()
                    .filter(|d| {
                        d.code() == "exp::check::unknown_argument"
                            || d.code() == "exp::check::unknown_variant"
                    })
                    .map(|d| d.message())
                    .collect();
                assert!(
                    bad.is_empty(),
                    "{kind}.{field} = {call}({arg} = ..): {bad:?}"
                );
            }
        }
        // The checker does flag an argument it does not know.
        let out = crate::lang::check_text(
            "t.exp",
            "recipe x {\n  optimizer = adamw(lr = 1e-3, bogus = 1)\n}\n",
            std::path::Path::new("."),
            &[],
            crate::lang::CheckOptions::default(),
        );
        assert!(out
            .diagnostics
            .iter()
            .any(|d| d.code() == "exp::check::unknown_argument"));
    }

    #[test]
    fn every_documented_record_key_is_accepted_by_the_checker() {
        for (kind, field, keys) in RECORD_FIELDS.iter().filter(|(k, ..)| *k != "sweep") {
            for key in *keys {
                let src = format!("{kind} x {{\n  {field} = {{ {key} = 1 }}\n}}\n");
                let out = crate::lang::check_text(
                    "t.exp",
                    &src,
                    std::path::Path::new("."),
                    &[],
                    crate::lang::CheckOptions::default(),
                );
                let bad: Vec<String> = out
                    .diagnostics
                    .iter()
                    .filter(|d| d.code() == "exp::check::unknown_field")
                    .map(|d| d.message())
                    .collect();
                assert!(bad.is_empty(), "{kind}.{field}.{key}: {bad:?}");
            }
        }
        // The checker does flag a key it does not know, so the test above can fail.
        let out = crate::lang::check_text(
            "t.exp",
            "recipe x {\n  dropout = { hed = 0.1 }\n}\n",
            std::path::Path::new("."),
            &[],
            crate::lang::CheckOptions::default(),
        );
        assert!(out
            .diagnostics
            .iter()
            .any(|d| d.code() == "exp::check::unknown_field"));
    }
}

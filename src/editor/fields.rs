//! What hover and completion say about declaration kinds and calls; field
//! types and meanings come from the checker's table (`crate::lang::fields`).

use crate::lang::ast::DeclKind;
use crate::lang::fields::FieldDoc;

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

/// Type and meaning of `field` in declarations of `kind` (the checker's
/// table, `crate::lang::fields`).
pub fn field_doc(kind: &str, field: &str) -> Option<(&'static str, &'static str)> {
    let d = crate::lang::fields::field_doc(DeclKind::from_keyword(kind)?, field)?;
    Some((d.ty, d.doc))
}

/// Fields of a declaration kind, in documentation order.
pub fn fields_of(kind: &str) -> impl Iterator<Item = &'static FieldDoc> {
    DeclKind::from_keyword(kind)
        .into_iter()
        .flat_map(crate::lang::fields::fields_in)
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

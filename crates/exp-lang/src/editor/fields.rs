//! What hover and completion say about declaration kinds and calls; field
//! types and meanings come from the checker's table (`crate::lang::fields`).

use crate::lang::ast::DeclKind;
use crate::lang::fields::FieldDoc;
use crate::lang::values::Dim;

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

/// Bare words a field (or argument, or record key) takes as its value:
/// (declaration keyword, field, words). Completion after `field =` offers
/// these with the field's calls; a test checks the checker accepts each.
pub const VALUE_WORDS: &[(&str, &str, &[&str])] = &[
    ("data", "on_bad_image", &["fail", "skip"]),
    ("data", "layout", &["manifest", "image_folder"]),
    ("data", "stratify", &["true", "false"]),
    ("backbone", "pretrained", &["none"]),
    ("recipe", "schedule", &["constant", "cosine"]),
    ("recipe", "warmup", &["none"]),
    ("recipe", "augment", &["hflip", "vflip", "mixup", "cutmix"]),
    ("recipe", "precision", &["auto", "bf16", "f32"]),
    ("recipe", "early_stop", &["none"]),
    ("recipe", "monitor", &["val_loss", "val_top1"]),
    ("recipe", "nesterov", &["true", "false"]),
    ("recipe", "tf_style", &["true", "false"]),
    (
        "score",
        "metrics",
        &["top1", "top3", "top5", "auc", "per_class", "confusion"],
    ),
];

/// The words `field` of `kind` takes (see [`VALUE_WORDS`]).
pub fn value_words(kind: &str, field: &str) -> &'static [&'static str] {
    let kind = if kind == "experiment" { "sweep" } else { kind };
    VALUE_WORDS
        .iter()
        .find(|(k, f, _)| *k == kind && *f == field)
        .map_or(&[], |(_, _, w)| *w)
}

/// What a quantity field, argument or key measures: (declaration keyword,
/// field or argument, dimensions). Completion offers units only there, and
/// only of these dimensions.
pub const QUANTITY_FIELDS: &[(&str, &str, &[Dim])] = &[
    ("recipe", "warmup", &[Dim::Steps, Dim::Epochs]),
    ("recipe", "patience", &[Dim::Epochs]),
    ("recipe", "every", &[Dim::Epochs]),
    ("recipe", "rotate", &[Dim::Degrees]),
    ("recipe", "degrees", &[Dim::Degrees]),
    ("budget", "train", &[Dim::Samples]),
    ("budget", "val", &[Dim::Samples]),
    ("budget", "frozen", &[Dim::Epochs]),
    ("budget", "finetune", &[Dim::Epochs]),
    ("budget", "time", &[Dim::Seconds]),
    ("budget", "max_samples", &[Dim::Samples]),
    ("budget", "checkpoint_every", &[Dim::Steps]),
    ("score", "confidence", &[Dim::Percent]),
];

/// The units `field` of `kind` takes; empty when it takes a plain number.
pub fn units_for(kind: &str, field: &str) -> Vec<&'static str> {
    let kind = if kind == "experiment" { "sweep" } else { kind };
    let Some((_, _, dims)) = QUANTITY_FIELDS
        .iter()
        .find(|(k, f, _)| *k == kind && *f == field)
    else {
        return Vec::new();
    };
    crate::lang::values::UNITS
        .iter()
        .filter(|(_, d, _)| dims.contains(d))
        .map(|(u, _, _)| *u)
        .collect()
}

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
                let out = crate::driver::check_text(
                    "t.exp",
                    &src,
                    std::path::Path::new("."),
                    &[],
                    crate::driver::CheckOptions::default(),
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
        let out = crate::driver::check_text(
            "t.exp",
            "recipe x {\n  optimizer = adamw(lr = 1e-3, bogus = 1)\n}\n",
            std::path::Path::new("."),
            &[],
            crate::driver::CheckOptions::default(),
        );
        assert!(out
            .diagnostics
            .iter()
            .any(|d| d.code() == "exp::check::unknown_argument"));
    }

    fn check(src: &str) -> crate::driver::Outcome {
        crate::driver::check_text(
            "t.exp",
            src,
            std::path::Path::new("."),
            &[],
            crate::driver::CheckOptions::default(),
        )
    }

    /// Where a field, argument or key of `kind` sits in a declaration.
    fn place(kind: &str, field: &str, value: &str) -> String {
        match (kind, field) {
            ("recipe", "monitor") => {
                format!("early_stop = {{ patience = 2 epochs, monitor = {value} }}")
            }
            ("recipe", "patience") => format!("early_stop = {{ patience = {value} }}"),
            ("recipe", "nesterov") => format!("optimizer = sgd(lr = 0.1, nesterov = {value})"),
            ("recipe", "tf_style") => format!("optimizer = rmsprop(lr = 0.1, tf_style = {value})"),
            ("recipe", "every") => format!("schedule = step(every = {value})"),
            ("recipe", "rotate") => format!("augment = [rotate({value})]"),
            ("recipe", "degrees") => format!("augment = [rotate(degrees = {value})]"),
            ("recipe", "augment") | ("score", "metrics") => format!("{field} = [{value}]"),
            _ => format!("{field} = {value}"),
        }
    }

    #[test]
    fn every_completed_word_and_unit_is_accepted_by_the_checker() {
        let flagged = |out: &crate::driver::Outcome| -> Vec<String> {
            out.diagnostics
                .iter()
                .filter(|d| {
                    matches!(
                        d.code().as_str(),
                        "exp::check::unknown_variant"
                            | "exp::check::type_mismatch"
                            | "exp::check::wrong_unit"
                            | "exp::check::unknown_field"
                            | "exp::check::unknown_argument"
                            | "exp::parse::syntax"
                    )
                })
                .map(|d| d.message())
                .collect()
        };
        for (kind, field, words) in VALUE_WORDS {
            for w in *words {
                let src = format!("{kind} x {{\n  {}\n}}\n", place(kind, field, w));
                let bad = flagged(&check(&src));
                assert!(bad.is_empty(), "{kind}.{field} = {w}: {bad:?}\n{src}");
            }
        }
        for (kind, field, _) in QUANTITY_FIELDS {
            let units = units_for(kind, field);
            assert!(!units.is_empty(), "{kind}.{field}");
            for u in units {
                let src = format!(
                    "{kind} x {{\n  {}\n}}\n",
                    place(kind, field, &format!("2 {u}"))
                );
                let bad = flagged(&check(&src));
                assert!(bad.is_empty(), "{kind}.{field} = 2 {u}: {bad:?}\n{src}");
            }
        }
        // The checker does flag a wrong word and a wrong unit.
        assert!(!flagged(&check("recipe x {\n  precision = fp64\n}\n")).is_empty());
        assert!(!flagged(&check("budget x {\n  frozen = 2 deg\n}\n")).is_empty());
    }

    #[test]
    fn every_documented_record_key_is_accepted_by_the_checker() {
        for (kind, field, keys) in RECORD_FIELDS.iter().filter(|(k, ..)| *k != "sweep") {
            for key in *keys {
                let src = format!("{kind} x {{\n  {field} = {{ {key} = 1 }}\n}}\n");
                let out = crate::driver::check_text(
                    "t.exp",
                    &src,
                    std::path::Path::new("."),
                    &[],
                    crate::driver::CheckOptions::default(),
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
        let out = crate::driver::check_text(
            "t.exp",
            "recipe x {\n  dropout = { hed = 0.1 }\n}\n",
            std::path::Path::new("."),
            &[],
            crate::driver::CheckOptions::default(),
        );
        assert!(out
            .diagnostics
            .iter()
            .any(|d| d.code() == "exp::check::unknown_field"));
    }
}

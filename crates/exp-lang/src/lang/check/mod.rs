//! The typed checker: resolved declarations → [`crate::spec`] values, with
//! types, units, ranges, required fields and defaults; then sweep expansion
//! into cells. One file per declaration kind; this one holds the driver and
//! the helpers they share.

mod backbone;
mod budget;
mod data;
mod recipe;
mod scoring;
mod sweep;

use super::ast::{DeclKind, Expr, ExprKind, Ident};
use super::diag::Diag;
use super::error::{CheckError, ResolveError};
use super::resolve::{self, Env, Merged};
use super::span::Span;
use super::suggest;
use super::values::{fmt_num, Dim, Values};
use crate::spec::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

/// The most cells the sweeps of one file may have (before `exclude`).
/// Why: each cell is a training run; far more is generated input, and
/// expanding a million cells took seconds and gigabytes.
pub const MAX_CELLS: usize = 10_000;

/// Fields each declaration kind accepts.
pub const DATA_FIELDS: &[&str] = &[
    "manifest",
    "root",
    "columns",
    "metadata",
    "image_size",
    "cache_size",
    "stratify",
    "on_bad_image",
    "cache",
    "layout",
    "near_duplicates",
    "source",
];
pub const BACKBONE_FIELDS: &[&str] = &[
    "arch",
    "pretrained",
    "drop_path",
    "input_size",
    "mean",
    "std",
];
pub const RECIPE_FIELDS: &[&str] = &[
    "optimizer",
    "schedule",
    "warmup",
    "batch",
    "accumulate",
    "augment",
    "dropout",
    "label_smoothing",
    "early_stop",
    "select",
    "precision",
    "grad_clip",
    "ema",
    "layer_decay",
    "metadata_hidden",
    "diverge_factor",
    "val_loss_factor",
    "on_unstable",
    "cuda_graphs",
    "sync_bn",
];
/// Arguments of every optimizer call.
pub const OPTIMIZER_ARGS: &[&str] = &[
    "lr",
    "finetune_lr",
    "weight_decay",
    "betas",
    "eps",
    "momentum",
    "nesterov",
    "alpha",
    "tf_style",
];
pub const BUDGET_FIELDS: &[&str] = &[
    "train",
    "val",
    "frozen",
    "finetune",
    "time",
    "max_samples",
    "checkpoint_every",
];
pub const SCORE_FIELDS: &[&str] = &["split", "metrics", "confidence", "bootstrap"];
pub const SWEEP_FIELDS: &[&str] = &[
    "data",
    "backbone",
    "recipe",
    "budget",
    "score",
    "seed",
    "seeds",
    "baseline",
    "exclude",
    "replicates",
    "compare",
];
/// Sweep fields that name declarations (and may be axes), with their kind.
pub const SWEEP_REFS: &[(&str, DeclKind)] = &[
    ("data", DeclKind::Data),
    ("backbone", DeclKind::Backbone),
    ("recipe", DeclKind::Recipe),
    ("budget", DeclKind::Budget),
    ("score", DeclKind::Score),
];

pub fn fields_of(kind: DeclKind) -> &'static [&'static str] {
    match kind {
        DeclKind::Data => DATA_FIELDS,
        DeclKind::Backbone => BACKBONE_FIELDS,
        DeclKind::Recipe => RECIPE_FIELDS,
        DeclKind::Budget => BUDGET_FIELDS,
        DeclKind::Score => SCORE_FIELDS,
        DeclKind::Sweep => SWEEP_FIELDS,
    }
}

/// What the checker knows about a declaration beyond its spec: spans for
/// lints and editors.
#[derive(Debug, Clone)]
pub struct DeclInfo {
    pub kind: DeclKind,
    pub name_span: Span,
    pub is_std: bool,
    /// Top-level field → span of its value (after inheritance).
    pub fields: BTreeMap<String, Span>,
    /// Declarations this one names (sweep fields, `extends`).
    pub refs: BTreeSet<String>,
    pub doc: Option<String>,
}

/// A checked pipeline plus the spans lints need.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    pub pipeline: Pipeline,
    pub info: BTreeMap<String, DeclInfo>,
}

/// Check every resolved declaration and expand the sweeps.
pub fn check(env: &Env, diags: &mut Vec<Diag>) -> Checked {
    let mut c = Checker {
        env,
        v: Values {
            diags,
            misspelled: BTreeSet::new(),
        },
        out: Checked::default(),
        cell_count: 0,
    };
    c.out.pipeline.seed = c.seed();
    let mut sweeps = Vec::new();
    // Why: parents before children, so an error inherited by every child is
    // first reported (and kept) in the words of the declaration that has it.
    let mut order: Vec<(&String, &Merged)> = env.merged.iter().collect();
    order.sort_by_key(|(_, m)| m.depth);
    for (name, m) in order {
        c.info(m);
        let before = c.v.diags.len();
        c.v.misspelled.clear();
        match m.kind {
            DeclKind::Data => {
                if let Some(s) = c.data(m) {
                    c.out.pipeline.data.insert(name.clone(), s);
                }
            }
            DeclKind::Backbone => {
                if let Some(s) = c.backbone(m) {
                    c.out.pipeline.backbones.insert(name.clone(), s);
                }
            }
            DeclKind::Recipe => {
                if let Some(s) = c.recipe(m) {
                    c.out.pipeline.recipes.insert(name.clone(), s);
                }
            }
            DeclKind::Budget => {
                if let Some(s) = c.budget(m) {
                    c.out.pipeline.budgets.insert(name.clone(), s);
                }
            }
            DeclKind::Score => {
                if let Some(s) = c.score(m) {
                    c.out.pipeline.scores.insert(name.clone(), s);
                }
            }
            DeclKind::Sweep => sweeps.push(m),
        }
        // Why: a failed `extends` already has its error (the fields the
        // parent would have given are not missing twice), and a misspelled
        // field is reported once, as unknown with its did-you-mean.
        let misspelled = std::mem::take(&mut c.v.misspelled);
        let mut i = before;
        while i < c.v.diags.len() {
            let follow_on = match c.v.diags[i].downcast_ref::<CheckError>() {
                Some(CheckError::MissingField { field, .. }) => {
                    m.incomplete || misspelled.contains(field)
                }
                _ => false,
            };
            if follow_on {
                c.v.diags.remove(i);
            } else {
                i += 1;
            }
        }
    }
    let mut pending = Vec::new();
    for m in sweeps {
        if let Some((s, cross)) = c.sweep(m) {
            c.out.pipeline.sweeps.insert(m.name.name.clone(), s);
            pending.extend(cross);
        }
    }
    for p in pending {
        c.cross_sweep_baseline(p);
    }
    c.out
}

struct Checker<'a, 'd> {
    env: &'a Env,
    v: Values<'d>,
    out: Checked,
    /// Cells of the sweeps checked so far (before `exclude`).
    cell_count: usize,
}

/// The fields of one declaration, checked against the kind's field list.
struct Fields<'m> {
    m: &'m Merged,
}

impl<'m> Fields<'m> {
    fn get(&self, name: &str) -> Option<&'m Expr> {
        self.m.field(name).map(|f| &f.value)
    }
}

fn context(m: &Merged) -> String {
    format!("{} `{}`", m.kind.keyword(), m.name.name)
}

impl Checker<'_, '_> {
    fn seed(&mut self) -> u64 {
        match &self.env.seed {
            Some(e) => self.v.int(e, "seed", 0, i64::MAX).map_or(0, |s| s as u64),
            None => 0,
        }
    }

    fn info(&mut self, m: &Merged) {
        let mut refs = BTreeSet::new();
        if let Some(e) = &m.extends {
            refs.insert(e.name.clone());
        }
        if m.kind == DeclKind::Sweep {
            for f in &m.fields {
                collect_refs(&f.value, &mut refs);
            }
        }
        self.out.info.insert(
            m.name.name.clone(),
            DeclInfo {
                kind: m.kind,
                name_span: m.name.span,
                is_std: m.is_std,
                fields: m
                    .fields
                    .iter()
                    .map(|f| (f.name.name.clone(), f.value.span))
                    .collect(),
                refs,
                doc: m.doc.clone(),
            },
        );
    }

    /// Report unknown fields; returns the field view.
    fn fields<'m>(&mut self, m: &'m Merged) -> Fields<'m> {
        let allowed = fields_of(m.kind);
        for f in &m.fields {
            if !allowed.contains(&f.name.name.as_str()) {
                let mut help = suggest::help(
                    &f.name.name,
                    allowed.iter().copied(),
                    &format!("fields of a {}", m.kind.keyword()),
                );
                if let Some(meant) = suggest::closest(&f.name.name, allowed.iter().copied()) {
                    if m.field(meant).is_none() {
                        self.v.misspelled.insert(meant.to_string());
                    }
                }
                // Why: optimizer settings written as recipe fields are the
                // most common slip (`weight_decay = 0.05` next to `optimizer`).
                if m.kind == DeclKind::Recipe
                    && suggest::closest(&f.name.name, allowed.iter().copied()).is_none()
                {
                    if let Some(arg) =
                        suggest::closest(&f.name.name, OPTIMIZER_ARGS.iter().copied())
                    {
                        help = format!("did you mean the optimizer argument `{arg}`? Write `optimizer.{arg} = ...` (or set it inside `optimizer = adamw(...)`)");
                    }
                }
                self.v.err(
                    f.name.span,
                    CheckError::UnknownField {
                        field: f.name.name.clone(),
                        context: context(m),
                        span: f.name.span.into(),
                        help,
                    },
                );
            }
        }
        Fields { m }
    }

    fn conflict(&mut self, span: Span, other: Span, message: &str, help: &str) {
        self.v.err(
            span,
            CheckError::ConflictingFields {
                message: message.into(),
                span: span.into(),
                other: (other.file == span.file).then_some(other.into()),
                help: help.into(),
            },
        );
    }

    fn path(&self, e: &Expr, p: &str) -> PathBuf {
        let raw = Path::new(p);
        let joined = if raw.is_absolute() {
            raw.to_path_buf()
        } else {
            self.env.base_dir(e.span.file).join(raw)
        };
        let abs = std::path::absolute(&joined).unwrap_or(joined);
        normalize(&abs)
    }
}

impl Values<'_> {
    /// A confidence level in (0, 1): `95%` or `0.95`.
    pub fn ranged_fraction(&mut self, e: &Expr, what: &str) -> Option<f64> {
        let v = self.fraction(e, what, false)?;
        if v <= 0.0 {
            self.err(
                e.span,
                CheckError::OutOfRange {
                    what: what.into(),
                    value: fmt_num(v),
                    range: "must be in (0, 1)".into(),
                    span: e.span.into(),
                    help: "e.g. `95%`".into(),
                },
            );
            return None;
        }
        Some(v)
    }
}

fn collect_refs(e: &Expr, out: &mut BTreeSet<String>) {
    match &e.kind {
        ExprKind::Ref(id) => {
            out.insert(id.name.clone());
        }
        ExprKind::List(items) => items.iter().for_each(|i| collect_refs(i, out)),
        ExprKind::Record(fields) => fields.iter().for_each(|f| collect_refs(&f.value, out)),
        _ => {}
    }
}

fn opt<T>(e: Option<&Expr>, f: impl FnOnce(&Expr) -> Option<T>) -> Option<T> {
    e.and_then(f)
}

/// `Some(None)` when absent, `Some(Some(v))` when valid, `None` on error.
fn opt_some<T>(e: Option<&Expr>, f: impl FnOnce(&Expr) -> Option<T>) -> Option<Option<T>> {
    match e {
        None => Some(None),
        Some(e) => f(e).map(Some),
    }
}

fn arch_names() -> Vec<&'static str> {
    crate::catalog::ARCHS.iter().map(|a| a.0).collect()
}

/// timm's normalisation for an architecture.
/// The catalog's ([`crate::catalog::arch_info`]); ImageNet's for a name
/// it does not know (the unknown name is reported on its own).
pub fn default_norm(arch: &str) -> ([f64; 3], [f64; 3]) {
    crate::catalog::arch_info(arch).map_or(
        (crate::catalog::IMAGENET_MEAN, crate::catalog::IMAGENET_STD),
        |i| (i.mean, i.std),
    )
}

/// Remove `.` and `..` components lexically.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

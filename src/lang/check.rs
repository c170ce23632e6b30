//! The typed checker: resolved declarations → [`crate::spec`] values, with
//! types, units, ranges, required fields and defaults; then sweep expansion
//! into cells.

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

/// A sweep field while expanding: (field name, values with spans, written as a list).
type Axis = (String, Vec<(String, Span)>, bool);

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
        v: Values { diags },
        out: Checked::default(),
    };
    c.out.pipeline.seed = c.seed();
    let mut sweeps = Vec::new();
    for (name, m) in &env.merged {
        c.info(m);
        let before = c.v.diags.len();
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
        if m.incomplete {
            // Why: a failed `extends` already has its error; the fields the
            // parent would have given are not missing twice.
            let mut i = before;
            while i < c.v.diags.len() {
                if c.v.diags[i].code() == "exp::check::missing_field" {
                    c.v.diags.remove(i);
                } else {
                    i += 1;
                }
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

/// Which sweep field a record of axis values belongs to (for its errors).
#[derive(Clone, Copy)]
enum Rule {
    Baseline,
    Exclude,
    Compare,
}

/// A baseline naming a cell of another sweep (`{ sweep = other, ... }`),
/// resolved once every sweep is expanded.
struct CrossBaseline {
    sweep: String,
    other: String,
    /// (axis, value, span of the value).
    rule: Vec<(String, String, Span)>,
    span: Span,
}

struct Checker<'a, 'd> {
    env: &'a Env,
    v: Values<'d>,
    out: Checked,
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

    // ------------------------------------------------------------ data

    fn data(&mut self, m: &Merged) -> Option<DataSpec> {
        let f = self.fields(m);
        let ctx = context(m);
        let mut ok = true;
        let root = f
            .get("root")
            .and_then(|e| self.v.string(e, "root").map(|s| self.path(e, &s)));
        let source = if let Some(e) = f.get("source") {
            for other in ["manifest", "layout"] {
                if let Some(o) = m.field(other) {
                    self.conflict(
                        o.name.span,
                        e.span,
                        &format!("`{other}` and `source` cannot both be set"),
                        "a generated data set has no manifest or layout",
                    );
                    ok = false;
                }
            }
            self.generated(m, e, root.clone())
        } else if let Some(e) = f.get("layout") {
            match self.v.word(e, "layout", &["image_folder", "manifest"]) {
                Some("image_folder") => {
                    if let Some(o) = m.field("manifest") {
                        self.conflict(
                            o.name.span,
                            e.span,
                            "`manifest` and `layout = image_folder` cannot both be set",
                            "an image folder has no manifest: remove one of them",
                        );
                        ok = false;
                    }
                    match root.clone() {
                        Some(root) => Some(DataSource::ImageFolder { root }),
                        None => {
                            self.v.missing(m.name.span, "root", &ctx, "an image folder needs `root = \"dir\"` holding <split>/<class>/*.jpg");
                            None
                        }
                    }
                }
                Some(_) => self.manifest(m, &f, root.clone()),
                None => None,
            }
        } else {
            self.manifest(m, &f, root.clone())
        };
        let default_size = match &source {
            Some(DataSource::Generated(g)) => g.size,
            _ => 224,
        };
        let image_size = opt(f.get("image_size"), |e| {
            self.v.int(e, "image_size", 8, 4096)
        })
        .map_or(default_size, |v| v as u32);
        let default_cache = crate::spec::DataSpec::default_cache_size(image_size);
        let cache_size = match f.get("cache_size") {
            Some(e) => match self.v.int(e, "cache_size", 8, 8192) {
                Some(v) if (v as u32) < image_size => {
                    self.v.err(
                        e.span,
                        CheckError::OutOfRange {
                            what: "cache_size".into(),
                            value: v.to_string(),
                            range: format!("must be ≥ image_size ({image_size})"),
                            span: e.span.into(),
                            help: "the cache stores the shorter side the crop is taken from; it cannot be smaller than the crop".into(),
                        },
                    );
                    ok = false;
                    default_cache
                }
                Some(v) => v as u32,
                None => default_cache,
            },
            None => default_cache,
        };
        let (metadata, metadata_types) = match f.get("metadata") {
            Some(e) => self.metadata_columns(e).unwrap_or_default(),
            None => Default::default(),
        };
        let near_duplicates = opt(f.get("near_duplicates"), |e| {
            self.v.boolean(e, "near_duplicates")
        })
        .unwrap_or(false);
        let mut columns = Columns::default();
        if let Some(e) = f.get("columns") {
            if let Some(r) = self.v.record(e, "columns", &["path", "label", "split"]) {
                for (k, slot) in [
                    ("path", &mut columns.path),
                    ("label", &mut columns.label),
                    ("split", &mut columns.split),
                ] {
                    if let Some(s) = r
                        .get(k)
                        .and_then(|x| self.v.string(x, &format!("columns.{k}")))
                    {
                        *slot = s;
                    }
                }
            }
        }
        let stratify = opt(f.get("stratify"), |e| self.v.boolean(e, "stratify")).unwrap_or(true);
        let on_bad_image = match f
            .get("on_bad_image")
            .map(|e| self.v.word(e, "on_bad_image", &["fail", "skip"]))
        {
            Some(Some("skip")) => BadImagePolicy::Skip,
            _ => BadImagePolicy::Fail,
        };
        let cache_dir = f
            .get("cache")
            .and_then(|e| self.v.string(e, "cache").map(|s| self.path(e, &s)));
        let source = source?;
        ok.then_some(DataSpec {
            name: m.name.name.clone(),
            source,
            image_size,
            cache_size,
            metadata,
            columns,
            stratify,
            on_bad_image,
            cache_dir,
            content: None,
            near_duplicates,
            metadata_types,
        })
    }

    fn manifest(&mut self, m: &Merged, f: &Fields, root: Option<PathBuf>) -> Option<DataSource> {
        let Some(e) = f.get("manifest") else {
            self.v.missing(
                m.name.span,
                "manifest",
                &context(m),
                "say where the images are: `manifest = \"manifest.csv\"` (with `root`), `layout = image_folder` with `root`, or `source = generated(...)`",
            );
            return None;
        };
        let s = self.v.string(e, "manifest")?;
        let manifest = self.path(e, &s);
        let root =
            root.unwrap_or_else(|| manifest.parent().map(Path::to_path_buf).unwrap_or_default());
        Some(DataSource::Manifest { manifest, root })
    }

    fn generated(&mut self, m: &Merged, e: &Expr, root: Option<PathBuf>) -> Option<DataSource> {
        let (_, args) = self.v.call(e, "source", &["generated"])?;
        let a = self.v.args(
            "generated",
            e.span,
            args,
            &[],
            &[
                "classes",
                "train",
                "val",
                "test",
                "size",
                "seed",
                "image_signal",
                "metadata_signal",
            ],
        );
        let classes =
            opt(a.get("classes"), |x| self.v.int(x, "classes", 2, 1000)).map_or(4, |v| v as u32);
        let mut count = |name: &str, default: u64| -> u64 {
            opt(a.get(name), |x| {
                self.v.count(x, name, Dim::Samples, 1, "600 samples")
            })
            .unwrap_or(default)
        };
        let train = count("train", 600);
        let val = count("val", 200);
        let test = count("test", 400);
        let size = opt(a.get("size"), |x| self.v.int(x, "size", 8, 1024)).map_or(48, |v| v as u32);
        let seed =
            opt(a.get("seed"), |x| self.v.int(x, "seed", 0, i64::MAX)).map_or(1, |v| v as u64);
        let image_signal = opt(a.get("image_signal"), |x| {
            self.v.fraction(x, "image_signal", true)
        })
        .unwrap_or(0.6);
        let metadata_signal = opt(a.get("metadata_signal"), |x| {
            self.v.fraction(x, "metadata_signal", true)
        })
        .unwrap_or(0.6);
        let Some(root) = root else {
            self.v.missing(
                m.name.span,
                "root",
                &context(m),
                "a generated data set is written under `root`, e.g. `root = \"../runs/data/shapes\"`",
            );
            return None;
        };
        Some(DataSource::Generated(GeneratedSpec {
            root,
            classes,
            train,
            val,
            test,
            size,
            seed,
            image_signal,
            metadata_signal,
        }))
    }

    /// A list of column names, as strings or bare names.
    /// `metadata = [age, "site", sex: category, bmi: numeric]`: the column
    /// names in order, and the kinds declared.
    fn metadata_columns(
        &mut self,
        e: &Expr,
    ) -> Option<(Vec<String>, BTreeMap<String, MetadataKind>)> {
        let items = self.v.list(e, "metadata")?;
        let mut names = Vec::new();
        let mut kinds = BTreeMap::new();
        for i in items {
            let (name, kind) = match &i.kind {
                ExprKind::Typed { name, kind } => (name.as_ref(), Some(kind)),
                _ => (i, None),
            };
            let name = match &name.kind {
                ExprKind::Str(s) => s.clone(),
                ExprKind::Ref(id) => id.name.clone(),
                _ => {
                    let _ = self.v.string(name, "metadata");
                    continue;
                }
            };
            if let Some(k) = kind {
                let word = Expr {
                    kind: ExprKind::Ref(k.clone()),
                    span: k.span,
                };
                match self
                    .v
                    .word(&word, "metadata kind", &["numeric", "category"])
                {
                    Some("numeric") => {
                        kinds.insert(name.clone(), MetadataKind::Numeric);
                    }
                    Some(_) => {
                        kinds.insert(name.clone(), MetadataKind::Category);
                    }
                    None => {}
                }
            }
            names.push(name);
        }
        Some((names, kinds))
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

    // ------------------------------------------------------------ backbone

    fn backbone(&mut self, m: &Merged) -> Option<BackboneSpec> {
        let f = self.fields(m);
        let Some(e) = f.get("arch") else {
            let help = format!(
                "name the architecture, e.g. `arch = \"resnet50\"`; known: {}",
                arch_names().join(", ")
            );
            self.v.missing(m.name.span, "arch", &context(m), &help);
            return None;
        };
        let arch = match &e.kind {
            ExprKind::Str(s) => Some((s.clone(), e.span)),
            ExprKind::Ref(id) => Some((id.name.clone(), id.span)),
            _ => {
                let _ = self.v.string(e, "arch");
                None
            }
        };
        let (arch, arch_span) = arch?;
        let Some(&(_, family, _, input)) = crate::models::ARCHS.iter().find(|a| a.0 == arch) else {
            let help = suggest::help(&arch, arch_names(), "architectures in the model zoo");
            self.v.err(
                arch_span,
                CheckError::UnknownArch {
                    arch,
                    span: arch_span.into(),
                    help,
                },
            );
            return None;
        };
        let pretrained = match f.get("pretrained") {
            Some(e) => self.weights(e)?,
            None => None,
        };
        let drop_path = opt(f.get("drop_path"), |x| {
            self.v.ranged(
                x,
                "drop_path",
                0.0,
                1.0,
                false,
                true,
                "a stochastic-depth rate in [0, 1)",
            )
        })
        .unwrap_or(0.0);
        let input_size = opt(f.get("input_size"), |x| {
            self.v.int(x, "input_size", 8, 4096)
        })
        .map_or(input, |v| v as u32);
        let (dmean, dstd) = default_norm(&arch);
        let mean = opt(f.get("mean"), |x| self.triple(x, "mean", false)).unwrap_or(dmean);
        let std = opt(f.get("std"), |x| self.triple(x, "std", true)).unwrap_or(dstd);
        Some(BackboneSpec {
            name: m.name.name.clone(),
            arch,
            pretrained,
            drop_path,
            input_size,
            mean,
            std,
            family,
        })
    }

    fn triple(&mut self, e: &Expr, what: &str, positive: bool) -> Option<[f64; 3]> {
        let v = self.v.numbers(e, what, 3)?;
        if positive && v.iter().any(|x| *x <= 0.0) {
            self.v.err(
                e.span,
                CheckError::OutOfRange {
                    what: what.into(),
                    value: format!("{v:?}"),
                    range: "every value must be > 0".into(),
                    span: e.span.into(),
                    help: "pixels are divided by these".into(),
                },
            );
            return None;
        }
        Some([v[0], v[1], v[2]])
    }

    /// `Some(None)` = no weights, `None` = error.
    fn weights(&mut self, e: &Expr) -> Option<Option<Weights>> {
        match &e.kind {
            ExprKind::Ref(id) if id.name == "none" => Some(None),
            ExprKind::Str(s) => {
                self.weight_file(e, s)?;
                Some(Some(Weights::File(self.path(e, s))))
            }
            ExprKind::Call { .. } => {
                let (_, args) = self.v.call(e, "pretrained", &["hf"])?;
                let a = self
                    .v
                    .args("hf", e.span, args, &["repo"], &["repo", "revision", "file"]);
                let Some(repo_e) = a.get("repo") else {
                    self.v
                        .missing(e.span, "repo", "`hf(...)`", "write `hf(\"org/name\")`");
                    return None;
                };
                let repo = self.v.string(repo_e, "repo")?;
                if !repo.contains('/') {
                    self.v.err(
                        repo_e.span,
                        CheckError::TypeMismatch {
                            what: "repo".into(),
                            expected: "`org/name`".into(),
                            found: format!("`{repo}`"),
                            span: repo_e.span.into(),
                            help: "Hugging Face repositories are named `org/name`, e.g. `timm/resnet50.a1_in1k`".into(),
                        },
                    );
                    return None;
                }
                let revision = match a.get("revision") {
                    Some(x) => {
                        let r = self.v.string(x, "revision")?;
                        // Why: the revision names a file under the cache's
                        // `refs/` or `snapshots/`; `..`, `/…` or blanks would
                        // read outside the repository's directory.
                        let bad = r.is_empty()
                            || r.starts_with('/')
                            || r.contains(['\\', ' ', '\t', '\n'])
                            || r.split('/').any(|part| part.is_empty() || part == "..");
                        if bad {
                            self.v.err(
                                x.span,
                                CheckError::TypeMismatch {
                                    what: "revision".into(),
                                    expected: "a branch, tag or commit hash".into(),
                                    found: format!("`{r}`"),
                                    span: x.span.into(),
                                    help: "pin the snapshot a run used: copy `weights.commit` from a cell's config.json, e.g. `revision = \"0123abc…\"` (40 hex digits)".into(),
                                },
                            );
                            return None;
                        }
                        Some(r)
                    }
                    None => None,
                };
                let file = match a.get("file") {
                    Some(x) => {
                        let s = self.v.string(x, "file")?;
                        self.weight_file(x, &s)?;
                        Some(s)
                    }
                    None => None,
                };
                Some(Some(Weights::Hf {
                    repo,
                    revision,
                    file,
                }))
            }
            _ => {
                self.v.err(
                    e.span,
                    CheckError::TypeMismatch {
                        what: "pretrained".into(),
                        expected: "a .safetensors path or `hf(\"org/name\")`".into(),
                        found: e.kind.describe().into(),
                        span: e.span.into(),
                        help: "write `pretrained = \"weights.safetensors\"`, `pretrained = hf(\"timm/resnet50.a1_in1k\")` or `pretrained = none`".into(),
                    },
                );
                None
            }
        }
    }

    fn weight_file(&mut self, e: &Expr, s: &str) -> Option<()> {
        let ext = Path::new(s)
            .extension()
            .map(|x| x.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if ["pt", "pth", "bin", "ckpt", "pkl", "tar"].contains(&ext.as_str()) {
            self.v.err(
                e.span,
                CheckError::PickleWeights {
                    path: s.to_string(),
                    span: e.span.into(),
                },
            );
            return None;
        }
        if ext != "safetensors" {
            self.v.err(
                e.span,
                CheckError::TypeMismatch {
                    what: "pretrained".into(),
                    expected: "a `.safetensors` file".into(),
                    found: format!("`{s}`"),
                    span: e.span.into(),
                    help: "weights are read from safetensors files only".into(),
                },
            );
            return None;
        }
        Some(())
    }

    // ------------------------------------------------------------ recipe

    fn recipe(&mut self, m: &Merged) -> Option<RecipeSpec> {
        let f = self.fields(m);
        let mut ok = true;
        let optimizer = match f.get("optimizer") {
            Some(e) => self.optimizer(e),
            None => {
                self.v.missing(
                    m.name.span,
                    "optimizer",
                    &context(m),
                    "e.g. `optimizer = adamw(lr = 2e-3, finetune_lr = 1e-4)`",
                );
                None
            }
        };
        let schedule = match f.get("schedule") {
            Some(e) => self.schedule(e),
            None => Some(Schedule::Constant),
        };
        let warmup = match f.get("warmup") {
            None => Some(Warmup::None),
            Some(e) if matches!(&e.kind, ExprKind::Ref(id) if id.name == "none") => {
                Some(Warmup::None)
            }
            Some(e) => match self
                .v
                .quantity(e, "warmup", &[Dim::Steps, Dim::Epochs], "200 steps")
            {
                Some((v, _)) if v < 0.0 => {
                    self.v.err(
                        e.span,
                        CheckError::OutOfRange {
                            what: "warmup".into(),
                            value: fmt_num(v),
                            range: "must be ≥ 0".into(),
                            span: e.span.into(),
                            help: "a warmup cannot be negative: write e.g. `0 steps` for none or `200 steps`".into(),
                        },
                    );
                    None
                }
                Some((v, Dim::Steps)) => {
                    if v.fract() != 0.0 {
                        self.v.err(
                            e.span,
                            CheckError::OutOfRange {
                                what: "warmup".into(),
                                value: fmt_num(v),
                                range: "must be a whole number of steps".into(),
                                span: e.span.into(),
                                help: "write a whole number of steps, e.g. `200 steps`, or use epochs (`0.5 epochs`)".into(),
                            },
                        );
                        None
                    } else if v == 0.0 {
                        Some(Warmup::None)
                    } else {
                        Some(Warmup::Steps(v as u64))
                    }
                }
                Some((v, _)) => Some(if v == 0.0 {
                    Warmup::None
                } else {
                    Warmup::Epochs(v)
                }),
                None => None,
            },
        };
        let batch =
            opt(f.get("batch"), |e| self.v.int(e, "batch", 1, 65536)).map_or(32, |v| v as u32);
        let accumulate = opt(f.get("accumulate"), |e| {
            self.v.int(e, "accumulate", 1, 4096)
        })
        .map_or(1, |v| v as u32);
        let augment = match f.get("augment") {
            Some(e) => self.augments(e),
            None => Some(Vec::new()),
        };
        let mut dropout = Dropout {
            head: 0.0,
            metadata: 0.0,
        };
        if let Some(e) = f.get("dropout") {
            match self.v.record(e, "dropout", &["head", "metadata"]) {
                Some(r) => {
                    if let Some(x) = r.get("head") {
                        ok &= self
                            .v
                            .fraction(x, "dropout.head", false)
                            .map(|v| dropout.head = v)
                            .is_some();
                    }
                    if let Some(x) = r.get("metadata") {
                        ok &= self
                            .v
                            .fraction(x, "dropout.metadata", false)
                            .map(|v| dropout.metadata = v)
                            .is_some();
                    }
                }
                None => ok = false,
            }
        }
        let label_smoothing = match f.get("label_smoothing") {
            Some(e) => self.v.fraction(e, "label_smoothing", false),
            None => Some(0.0),
        };
        let early_stop = match f.get("early_stop") {
            None => Some(None),
            Some(e) if matches!(&e.kind, ExprKind::Ref(id) if id.name == "none") => Some(None),
            Some(e) => self.early_stop(e).map(Some),
        };
        let (mut select_split, mut monitor) = ("val".to_string(), Monitor::ValLoss);
        if let Some(e) = f.get("select") {
            match self.v.record(e, "select", &["split", "monitor"]) {
                Some(r) => {
                    if let Some(x) = r.get("split") {
                        match self.v.string(x, "select.split") {
                            Some(s) => select_split = s,
                            None => ok = false,
                        }
                    }
                    if let Some(x) = r.get("monitor") {
                        match self.monitor(x) {
                            Some(mo) => monitor = mo,
                            None => ok = false,
                        }
                    }
                }
                None => ok = false,
            }
        }
        let precision = match f.get("precision").map(|e| {
            self.v
                .word(e, "precision", &["auto", "bf16", "fp16", "f32"])
        }) {
            None => Some(Precision::Auto),
            Some(Some("bf16")) => Some(Precision::Bf16),
            Some(Some("fp16")) => Some(Precision::F16),
            Some(Some("f32")) => Some(Precision::F32),
            Some(Some(_)) => Some(Precision::Auto),
            Some(None) => None,
        };
        let pos = |v: &mut Values, e: &Expr, what: &str, hi: f64, hi_open: bool, help: &str| {
            v.ranged(e, what, 0.0, hi, true, hi_open, help)
        };
        let grad_clip = opt_some(f.get("grad_clip"), |e| {
            pos(
                &mut self.v,
                e,
                "grad_clip",
                f64::INFINITY,
                false,
                "a max gradient norm > 0",
            )
        });
        let ema = opt_some(f.get("ema"), |e| {
            pos(
                &mut self.v,
                e,
                "ema",
                1.0,
                true,
                "an EMA decay such as 0.999",
            )
        });
        let layer_decay = opt_some(f.get("layer_decay"), |e| {
            pos(
                &mut self.v,
                e,
                "layer_decay",
                1.0,
                false,
                "a per-layer lr factor such as 0.75",
            )
        });
        let metadata_hidden = opt(f.get("metadata_hidden"), |e| {
            self.v.int(e, "metadata_hidden", 1, 65536)
        })
        .map_or(64, |v| v as u32);
        let diverge_factor = match f.get("diverge_factor") {
            Some(e) => self.v.ranged(
                e,
                "diverge_factor",
                1.0,
                f64::INFINITY,
                true,
                false,
                "a factor > 1 over the first epoch's loss",
            ),
            None => Some(10.0),
        };
        let instability = self.instability(&f);
        let (
            Some(optimizer),
            Some(schedule),
            Some(warmup),
            Some(augment),
            Some(label_smoothing),
            Some(early_stop),
            Some(precision),
            Some(grad_clip),
            Some(ema),
            Some(layer_decay),
            Some(diverge_factor),
        ) = (
            optimizer,
            schedule,
            warmup,
            augment,
            label_smoothing,
            early_stop,
            precision,
            grad_clip,
            ema,
            layer_decay,
            diverge_factor,
        )
        else {
            return None;
        };
        let (val_loss_factor, on_unstable) = instability?;
        let cuda_graphs = match f
            .get("cuda_graphs")
            .map(|e| self.v.word(e, "cuda_graphs", &["auto", "off"]))
        {
            None | Some(Some("auto")) => CudaGraphs::Auto,
            Some(Some(_)) => CudaGraphs::Off,
            Some(None) => return None,
        };
        ok.then_some(RecipeSpec {
            name: m.name.name.clone(),
            optimizer,
            schedule,
            warmup,
            batch,
            accumulate,
            augment,
            dropout,
            label_smoothing,
            early_stop,
            monitor,
            select_split,
            precision,
            grad_clip,
            ema,
            layer_decay,
            metadata_hidden,
            diverge_factor,
            val_loss_factor,
            on_unstable,
            cuda_graphs,
        })
    }

    /// `val_loss_factor` (default 10) and `on_unstable` (default `continue`)
    /// of a recipe: the validation instability checks (`train::instability`).
    fn instability(&mut self, f: &Fields<'_>) -> Option<(f64, OnUnstable)> {
        let factor = match f.get("val_loss_factor") {
            Some(e) => self.v.ranged(
                e,
                "val_loss_factor",
                1.0,
                f64::INFINITY,
                true,
                false,
                "a factor > 1 over the best validation loss so far",
            ),
            None => Some(10.0),
        };
        let action = match f
            .get("on_unstable")
            .map(|e| self.v.word(e, "on_unstable", &["continue", "stop"]))
        {
            None | Some(Some("continue")) => Some(OnUnstable::Continue),
            Some(Some(_)) => Some(OnUnstable::Stop),
            Some(None) => None,
        };
        Some((factor?, action?))
    }

    fn lr(&mut self, e: &Expr, what: &str) -> Option<f64> {
        self.v.ranged(
            e,
            what,
            0.0,
            10.0,
            true,
            false,
            "a learning rate > 0, usually between 1e-5 and 1e-1",
        )
    }

    fn optimizer(&mut self, e: &Expr) -> Option<OptimizerSpec> {
        let (name, args) = self
            .v
            .call(e, "optimizer", &["adamw", "adam", "sgd", "rmsprop"])?;
        let params: &[&str] = match name {
            "adamw" | "adam" => &["lr", "finetune_lr", "weight_decay", "betas", "eps"],
            "sgd" => &["lr", "finetune_lr", "momentum", "nesterov", "weight_decay"],
            _ => &[
                "lr",
                "finetune_lr",
                "alpha",
                "eps",
                "momentum",
                "tf_style",
                "weight_decay",
            ],
        };
        let a = self.v.args(name, e.span, args, &[], params);
        let Some(lr_e) = a.get("lr") else {
            self.v.missing(
                e.span,
                "lr",
                &format!("`{name}(...)`"),
                &format!("give the learning rate: `{name}(lr = 1e-3)`"),
            );
            return None;
        };
        let lr = self.lr(lr_e, "lr");
        let finetune_lr = match a.get("finetune_lr") {
            Some(x) => self.lr(x, "finetune_lr"),
            None => lr,
        };
        let wd_default = if name == "adamw" { 0.01 } else { 0.0 };
        let weight_decay = match a.get("weight_decay") {
            Some(x) => self.v.ranged(
                x,
                "weight_decay",
                0.0,
                1.0,
                false,
                false,
                "a decoupled / L2 weight decay in [0, 1]",
            ),
            None => Some(wd_default),
        };
        let kind = match name {
            "adamw" | "adam" => {
                let (b1, b2) = match a.get("betas") {
                    Some(x) => {
                        let v = self.v.numbers(x, "betas", 2)?;
                        for b in &v {
                            if !(0.0..1.0).contains(b) {
                                self.v.err(
                                    x.span,
                                    CheckError::OutOfRange {
                                        what: "betas".into(),
                                        value: fmt_num(*b),
                                        range: "each must be in [0, 1)".into(),
                                        span: x.span.into(),
                                        help: "the usual values are [0.9, 0.999]".into(),
                                    },
                                );
                                return None;
                            }
                        }
                        (v[0], v[1])
                    }
                    None => (0.9, 0.999),
                };
                let eps = opt(a.get("eps"), |x| {
                    self.v
                        .ranged(x, "eps", 0.0, 1.0, true, false, "a small positive number")
                })
                .unwrap_or(1e-8);
                if name == "adamw" {
                    OptimizerKind::AdamW {
                        beta1: b1,
                        beta2: b2,
                        eps,
                    }
                } else {
                    OptimizerKind::Adam {
                        beta1: b1,
                        beta2: b2,
                        eps,
                    }
                }
            }
            "sgd" => {
                let momentum = opt(a.get("momentum"), |x| {
                    self.v
                        .ranged(x, "momentum", 0.0, 1.0, false, true, "in [0, 1)")
                })
                .unwrap_or(0.9);
                let nesterov =
                    opt(a.get("nesterov"), |x| self.v.boolean(x, "nesterov")).unwrap_or(false);
                OptimizerKind::Sgd { momentum, nesterov }
            }
            _ => {
                let alpha = opt(a.get("alpha"), |x| {
                    self.v
                        .ranged(x, "alpha", 0.0, 1.0, false, true, "in [0, 1)")
                })
                .unwrap_or(0.9);
                let eps = opt(a.get("eps"), |x| {
                    self.v
                        .ranged(x, "eps", 0.0, 1.0, true, false, "a small positive number")
                })
                .unwrap_or(1e-3);
                let momentum = opt(a.get("momentum"), |x| {
                    self.v
                        .ranged(x, "momentum", 0.0, 1.0, false, true, "in [0, 1)")
                })
                .unwrap_or(0.9);
                let tf_style =
                    opt(a.get("tf_style"), |x| self.v.boolean(x, "tf_style")).unwrap_or(true);
                OptimizerKind::RmsProp {
                    alpha,
                    eps,
                    momentum,
                    tf_style,
                }
            }
        };
        Some(OptimizerSpec {
            kind,
            lr: lr?,
            finetune_lr: finetune_lr?,
            weight_decay: weight_decay?,
        })
    }

    fn schedule(&mut self, e: &Expr) -> Option<Schedule> {
        let (name, args) = self
            .v
            .call(e, "schedule", &["constant", "cosine", "step"])?;
        match name {
            "constant" => {
                let _ = self.v.args(name, e.span, args, &[], &[]);
                Some(Schedule::Constant)
            }
            "cosine" => {
                let a = self.v.args(name, e.span, args, &[], &["min_lr_ratio"]);
                let min_lr_ratio = match a.get("min_lr_ratio") {
                    Some(x) => self.v.fraction(x, "min_lr_ratio", false)?,
                    None => 0.0,
                };
                Some(Schedule::Cosine { min_lr_ratio })
            }
            _ => {
                let a = self
                    .v
                    .args(name, e.span, args, &["every"], &["every", "gamma"]);
                let Some(every) = a.get("every") else {
                    self.v.missing(
                        e.span,
                        "every",
                        "`step(...)`",
                        "e.g. `step(every = 2 epochs, gamma = 0.1)`",
                    );
                    return None;
                };
                let every = self.v.count(every, "every", Dim::Epochs, 1, "2 epochs")?;
                let gamma = match a.get("gamma") {
                    Some(x) => self.v.ranged(
                        x,
                        "gamma",
                        0.0,
                        1.0,
                        true,
                        false,
                        "the factor applied every period, in (0, 1]",
                    )?,
                    None => 0.1,
                };
                Some(Schedule::Step {
                    every_epochs: every as u32,
                    gamma,
                })
            }
        }
    }

    fn monitor(&mut self, e: &Expr) -> Option<Monitor> {
        match self.v.word(e, "monitor", &["val_loss", "val_top1"])? {
            "val_top1" => Some(Monitor::ValTop1),
            _ => Some(Monitor::ValLoss),
        }
    }

    fn early_stop(&mut self, e: &Expr) -> Option<EarlyStop> {
        let r = self
            .v
            .record(e, "early_stop", &["patience", "monitor", "min_delta"])?;
        let Some(p) = r.get("patience") else {
            self.v.missing(
                e.span,
                "patience",
                "`early_stop`",
                "e.g. `early_stop = { patience = 2 epochs }`",
            );
            return None;
        };
        let patience = self.v.count(p, "patience", Dim::Epochs, 1, "2 epochs");
        let monitor = match r.get("monitor") {
            Some(x) => self.monitor(x),
            None => Some(Monitor::ValLoss),
        };
        let min_delta = match r.get("min_delta") {
            Some(x) => self.v.ranged(
                x,
                "min_delta",
                0.0,
                f64::INFINITY,
                false,
                false,
                "an improvement ≥ 0",
            ),
            None => Some(0.0),
        };
        Some(EarlyStop {
            patience: patience? as u32,
            monitor: monitor?,
            min_delta: min_delta?,
        })
    }

    fn augments(&mut self, e: &Expr) -> Option<Vec<Augment>> {
        let items = self.v.list(e, "augment")?;
        let mut out = Vec::new();
        let mut ok = true;
        for i in items {
            match self.augment(i) {
                Some(a) => out.push(a),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn augment(&mut self, e: &Expr) -> Option<Augment> {
        const NAMES: &[&str] = &[
            "random_resized_crop",
            "hflip",
            "vflip",
            "rotate",
            "color_jitter",
            "rand_augment",
            "random_erasing",
            "mixup",
            "cutmix",
        ];
        let (name, args) = self.v.call(e, "augmentation", NAMES)?;
        let sp = e.span;
        let prob = |v: &mut Values, a: &super::values::ArgMap, k: &str, d: f64| match a.get(k) {
            Some(x) => v.fraction(x, k, true),
            None => Some(d),
        };
        Some(match name {
            "random_resized_crop" => {
                let a = self.v.args(name, sp, args, &[], &["scale", "ratio"]);
                let scale = match a.get("scale") {
                    Some(x) => self.pair(x, "scale", 0.0, 1.0)?,
                    None => (0.08, 1.0),
                };
                let ratio = match a.get("ratio") {
                    Some(x) => self.pair(x, "ratio", 0.0, 100.0)?,
                    None => (0.75, 4.0 / 3.0),
                };
                Augment::RandomResizedCrop { scale, ratio }
            }
            "hflip" | "vflip" => {
                let a = self.v.args(name, sp, args, &["p"], &["p"]);
                let p = prob(&mut self.v, &a, "p", 0.5)?;
                if name == "hflip" {
                    Augment::HFlip { p }
                } else {
                    Augment::VFlip { p }
                }
            }
            "rotate" => {
                let a = self.v.args(name, sp, args, &["degrees"], &["degrees"]);
                let Some(x) = a.get("degrees") else {
                    self.v
                        .missing(sp, "degrees", "`rotate(...)`", "e.g. `rotate(30 deg)`");
                    return None;
                };
                let (d, _) = self.v.quantity(x, "degrees", &[Dim::Degrees], "30 deg")?;
                if !(0.0..=180.0).contains(&d) {
                    self.v.err(
                        x.span,
                        CheckError::OutOfRange {
                            what: "degrees".into(),
                            value: fmt_num(d),
                            range: "must be in [0, 180]".into(),
                            span: x.span.into(),
                            help: "the rotation is uniform in [-degrees, degrees]".into(),
                        },
                    );
                    return None;
                }
                Augment::Rotate { degrees: d }
            }
            "color_jitter" => {
                let a = self.v.args(
                    name,
                    sp,
                    args,
                    &["strength"],
                    &["strength", "brightness", "contrast", "saturation", "hue"],
                );
                let s = match a.get("strength") {
                    Some(x) => self
                        .v
                        .ranged(x, "strength", 0.0, 1.0, false, false, "in [0, 1]")?,
                    None => 0.0,
                };
                let mut g = |k: &str, d: f64, hi: f64| match a.get(k) {
                    Some(x) => self
                        .v
                        .ranged(x, k, 0.0, hi, false, false, "a jitter strength"),
                    None => Some(d),
                };
                let brightness = g("brightness", s, 1.0)?;
                let contrast = g("contrast", s, 1.0)?;
                let saturation = g("saturation", s, 1.0)?;
                let hue = g("hue", 0.0, 0.5)?;
                Augment::ColorJitter {
                    brightness,
                    contrast,
                    saturation,
                    hue,
                }
            }
            "rand_augment" => {
                let a = self.v.args(name, sp, args, &["n", "m"], &["n", "m"]);
                let n = opt(a.get("n"), |x| self.v.int(x, "n", 1, 16)).unwrap_or(2) as u32;
                let m = opt(a.get("m"), |x| self.v.int(x, "m", 0, 30)).unwrap_or(9) as u32;
                Augment::RandAugment { n, m }
            }
            "random_erasing" => {
                let a = self.v.args(name, sp, args, &["p"], &["p"]);
                Augment::RandomErasing {
                    p: prob(&mut self.v, &a, "p", 0.25)?,
                }
            }
            _ => {
                let a = self.v.args(name, sp, args, &["alpha"], &["alpha"]);
                let d = if name == "mixup" { 0.2 } else { 1.0 };
                let alpha = match a.get("alpha") {
                    Some(x) => self.v.ranged(
                        x,
                        "alpha",
                        0.0,
                        100.0,
                        true,
                        false,
                        "a Beta(α, α) parameter > 0",
                    )?,
                    None => d,
                };
                if name == "mixup" {
                    Augment::Mixup { alpha }
                } else {
                    Augment::Cutmix { alpha }
                }
            }
        })
    }

    fn pair(&mut self, e: &Expr, what: &str, lo: f64, hi: f64) -> Option<(f64, f64)> {
        let v = self.v.numbers(e, what, 2)?;
        if !(v[0] > lo && v[0] <= v[1] && v[1] <= hi) {
            self.v.err(
                e.span,
                CheckError::OutOfRange {
                    what: what.into(),
                    value: format!("[{}, {}]", fmt_num(v[0]), fmt_num(v[1])),
                    range: format!("needs {} < low ≤ high ≤ {}", fmt_num(lo), fmt_num(hi)),
                    span: e.span.into(),
                    help: "give two numbers `[low, high]` in that range, e.g. `[0.08, 1.0]`".into(),
                },
            );
            return None;
        }
        Some((v[0], v[1]))
    }

    // ------------------------------------------------------------ budget

    fn budget(&mut self, m: &Merged) -> Option<BudgetSpec> {
        let f = self.fields(m);
        let mut ok = true;
        let samples = |v: &mut Values, k: &str| -> Option<Option<u64>> {
            match f.get(k) {
                Some(e) => v.count(e, k, Dim::Samples, 1, "24_000 samples").map(Some),
                None => Some(None),
            }
        };
        let train_samples = samples(&mut self.v, "train");
        let val_samples = samples(&mut self.v, "val");
        let max_samples = samples(&mut self.v, "max_samples");
        let frozen = match f.get("frozen") {
            Some(e) => self.v.count(e, "frozen", Dim::Epochs, 0, "1 epoch"),
            None => Some(0),
        };
        let finetune = match f.get("finetune") {
            Some(e) => self.v.count(e, "finetune", Dim::Epochs, 0, "4 epochs"),
            None => {
                self.v.missing(
                    m.name.span,
                    "finetune",
                    &context(m),
                    "how many epochs to train the whole network, e.g. `finetune = 4 epochs`",
                );
                None
            }
        };
        if let (Some(0), Some(0), Some(e)) = (frozen, finetune, f.get("finetune")) {
            self.v.err(
                e.span,
                CheckError::OutOfRange {
                    what: "frozen + finetune".into(),
                    value: "0".into(),
                    range: "must be ≥ 1 epoch in all".into(),
                    span: e.span.into(),
                    help: "a budget has to train for at least one epoch".into(),
                },
            );
            ok = false;
        }
        let time_limit_s = match f.get("time") {
            Some(e) => {
                match self.v.quantity(e, "time", &[Dim::Seconds], "2 h") {
                    Some((v, _)) if v >= 1.0 => Some(Some(v.round() as u64)),
                    Some((v, _)) => {
                        self.v.err(
                        e.span,
                        CheckError::OutOfRange {
                            what: "time".into(),
                            value: format!("{} s", fmt_num(v)),
                            range: "must be ≥ 1 s".into(),
                            span: e.span.into(),
                            help: "give a time limit of at least one second, e.g. `90 min` or `2 h`".into(),
                        },
                    );
                        None
                    }
                    None => None,
                }
            }
            None => Some(None),
        };
        let checkpoint = match f.get("checkpoint_every") {
            Some(e) => self
                .v
                .count(e, "checkpoint_every", Dim::Steps, 1, "500 steps")
                .map(Some),
            None => Some(None),
        };
        let budget = BudgetSpec {
            name: m.name.name.clone(),
            train_samples: train_samples?,
            val_samples: val_samples?,
            frozen_epochs: frozen? as u32,
            finetune_epochs: finetune? as u32,
            time_limit_s: time_limit_s?,
            max_samples: max_samples?,
            checkpoint_every_steps: checkpoint?,
        };
        ok.then_some(budget)
    }

    // ------------------------------------------------------------ score

    fn score(&mut self, m: &Merged) -> Option<ScoreSpec> {
        let f = self.fields(m);
        let split = match f.get("split") {
            Some(e) => self.v.string(e, "split"),
            None => Some("test".into()),
        };
        let metrics = match f.get("metrics") {
            Some(e) => self.metrics(e),
            None => Some(vec![Metric::Top1]),
        };
        let confidence = match f.get("confidence") {
            Some(e) => self.v.ranged_fraction(e, "confidence"),
            None => Some(0.95),
        };
        let bootstrap = match f.get("bootstrap") {
            Some(e) => self.v.int(e, "bootstrap", 0, 1_000_000).map(|v| v as u32),
            None => Some(crate::spec::DEFAULT_RESAMPLES),
        };
        Some(ScoreSpec {
            name: m.name.name.clone(),
            split: split?,
            metrics: metrics?,
            confidence: confidence?,
            bootstrap: bootstrap?,
        })
    }

    fn metrics(&mut self, e: &Expr) -> Option<Vec<Metric>> {
        let items = self.v.list(e, "metrics")?;
        let mut out = Vec::new();
        let mut ok = true;
        for i in items {
            let m = match &i.kind {
                ExprKind::Ref(id) => match id.name.as_str() {
                    "top1" => Some(Metric::Top1),
                    "auc" => Some(Metric::Auc),
                    "per_class" => Some(Metric::PerClass),
                    "confusion" => Some(Metric::Confusion),
                    n if n.starts_with("top")
                        && n[3..].parse::<u32>().is_ok_and(|k| (2..=1000).contains(&k)) =>
                    {
                        n[3..].parse::<u32>().ok().map(Metric::TopK)
                    }
                    _ => {
                        let _ = self.v.word(
                            i,
                            "metric",
                            &["top1", "top3", "top5", "auc", "per_class", "confusion"],
                        );
                        None
                    }
                },
                ExprKind::Call { .. } => {
                    let (name, args) = self.v.call(i, "metric", &["topk"])?;
                    let a = self.v.args(name, i.span, args, &["k"], &["k"]);
                    match a.get("k") {
                        Some(x) => self.v.int(x, "k", 1, 1000).map(|k| {
                            if k == 1 {
                                Metric::Top1
                            } else {
                                Metric::TopK(k as u32)
                            }
                        }),
                        None => {
                            self.v.missing(i.span, "k", "`topk(...)`", "e.g. `topk(5)`");
                            None
                        }
                    }
                }
                _ => {
                    let _ = self.v.word(
                        i,
                        "metric",
                        &["top1", "top3", "top5", "auc", "per_class", "confusion"],
                    );
                    None
                }
            };
            match m {
                Some(m) if !out.contains(&m) => out.push(m),
                Some(_) => {}
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    // ------------------------------------------------------------ sweep

    /// Resolve a reference to a declaration of `kind`.
    fn reference(&mut self, e: &Expr, kind: DeclKind, what: &str) -> Option<Ident> {
        let ExprKind::Ref(id) = &e.kind else {
            self.v.err(
                e.span,
                CheckError::TypeMismatch {
                    what: what.into(),
                    expected: format!("the name of a {} (or a list of names)", kind.keyword()),
                    found: e.kind.describe().into(),
                    span: e.span.into(),
                    help: format!(
                        "declare the {} with `{} name {{ ... }}` and write its name here",
                        kind.keyword(),
                        kind.keyword()
                    ),
                },
            );
            return None;
        };
        match self.env.merged.get(&id.name) {
            None => {
                let help = resolve::name_help(self.env, &id.name, Some(kind));
                self.v.diags.push(Diag::new(
                    id.span.file,
                    ResolveError::UnknownName {
                        name: id.name.clone(),
                        expected: kind.keyword().into(),
                        span: id.span.into(),
                        help,
                    },
                ));
                None
            }
            Some(m) if m.kind != kind => {
                let decl = (m.name.span.file == id.span.file).then_some(m.name.span.into());
                self.v.diags.push(Diag::new(
                    id.span.file,
                    ResolveError::WrongKind {
                        name: id.name.clone(),
                        expected: kind.keyword().into(),
                        found: m.kind.keyword().into(),
                        span: id.span.into(),
                        decl,
                        help: format!("`{what}` takes {} names", kind.keyword()),
                    },
                ));
                None
            }
            Some(_) => Some(id.clone()),
        }
    }

    /// The values of one sweep axis, each checked by `value_of`; reports an
    /// empty list (`None`) and repeated values. The flag is false when any
    /// value was wrong; the values that were right are still returned.
    fn axis_values(
        &mut self,
        e: &Expr,
        items: &[&Expr],
        is_list: bool,
        field: &str,
        mut value_of: impl FnMut(&mut Self, &Expr) -> Option<(String, Span)>,
    ) -> Option<(Vec<(String, Span)>, bool)> {
        if is_list && items.is_empty() {
            self.v.err(
                e.span,
                CheckError::EmptyAxis {
                    field: field.into(),
                    span: e.span.into(),
                },
            );
            return None;
        }
        let mut ok = true;
        let mut vals: Vec<(String, Span)> = Vec::new();
        for i in items {
            let Some((value, span)) = value_of(self, i) else {
                ok = false;
                continue;
            };
            if let Some((_, first)) = vals.iter().find(|(n, _)| *n == value) {
                self.v.err(
                    span,
                    CheckError::DuplicateAxisValue {
                        value,
                        field: field.into(),
                        span: span.into(),
                        first: (*first).into(),
                    },
                );
                ok = false;
            } else {
                vals.push((value, span));
            }
        }
        Some((vals, ok))
    }

    /// The cell of another sweep a `{ sweep = other, ... }` baseline names:
    /// it must exist and share the sweep's data and test split (so the test
    /// images are the same).
    fn cross_sweep_baseline(&mut self, p: CrossBaseline) {
        let bad = |reason: String, help: String| CheckError::BaselineNotACell {
            sweep: p.sweep.clone(),
            span: p.span.into(),
            reason,
            help,
        };
        let Some(other) = self.out.pipeline.sweeps.get(&p.other) else {
            let declared = self
                .env
                .merged
                .values()
                .any(|m| m.kind == DeclKind::Sweep && m.name.name == p.other);
            if !declared {
                let names: Vec<&str> = self
                    .out
                    .pipeline
                    .sweeps
                    .keys()
                    .map(String::as_str)
                    .collect();
                let help = suggest::help(&p.other, names.iter().copied(), "sweeps of this file");
                self.v.err(
                    p.span,
                    bad(format!("there is no sweep `{}`", p.other), help),
                );
            }
            return;
        };
        let found = other.cells.iter().find(|c| {
            p.rule
                .iter()
                .all(|(k, v, _)| c.axis_values.get(k) == Some(v))
        });
        let Some(cell) = found else {
            let (k, v, span) = p.rule.first().cloned().unwrap_or_default();
            let reason = if k.is_empty() {
                "name the cell's axis values beside `sweep`".to_string()
            } else {
                format!(
                    "no cell of sweep `{}` has `{k} = {v}` with these values",
                    p.other
                )
            };
            self.v.err(
                span,
                CheckError::BaselineNotACell {
                    sweep: p.sweep.clone(),
                    span: (if k.is_empty() { p.span } else { span }).into(),
                    reason,
                    help: format!("pick axis values of a cell of sweep `{}`", p.other),
                },
            );
            return;
        };
        let (cell_id, data, split) = (cell.id.clone(), cell.data.clone(), cell.score.split.clone());
        let Some(this) = self.out.pipeline.sweeps.get_mut(&p.sweep) else {
            return;
        };
        let mismatch = this.cells.iter().find_map(|c| {
            if c.data != data {
                Some(format!(
                    "its data `{}` differs from `{}`",
                    data.name, c.data.name
                ))
            } else if c.score.split != split {
                Some(format!(
                    "its test split `{split}` differs from `{}`",
                    c.score.split
                ))
            } else {
                None
            }
        });
        match mismatch {
            Some(reason) => self.v.err(
                p.span,
                bad(
                    reason,
                    "a baseline from another sweep must be scored on the same images: same data and split".into(),
                ),
            ),
            None => this.baseline = Some(cell_id),
        }
    }

    fn sweep(&mut self, m: &Merged) -> Option<(SweepSpec, Option<CrossBaseline>)> {
        let f = self.fields(m);
        let ctx = context(m);
        let sweep = m.name.name.clone();
        let mut ok = true;
        // Axis field name → values (name, span); order = field order.
        let mut axes: Vec<Axis> = Vec::new();
        for field in &m.fields {
            let name = field.name.name.as_str();
            if let Some((_, kind)) = SWEEP_REFS.iter().find(|(n, _)| *n == name) {
                let e = &field.value;
                let (items, is_list): (Vec<&Expr>, bool) = match &e.kind {
                    ExprKind::List(items) => (items.iter().collect(), true),
                    _ => (vec![e], false),
                };
                let Some((vals, all_ok)) = self.axis_values(e, &items, is_list, name, |c, i| {
                    c.reference(i, *kind, name).map(|id| (id.name, id.span))
                }) else {
                    ok = false;
                    continue;
                };
                ok &= all_ok;
                axes.push((name.to_string(), vals, is_list));
            } else if name == "seed" || name == "seeds" {
                if let (Some(a), Some(b)) = (m.field("seed"), m.field("seeds")) {
                    if name == "seeds" {
                        self.conflict(
                            b.name.span,
                            a.name.span,
                            "`seed` and `seeds` cannot both be set",
                            "use `seeds = [...]` for several seeds, `seed = N` for one",
                        );
                        ok = false;
                        continue;
                    }
                }
                let e = &field.value;
                let (items, is_list): (Vec<&Expr>, bool) = match (&e.kind, name) {
                    (ExprKind::List(items), "seeds") => (items.iter().collect(), true),
                    (_, "seeds") => {
                        let _ = self.v.list(e, "seeds");
                        ok = false;
                        continue;
                    }
                    _ => (vec![e], false),
                };
                let Some((vals, all_ok)) = self.axis_values(e, &items, is_list, name, |c, i| {
                    c.v.int(i, "seed", 0, i64::MAX)
                        .map(|s| (s.to_string(), i.span))
                }) else {
                    ok = false;
                    continue;
                };
                ok &= all_ok;
                axes.push(("seed".into(), vals, is_list));
            }
        }
        for (field, _) in SWEEP_REFS {
            if m.field(field).is_none() {
                let help = format!("add `{field} = name` (or a list of names to sweep over)");
                self.v.missing(m.name.span, field, &ctx, &help);
                ok = false;
            }
        }
        if !axes.iter().any(|(n, _, _)| n == "seed") {
            axes.push((
                "seed".into(),
                vec![(self.out.pipeline.seed.to_string(), m.name.span)],
                false,
            ));
        }
        // Expand the product, first axis slowest.
        let mut combos: Vec<Vec<usize>> = vec![Vec::new()];
        for (_, vals, _) in &axes {
            let mut next = Vec::new();
            for c in &combos {
                for i in 0..vals.len() {
                    let mut c2 = c.clone();
                    c2.push(i);
                    next.push(c2);
                }
            }
            combos = next;
        }
        let axis_names: Vec<String> = axes.iter().filter(|a| a.2).map(|a| a.0.clone()).collect();
        let value_of = |combo: &[usize], axis: &str| -> Option<String> {
            axes.iter()
                .position(|a| a.0 == axis)
                .map(|i| axes[i].1[combo[i]].0.clone())
        };
        // Exclusions.
        let mut rules: Vec<(Vec<(String, String)>, Span)> = Vec::new();
        if let Some(e) = f.get("exclude") {
            if let Some(items) = self.v.list(e, "exclude") {
                for it in items {
                    match self.combo_rule(m, it, &axes, Rule::Exclude) {
                        Some(r) => rules.push((r, it.span)),
                        None => ok = false,
                    }
                }
            } else {
                ok = false;
            }
        }
        let matches = |combo: &[usize], rule: &[(String, String)]| {
            rule.iter()
                .all(|(k, v)| value_of(combo, k).as_deref() == Some(v.as_str()))
        };
        let before = combos.len();
        combos.retain(|c| !rules.iter().any(|(r, _)| matches(c, r)));
        if ok && before > 0 && combos.is_empty() {
            let span = f.get("exclude").map_or(m.name.span, |e| e.span);
            self.v.err(
                span,
                CheckError::NoCells {
                    sweep: sweep.clone(),
                    span: span.into(),
                },
            );
            ok = false;
        }
        let cell_id = |combo: &[usize]| -> String {
            let mut parts: Vec<String> = Vec::new();
            for (i, (name, vals, is_list)) in axes.iter().enumerate() {
                if *is_list && name != "seed" {
                    parts.push(vals[combo[i]].0.clone());
                }
            }
            let seed = value_of(combo, "seed").unwrap_or_default();
            parts.push(format!("s{seed}"));
            format!("{sweep}/{}", parts.join("-"))
        };
        // Baseline.
        let mut baseline = None;
        let mut cross = None;
        if let Some((other, rule)) = f.get("baseline").and_then(cross_rule) {
            cross = Some(CrossBaseline {
                sweep: sweep.clone(),
                other,
                rule,
                span: f.get("baseline").map_or(m.name.span, |e| e.span),
            });
        } else if let Some(e) = f.get("baseline") {
            match self.combo_rule(m, e, &axes, Rule::Baseline) {
                Some(rule) => {
                    let missing: Vec<&String> = axes
                        .iter()
                        .filter(|a| a.2 && a.0 != "seed" && !rule.iter().any(|(k, _)| *k == a.0))
                        .map(|a| &a.0)
                        .collect();
                    if let Some(first) = missing.first() {
                        self.v.err(
                            e.span,
                            CheckError::BaselineNotACell {
                                sweep: sweep.clone(),
                                span: e.span.into(),
                                reason: format!("does not say which `{first}`"),
                                help: format!("`{first}` is an axis of the sweep, so the baseline must name one of its values"),
                            },
                        );
                        ok = false;
                    } else if let Some(c) = combos.iter().find(|c| matches(c, &rule)) {
                        baseline = Some(cell_id(c));
                    } else if ok {
                        self.v.err(
                            e.span,
                            CheckError::BaselineNotACell {
                                sweep: sweep.clone(),
                                span: e.span.into(),
                                reason: "this combination is excluded".into(),
                                help: "remove the `exclude` rule that drops it, or pick another baseline".into(),
                            },
                        );
                        ok = false;
                    }
                }
                None => ok = false,
            }
        }
        // Pairs to compare: each side a configuration (every listed axis
        // but the seed named), as its axis values without the seed.
        let mut compare = Vec::new();
        if let Some(e) = f.get("compare") {
            let pairs = self.v.list(e, "compare");
            ok &= pairs.is_some();
            for pair in pairs.unwrap_or_default() {
                let sides = match &pair.kind {
                    ExprKind::List(items) if items.len() == 2 => items,
                    _ => {
                        self.v.err(
                            pair.span,
                            CheckError::TypeMismatch {
                                what: "compare".into(),
                                expected: "a pair `[{ ... }, { ... }]` of configurations".into(),
                                found: pair.kind.describe().into(),
                                span: pair.span.into(),
                                help: "e.g. `compare = [[{ backbone = convnextv2_base }, { backbone = convnextv2_tiny }]]`".into(),
                            },
                        );
                        ok = false;
                        continue;
                    }
                };
                let mut keys = Vec::new();
                for side in sides {
                    let Some(rule) = self.combo_rule(m, side, &axes, Rule::Compare) else {
                        ok = false;
                        continue;
                    };
                    let missing = axes
                        .iter()
                        .find(|a| a.2 && a.0 != "seed" && !rule.iter().any(|(k, _)| *k == a.0));
                    let combo = combos.iter().find(|c| matches(c, &rule));
                    match (missing, combo) {
                        (None, Some(c)) => {
                            let mut k: BTreeMap<String, String> = axes
                                .iter()
                                .filter_map(|a| Some((a.0.clone(), value_of(c, &a.0)?)))
                                .collect();
                            k.remove("seed");
                            keys.push(k);
                        }
                        (missing, _) => {
                            let (reason, help) = match missing {
                                Some(a) => (
                                    format!("does not say which `{}`", a.0),
                                    format!("`{}` is an axis of the sweep, so each side of a pair must name one of its values", a.0),
                                ),
                                None => (
                                    "this combination is excluded".into(),
                                    "remove the `exclude` rule that drops it, or pick another pair".into(),
                                ),
                            };
                            self.v.err(
                                side.span,
                                CheckError::BadCompare {
                                    sweep: sweep.clone(),
                                    span: side.span.into(),
                                    reason,
                                    help,
                                },
                            );
                            ok = false;
                        }
                    }
                }
                if let [a, b] = keys.as_slice() {
                    compare.push((a.clone(), b.clone()));
                }
            }
        }
        // Replicates: the baseline configuration trained again with other seeds.
        let replicates = match f.get("replicates") {
            Some(e) => match self.v.int(e, "replicates", 0, 100) {
                Some(n) => n as u64,
                None => {
                    ok = false;
                    0
                }
            },
            None => 0,
        };
        if replicates > 0 && baseline.is_none() && ok {
            let span = f.get("replicates").map_or(m.name.span, |e| e.span);
            self.v.missing(
                span,
                "baseline",
                &ctx,
                "`replicates` trains the baseline configuration again: declare `baseline = { ... }` (a cell of this sweep)",
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        let p = &self.out.pipeline;
        let mut cells = Vec::new();
        for c in &combos {
            let get = |axis: &str| value_of(c, axis).unwrap_or_default();
            let (Some(data), Some(backbone), Some(recipe), Some(budget), Some(score)) = (
                p.data.get(&get("data")),
                p.backbones.get(&get("backbone")),
                p.recipes.get(&get("recipe")),
                p.budgets.get(&get("budget")),
                p.scores.get(&get("score")),
            ) else {
                // A referenced declaration has errors (already reported).
                return None;
            };
            let seed: u64 = get("seed").parse().unwrap_or(0);
            let axis_values: BTreeMap<String, String> =
                axes.iter().map(|a| (a.0.clone(), get(&a.0))).collect();
            cells.push(Cell {
                id: cell_id(c),
                sweep: sweep.clone(),
                seed,
                data: data.clone(),
                backbone: backbone.clone(),
                recipe: recipe.clone(),
                budget: budget.clone(),
                score: score.clone(),
                axis_values,
            });
        }
        // Why after the largest seed: replicate ids never collide with a
        // declared seed, and adding one more replicate keeps the others.
        let top = cells.iter().map(|c| c.seed).max().unwrap_or(0);
        if let Some(base) = baseline
            .as_ref()
            .and_then(|b| cells.iter().find(|c| &c.id == b))
            .cloned()
        {
            let stem = base
                .id
                .strip_suffix(&format!("s{}", base.seed))
                .unwrap_or(&base.id)
                .to_string();
            for r in 1..=replicates {
                let seed = top + r;
                let mut c = base.clone();
                c.id = format!("{stem}s{seed}");
                c.seed = seed;
                c.axis_values.insert("seed".into(), seed.to_string());
                cells.push(c);
            }
        }
        Some((
            SweepSpec {
                name: sweep,
                axes: axis_names,
                cells,
                baseline,
                compare,
            },
            cross,
        ))
    }

    /// `{ backbone = resnet50, recipe = x }` as (axis, value) pairs, checked
    /// against the sweep's axes.
    fn combo_rule(
        &mut self,
        m: &Merged,
        e: &Expr,
        axes: &[Axis],
        rule: Rule,
    ) -> Option<Vec<(String, String)>> {
        let sweep = m.name.name.clone();
        let what = match rule {
            Rule::Baseline => "baseline",
            Rule::Exclude => "exclude",
            Rule::Compare => "compare",
        };
        let keys: Vec<&str> = axes.iter().map(|a| a.0.as_str()).collect();
        let ExprKind::Record(fields) = &e.kind else {
            self.v.err(
                e.span,
                CheckError::TypeMismatch {
                    what: what.into(),
                    expected: "a record `{ backbone = ..., recipe = ... }`".into(),
                    found: e.kind.describe().into(),
                    span: e.span.into(),
                    help: "name the axis values of one cell".into(),
                },
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for fld in fields {
            let key = fld.path_string();
            let Some(axis) = axes.iter().find(|a| a.0 == key) else {
                let help = suggest::help(&key, keys.iter().copied(), "axes of this sweep");
                let reason = format!("`{key}` is not a field of the sweep");
                self.bad_combo(rule, &sweep, fld.path_span(), reason, help);
                ok = false;
                continue;
            };
            let value = match &fld.value.kind {
                ExprKind::Ref(id) => id.name.clone(),
                ExprKind::Number(n) if n.int.is_some() => n.int.unwrap_or_default().to_string(),
                _ => {
                    let reason = format!("`{key}` must be one of its values");
                    self.bad_combo(
                        rule,
                        &sweep,
                        fld.value.span,
                        reason,
                        "write a name from the sweep's list".into(),
                    );
                    ok = false;
                    continue;
                }
            };
            if !axis.1.iter().any(|(v, _)| *v == value) {
                let help = suggest::help(
                    &value,
                    axis.1.iter().map(|(v, _)| v.as_str()),
                    &format!("values of `{key}` in this sweep"),
                );
                let reason = format!("`{value}` is not a value of `{key}` in this sweep");
                self.bad_combo(rule, &sweep, fld.value.span, reason, help);
                ok = false;
                continue;
            }
            out.push((key, value));
        }
        ok.then_some(out)
    }

    fn bad_combo(&mut self, rule: Rule, sweep: &str, span: Span, reason: String, help: String) {
        let e = match rule {
            Rule::Baseline => CheckError::BaselineNotACell {
                sweep: sweep.into(),
                span: span.into(),
                reason,
                help,
            },
            Rule::Exclude => CheckError::BadExclude {
                sweep: sweep.into(),
                reason,
                span: span.into(),
                help,
            },
            Rule::Compare => CheckError::BadCompare {
                sweep: sweep.into(),
                reason,
                span: span.into(),
                help,
            },
        };
        self.v.err(span, e);
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

/// `{ sweep = other, axis = value, ... }`: the other sweep's name and the
/// rest of the record as (axis, value, span); None without a `sweep` key.
type CrossRule = (String, Vec<(String, String, Span)>);

fn cross_rule(e: &Expr) -> Option<CrossRule> {
    let ExprKind::Record(fields) = &e.kind else {
        return None;
    };
    let mut other = None;
    let mut rule = Vec::new();
    for f in fields {
        let value = match &f.value.kind {
            ExprKind::Ref(id) => id.name.clone(),
            ExprKind::Number(n) if n.int.is_some() => n.int.unwrap_or_default().to_string(),
            _ => String::new(),
        };
        if f.path_string() == "sweep" {
            other = Some(value);
        } else {
            rule.push((f.path_string(), value, f.value.span));
        }
    }
    other.map(|o| (o, rule))
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
    crate::models::ARCHS.iter().map(|a| a.0).collect()
}

/// timm's normalisation for an architecture.
pub fn default_norm(arch: &str) -> ([f64; 3], [f64; 3]) {
    if arch.starts_with("tf_efficientnetv2") {
        ([0.5; 3], [0.5; 3])
    } else {
        ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    }
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

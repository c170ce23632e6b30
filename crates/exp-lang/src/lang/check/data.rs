//! `data` declarations: a manifest or generated source, splits, metadata columns.

use super::*;

impl Checker<'_, '_> {
    pub(super) fn data(&mut self, m: &Merged) -> Option<DataSpec> {
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
}

//! `backbone` declarations: architecture, pretrained weights, normalisation.

use super::*;

impl Checker<'_, '_> {
    pub(super) fn backbone(&mut self, m: &Merged) -> Option<BackboneSpec> {
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
        let Some(&(_, family, _, input)) = crate::catalog::ARCHS.iter().find(|a| a.0 == arch)
        else {
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
}

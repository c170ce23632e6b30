//! Diagnostics: each open document checked by the `exp check` engine, and
//! re-checked when a file it `use`s changes.

use super::protocol::*;
use crate::editor::cst;
use crate::editor::text::{path_to_uri, uri_to_path, LineIndex};
use crate::lang::resolve::canonical_path;
use lsp_server::Notification;
use lsp_types::notification::{Notification as _, PublishDiagnostics};
use lsp_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString,
    PublishDiagnosticsParams, Range, Uri,
};
use std::path::{Path, PathBuf};

/// The file a diagnostic from another file came from.
#[derive(Clone, Copy)]
pub(super) struct UseTarget<'a> {
    pub(super) name: &'a str,
    pub(super) path: Option<&'a Path>,
    pub(super) is_std: bool,
}

impl Server {
    /// Diagnostics for `uri` (when open) and for every open document whose
    /// last check read it through `use`, so a fix in one file clears the
    /// errors it caused in the others.
    pub(super) fn recheck(&mut self, uri: &Uri) -> Vec<Notification> {
        let changed = uri_to_path(uri).map(|p| canonical_path(&p));
        let mut uris: Vec<Uri> = Vec::new();
        if self.docs.contains_key(uri.as_str()) {
            uris.push(uri.clone());
        }
        let mut dependents: Vec<Uri> = self
            .docs
            .values()
            .filter(|(u, d)| u != uri && changed.as_ref().is_some_and(|c| d.deps.contains(c)))
            .map(|(u, _)| u.clone())
            .collect();
        dependents.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        uris.extend(dependents);
        uris.iter().map(|u| self.publish(u)).collect()
    }

    /// Check one open document, remember what it depends on, and build its
    /// `publishDiagnostics`.
    pub(super) fn publish(&mut self, uri: &Uri) -> Notification {
        let mut out = Vec::new();
        let mut version = None;
        if let Some(doc) = self.doc(uri) {
            version = Some(doc.version);
            let (diags, deps) = self.check(uri, doc);
            out = diags;
            if let Some((_, doc)) = self.docs.get_mut(uri.as_str()) {
                doc.deps = deps;
            }
        }
        Notification::new(
            PublishDiagnostics::METHOD.into(),
            PublishDiagnosticsParams {
                uri: uri.clone(),
                diagnostics: out,
                version,
            },
        )
    }

    /// `exp check` on the document's current text, with the other open
    /// documents in place of their files; also the files it read.
    pub(super) fn check(&self, uri: &Uri, doc: &Document) -> (Vec<Diagnostic>, Vec<PathBuf>) {
        let path = uri_to_path(uri).unwrap_or_else(|| PathBuf::from("untitled.exp"));
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let name = path.display().to_string();
        let overlay = self.overlay();
        // Why: a bug in the checker must cost one file's diagnostics, not the session.
        let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::driver::check_text_with(
                &name,
                &doc.text,
                &dir,
                crate::driver::CheckOptions::default(),
                &overlay,
            )
        }));
        let Ok(outcome) = checked else {
            eprintln!("exp lsp: the checker failed on {name}; no diagnostics for this version");
            return (Vec::new(), Vec::new());
        };
        let deps: Vec<PathBuf> = outcome
            .sources
            .files
            .iter()
            .skip(1)
            .filter(|f| !f.is_std)
            .filter_map(|f| f.path.as_deref().map(canonical_path))
            .collect();
        let mut out = Vec::new();
        for d in &outcome.diagnostics {
            let Some(src) = outcome.sources.get(d.file) else {
                continue;
            };
            let here = src.path.as_deref() == Some(path.as_path()) && !src.is_std;
            let severity = match d.severity() {
                miette::Severity::Error => DiagnosticSeverity::ERROR,
                miette::Severity::Warning => DiagnosticSeverity::WARNING,
                miette::Severity::Advice => DiagnosticSeverity::HINT,
            };
            let mut span = d
                .primary()
                .map_or(0..0, |l| l.offset()..l.offset() + l.len());
            // Why: some spans end after the blanks that follow a token.
            if let Some(t) = doc.text.get(span.clone()).filter(|_| here) {
                span.end = span.start + t.trim_end().len();
            }
            let mut message = d.message();
            if let Some(h) = d.help().filter(|h| !h.trim().is_empty()) {
                message.push_str("\nhelp: ");
                message.push_str(&h);
            }
            // Why: a diagnostic shown on a `use` line has no quick fix there.
            let data = (!here).then(|| serde_json::json!({ "elsewhere": src.name }));
            let range = if here {
                doc.index.range(&doc.text, span)
            } else {
                // A problem in a used file: shown on the `use` line that leads there.
                message = format!("in {}: {message}", src.name);
                let target = UseTarget {
                    name: &src.name,
                    path: src.path.as_deref(),
                    is_std: src.is_std,
                };
                self.use_range_for(doc, target).unwrap_or_default()
            };
            // Secondary labels ("first declared here") as related information.
            let related: Vec<DiagnosticRelatedInformation> = d
                .labels()
                .into_iter()
                .filter(|l| !l.primary() && Some(l) != d.primary().as_ref())
                .filter_map(|l| {
                    let target = if here {
                        uri.clone()
                    } else {
                        path_to_uri(src.path.as_deref()?)?
                    };
                    let span = l.offset()..l.offset() + l.len();
                    Some(DiagnosticRelatedInformation {
                        location: Location {
                            uri: target,
                            range: LineIndex::new(&src.text).range(&src.text, span),
                        },
                        message: l.label().unwrap_or("related").to_string(),
                    })
                })
                .collect();
            out.push(Diagnostic {
                range,
                severity: Some(severity),
                code: Some(NumberOrString::String(d.code())),
                source: Some("exp".into()),
                message,
                related_information: (!related.is_empty()).then_some(related),
                data,
                ..Default::default()
            });
        }
        (out, deps)
    }

    pub(super) fn use_range_for(&self, doc: &Document, target: UseTarget<'_>) -> Option<Range> {
        let (tree, text) = doc.tree()?;
        let first_use = tree.items.iter().find_map(|i| match &i.kind {
            cst::ItemKind::UseFile(n) => {
                let name = n.text.trim_matches('"');
                target
                    .path
                    .is_some_and(|t| t.ends_with(name.trim_start_matches("./")))
                    .then(|| i.span.clone())
            }
            cst::ItemKind::UseModule(n) => {
                (target.is_std && n.text == target.name).then(|| i.span.clone())
            }
            _ => None,
        })?;
        Some(LineIndex::new(text).range(text, first_use))
    }
}

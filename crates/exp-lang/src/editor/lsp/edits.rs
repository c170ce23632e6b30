//! Edits: formatting, quick fixes and rename.

use super::protocol::*;
use crate::editor::analysis::{self, DeclSite, Hit, Origin};
use crate::editor::text::{path_to_uri, uri_to_path, LineIndex};
use crate::editor::{cst, fixes, format, rename};
use crate::lang::resolve::canonical_path;
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, DocumentFormattingParams,
    NumberOrString, Position, PrepareRenameResponse, Range, RenameParams,
    TextDocumentPositionParams, TextEdit, Uri, WorkspaceEdit,
};
use std::collections::HashMap;

impl Server {
    pub fn formatting(&self, p: &DocumentFormattingParams) -> Option<Vec<TextEdit>> {
        let doc = self.doc(&p.text_document.uri)?;
        let formatted = format::format_source(&doc.text).ok()?;
        if formatted == doc.text {
            return Some(vec![]);
        }
        let end = doc.index.position(&doc.text, doc.text.len());
        Some(vec![TextEdit {
            range: Range {
                start: Position::default(),
                end,
            },
            new_text: formatted,
        }])
    }

    /// Quick fixes for the diagnostics the client sends back (see
    /// [`super::fixes`]).
    pub fn code_actions(&self, p: &CodeActionParams) -> Option<Vec<CodeActionOrCommand>> {
        let uri = &p.text_document.uri;
        let doc = self.doc(uri)?;
        let mut out = Vec::new();
        for d in &p.context.diagnostics {
            let Some(NumberOrString::String(code)) = &d.code else {
                continue;
            };
            if d.data
                .as_ref()
                .is_some_and(|v| v.get("elsewhere").is_some())
            {
                continue;
            }
            let span = doc.index.offset(&doc.text, d.range.start)
                ..doc.index.offset(&doc.text, d.range.end);
            for fix in fixes::fixes_for(code, &d.message, span, &doc.text) {
                let edits = fix
                    .edits
                    .iter()
                    .map(|(r, t)| TextEdit {
                        range: doc.index.range(&doc.text, r.clone()),
                        new_text: t.clone(),
                    })
                    .collect();
                out.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title: fix.title,
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![d.clone()]),
                    edit: Some(WorkspaceEdit {
                        changes: Some([(uri.clone(), edits)].into_iter().collect()),
                        ..Default::default()
                    }),
                    is_preferred: Some(fix.preferred),
                    ..Default::default()
                }));
            }
        }
        Some(out)
    }

    /// The declaration under the cursor that rename would change: its
    /// name, the range of the name under the cursor, and where it is declared.
    pub(super) fn rename_target(
        &self,
        p: &TextDocumentPositionParams,
    ) -> Result<(String, Range, DeclSite), String> {
        let uri = &p.text_document.uri;
        let doc = self.doc(uri).ok_or("the document is not open")?;
        let (tree, text) = doc.tree().ok_or("the document does not parse yet")?;
        if **text != *doc.text {
            return Err("fix the syntax error first: rename needs a file that parses".into());
        }
        let off = doc.index.offset(&doc.text, p.position);
        let name = match analysis::hit_at(tree, off) {
            Some(Hit::DeclName(d)) => &d.name,
            Some(Hit::Extends { base, .. }) => base,
            Some(Hit::Ref { name, field, .. }) if field.first().is_none_or(|f| f != "arch") => name,
            _ => return Err("put the cursor on the name of a declaration".into()),
        };
        let site = self
            .scope(uri, doc)
            .into_iter()
            .find(|d| d.name == name.text)
            .ok_or_else(|| format!("`{}` is not declared", name.text))?;
        if let Origin::Std(m) = &site.origin {
            return Err(format!(
                "`{}` is declared in the standard library ({m}); declare your own with `extends {}`",
                site.name, site.name
            ));
        }
        let range = doc.index.range(&doc.text, name.span.clone());
        Ok((name.text.clone(), range, site))
    }

    pub fn prepare_rename(
        &self,
        p: &TextDocumentPositionParams,
    ) -> Result<Option<PrepareRenameResponse>, String> {
        let (name, range, _) = self.rename_target(p)?;
        Ok(Some(PrepareRenameResponse::RangeWithPlaceholder {
            range,
            placeholder: name,
        }))
    }

    /// Rename a declaration in its file and in every open document that
    /// sees it (through `use`).
    // Why: `WorkspaceEdit::changes` is lsp-types' `HashMap<Uri, _>`; the
    // URIs are never mutated while they are keys.
    #[allow(clippy::mutable_key_type)]
    pub fn rename(&self, p: &RenameParams) -> Result<Option<WorkspaceEdit>, String> {
        let (old, _, site) = self.rename_target(&p.text_document_position)?;
        let new = p.new_name.trim();
        if let Some(why) = rename::invalid_name(new) {
            return Err(why);
        }
        let uri = &p.text_document_position.text_document.uri;
        let this = uri_to_path(uri).map(|p| canonical_path(&p));
        let home = match &site.origin {
            Origin::File(p) => Some(canonical_path(p)),
            _ => this.clone(),
        };
        let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
        let mut home_done = false;
        for (u, d) in self.docs.values() {
            let path = uri_to_path(u).map(|p| canonical_path(&p));
            let scope = self.scope(u, d);
            if scope.iter().any(|s| s.name == new) {
                return Err(format!("`{new}` is already declared"));
            }
            let sees = scope.iter().find(|s| s.name == old).is_some_and(|s| {
                let declared = match &s.origin {
                    Origin::File(p) => Some(canonical_path(p)),
                    Origin::This => path.clone(),
                    Origin::Std(_) => None,
                };
                declared.is_some() && declared == home
            });
            let Some((tree, text)) = d.tree().filter(|(_, t)| ***t == *d.text) else {
                continue;
            };
            if !sees {
                continue;
            }
            home_done |= path == home;
            let edits: Vec<TextEdit> = rename::occurrences(tree, &old)
                .into_iter()
                .map(|r| TextEdit {
                    range: d.index.range(text, r),
                    new_text: new.to_string(),
                })
                .collect();
            if !edits.is_empty() {
                changes.insert(u.clone(), edits);
            }
        }
        // The declaring file, when it is not open: edit it on disk.
        if let (false, Some(home)) = (home_done, home) {
            let text = std::fs::read_to_string(&home).map_err(|e| e.to_string())?;
            let tree = cst::parse(&text).map_err(|e| e.message)?;
            let idx = LineIndex::new(&text);
            let edits: Vec<TextEdit> = rename::occurrences(&tree, &old)
                .into_iter()
                .map(|r| TextEdit {
                    range: idx.range(&text, r),
                    new_text: new.to_string(),
                })
                .collect();
            if let Some(u) = path_to_uri(&home) {
                changes.insert(u, edits);
            }
        }
        Ok(Some(WorkspaceEdit {
            changes: Some(changes),
            ..Default::default()
        }))
    }

    /// The call `decl.field` holds (by name), following `extends` through the
    /// scope: what `field.` completes the arguments of.
    pub(super) fn field_call(
        &self,
        uri: &Uri,
        doc: &Document,
        decl: &str,
        field: &str,
    ) -> Option<String> {
        let scope = self.scope(uri, doc);
        let mut name = decl.to_string();
        for _ in 0..16 {
            let site = scope.iter().find(|d| d.name == name)?;
            let tree = cst::parse(&site.text).ok()?;
            let d = tree.items.iter().find_map(|i| match &i.kind {
                cst::ItemKind::Decl(d) if d.name.text == name => Some(d),
                _ => None,
            })?;
            let set = d
                .body
                .fields
                .iter()
                .rev()
                .find(|f| f.path.len() == 1 && f.path[0].text == field);
            if let Some(f) = set {
                return match &f.value {
                    cst::Value::Call { name, .. } | cst::Value::Ref(name) => {
                        Some(name.text.clone())
                    }
                    _ => None,
                };
            }
            name = d.extends.as_ref()?.text.clone();
        }
        None
    }
}

//! Completion: field names, values, units and declaration names.

use super::hover::unit_doc;
use super::protocol::*;
use crate::editor::analysis::{self, Context, Origin};
use crate::editor::fields;
use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionParams, CompletionResponse, CompletionTextEdit,
    Documentation, MarkupContent, MarkupKind, TextEdit,
};

impl Server {
    pub fn completion(&self, p: &CompletionParams) -> Option<CompletionResponse> {
        let uri = &p.text_document_position.text_document.uri;
        let doc = self.doc(uri)?;
        let off = doc
            .index
            .offset(&doc.text, p.text_document_position.position);
        let (ctx, word_start) = analysis::context_at(&doc.text, off);
        // Every item replaces the word being typed (from `word_start`), so
        // clients that split words at `.` or `"` insert the right text.
        let edit_range = |start: usize, end: usize| doc.index.range(&doc.text, start..end);
        let plain =
            |label: &str, kind: CompletionItemKind, detail: Option<String>, insert: String| {
                CompletionItem {
                    label: label.to_string(),
                    kind: Some(kind),
                    detail,
                    filter_text: Some(label.to_string()),
                    text_edit: Some(CompletionTextEdit::Edit(TextEdit {
                        range: edit_range(word_start, off),
                        new_text: insert,
                    })),
                    ..Default::default()
                }
            };
        let mut items = Vec::new();
        let names = |kind: Option<&str>| -> Vec<CompletionItem> {
            let mut seen = std::collections::HashSet::new();
            self.scope(uri, doc)
                .into_iter()
                .filter(|d| kind.is_none_or(|k| d.kind == k))
                .filter(|d| seen.insert(d.name.clone()))
                .map(|d| CompletionItem {
                    documentation: d.doc.clone().map(|v| {
                        Documentation::MarkupContent(MarkupContent {
                            kind: MarkupKind::Markdown,
                            value: v,
                        })
                    }),
                    ..plain(
                        &d.name,
                        CompletionItemKind::REFERENCE,
                        Some(match &d.origin {
                            Origin::Std(m) => format!("{} ({m})", d.kind),
                            _ => d.kind.clone(),
                        }),
                        d.name.clone(),
                    )
                })
                .collect()
        };
        let call_item = |call: &str, what: &str| CompletionItem {
            documentation: Some(Documentation::String(what.to_string())),
            ..plain(
                call,
                CompletionItemKind::FUNCTION,
                Some(format!("{call}(…)")),
                format!("{call}("),
            )
        };
        let arg_item = |a: &str, detail: String| {
            plain(
                a,
                CompletionItemKind::PROPERTY,
                Some(detail),
                format!("{a} = "),
            )
        };
        match ctx {
            Context::TopLevel => {
                for kw in [
                    "use", "seed", "data", "backbone", "recipe", "budget", "score", "sweep",
                ] {
                    items.push(plain(
                        kw,
                        CompletionItemKind::KEYWORD,
                        fields::kind_doc(kw).map(str::to_string),
                        kw.to_string(),
                    ));
                }
            }
            Context::UseTarget => {
                for m in &self.std.modules {
                    items.push(plain(
                        &m.name,
                        CompletionItemKind::MODULE,
                        Some(format!("{} declarations", m.decls.len())),
                        m.name.clone(),
                    ));
                }
            }
            Context::Extends { kind } => items.extend(names(Some(&kind))),
            Context::FieldName {
                kind,
                depth,
                record,
            } => {
                if let Some(record) = record.filter(|_| depth >= 2) {
                    for key in fields::record_keys(&kind, &record) {
                        items.push(arg_item(key, format!("key of {kind}.{record}")));
                    }
                }
                if depth == 1 {
                    for d in fields::fields_of(&kind) {
                        items.push(CompletionItem {
                            kind: Some(CompletionItemKind::FIELD),
                            documentation: Some(Documentation::String(d.doc.to_string())),
                            ..arg_item(d.field, d.ty.to_string())
                        });
                    }
                }
            }
            Context::Member { kind, decl, field } => {
                match self.field_call(uri, doc, &decl, &field) {
                    Some(call) => {
                        if let Some((_, _, _, args, _)) = fields::call_doc(&call) {
                            for a in *args {
                                items.push(arg_item(a, format!("argument of {call}")));
                            }
                        }
                    }
                    None => {
                        let mut seen = std::collections::HashSet::new();
                        for (_, _, call, args, _) in fields::calls_of(&kind, &field) {
                            for a in *args {
                                if seen.insert(*a) {
                                    items.push(arg_item(a, format!("argument of {call}")));
                                }
                            }
                        }
                    }
                }
                for key in fields::record_keys(&kind, &field) {
                    items.push(arg_item(key, format!("key of {kind}.{field}")));
                }
            }
            Context::Unit { kind, field } => {
                let field = field.unwrap_or_default();
                for u in fields::units_for(&kind, &field) {
                    items.push(plain(
                        u,
                        CompletionItemKind::UNIT,
                        unit_doc(u),
                        u.to_string(),
                    ));
                }
            }
            Context::CallArg { call } => {
                if let Some((_, _, _, args, what)) = fields::call_doc(&call) {
                    for a in *args {
                        items.push(CompletionItem {
                            documentation: Some(Documentation::String((*what).to_string())),
                            ..arg_item(a, format!("argument of {call}"))
                        });
                    }
                }
            }
            Context::Value { kind, field } => {
                let field = field.unwrap_or_default();
                let is_ref = SWEEP_REFS.contains(&field.as_str())
                    && (kind == "sweep" || kind == "experiment");
                if is_ref {
                    items.extend(names(Some(field.as_str())));
                } else if field == "arch" {
                    // A string value: the edit covers an open quote (and the
                    // closing one the editor may have added) so the result
                    // is exactly one quoted name.
                    let (start, end) = string_edit_span(&doc.text, word_start, off);
                    for (a, fam, width, size) in crate::catalog::ARCHS {
                        let new_text = format!("\"{a}\"");
                        items.push(CompletionItem {
                            label: (*a).to_string(),
                            kind: Some(CompletionItemKind::VALUE),
                            detail: Some(format!("{fam:?}, {width} features, {size} px")),
                            filter_text: Some(if start < word_start {
                                format!("\"{a}")
                            } else {
                                (*a).to_string()
                            }),
                            text_edit: Some(CompletionTextEdit::Edit(TextEdit {
                                range: edit_range(start, end),
                                new_text,
                            })),
                            ..Default::default()
                        });
                    }
                } else {
                    for (_, _, call, _, what) in fields::calls_of(&kind, &field) {
                        items.push(call_item(call, what));
                    }
                    for w in fields::value_words(&kind, &field) {
                        if items.iter().all(|i| i.label != *w) {
                            items.push(plain(w, CompletionItemKind::CONSTANT, None, w.to_string()));
                        }
                    }
                }
            }
        }
        Some(CompletionResponse::Array(items))
    }
}

/// The sweep fields that name declarations of the same kind.
pub(super) const SWEEP_REFS: &[&str] = &["data", "backbone", "recipe", "budget", "score"];

/// The byte range a string completion replaces: the word being typed, and
/// an open quote before it (and a closing quote right after the cursor).
pub(super) fn string_edit_span(text: &str, word_start: usize, off: usize) -> (usize, usize) {
    let line_start = text[..word_start].rfind('\n').map_or(0, |i| i + 1);
    let mut open = None;
    let bytes = text.as_bytes();
    let mut i = line_start;
    while i < word_start {
        match bytes[i] {
            b'\\' if open.is_some() => i += 1,
            b'"' => open = if open.is_some() { None } else { Some(i) },
            _ => {}
        }
        i += 1;
    }
    let start = open.unwrap_or(word_start);
    let rest = &text[off..];
    let word_end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let end = if open.is_some() && rest[word_end..].starts_with('"') {
        off + word_end + 1
    } else {
        off
    };
    (start, end)
}

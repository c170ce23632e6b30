//! Hover: the docs of a declaration, field, architecture or unit.

use super::protocol::*;
use crate::editor::analysis::{self, DeclSite, Hit, Origin};
use crate::editor::fields;
use crate::editor::text::LineIndex;
use lsp_types::{Hover, HoverContents, HoverParams, MarkupContent, MarkupKind};

impl Server {
    pub fn hover(&self, p: &HoverParams) -> Option<Hover> {
        let uri = &p.text_document_position_params.text_document.uri;
        let doc = self.doc(uri)?;
        let off = Self::tree_offset(doc, p.text_document_position_params.position)?;
        let (tree, text) = doc.tree()?;
        let hit = analysis::hit_at(tree, off)?;
        let find = |name: &str| -> Option<DeclSite> {
            self.scope(uri, doc).into_iter().find(|d| d.name == name)
        };
        let (markdown, span) = match &hit {
            Hit::Keyword(n) => {
                let kind = if n.text == "experiment" {
                    "sweep"
                } else {
                    n.text.as_str()
                };
                let mut s = format!(
                    "**{}** — {}\n\nFields: ",
                    n.text,
                    fields::kind_doc(&n.text)?
                );
                s.push_str(
                    &fields::fields_of(kind)
                        .map(|d| format!("`{}`", d.field))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
                (s, n.span.clone())
            }
            Hit::DeclName(d) => (
                self.decl_markdown(&find(&d.name.text)?),
                d.name.span.clone(),
            ),
            Hit::Extends { base, .. } => {
                (self.decl_markdown(&find(&base.text)?), base.span.clone())
            }
            Hit::FieldName { kind, path, name } => {
                let top = path.first()?;
                let (ty, what) = fields::field_doc(kind, top)?;
                let mut s = format!("**{kind}.{top}**: {ty}\n\n{what}");
                if path.len() > 1 {
                    s = format!("`{}` inside {s}", path.join("."));
                }
                (s, name.span.clone())
            }
            Hit::Ref { name, field, .. } => {
                if let Some(site) = find(&name.text) {
                    (self.decl_markdown(&site), name.span.clone())
                } else if field.last().is_some_and(|f| f == "arch")
                    || arch_facts(&name.text).is_some()
                {
                    (arch_facts(&name.text)?, name.span.clone())
                } else {
                    return None;
                }
            }
            Hit::Str { field, lit, .. } if field.last().is_some_and(|f| f == "arch") => {
                (arch_facts(lit.text.trim_matches('"'))?, lit.span.clone())
            }
            Hit::Unit(u) => (unit_doc(&u.text)?, u.span.clone()),
            Hit::UseModule(n) => {
                let m = self.std.module(&n.text)?;
                let list: Vec<String> = m
                    .decls
                    .iter()
                    .map(|d| format!("- {} `{}`", d.kind, d.name))
                    .collect();
                (
                    format!("**{}** (standard library)\n\n{}", n.text, list.join("\n")),
                    n.span.clone(),
                )
            }
            Hit::Call { name } | Hit::ArgName { call: name, .. } => {
                let (kind, field, call, args, what) = fields::call_doc(&name.text)?;
                let args: Vec<String> = args.iter().map(|a| format!("`{a}`")).collect();
                let span = match &hit {
                    Hit::ArgName { name: arg, .. } => arg.span.clone(),
                    _ => name.span.clone(),
                };
                (
                    format!(
                        "**{call}(…)** — for `{kind}.{field}`\n\n{what}\n\nArguments: {}",
                        args.join(", ")
                    ),
                    span,
                )
            }
            Hit::UseFile(n) => (
                format!(
                    "file **{}**, relative to this file",
                    n.text.trim_matches('"')
                ),
                n.span.clone(),
            ),
            _ => return None,
        };
        Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: markdown,
            }),
            range: Some(LineIndex::new(text).range(text, span)),
        })
    }

    pub(super) fn decl_markdown(&self, d: &DeclSite) -> String {
        let mut s = format!("```exp\n{} {}", d.kind, d.name);
        if let Some(b) = &d.extends {
            s.push_str(&format!(" extends {b}"));
        }
        s.push_str("\n```");
        if let Some(doc) = &d.doc {
            s.push_str("\n\n");
            s.push_str(doc);
        }
        match &d.origin {
            Origin::This => {}
            Origin::File(p) => s.push_str(&format!(
                "\n\nDeclared in `{}`.",
                p.file_name().unwrap_or_default().to_string_lossy()
            )),
            Origin::Std(m) => s.push_str(&format!("\n\nDeclared in `{m}` (standard library).")),
        }
        if let Some(facts) = d.arch.as_deref().and_then(arch_facts) {
            s.push_str("\n\n");
            s.push_str(&facts);
        }
        s
    }
}

/// What the model zoo knows about an architecture.
pub fn arch_facts(arch: &str) -> Option<String> {
    let (name, family, width, size) = crate::catalog::ARCHS.iter().find(|(n, ..)| *n == arch)?;
    let kind = if family.is_cnn() {
        "CNN"
    } else {
        "transformer"
    };
    let (mean, std) = crate::lang::check::default_norm(name);
    Some(format!(
        "**{name}** — {family:?} ({kind}), {width} features, default input {size}×{size} px, mean {mean:?}, std {std:?}"
    ))
}

pub(super) fn unit_doc(unit: &str) -> Option<String> {
    let (u, dim, factor) = crate::lang::values::UNITS
        .iter()
        .find(|(u, _, _)| *u == unit)?;
    Some(if *factor == 1.0 {
        format!("unit `{u}`: {}", dim.unit())
    } else {
        format!("unit `{u}`: {} (× {factor})", dim.unit())
    })
}

//! Go to definition and document symbols, and the position helpers the
//! other features share.

use super::protocol::*;
use crate::editor::analysis::{self, DeclSite, Hit, Origin};
use crate::editor::cst;
use crate::editor::text::{path_to_uri, uri_to_path, LineIndex};
use lsp_types::{
    DocumentSymbol, DocumentSymbolParams, DocumentSymbolResponse, GotoDefinitionParams,
    GotoDefinitionResponse, Location, Position, Range, SymbolKind, Uri,
};

impl Server {
    pub(super) fn scope(&self, uri: &Uri, doc: &Document) -> Vec<DeclSite> {
        let path = uri_to_path(uri);
        match doc.tree() {
            Some((tree, text)) => analysis::scope(tree, path.as_deref(), text, self, &self.std),
            None => self
                .std
                .modules
                .iter()
                .flat_map(|m| m.decls.iter().cloned())
                .collect(),
        }
    }

    /// Byte offset of `pos` in the text the tree was parsed from.
    pub(super) fn tree_offset(doc: &Document, pos: Position) -> Option<usize> {
        let (_, text) = doc.tree()?;
        Some(LineIndex::new(text).offset(text, pos))
    }

    pub(super) fn location(&self, uri: &Uri, site: &DeclSite) -> Option<Location> {
        let uri = match &site.origin {
            Origin::This => uri.clone(),
            Origin::File(p) => path_to_uri(p)?,
            Origin::Std(m) => path_to_uri(&self.std_dir.as_ref()?.join(format!("{m}.exp")))?,
        };
        let idx = LineIndex::new(&site.text);
        Some(Location {
            uri,
            range: idx.range(&site.text, site.name_span.clone()),
        })
    }

    pub fn definition(&self, p: &GotoDefinitionParams) -> Option<GotoDefinitionResponse> {
        let uri = &p.text_document_position_params.text_document.uri;
        let doc = self.doc(uri)?;
        let off = Self::tree_offset(doc, p.text_document_position_params.position)?;
        let (tree, _) = doc.tree()?;
        let hit = analysis::hit_at(tree, off)?;
        let name = match hit {
            Hit::DeclName(d) => d.name.text.clone(),
            Hit::Extends { base, .. } => base.text.clone(),
            Hit::Ref { name, .. } => name.text.clone(),
            Hit::UseFile(n) => {
                let base = uri_to_path(uri)?.parent()?.to_path_buf();
                let target = base.join(n.text.trim_matches('"'));
                let target = std::path::absolute(&target).ok()?;
                return Some(GotoDefinitionResponse::Scalar(Location {
                    uri: path_to_uri(&target)?,
                    range: Range::default(),
                }));
            }
            Hit::UseModule(n) => {
                self.std.module(&n.text)?;
                let file = self.std_dir.as_ref()?.join(format!("{}.exp", n.text));
                return Some(GotoDefinitionResponse::Scalar(Location {
                    uri: path_to_uri(&file)?,
                    range: Range::default(),
                }));
            }
            _ => return None,
        };
        let site = self.scope(uri, doc).into_iter().find(|d| d.name == name)?;
        self.location(uri, &site)
            .map(GotoDefinitionResponse::Scalar)
    }

    pub fn symbols(&self, p: &DocumentSymbolParams) -> Option<DocumentSymbolResponse> {
        let doc = self.doc(&p.text_document.uri)?;
        let (tree, text) = doc.tree()?;
        let idx = LineIndex::new(text);
        let mut out = Vec::new();
        for item in &tree.items {
            let cst::ItemKind::Decl(d) = &item.kind else {
                continue;
            };
            let children = d
                .body
                .fields
                .iter()
                .map(|f| {
                    symbol(
                        f.path_text(),
                        None,
                        SymbolKind::FIELD,
                        idx.range(text, f.span.clone()),
                        idx.range(
                            text,
                            f.path[0].span.start..f.path[f.path.len() - 1].span.end,
                        ),
                        None,
                    )
                })
                .collect();
            let detail = match &d.extends {
                Some(b) => format!("{} extends {}", d.kind.text, b.text),
                None => d.kind.text.clone(),
            };
            let kind = match d.kind.text.as_str() {
                "data" => SymbolKind::STRUCT,
                "backbone" => SymbolKind::CLASS,
                "recipe" => SymbolKind::FUNCTION,
                "budget" => SymbolKind::CONSTANT,
                "score" => SymbolKind::INTERFACE,
                _ => SymbolKind::MODULE,
            };
            out.push(symbol(
                d.name.text.clone(),
                Some(detail),
                kind,
                idx.range(text, item.span.clone()),
                idx.range(text, d.name.span.clone()),
                Some(children),
            ));
        }
        Some(DocumentSymbolResponse::Nested(out))
    }
}

#[allow(deprecated)] // `DocumentSymbol::deprecated` must be spelled out.
pub(super) fn symbol(
    name: String,
    detail: Option<String>,
    kind: SymbolKind,
    range: Range,
    selection_range: Range,
    children: Option<Vec<DocumentSymbol>>,
) -> DocumentSymbol {
    DocumentSymbol {
        name,
        detail,
        kind,
        tags: None,
        deprecated: None,
        range,
        selection_range,
        children,
    }
}

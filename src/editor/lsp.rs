//! `exp lsp`: a language server on stdio (lsp-server + lsp-types).
//!
//! - Diagnostics come from the same engine as `exp check`
//!   ([`crate::lang::check_text_with`]), on open and on every change, with
//!   open documents standing in for their files; a change re-checks every
//!   open document whose last check read the changed one. Secondary labels
//!   are related information.
//! - Quick fixes are read from the diagnostics' help ([`super::fixes`]);
//!   rename edits every open document that sees the declaration
//!   ([`super::rename`]).
//! - Hover, go to definition, document symbols and completion read the
//!   comment-keeping tree of [`super::cst`]; while the text does not parse
//!   they use the last tree that did, and completion reads the raw text.
//! - Formatting is `exp fmt` ([`super::format`]).
//! - Standard-library sources are written to
//!   `$EXP_CACHE/lsp-std/<version>/` (default `~/.cache/exp/...`) so that go
//!   to definition can open them as ordinary files in any editor.
//!
//! Positions are UTF-16 code units, the LSP default.

use super::analysis::{self, Context, DeclSite, FileSource, Hit, Origin, StdLib};
use super::text::{path_to_uri, uri_to_path, LineIndex};
use super::{cst, fields, fixes, format, rename};
use crate::lang::resolve::{canonical_path, Overlay};
use lsp_server::{Connection, ExtractError, Message, Notification, Request, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidChangeWatchedFiles, DidCloseTextDocument, DidOpenTextDocument,
    Notification as _, PublishDiagnostics,
};
use lsp_types::request::{
    CodeActionRequest, Completion, DocumentSymbolRequest, Formatting, GotoDefinition, HoverRequest,
    PrepareRenameRequest, Rename, Request as _,
};
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOptions, CodeActionOrCommand, CodeActionParams,
    CodeActionProviderCapability, CompletionItem, CompletionItemKind, CompletionOptions,
    CompletionParams, CompletionResponse, CompletionTextEdit, Diagnostic,
    DiagnosticRelatedInformation, DiagnosticSeverity, DidChangeTextDocumentParams,
    DidCloseTextDocumentParams, DidOpenTextDocumentParams, DocumentFormattingParams,
    DocumentSymbol, DocumentSymbolParams, DocumentSymbolResponse, Documentation,
    GotoDefinitionParams, GotoDefinitionResponse, Hover, HoverContents, HoverParams,
    HoverProviderCapability, InitializeParams, Location, MarkupContent, MarkupKind, NumberOrString,
    OneOf, Position, PositionEncodingKind, PrepareRenameResponse, PublishDiagnosticsParams, Range,
    RenameOptions, RenameParams, ServerCapabilities, ServerInfo, SymbolKind,
    TextDocumentPositionParams, TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit, Uri,
    WorkspaceEdit,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why the server stopped.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LspError {
    #[error("the language client broke the protocol: {0}")]
    #[diagnostic(
        code(exp::lsp::protocol),
        help("start `exp lsp` from an editor's language client, which speaks LSP on stdio")
    )]
    Protocol(String),
    #[error("cannot serialise a message: {0}")]
    #[diagnostic(
        code(exp::lsp::json),
        help("this is a bug in `exp lsp`: please report it")
    )]
    Json(#[from] serde_json::Error),
}

/// One open document.
struct Document {
    text: String,
    version: i32,
    index: LineIndex,
    /// The last tree that parsed (with the text it came from).
    tree: Option<(cst::File, Arc<str>)>,
    /// Canonical paths of the files its last check read through `use`:
    /// an edit to any of them re-checks this document.
    deps: Vec<PathBuf>,
}

impl Document {
    fn new(text: String, version: i32) -> Self {
        let mut d = Document {
            index: LineIndex::new(&text),
            text,
            version,
            tree: None,
            deps: Vec::new(),
        };
        d.reparse();
        d
    }

    fn reparse(&mut self) {
        self.index = LineIndex::new(&self.text);
        if let Ok(t) = cst::parse(&self.text) {
            self.tree = Some((t, Arc::from(self.text.as_str())));
        }
    }

    /// The tree, and whether it is of the current text.
    fn tree(&self) -> Option<(&cst::File, &Arc<str>)> {
        self.tree.as_ref().map(|(t, s)| (t, s))
    }
}

/// The file a diagnostic from another file came from.
#[derive(Clone, Copy)]
struct UseTarget<'a> {
    name: &'a str,
    path: Option<&'a Path>,
    is_std: bool,
}

/// The server's state.
pub struct Server {
    docs: HashMap<String, (Uri, Document)>,
    std: StdLib,
    std_dir: Option<PathBuf>,
}

impl FileSource for Server {
    fn read(&self, path: &Path) -> Option<String> {
        self.docs
            .values()
            .find(|(u, _)| uri_to_path(u).as_deref() == Some(path))
            .map(|(_, d)| d.text.clone())
            .or_else(|| std::fs::read_to_string(path).ok())
    }
}

/// Folder the std modules are written to for go to definition.
fn std_cache_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("EXP_CACHE") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache/exp"),
    };
    Some(base.join("lsp-std").join(crate::VERSION))
}

/// The capabilities `exp lsp` announces.
pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(PositionEncodingKind::UTF16),
        text_document_sync: Some(TextDocumentSyncCapability::Kind(
            TextDocumentSyncKind::INCREMENTAL,
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".into(), " ".into(), "\"".into()]),
            ..Default::default()
        }),
        definition_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..Default::default()
        })),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        ..Default::default()
    }
}

/// Serve on stdin/stdout until the client says `exit`.
pub fn run_stdio() -> Result<(), LspError> {
    let (connection, io_threads) = Connection::stdio();
    let init = serde_json::json!({
        "capabilities": capabilities(),
        "serverInfo": ServerInfo { name: "exp".into(), version: Some(crate::VERSION.into()) },
    });
    let (id, params) = connection
        .initialize_start()
        .map_err(|e| LspError::Protocol(e.to_string()))?;
    let _params: InitializeParams = serde_json::from_value(params)?;
    connection
        .initialize_finish(id, init)
        .map_err(|e| LspError::Protocol(e.to_string()))?;
    let mut server = Server::new();
    server.main_loop(&connection)?;
    drop(connection);
    io_threads
        .join()
        .map_err(|e| LspError::Protocol(e.to_string()))?;
    Ok(())
}

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}

impl Server {
    pub fn new() -> Self {
        let std = StdLib::load();
        let std_dir = std_cache_dir().filter(|dir| write_std(dir, &std).is_ok());
        Server {
            docs: HashMap::new(),
            std,
            std_dir,
        }
    }

    fn main_loop(&mut self, conn: &Connection) -> Result<(), LspError> {
        for msg in &conn.receiver {
            match msg {
                Message::Request(req) => {
                    if conn
                        .handle_shutdown(&req)
                        .map_err(|e| LspError::Protocol(e.to_string()))?
                    {
                        return Ok(());
                    }
                    let resp = self.request(req);
                    send(conn, Message::Response(resp))?;
                }
                Message::Notification(n) => {
                    for out in self.notification(n)? {
                        send(conn, Message::Notification(out))?;
                    }
                }
                Message::Response(_) => {}
            }
        }
        Ok(())
    }

    fn request(&mut self, req: Request) -> Response {
        let id = req.id.clone();
        let result = match req.method.as_str() {
            HoverRequest::METHOD => parse::<HoverRequest>(req).map(|p| to_json(self.hover(&p))),
            Completion::METHOD => parse::<Completion>(req).map(|p| to_json(self.completion(&p))),
            GotoDefinition::METHOD => {
                parse::<GotoDefinition>(req).map(|p| to_json(self.definition(&p)))
            }
            DocumentSymbolRequest::METHOD => {
                parse::<DocumentSymbolRequest>(req).map(|p| to_json(self.symbols(&p)))
            }
            Formatting::METHOD => parse::<Formatting>(req).map(|p| to_json(self.formatting(&p))),
            CodeActionRequest::METHOD => {
                parse::<CodeActionRequest>(req).map(|p| to_json(self.code_actions(&p)))
            }
            PrepareRenameRequest::METHOD => parse::<PrepareRenameRequest>(req)
                .and_then(|p| self.prepare_rename(&p))
                .map(to_json),
            Rename::METHOD => parse::<Rename>(req)
                .and_then(|p| self.rename(&p))
                .map(to_json),
            other => {
                return Response::new_err(
                    id,
                    lsp_server::ErrorCode::MethodNotFound as i32,
                    format!("`exp lsp` does not handle {other}"),
                )
            }
        };
        match result {
            Ok(v) => Response::new_ok(id, v),
            Err(msg) => Response::new_err(id, lsp_server::ErrorCode::InvalidParams as i32, msg),
        }
    }

    fn notification(&mut self, n: Notification) -> Result<Vec<Notification>, LspError> {
        match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let p: DidOpenTextDocumentParams = serde_json::from_value(n.params)?;
                let key = p.text_document.uri.as_str().to_string();
                self.docs.insert(
                    key,
                    (
                        p.text_document.uri.clone(),
                        Document::new(p.text_document.text, p.text_document.version),
                    ),
                );
                Ok(self.recheck(&p.text_document.uri))
            }
            DidChangeTextDocument::METHOD => {
                let p: DidChangeTextDocumentParams = serde_json::from_value(n.params)?;
                let Some((_, doc)) = self.docs.get_mut(p.text_document.uri.as_str()) else {
                    return Ok(vec![]);
                };
                for change in p.content_changes {
                    match change.range {
                        Some(r) => {
                            let start = doc.index.offset(&doc.text, r.start);
                            let end = doc.index.offset(&doc.text, r.end).max(start);
                            doc.text.replace_range(start..end, &change.text);
                            doc.index = LineIndex::new(&doc.text);
                        }
                        None => doc.text = change.text,
                    }
                }
                doc.version = p.text_document.version;
                doc.reparse();
                Ok(self.recheck(&p.text_document.uri))
            }
            DidCloseTextDocument::METHOD => {
                let p: DidCloseTextDocumentParams = serde_json::from_value(n.params)?;
                self.docs.remove(p.text_document.uri.as_str());
                let clear = PublishDiagnosticsParams {
                    uri: p.text_document.uri.clone(),
                    diagnostics: vec![],
                    version: None,
                };
                // Documents that used it now read it from disk.
                let mut out = vec![Notification::new(PublishDiagnostics::METHOD.into(), clear)];
                out.extend(self.recheck(&p.text_document.uri));
                Ok(out)
            }
            DidChangeWatchedFiles::METHOD => {
                // A file changed on disk: any open document may use it.
                let uris: Vec<Uri> = self.docs.values().map(|(u, _)| u.clone()).collect();
                Ok(uris.iter().map(|u| self.publish(u)).collect())
            }
            _ => Ok(vec![]),
        }
    }

    fn doc(&self, uri: &Uri) -> Option<&Document> {
        self.docs.get(uri.as_str()).map(|(_, d)| d)
    }

    /// Open documents by canonical path: what the checker reads instead of
    /// the disk.
    fn overlay(&self) -> Overlay {
        self.docs
            .values()
            .filter_map(|(u, d)| {
                let path = canonical_path(&uri_to_path(u)?);
                Some((path, Arc::from(d.text.as_str())))
            })
            .collect()
    }

    /// Diagnostics for `uri` (when open) and for every open document whose
    /// last check read it through `use`, so a fix in one file clears the
    /// errors it caused in the others.
    fn recheck(&mut self, uri: &Uri) -> Vec<Notification> {
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
    fn publish(&mut self, uri: &Uri) -> Notification {
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
    fn check(&self, uri: &Uri, doc: &Document) -> (Vec<Diagnostic>, Vec<PathBuf>) {
        let path = uri_to_path(uri).unwrap_or_else(|| PathBuf::from("untitled.exp"));
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let name = path.display().to_string();
        let overlay = self.overlay();
        // Why: a bug in the checker must cost one file's diagnostics, not the session.
        let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::lang::check_text_with(
                &name,
                &doc.text,
                &dir,
                crate::lang::CheckOptions::default(),
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

    fn use_range_for(&self, doc: &Document, target: UseTarget<'_>) -> Option<Range> {
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

    fn scope(&self, uri: &Uri, doc: &Document) -> Vec<DeclSite> {
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
    fn tree_offset(doc: &Document, pos: Position) -> Option<usize> {
        let (_, text) = doc.tree()?;
        Some(LineIndex::new(text).offset(text, pos))
    }

    fn location(&self, uri: &Uri, site: &DeclSite) -> Option<Location> {
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

    fn decl_markdown(&self, d: &DeclSite) -> String {
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
                    for (a, fam, width, size) in crate::models::ARCHS {
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
    fn rename_target(
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
    fn field_call(&self, uri: &Uri, doc: &Document, decl: &str, field: &str) -> Option<String> {
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

/// The sweep fields that name declarations of the same kind.
const SWEEP_REFS: &[&str] = &["data", "backbone", "recipe", "budget", "score"];

/// The byte range a string completion replaces: the word being typed, and
/// an open quote before it (and a closing quote right after the cursor).
fn string_edit_span(text: &str, word_start: usize, off: usize) -> (usize, usize) {
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

#[allow(deprecated)] // `DocumentSymbol::deprecated` must be spelled out.
fn symbol(
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

/// What the model zoo knows about an architecture.
pub fn arch_facts(arch: &str) -> Option<String> {
    let (name, family, width, size) = crate::models::ARCHS.iter().find(|(n, ..)| *n == arch)?;
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

fn unit_doc(unit: &str) -> Option<String> {
    let (u, dim, factor) = crate::lang::values::UNITS
        .iter()
        .find(|(u, _, _)| *u == unit)?;
    Some(if *factor == 1.0 {
        format!("unit `{u}`: {}", dim.unit())
    } else {
        format!("unit `{u}`: {} (× {factor})", dim.unit())
    })
}

/// Write the std modules as files for go to definition.
fn write_std(dir: &Path, std: &StdLib) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for m in &std.modules {
        let path = dir.join(format!("{}.exp", m.name));
        if std::fs::read_to_string(&path).ok().as_deref() != Some(&*m.text) {
            std::fs::write(&path, &*m.text)?;
        }
    }
    Ok(())
}

fn send(conn: &Connection, msg: Message) -> Result<(), LspError> {
    conn.sender
        .send(msg)
        .map_err(|e| LspError::Protocol(format!("the client went away: {e}")))
}

fn parse<R: lsp_types::request::Request>(req: Request) -> Result<R::Params, String> {
    req.extract::<R::Params>(R::METHOD)
        .map(|(_, p)| p)
        .map_err(|e| match e {
            ExtractError::MethodMismatch(r) => format!("unexpected method {}", r.method),
            ExtractError::JsonError { method, error } => {
                format!("bad parameters for {method}: {error}")
            }
        })
}

fn to_json<T: serde::Serialize>(v: T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

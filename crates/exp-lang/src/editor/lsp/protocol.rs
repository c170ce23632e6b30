//! The protocol side of the server: framing on stdio, request and
//! notification dispatch, and the store of open documents.

use crate::editor::analysis::{FileSource, StdLib};
use crate::editor::cst;
use crate::editor::text::{uri_to_path, LineIndex};
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
    CodeActionKind, CodeActionOptions, CodeActionProviderCapability, CompletionOptions,
    DidChangeTextDocumentParams, DidCloseTextDocumentParams, DidOpenTextDocumentParams,
    HoverProviderCapability, InitializeParams, OneOf, PositionEncodingKind,
    PublishDiagnosticsParams, RenameOptions, ServerCapabilities, ServerInfo,
    TextDocumentSyncCapability, TextDocumentSyncKind, Uri,
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
pub(super) struct Document {
    pub(super) text: String,
    pub(super) version: i32,
    pub(super) index: LineIndex,
    /// The last tree that parsed (with the text it came from).
    pub(super) tree: Option<(cst::File, Arc<str>)>,
    /// Canonical paths of the files its last check read through `use`:
    /// an edit to any of them re-checks this document.
    pub(super) deps: Vec<PathBuf>,
}

impl Document {
    pub(super) fn new(text: String, version: i32) -> Self {
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

    pub(super) fn reparse(&mut self) {
        self.index = LineIndex::new(&self.text);
        if let Ok(t) = cst::parse(&self.text) {
            self.tree = Some((t, Arc::from(self.text.as_str())));
        }
    }

    /// The tree, and whether it is of the current text.
    pub(super) fn tree(&self) -> Option<(&cst::File, &Arc<str>)> {
        self.tree.as_ref().map(|(t, s)| (t, s))
    }
}

/// The server's state.
pub struct Server {
    pub(super) docs: HashMap<String, (Uri, Document)>,
    pub(super) std: StdLib,
    pub(super) std_dir: Option<PathBuf>,
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
pub(super) fn std_cache_dir() -> Option<PathBuf> {
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

    pub(super) fn main_loop(&mut self, conn: &Connection) -> Result<(), LspError> {
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

    pub(super) fn request(&mut self, req: Request) -> Response {
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

    pub(super) fn notification(&mut self, n: Notification) -> Result<Vec<Notification>, LspError> {
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

    pub(super) fn doc(&self, uri: &Uri) -> Option<&Document> {
        self.docs.get(uri.as_str()).map(|(_, d)| d)
    }

    /// Open documents by canonical path: what the checker reads instead of
    /// the disk.
    pub(super) fn overlay(&self) -> Overlay {
        self.docs
            .values()
            .filter_map(|(u, d)| {
                let path = canonical_path(&uri_to_path(u)?);
                Some((path, Arc::from(d.text.as_str())))
            })
            .collect()
    }
}

/// Write the std modules as files for go to definition.
pub(super) fn write_std(dir: &Path, std: &StdLib) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for m in &std.modules {
        let path = dir.join(format!("{}.exp", m.name));
        if std::fs::read_to_string(&path).ok().as_deref() != Some(&*m.text) {
            std::fs::write(&path, &*m.text)?;
        }
    }
    Ok(())
}

pub(super) fn send(conn: &Connection, msg: Message) -> Result<(), LspError> {
    conn.sender
        .send(msg)
        .map_err(|e| LspError::Protocol(format!("the client went away: {e}")))
}

pub(super) fn parse<R: lsp_types::request::Request>(req: Request) -> Result<R::Params, String> {
    req.extract::<R::Params>(R::METHOD)
        .map(|(_, p)| p)
        .map_err(|e| match e {
            ExtractError::MethodMismatch(r) => format!("unexpected method {}", r.method),
            ExtractError::JsonError { method, error } => {
                format!("bad parameters for {method}: {error}")
            }
        })
}

pub(super) fn to_json<T: serde::Serialize>(v: T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

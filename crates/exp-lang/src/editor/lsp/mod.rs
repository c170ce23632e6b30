//! `exp lsp`: a language server on stdio (lsp-server + lsp-types).
//!
//! - Diagnostics come from the same engine as `exp check`
//!   ([`crate::driver::check_text_with`]), on open and on every change, with
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

mod completion;
mod diagnostics;
mod edits;
mod hover;
mod navigation;
mod protocol;

pub use hover::arch_facts;
pub use protocol::{capabilities, run_stdio, LspError, Server};

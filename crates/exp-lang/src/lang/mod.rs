//! The `.exp` language front end: parse → resolve → check → lint.
//!
//! # Public API
//!
//! The driver that runs these stages in order lives in [`crate::driver`]
//! (why: the lints read the checked tree, so the driver sits above both and
//! neither `lang` nor `lint` imports the other's caller).
//!
//! - [`crate::driver::load`]`(path, sets)` — the typed [`crate::spec::Pipeline`] of a file, or
//!   a miette report holding every error (what `exp run` / `exp plan` use).
//! - [`crate::driver::check_path`] / [`crate::driver::check_text`] — the full outcome: the pipeline (when
//!   there are no errors), every diagnostic (errors and warnings, sorted by
//!   file and position) and the [`span::Sources`] to render them with
//!   [`diag::render`] or [`diag::Diag::to_json`].
//! - [`parse::parse_file`]`(src) -> (ast::File, Vec<Diag>)` — the syntax tree
//!   of one file with byte spans on every node ([`span::Span`]); comments are
//!   in [`ast::File::comments`] (for formatters) and `///` doc comments are
//!   attached to declarations and fields ([`ast::Decl::doc`],
//!   [`ast::Field::doc`]) for hover. Parse errors are recovered per top-level
//!   declaration, so the tree holds every declaration that parsed.
//! - [`check::fields_of`] — the field names of each declaration kind (for
//!   completion), [`fields::field_doc`] — a one-line doc per field (hover);
//!   [`stdlib::MODULES`] — the embedded standard library;
//!   [`crate::lint::explain`] — the documentation of any diagnostic code.
//!
//! Paths in a file (`manifest`, `root`, `cache`, `pretrained`, `use "..."`)
//! resolve against the directory of the file that writes them.

pub mod ast;
pub mod check;
pub mod diag;
pub mod error;
pub mod fields;
pub mod parse;
pub mod resolve;
pub mod span;
pub mod stdlib;
pub mod suggest;
pub mod values;

//! The `.exp` language front end: parse → resolve → check → lint.
//!
//! # Public API
//!
//! - [`load`]`(path, sets)` — the typed [`crate::spec::Pipeline`] of a file, or
//!   a miette report holding every error (what `exp run` / `exp plan` use).
//! - [`check_path`] / [`check_text`] — the full outcome: the pipeline (when
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

use crate::spec::Pipeline;
use diag::Diag;
use span::{SourceFile, Sources};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// Options of a check.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// Open the data sets (`--data`) and run the checks that need them.
    pub data: bool,
}

/// Everything one check produced.
#[derive(Debug)]
pub struct Outcome {
    pub sources: Sources,
    /// Errors and warnings, in file and source order.
    pub diagnostics: Vec<Diag>,
    /// The checked pipeline; `None` when there are errors.
    pub pipeline: Option<Pipeline>,
    /// The checked pipeline with spans (also present with errors, partial).
    pub checked: check::Checked,
}

impl Outcome {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diag::is_error)
    }
}

/// Why a file could not be checked at all (exit code 2).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LoadError {
    #[error("cannot read `{path}`: {reason}")]
    #[diagnostic(code(exp::io::unreadable), help("check the path and its permissions"))]
    Unreadable { path: String, reason: String },
}

impl LoadError {
    /// The JSON record of this error (`exp check --format json`); it has no
    /// position, so line and column are 1.
    pub fn to_json(&self, file: &Path) -> diag::JsonDiag {
        use miette::Diagnostic;
        diag::JsonDiag {
            severity: "error",
            code: self.code().map(|c| c.to_string()).unwrap_or_default(),
            message: self.to_string(),
            file: file.display().to_string(),
            line: 1,
            column: 1,
            end_line: 1,
            end_column: 1,
            help: self.help().map(|h| h.to_string()),
        }
    }
}

/// Check the file at `path` with `--set` overrides.
pub fn check_path(path: &Path, sets: &[String], opts: CheckOptions) -> Result<Outcome, LoadError> {
    let bytes = std::fs::read(path).map_err(|e| LoadError::Unreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok(check_source(
        SourceFile {
            name: path.display().to_string(),
            path: Some(path.to_path_buf()),
            text: Arc::from(text),
            is_std: false,
        },
        sets,
        opts,
    ))
}

/// Check source text as if it were the file `name` in directory `dir`
/// (relative paths resolve against `dir`).
pub fn check_text(
    name: &str,
    text: &str,
    dir: &Path,
    sets: &[String],
    opts: CheckOptions,
) -> Outcome {
    let path = dir.join(
        Path::new(name)
            .file_name()
            .unwrap_or_else(|| std::ffi::OsStr::new("input.exp")),
    );
    check_source(
        SourceFile {
            name: name.to_string(),
            path: Some(path),
            text: Arc::from(text),
            is_std: false,
        },
        sets,
        opts,
    )
}

/// [`check_text`] with open editor documents standing in for files on disk
/// wherever the text `use`s them (directly or through other files).
pub fn check_text_with(
    name: &str,
    text: &str,
    dir: &Path,
    opts: CheckOptions,
    overlay: &resolve::Overlay,
) -> Outcome {
    let path = dir.join(
        Path::new(name)
            .file_name()
            .unwrap_or_else(|| std::ffi::OsStr::new("input.exp")),
    );
    check_source_with(
        SourceFile {
            name: name.to_string(),
            path: Some(path),
            text: Arc::from(text),
            is_std: false,
        },
        &[],
        opts,
        overlay,
    )
}

/// Check a stdlib module on its own (as the root file).
pub fn check_std_module(name: &str) -> Option<Outcome> {
    let text = stdlib::module(name)?;
    Some(check_source(
        SourceFile {
            name: name.to_string(),
            path: None,
            text: Arc::from(text),
            is_std: true,
        },
        &[],
        CheckOptions::default(),
    ))
}

fn check_source(root: SourceFile, sets: &[String], opts: CheckOptions) -> Outcome {
    check_source_with(root, sets, opts, &resolve::Overlay::new())
}

fn check_source_with(
    root: SourceFile,
    sets: &[String],
    opts: CheckOptions,
    overlay: &resolve::Overlay,
) -> Outcome {
    let mut diags = Vec::new();
    let env = resolve::resolve_with(root, sets, &mut diags, overlay);
    let checked = check::check(&env, &mut diags);
    diags.extend(crate::lint::run(&env, &checked, opts));
    // Why: a child inherits its parent's expressions, spans included, so a
    // mistake in the parent would be reported again for every child.
    let mut seen = std::collections::HashSet::new();
    diags.retain(|d| {
        let at = d.primary().map(|l| (l.offset(), l.len()));
        let message = if at.is_none() {
            d.message()
        } else {
            String::new()
        };
        seen.insert((d.file, at, d.code(), message))
    });
    diags.sort_by_key(|d| (d.file, d.primary().map_or(0, |l| l.offset())));
    let has_errors = diags.iter().any(Diag::is_error);
    Outcome {
        sources: env.sources,
        diagnostics: diags,
        pipeline: (!has_errors).then(|| checked.pipeline.clone()),
        checked,
    }
}

/// Parse, resolve and check `path` (with `--set PATH=VALUE` overrides) into
/// the typed pipeline; every error diagnostic is in the returned report.
/// Warnings are not part of the result (see [`check_path`] for them).
pub fn load(path: &Path, sets: &[String]) -> miette::Result<Pipeline> {
    let outcome = check_path(path, sets, CheckOptions::default())?;
    into_result(outcome)
}

/// The pipeline of an outcome, or a report of its errors.
pub fn into_result(outcome: Outcome) -> miette::Result<Pipeline> {
    if let Some(p) = outcome.pipeline {
        return Ok(p);
    }
    let sources = outcome.sources;
    let errors: Vec<Diag> = outcome
        .diagnostics
        .into_iter()
        .filter(Diag::is_error)
        .collect();
    let summary = format!(
        "{} error{} in the pipeline",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
    let related = errors
        .into_iter()
        .map(|d| diag::WithSourceOwned::new(d, &sources))
        .collect();
    Err(miette::Report::new(diag::Report { summary, related }))
}

/// `exp check FILE... [--data] [--format human|json] [--set ...]`.
pub fn cmd_check(a: &crate::cli::CheckArgs) -> miette::Result<ExitCode> {
    let opts = CheckOptions { data: a.data };
    let mut any_error = false;
    let mut json = Vec::new();
    let color = std::io::stderr().is_terminal();
    let width = if color { terminal_width() } else { 100 };
    let mut unreadable = false;
    for file in &a.files {
        let outcome = match check_path(file, &a.sets, opts) {
            Ok(o) => o,
            Err(e) => {
                // Why: a tool reading `--format json` gets a JSON array even
                // when a file cannot be read; the other files are still checked.
                unreadable = true;
                match a.format {
                    crate::cli::CheckFormat::Json => json.push(e.to_json(file)),
                    crate::cli::CheckFormat::Human => eprintln!("{:?}", miette::Report::new(e)),
                }
                continue;
            }
        };
        any_error |= outcome.has_errors();
        match a.format {
            crate::cli::CheckFormat::Json => {
                json.extend(
                    outcome
                        .diagnostics
                        .iter()
                        .map(|d| d.to_json(&outcome.sources)),
                );
            }
            crate::cli::CheckFormat::Human => {
                for d in &outcome.diagnostics {
                    eprint!("{}", diag::render(d, &outcome.sources, color, width));
                    eprintln!();
                }
                let summary = diag::summary(&outcome.diagnostics);
                if outcome.diagnostics.is_empty() {
                    eprintln!("{}: ok", file.display());
                } else {
                    eprint!("{}: {summary}", file.display());
                }
            }
        }
    }
    if a.format == crate::cli::CheckFormat::Json {
        let text = serde_json::to_string_pretty(&json)
            .map_err(|e| miette::miette!("cannot write JSON: {e}"))?;
        // Why: a closed pipe (`| head`) is not an error worth a panic.
        let _ = writeln!(std::io::stdout(), "{text}");
    }
    Ok(if unreadable {
        ExitCode::from(2)
    } else if any_error {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
}

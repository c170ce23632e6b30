//! The front-end driver: parse → resolve → check → lint, in that order, for
//! a file on disk, a text (editors) or a stdlib module.
//!
//! Why its own module: the lints read the checked tree, so the driver sits
//! above both `lang` and `lint`, and neither imports the other's caller.

use crate::lang::diag::{self, Diag};
use crate::lang::span::{SourceFile, Sources};
use crate::lang::{check, parse, resolve, stdlib};
use crate::spec::Pipeline;
use std::path::Path;
use std::sync::Arc;

/// The rules that need the data on disk (`exp check --data`): the runtime's
/// `exp::preflight::data_rules`.
pub type DataRules = crate::lint::ExtraRules;

/// Options of a check.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// The rules that open the data sets and weights (`exp check --data`),
    /// supplied by the runtime; `None` checks the text only.
    pub data: Option<DataRules>,
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
    let (text, not_utf8) = parse::decode(&bytes, 0);
    let mut outcome = check_source(
        SourceFile {
            name: path.display().to_string(),
            path: Some(path.to_path_buf()),
            text: Arc::from(text),
            is_std: false,
        },
        sets,
        opts,
    );
    if let Some(d) = not_utf8 {
        let key = |d: &Diag| (d.file, d.primary().map_or(0, |l| l.offset()));
        let at = outcome.diagnostics.partition_point(|x| key(x) <= key(&d));
        outcome.diagnostics.insert(at, d);
        outcome.pipeline = None;
    }
    Ok(outcome)
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
    diags.extend(crate::lint::run(&env, &checked, opts.data));
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

//! Editor support: `exp fmt` (the canonical layout) and `exp lsp` (a language
//! server on stdio). Highlighting grammars live in `grammar/` and `editors/`.

pub mod analysis;
pub mod cst;
pub mod fields;
pub mod fixes;
pub mod format;
pub mod lsp;
pub mod rename;
pub mod text;

use miette::{Diagnostic, NamedSource, SourceSpan};
use std::path::{Path, PathBuf};

/// What can go wrong while formatting.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum FmtError {
    #[error("cannot read {}", path.display())]
    #[diagnostic(code(exp::fmt::io), help("check that the file exists and is readable"))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}", path.display())]
    #[diagnostic(
        code(exp::fmt::io),
        help("check that the file and its folder are writable")
    )]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{message}")]
    #[diagnostic(
        code(exp::fmt::syntax),
        help("`exp fmt` formats files that parse; `exp check {}` explains the error in full", path.display())
    )]
    Syntax {
        path: PathBuf,
        message: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("here")]
        span: SourceSpan,
    },
    /// A parse diagnostic of `crate::lang` that stops formatting before any
    /// layout (a byte that is not UTF-8), with the code `exp check` gives.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Parse(crate::lang::diag::WithSourceOwned),
    #[error("{} is not formatted", path.display())]
    #[diagnostic(code(exp::fmt::unformatted), help("run `exp fmt {}` to rewrite it", path.display()))]
    Unformatted { path: PathBuf },
    #[error("formatting {} would change its meaning; the file was left as it is", path.display())]
    #[diagnostic(
        code(exp::fmt::changed_meaning),
        help("this is a bug in `exp fmt`: please report it with the file attached")
    )]
    ChangedMeaning { path: PathBuf },
}

/// Format `src` (read from `path`, used in messages). The result has the same
/// meaningful tokens as the input, or an error is returned instead.
pub fn format_text(path: &Path, src: &str) -> Result<String, Box<FmtError>> {
    let syntax_error = |e: cst::SyntaxError| {
        Box::new(FmtError::Syntax {
            path: path.to_path_buf(),
            message: e.message,
            src: NamedSource::new(path.display().to_string(), src.to_string()),
            span: (e.span.start, e.span.len()).into(),
        })
    };
    let tree = cst::parse(src).map_err(syntax_error)?;
    let out = format::format_file(&tree);
    // Why: a cheap guard that the layout moved only blanks, separators and
    // comments; the property test checks the full checked model.
    let same = cst::meaningful_tokens(&tree)
        == cst::meaningful_tokens(&cst::parse(&out).map_err(syntax_error)?);
    if !same {
        return Err(Box::new(FmtError::ChangedMeaning {
            path: path.to_path_buf(),
        }));
    }
    Ok(out)
}

/// Outcome of formatting one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FmtOutcome {
    Unchanged,
    Rewritten,
    /// `--check` and the file differs from its canonical layout.
    WouldChange,
}

/// Format one file on disk (or only compare, with `check`).
pub fn format_path(path: &Path, check: bool) -> Result<FmtOutcome, Box<FmtError>> {
    let bytes = std::fs::read(path).map_err(|source| {
        Box::new(FmtError::Read {
            path: path.to_path_buf(),
            source,
        })
    })?;
    let (src, not_utf8) = crate::lang::parse::decode(&bytes, 0);
    if let Some(d) = not_utf8 {
        // Why: the same diagnostic as `exp check`, so both name one place.
        let mut sources = crate::lang::span::Sources::default();
        sources.add(crate::lang::span::SourceFile {
            name: path.display().to_string(),
            path: Some(path.to_path_buf()),
            text: src.into(),
            is_std: false,
        });
        return Err(Box::new(FmtError::Parse(
            crate::lang::diag::WithSourceOwned::new(d, &sources),
        )));
    }
    let out = format_text(path, &src)?;
    if out == src {
        return Ok(FmtOutcome::Unchanged);
    }
    if check {
        return Ok(FmtOutcome::WouldChange);
    }
    std::fs::write(path, out).map_err(|source| {
        Box::new(FmtError::Write {
            path: path.to_path_buf(),
            source,
        })
    })?;
    Ok(FmtOutcome::Rewritten)
}

//! One diagnostic (error or warning) bound to its file, and the one place
//! diagnostics are rendered: human (miette graphical) or JSON.

use super::span::{FileId, Sources};
use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError,
    MietteSpanContents, Severity, SourceCode, SourceSpan, SpanContents,
};
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// A phase error or lint bound to the file its spans point into.
pub struct Diag {
    pub file: FileId,
    inner: Box<dyn Diagnostic + Send + Sync + 'static>,
}

impl fmt::Debug for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Diag")
            .field("file", &self.file)
            .field("code", &self.code())
            .field("message", &self.message())
            .finish()
    }
}

impl Diag {
    pub fn new(file: FileId, inner: impl Diagnostic + Send + Sync + 'static) -> Self {
        Self {
            file,
            inner: Box::new(inner),
        }
    }

    pub fn severity(&self) -> Severity {
        self.inner.severity().unwrap_or(Severity::Error)
    }

    pub fn is_error(&self) -> bool {
        self.severity() == Severity::Error
    }

    /// The stable code, e.g. `exp::resolve::unknown_name`.
    pub fn code(&self) -> String {
        self.inner.code().map(|c| c.to_string()).unwrap_or_default()
    }

    pub fn message(&self) -> String {
        self.inner.to_string()
    }

    pub fn help(&self) -> Option<String> {
        self.inner.help().map(|h| h.to_string())
    }

    /// The phase error inside, when it is a `T` (e.g.
    /// [`super::error::CheckError`]), to match on its fields.
    pub fn downcast_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        let e: &(dyn std::error::Error + 'static) = &*self.inner;
        e.downcast_ref::<T>()
    }

    /// Every label, primary and secondary.
    pub fn labels(&self) -> Vec<LabeledSpan> {
        self.inner.labels().map(|l| l.collect()).unwrap_or_default()
    }

    /// The primary label (or the first label).
    pub fn primary(&self) -> Option<LabeledSpan> {
        let labels: Vec<LabeledSpan> = self.inner.labels().map(|l| l.collect()).unwrap_or_default();
        labels
            .iter()
            .find(|l| l.primary())
            .cloned()
            .or_else(|| labels.into_iter().next())
    }

    /// The error with its source attached, ready for a miette handler.
    pub fn with_source(&self, sources: &Sources) -> WithSource<'_> {
        let (name, text) = match sources.get(self.file) {
            Some(f) => (f.name.clone(), f.text.clone()),
            None => ("<unknown>".to_string(), Arc::from("")),
        };
        WithSource {
            diag: self,
            src: Named { name, text },
        }
    }

    /// A JSON-ready record with 1-based positions.
    pub fn to_json(&self, sources: &Sources) -> JsonDiag {
        let file = sources
            .get(self.file)
            .map(|f| f.name.clone())
            .unwrap_or_default();
        let (start, end) = match self.primary() {
            Some(l) => (l.offset(), l.offset() + l.len()),
            None => (0, 0),
        };
        let (line, column) = sources.line_col(self.file, start);
        let (end_line, end_column) = sources.line_col(self.file, end);
        JsonDiag {
            severity: match self.severity() {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Advice => "advice",
            },
            code: self.code(),
            message: self.message(),
            file,
            line,
            column,
            end_line,
            end_column,
            help: self.help(),
        }
    }

    /// 1-based line of the primary span.
    pub fn line(&self, sources: &Sources) -> usize {
        let start = self.primary().map_or(0, |l| l.offset());
        sources.line_col(self.file, start).0
    }
}

/// A named source text whose columns count characters, as
/// [`Sources::line_col`] (and so the JSON output) does.
/// Why: miette counts bytes, so after `é` the two outputs would disagree.
pub struct Named {
    name: String,
    text: Arc<str>,
}

impl SourceCode for Named {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let text: &'a str = &self.text;
        let c = text.read_span(span, context_lines_before, context_lines_after)?;
        let column = if c.column() == 0 {
            0
        } else {
            super::span::line_col(text, span.offset()).1 - 1
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            c.data(),
            *c.span(),
            c.line(),
            column,
            c.line_count(),
        )))
    }
}

/// The JSON form of a diagnostic (`exp check --format json`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct JsonDiag {
    pub severity: &'static str,
    pub code: String,
    pub message: String,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub help: Option<String>,
}

/// A [`Diag`] together with its source text.
pub struct WithSource<'a> {
    diag: &'a Diag,
    src: Named,
}

impl fmt::Debug for WithSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diag, f)
    }
}

impl fmt::Display for WithSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.diag.inner, f)
    }
}

impl std::error::Error for WithSource<'_> {}

impl Diagnostic for WithSource<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diag.inner.code()
    }
    fn severity(&self) -> Option<Severity> {
        self.diag.inner.severity()
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diag.inner.help()
    }
    fn url<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diag.inner.url()
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.src)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.diag.inner.labels()
    }
}

/// Render one diagnostic as text. `color` adds ANSI colours; `width` wraps.
pub fn render(diag: &Diag, sources: &Sources, color: bool, width: usize) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(width);
    let mut out = String::new();
    let ws = diag.with_source(sources);
    if handler.render_report(&mut out, &ws).is_err() {
        out = format!("{}: {}\n", diag.code(), diag.message());
    }
    out
}

/// Render every diagnostic plus a one-line summary, without colour (for
/// snapshots and logs).
pub fn render_all(diags: &[Diag], sources: &Sources, width: usize) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&render(d, sources, false, width));
        out.push('\n');
    }
    out.push_str(&summary(diags));
    out
}

/// `2 errors, 1 warning`.
pub fn summary(diags: &[Diag]) -> String {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    let plural = |n: usize, w: &str| {
        if n == 1 {
            format!("{n} {w}")
        } else {
            format!("{n} {w}s")
        }
    };
    format!(
        "{}, {}\n",
        plural(errors, "error"),
        plural(warnings, "warning")
    )
}

/// Several error diagnostics as one report (what [`super::load`] returns).
pub struct Report {
    pub summary: String,
    pub related: Vec<WithSourceOwned>,
}

/// Owned variant of [`WithSource`] for reports that outlive the check.
pub struct WithSourceOwned {
    inner: Box<dyn Diagnostic + Send + Sync + 'static>,
    src: Named,
}

impl WithSourceOwned {
    pub fn new(diag: Diag, sources: &Sources) -> Self {
        let (name, text) = match sources.get(diag.file) {
            Some(f) => (f.name.clone(), f.text.clone()),
            None => ("<unknown>".to_string(), Arc::from("")),
        };
        Self {
            inner: diag.inner,
            src: Named { name, text },
        }
    }
}

impl fmt::Debug for WithSourceOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)
    }
}
impl fmt::Display for WithSourceOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}
impl std::error::Error for WithSourceOwned {}
impl Diagnostic for WithSourceOwned {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.inner.code()
    }
    fn severity(&self) -> Option<Severity> {
        self.inner.severity()
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.inner.help()
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.src)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.inner.labels()
    }
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.summary)
    }
}
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.summary)
    }
}
impl std::error::Error for Report {}
impl Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("exp::check::failed"))
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.related.iter().map(|d| d as &dyn Diagnostic)))
    }
}

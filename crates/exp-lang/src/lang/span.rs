//! Byte spans into source files, and the set of files a check has read.

use std::path::PathBuf;
use std::sync::Arc;

/// Index of a file in [`Sources`].
pub type FileId = u32;

/// A byte range `[start, end)` in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord, serde::Serialize)]
pub struct Span {
    pub file: FileId,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Self { file, start, end }
    }

    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The smallest span covering both (same file assumed).
    pub fn join(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(s: Span) -> Self {
        (s.start, s.len()).into()
    }
}

/// One source text: a file on disk, a stdlib module or a `--set` argument.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Name shown in diagnostics (`pipelines/x.exp`, `std.recipes`, `--set #1`).
    pub name: String,
    /// Path on disk, for resolving relative `use` and data paths.
    pub path: Option<PathBuf>,
    pub text: Arc<str>,
    /// Whether this is a standard-library module.
    pub is_std: bool,
}

/// Every source text read during one check; spans index into it.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub files: Vec<SourceFile>,
}

impl Sources {
    pub fn add(&mut self, file: SourceFile) -> FileId {
        self.files.push(file);
        (self.files.len() - 1) as FileId
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id as usize)
    }

    /// 1-based (line, column) of a byte offset; columns count characters.
    pub fn line_col(&self, id: FileId, offset: usize) -> (usize, usize) {
        match self.get(id) {
            Some(f) => line_col(&f.text, offset),
            None => (1, 1),
        }
    }
}

/// 1-based (line, column) of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

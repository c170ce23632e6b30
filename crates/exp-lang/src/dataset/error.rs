//! Errors of the data phase: each names the file, row or column at fault and
//! says what to do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DataError {
    #[error("{0}")]
    #[diagnostic(code(exp::data::other))]
    Other(String),

    #[error("cannot read {path}: {reason}")]
    #[diagnostic(
        code(exp::data::io),
        help("check that the path exists and is readable")
    )]
    Io { path: PathBuf, reason: String },

    #[error("manifest {manifest} has no column `{column}` (columns: {found})")]
    #[diagnostic(
        code(exp::data::missing_column),
        help("name the column in `columns = {{...}}` or `metadata = [...]`, or add it to the CSV")
    )]
    MissingColumn {
        manifest: PathBuf,
        column: String,
        found: String,
    },

    #[error("manifest {manifest} has two columns named `{column}`")]
    #[diagnostic(
        code(exp::data::duplicate_column),
        help("rename or remove one of them; exp will not guess which one you meant")
    )]
    DuplicateColumn { manifest: PathBuf, column: String },

    #[error("metadata column `{column}` has no values in the train split")]
    #[diagnostic(
        code(exp::data::empty_column),
        help("the encoding is fitted on the train split, so this column would carry nothing there and unscaled values elsewhere; fill it in or remove it from `metadata`")
    )]
    EmptyColumn { manifest: PathBuf, column: String },

    #[error("{manifest}:{row}: metadata column `{column}` {problem}")]
    #[diagnostic(code(exp::data::metadata_type), help("{help}"))]
    MetadataType {
        manifest: PathBuf,
        row: usize,
        column: String,
        problem: String,
        help: String,
    },

    #[error("metadata column `{column}` {why}")]
    #[diagnostic(
        code(exp::data::label_in_metadata),
        help("remove `{column}` from `metadata`: the model would read the answer from it")
    )]
    LabelInMetadata { column: String, why: String },

    #[error("{manifest}:{row}: {reason}")]
    #[diagnostic(
        code(exp::data::bad_row),
        help("fix or remove this row of the manifest")
    )]
    BadRow {
        manifest: PathBuf,
        row: usize,
        reason: String,
    },

    #[error("{manifest}:{row}: column `{column}` is numeric but holds `{value}`")]
    #[diagnostic(
        code(exp::data::bad_value),
        help("write a number, or leave the cell empty (or NA) to mark it missing")
    )]
    BadValue {
        manifest: PathBuf,
        row: usize,
        column: String,
        value: String,
    },

    #[error("{location}: image `{path}` is listed twice (first at {first})")]
    #[diagnostic(
        code(exp::data::duplicate_path),
        help("remove the duplicate row; each image may appear once")
    )]
    DuplicatePath {
        location: String,
        path: String,
        first: String,
    },

    #[error("{location}: label `{label}` is not a class of the training split ({classes})")]
    #[diagnostic(
        code(exp::data::unknown_label),
        help("fix the label's spelling, or add training images of this class")
    )]
    UnknownLabel {
        location: String,
        label: String,
        classes: String,
    },

    #[error("split `{split}` of data `{data}` is empty")]
    #[diagnostic(code(exp::data::empty_split), help("{help}"))]
    EmptySplit {
        data: String,
        split: String,
        help: String,
    },

    #[error("{location}: image {path} does not exist")]
    #[diagnostic(
        code(exp::data::missing_image),
        help("fix the path (relative to the data root), or set `on_bad_image = skip` to skip and list it")
    )]
    MissingImage { location: String, path: PathBuf },

    #[error("{location}: image {path} cannot be decoded: {reason}")]
    #[diagnostic(
        code(exp::data::bad_image),
        help("re-export or remove the file, or set `on_bad_image = skip` to skip and list it")
    )]
    BadImage {
        location: String,
        path: PathBuf,
        reason: String,
    },

    #[error("no images found under {root}")]
    #[diagnostic(
        code(exp::data::no_images),
        help("expected <root>/<split>/<class>/[subfolders/]*.jpg (or .png, .bmp, .tif, .webp), e.g. root/train/cat/001.jpg")
    )]
    NoImages { root: PathBuf },

    #[error("data `{data}` has no split `{split}` (splits: {found})")]
    #[diagnostic(code(exp::data::unknown_split), help("use one of the listed splits"))]
    UnknownSplit {
        data: String,
        split: String,
        found: String,
    },

    #[error("decode cache {path}: {reason}")]
    #[diagnostic(
        code(exp::data::cache),
        help("check free space and permissions of the cache directory (the data's `cache` field, $EXP_CACHE or ~/.cache/exp)")
    )]
    Cache { path: PathBuf, reason: String },

    #[error("invalid data settings: {0}")]
    #[diagnostic(
        code(exp::data::settings),
        help("fix the setting in the `data` or loader configuration")
    )]
    Settings(String),

    #[error("moving a batch to the device failed: {0}")]
    #[diagnostic(
        code(exp::data::device),
        help("check the device and free memory on it")
    )]
    Device(String),
}

impl DataError {
    pub fn io(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> Self {
        DataError::Io {
            path: path.into(),
            reason: e.to_string(),
        }
    }

    /// Stable code (`exp::data::...`), used for `DataProblem`s.
    pub fn code(&self) -> &'static str {
        match self {
            DataError::Other(_) => "exp::data::other",
            DataError::Io { .. } => "exp::data::io",
            DataError::MissingColumn { .. } => "exp::data::missing_column",
            DataError::BadRow { .. } => "exp::data::bad_row",
            DataError::DuplicateColumn { .. } => "exp::data::duplicate_column",
            DataError::EmptyColumn { .. } => "exp::data::empty_column",
            DataError::MetadataType { .. } => "exp::data::metadata_type",
            DataError::LabelInMetadata { .. } => "exp::data::label_in_metadata",
            DataError::BadValue { .. } => "exp::data::bad_value",
            DataError::DuplicatePath { .. } => "exp::data::duplicate_path",
            DataError::UnknownLabel { .. } => "exp::data::unknown_label",
            DataError::EmptySplit { .. } => "exp::data::empty_split",
            DataError::MissingImage { .. } => "exp::data::missing_image",
            DataError::BadImage { .. } => "exp::data::bad_image",
            DataError::NoImages { .. } => "exp::data::no_images",
            DataError::UnknownSplit { .. } => "exp::data::unknown_split",
            DataError::Cache { .. } => "exp::data::cache",
            DataError::Settings(_) => "exp::data::settings",
            DataError::Device(_) => "exp::data::device",
        }
    }

    /// Where the problem is: `manifest.csv:12`, an image path, or the split.
    pub fn location(&self) -> String {
        match self {
            DataError::BadRow { manifest, row, .. }
            | DataError::BadValue { manifest, row, .. }
            | DataError::MetadataType { manifest, row, .. } => {
                format!("{}:{row}", manifest.display())
            }
            DataError::DuplicateColumn { manifest, .. }
            | DataError::EmptyColumn { manifest, .. } => manifest.display().to_string(),
            DataError::LabelInMetadata { column, .. } => format!("column `{column}`"),
            DataError::DuplicatePath { location, .. }
            | DataError::UnknownLabel { location, .. }
            | DataError::MissingImage { location, .. }
            | DataError::BadImage { location, .. } => location.clone(),
            DataError::MissingColumn { manifest, .. } => manifest.display().to_string(),
            DataError::Io { path, .. } | DataError::Cache { path, .. } => {
                path.display().to_string()
            }
            DataError::NoImages { root } => root.display().to_string(),
            DataError::EmptySplit { data, split, .. }
            | DataError::UnknownSplit { data, split, .. } => {
                format!("data `{data}`, split `{split}`")
            }
            DataError::Other(_) | DataError::Settings(_) | DataError::Device(_) => String::new(),
        }
    }

    /// The help line, as the diagnostic renders it.
    pub fn help_line(&self) -> String {
        use miette::Diagnostic;
        self.help().map(|h| h.to_string()).unwrap_or_default()
    }
}

//! Errors of the model zoo: unknown architectures, weights that cannot be
//! found, read or matched to the network, and images `exp embed` cannot use.

use std::path::PathBuf;

/// How many key names an error lists before "… and N more".
const LIST_LIMIT: usize = 8;

/// `a, b, c … and N more`.
pub(crate) fn list_keys(keys: &[String]) -> String {
    let mut out = keys
        .iter()
        .take(LIST_LIMIT)
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if keys.len() > LIST_LIMIT {
        out.push_str(&format!(" … and {} more", keys.len() - LIST_LIMIT));
    }
    out
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ModelError {
    #[error("unknown backbone architecture `{name}`")]
    #[diagnostic(code(exp::model::unknown_arch), help("{help}"))]
    UnknownArch { name: String, help: String },

    #[error("`{}` is a pickle checkpoint; exp reads only .safetensors", path.display())]
    #[diagnostic(
        code(exp::model::pickle_weights),
        help(
            "convert it once with Python: python -c \"import torch, safetensors.torch as st; \
             sd = torch.load('{}', map_location='cpu'); sd = sd.get('state_dict', sd); \
             st.save_file({{k: v.contiguous() for k, v in sd.items()}}, 'model.safetensors')\"",
            path.display()
        )
    )]
    PickleWeights { path: PathBuf },

    #[error("weights file `{}` does not exist", path.display())]
    #[diagnostic(code(exp::model::weights_not_found), help("check the path (relative paths start at the pipeline file's directory or the working directory)"))]
    WeightsNotFound { path: PathBuf },

    #[error("`{repo}` (file `{file}`) is not in the local Hugging Face cache")]
    #[diagnostic(
        code(exp::model::hf_not_cached),
        help(
            "exp never downloads; fetch it once on a machine with network (`hf download {repo} {file}{revision_arg}`) and copy the \
             cache, or point HF_HUB_CACHE / HF_HOME at it. Searched: {searched}"
        )
    )]
    HfNotCached {
        repo: String,
        file: String,
        /// ` --revision R` for a pinned revision, else empty.
        revision_arg: String,
        searched: String,
    },

    #[error("cannot read weights file `{}`: {reason}", path.display())]
    #[diagnostic(
        code(exp::model::corrupt_weights),
        help("the file is truncated or not safetensors; download or convert it again")
    )]
    CorruptWeights { path: PathBuf, reason: String },

    #[error(
        "weights `{}` do not match the network under `{scope}`: {} missing, {} unexpected",
        path.display(), missing.len(), unexpected.len()
    )]
    #[diagnostic(
        code(exp::model::key_mismatch),
        help(
            "missing: {}; unexpected: {}. Is the checkpoint for another architecture?",
            list_keys(missing),
            list_keys(unexpected)
        )
    )]
    KeyMismatch {
        path: PathBuf,
        scope: String,
        missing: Vec<String>,
        unexpected: Vec<String>,
    },

    #[error("weights `{}` have {} tensor(s) of the wrong shape for the network under `{scope}`", path.display(), mismatches.len())]
    #[diagnostic(code(exp::model::shape_mismatch), help("{}. Is the checkpoint for another size of this architecture?", mismatches.iter().take(LIST_LIMIT).cloned().collect::<Vec<_>>().join("; ")))]
    ShapeMismatch {
        path: PathBuf,
        scope: String,
        mismatches: Vec<String>,
    },

    #[error("image size {size} does not suit `{arch}`")]
    #[diagnostic(
        code(exp::model::image_size),
        help("use a positive multiple of {multiple} (the patch size)")
    )]
    BadImageSize {
        arch: String,
        size: u32,
        multiple: u32,
    },

    #[error("image size {size} is too small for `{arch}`: it needs at least {min} pixels")]
    #[diagnostic(
        code(exp::model::image_too_small),
        help("use image_size = {min} or more")
    )]
    ImageTooSmall { arch: String, size: u32, min: u32 },

    #[error("cannot read image `{}`: {reason}", path.display())]
    #[diagnostic(
        code(exp::model::bad_image),
        help("check that the file is a readable JPEG or PNG")
    )]
    BadImage { path: PathBuf, reason: String },

    #[error("cannot write `{}`: {reason}", path.display())]
    #[diagnostic(
        code(exp::model::write),
        help("check that the directory exists and is writable")
    )]
    Write { path: PathBuf, reason: String },

    #[error("unknown device `{0}`")]
    #[diagnostic(code(exp::model::device), help("use auto, cpu, cuda or cuda:N"))]
    BadDevice(String),

    #[error("libtorch failed while {context}: {reason}")]
    #[diagnostic(
        code(exp::model::torch),
        help(
            "this is a bug or an out-of-memory condition; rerun with a smaller batch or report it"
        )
    )]
    Torch { context: String, reason: String },

    /// A message from a layer that has no variant of its own.
    #[error("{0}")]
    #[diagnostic(code(exp::model::other))]
    Other(String),
}

impl ModelError {
    pub(crate) fn unknown_arch(name: &str) -> Self {
        let best = exp_lang::lang::suggest::closest(name, super::ARCHS.iter().map(|a| a.0));
        let names = super::ARCHS
            .iter()
            .map(|a| a.0)
            .collect::<Vec<_>>()
            .join(", ");
        let help = match best {
            Some(n) => format!("did you mean `{n}`? Known: {names}"),
            None => format!("known architectures: {names}"),
        };
        ModelError::UnknownArch {
            name: name.to_string(),
            help,
        }
    }

    pub(crate) fn torch(context: &str, e: tch::TchError) -> Self {
        ModelError::Torch {
            context: context.to_string(),
            reason: e.to_string(),
        }
    }
}

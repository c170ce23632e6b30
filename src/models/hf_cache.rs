//! Find a file of a Hugging Face model repository in the local hub cache,
//! never touching the network.
//!
//! Layout (written by `huggingface_hub`): `<cache>/models--<org>--<name>/`
//! with `refs/<revision>` holding a commit hash and
//! `snapshots/<commit>/<file>` (usually a link into `blobs/`).

use super::weights::is_pickle_path;
use super::ModelError;
use std::path::{Path, PathBuf};

/// The file read when `hf(...)` names none.
pub const DEFAULT_FILE: &str = "model.safetensors";

/// Cache directories in the order `huggingface_hub` honours them:
/// `$HF_HUB_CACHE`, `$HF_HOME/hub`, `~/.cache/huggingface/hub`.
pub fn cache_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(dir) = std::env::var_os("HF_HUB_CACHE").filter(|v| !v.is_empty()) {
        roots.push(PathBuf::from(dir));
    }
    if let Some(home) = std::env::var_os("HF_HOME").filter(|v| !v.is_empty()) {
        roots.push(PathBuf::from(home).join("hub"));
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        roots.push(PathBuf::from(home).join(".cache/huggingface/hub"));
    }
    roots
}

/// A file found in the cache and the snapshot (commit hash) it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedFile {
    pub path: PathBuf,
    /// The commit `revision` resolved to: what a pipeline pins with
    /// `hf("org/name", revision = "<commit>")`.
    pub commit: String,
}

/// The path of `file` (default `model.safetensors`) of `repo` at `revision`
/// (default `main`; a branch/tag name under `refs/` or a commit hash).
pub fn resolve(
    repo: &str,
    revision: Option<&str>,
    file: Option<&str>,
) -> Result<PathBuf, ModelError> {
    resolve_in(&cache_roots(), repo, revision, file).map(|c| c.path)
}

/// [`resolve`] over explicit cache roots, with the snapshot's commit.
pub fn resolve_in(
    roots: &[PathBuf],
    repo: &str,
    revision: Option<&str>,
    file: Option<&str>,
) -> Result<CachedFile, ModelError> {
    let file = file.unwrap_or(DEFAULT_FILE);
    let revision = revision.unwrap_or("main");
    let dir_name = format!("models--{}", repo.replace('/', "--"));
    let mut searched = Vec::new();
    for root in roots {
        let repo_dir = root.join(&dir_name);
        searched.push(repo_dir.display().to_string());
        let Some(commit) = commit_of(&repo_dir, revision) else {
            continue;
        };
        let snapshot = repo_dir.join("snapshots").join(&commit);
        let candidate = snapshot.join(file);
        if candidate.is_file() {
            if is_pickle_path(&candidate) {
                return Err(ModelError::PickleWeights { path: candidate });
            }
            return Ok(CachedFile {
                path: candidate,
                commit,
            });
        }
        // Why: an older timm upload may only carry the pickle; say so instead
        // of "not cached".
        if file == DEFAULT_FILE {
            let pickle = snapshot.join("pytorch_model.bin");
            if pickle.is_file() {
                return Err(ModelError::PickleWeights { path: pickle });
            }
        }
    }
    Err(ModelError::HfNotCached {
        repo: repo.to_string(),
        file: file.to_string(),
        revision_arg: if revision == "main" {
            String::new()
        } else {
            format!(" --revision {revision}")
        },
        searched: if searched.is_empty() {
            "(no cache directory: HOME, HF_HOME and HF_HUB_CACHE unset)".into()
        } else {
            searched.join(", ")
        },
    })
}

/// The commit a revision names: the content of `refs/<revision>`, or the
/// revision itself when it is a snapshot directory (a commit hash).
fn commit_of(repo_dir: &Path, revision: &str) -> Option<String> {
    if let Ok(text) = std::fs::read_to_string(repo_dir.join("refs").join(revision)) {
        let commit = text.trim();
        if !commit.is_empty() {
            return Some(commit.to_string());
        }
    }
    repo_dir
        .join("snapshots")
        .join(revision)
        .is_dir()
        .then(|| revision.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fake_repo(root: &Path, repo: &str, commit: &str, files: &[&str]) {
        let dir = root.join(format!("models--{}", repo.replace('/', "--")));
        std::fs::create_dir_all(dir.join("refs")).unwrap();
        std::fs::write(dir.join("refs/main"), format!("{commit}\n")).unwrap();
        let snap = dir.join("snapshots").join(commit);
        std::fs::create_dir_all(&snap).unwrap();
        for f in files {
            std::fs::write(snap.join(f), b"x").unwrap();
        }
    }

    #[test]
    fn resolves_main_through_refs_and_commit_hashes_directly() {
        let tmp = tempfile::tempdir().unwrap();
        fake_repo(
            tmp.path(),
            "timm/resnet18.a1_in1k",
            "abc123",
            &["model.safetensors"],
        );
        let roots = vec![tmp.path().join("missing"), tmp.path().to_path_buf()];
        let c = resolve_in(&roots, "timm/resnet18.a1_in1k", None, None).unwrap();
        assert!(c
            .path
            .ends_with("models--timm--resnet18.a1_in1k/snapshots/abc123/model.safetensors"));
        assert_eq!(
            c.commit, "abc123",
            "main resolves to the commit in refs/main"
        );
        let c = resolve_in(&roots, "timm/resnet18.a1_in1k", Some("abc123"), None).unwrap();
        assert!(c.path.ends_with("snapshots/abc123/model.safetensors"));
        assert_eq!(c.commit, "abc123");
    }

    fn err_again(root: &Path, revision: Option<&str>) -> ModelError {
        resolve_in(&[root.to_path_buf()], "timm/nope", revision, None).unwrap_err()
    }

    #[test]
    fn missing_repo_lists_the_searched_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let err = resolve_in(&[tmp.path().to_path_buf()], "timm/nope", None, None).unwrap_err();
        let text = format!("{:?}", miette::Report::new(err));
        assert!(text.contains("exp::model::hf_not_cached"), "{text}");
        assert!(text.contains("models--timm--nope"), "{text}");
        let help = |e: &ModelError| miette::Diagnostic::help(e).unwrap().to_string();
        assert!(
            help(&err_again(tmp.path(), None))
                .contains("(`hf download timm/nope model.safetensors`)"),
            "the default revision needs no flag"
        );
        let pinned = help(&err_again(tmp.path(), Some("abc1")));
        assert!(
            pinned.contains("`hf download timm/nope model.safetensors --revision abc1`"),
            "{pinned}"
        );
    }

    #[test]
    fn pickle_only_snapshot_is_refused_with_the_conversion_help() {
        let tmp = tempfile::tempdir().unwrap();
        fake_repo(tmp.path(), "org/old", "c0ffee", &["pytorch_model.bin"]);
        let err = resolve_in(&[tmp.path().to_path_buf()], "org/old", None, None).unwrap_err();
        let text = format!("{:?}", miette::Report::new(err));
        assert!(text.contains("exp::model::pickle_weights"), "{text}");
        assert!(text.contains("safetensors.torch"), "{text}");
    }
}

//! Load pretrained weights from a `.safetensors` file into the variables of a
//! VarStore, strictly: every variable must be present with its shape, and
//! every checkpoint tensor must be used, except the checkpoint's classifier
//! (replaced by the bake-off head) and batch-norm step counters.

use super::head::BACKBONE_PREFIX;
use super::{hf_cache, ModelError};
use crate::spec::Weights;
use safetensors::{Dtype, SafeTensorError, SafeTensors};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use tch::{nn, Kind, Tensor};

/// File extensions of pickle-based PyTorch checkpoints, which can run code
/// when loaded and which libtorch's C++ API cannot read reliably.
const PICKLE_EXTENSIONS: &[&str] = &["pt", "pth", "bin", "ckpt", "pkl", "tar"];

pub(crate) fn is_pickle_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| PICKLE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Keys of classifier heads in timm checkpoints (ResNet `fc`, ConvNeXt
/// `head.fc`, EfficientNet `classifier`, ViT `head`); ignored when the
/// network has no such variable.
fn is_classifier_key(key: &str) -> bool {
    ["fc.", "head.fc.", "classifier.", "head_dist."]
        .iter()
        .any(|p| key.starts_with(p))
        || key == "head.weight"
        || key == "head.bias"
}

/// Where the weights live on disk (HF references resolved in the cache).
pub fn resolve_weights(weights: &Weights) -> Result<PathBuf, ModelError> {
    match weights {
        Weights::File(path) => Ok(path.clone()),
        Weights::Hf {
            repo,
            revision,
            file,
        } => hf_cache::resolve(repo, revision.as_deref(), file.as_deref()),
    }
}

/// The weights file on this machine: [`resolve_weights`], and for a local
/// path also that the file is there (`WeightsNotFound` if not). What
/// `exp run`'s pre-flight and `exp check --data` ask before anything loads.
pub fn locate_weights(weights: &Weights) -> Result<PathBuf, ModelError> {
    let path = resolve_weights(weights)?;
    if path.is_file() {
        Ok(path)
    } else {
        Err(ModelError::WeightsNotFound { path })
    }
}

/// What a cell's `config.json` records about its weights (`"weights"`):
/// the file read and, for a Hugging Face entry, the snapshot commit its
/// revision resolved to (`commit`), which `hf(..., revision = "<commit>")`
/// pins. Weights not on this machine record the error instead.
pub fn weights_record(weights: &Weights) -> serde_json::Value {
    weights_record_in(&hf_cache::cache_roots(), weights)
}

/// [`weights_record`] over explicit cache roots.
pub fn weights_record_in(roots: &[PathBuf], weights: &Weights) -> serde_json::Value {
    match weights {
        Weights::File(path) => serde_json::json!({ "file": path }),
        Weights::Hf {
            repo,
            revision,
            file,
        } => {
            let found = hf_cache::resolve_in(roots, repo, revision.as_deref(), file.as_deref());
            let mut v = serde_json::json!({
                "hf": repo,
                "revision": revision.as_deref().unwrap_or("main"),
                "file": file.as_deref().unwrap_or(hf_cache::DEFAULT_FILE),
            });
            match found {
                Ok(c) => {
                    v["commit"] = c.commit.into();
                    v["path"] = c.path.display().to_string().into();
                }
                Err(e) => v["error"] = e.to_string().into(),
            }
            v
        }
    }
}

/// Load pretrained backbone weights (safetensors file or HF cache) into the
/// variables under `backbone.`; the checkpoint's classifier head is ignored.
pub fn load_pretrained(vs: &mut nn::VarStore, weights: &Weights) -> Result<(), ModelError> {
    let path = resolve_weights(weights)?;
    load_safetensors(vs, &path, BACKBONE_PREFIX)
}

/// Copy the tensors of the safetensors file `path` into the variables of `vs`
/// whose names start with `prefix` (`""` = all), checkpoint key = variable
/// name without the prefix.
pub fn load_safetensors(
    vs: &mut nn::VarStore,
    path: &Path,
    prefix: &str,
) -> Result<(), ModelError> {
    if is_pickle_path(path) {
        return Err(ModelError::PickleWeights {
            path: path.to_path_buf(),
        });
    }
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ModelError::WeightsNotFound {
            path: path.to_path_buf(),
        },
        _ => ModelError::CorruptWeights {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
    })?;
    // SAFETY: the map is read-only and dropped before this function returns;
    // a concurrent truncation of the file is outside what we can guard against.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| ModelError::CorruptWeights {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if map.starts_with(b"PK\x03\x04") || map.first() == Some(&0x80) {
        // Why: a renamed torch.save file (zip or raw pickle) deserves the
        // conversion help, not "invalid header".
        return Err(ModelError::PickleWeights {
            path: path.to_path_buf(),
        });
    }
    let st = SafeTensors::deserialize(&map).map_err(|e| ModelError::CorruptWeights {
        path: path.to_path_buf(),
        reason: describe(&e),
    })?;

    let scope = if prefix.is_empty() {
        "(root)".to_string()
    } else {
        prefix.trim_end_matches('.').to_string()
    };
    let mut ours: BTreeMap<String, Tensor> = vs
        .variables()
        .into_iter()
        .filter_map(|(name, t)| name.strip_prefix(prefix).map(|k| (k.to_string(), t)))
        .collect();
    let mut unexpected = Vec::new();
    let mut present = BTreeSet::new();
    for key in st.names() {
        if key.ends_with("num_batches_tracked") {
            continue;
        }
        if ours.contains_key(key) {
            present.insert(key.to_string());
        } else if !is_classifier_key(key) {
            unexpected.push(key.to_string());
        }
    }
    let missing: Vec<String> = ours
        .keys()
        .filter(|k| !present.contains(*k))
        .cloned()
        .collect();
    unexpected.sort();
    if !missing.is_empty() || !unexpected.is_empty() {
        return Err(ModelError::KeyMismatch {
            path: path.to_path_buf(),
            scope,
            missing,
            unexpected,
        });
    }

    let mut mismatches = Vec::new();
    for (key, var) in &ours {
        let view = st.tensor(key).map_err(|e| ModelError::CorruptWeights {
            path: path.to_path_buf(),
            reason: describe(&e),
        })?;
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        if shape != var.size() {
            mismatches.push(format!(
                "`{key}`: checkpoint {:?}, network {:?}",
                shape,
                var.size()
            ));
        }
    }
    if !mismatches.is_empty() {
        return Err(ModelError::ShapeMismatch {
            path: path.to_path_buf(),
            scope,
            mismatches,
        });
    }

    tch::no_grad(|| -> Result<(), ModelError> {
        for (key, var) in ours.iter_mut() {
            let view = st.tensor(key).map_err(|e| ModelError::CorruptWeights {
                path: path.to_path_buf(),
                reason: describe(&e),
            })?;
            let kind = match view.dtype() {
                Dtype::F32 => Kind::Float,
                Dtype::F16 => Kind::Half,
                Dtype::BF16 => Kind::BFloat16,
                Dtype::F64 => Kind::Double,
                other => {
                    return Err(ModelError::CorruptWeights {
                        path: path.to_path_buf(),
                        reason: format!(
                            "tensor `{key}` has dtype {other:?}; expected a float type"
                        ),
                    })
                }
            };
            let src = Tensor::f_from_data_size(view.data(), &var.size(), kind)
                .map_err(|e| ModelError::torch(&format!("reading `{key}`"), e))?;
            var.f_copy_(&src)
                .map_err(|e| ModelError::torch(&format!("copying `{key}`"), e))?;
        }
        Ok(())
    })
}

fn describe(e: &SafeTensorError) -> String {
    match e {
        SafeTensorError::MetadataIncompleteBuffer
        | SafeTensorError::InvalidHeaderLength
        | SafeTensorError::HeaderTooSmall => {
            format!(
                "{e} — the file is shorter than its header declares (truncated download or copy?)"
            )
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_record_names_the_snapshot_commit_a_revision_resolved_to() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("models--timm--resnet50.tv2_in1k");
        let commit = "0123456789abcdef0123456789abcdef01234567";
        std::fs::create_dir_all(dir.join("refs")).unwrap();
        std::fs::write(dir.join("refs/main"), commit).unwrap();
        std::fs::create_dir_all(dir.join("snapshots").join(commit)).unwrap();
        std::fs::write(
            dir.join("snapshots").join(commit).join("model.safetensors"),
            b"x",
        )
        .unwrap();
        let roots = vec![tmp.path().to_path_buf()];
        let w = Weights::Hf {
            repo: "timm/resnet50.tv2_in1k".into(),
            revision: None,
            file: None,
        };
        let r = weights_record_in(&roots, &w);
        assert_eq!(r["hf"], "timm/resnet50.tv2_in1k");
        assert_eq!(r["revision"], "main");
        assert_eq!(r["commit"], commit);
        assert!(r["path"].as_str().unwrap().ends_with("model.safetensors"));
        let missing = Weights::Hf {
            repo: "timm/other".into(),
            revision: Some(commit.into()),
            file: None,
        };
        let r = weights_record_in(&roots, &missing);
        assert!(r.get("commit").is_none(), "{r}");
        assert!(r["error"]
            .as_str()
            .unwrap()
            .contains("not in the local Hugging Face cache"));
    }
}

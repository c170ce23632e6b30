//! Atomic files and tensor bundles: everything the trainer writes goes
//! through `atomic_write` (temp file in the same directory, fsync, rename,
//! fsync of the directory), so a `kill -9` at any point leaves either the old
//! file or the new one, never a torn one.
//!
//! A resumable checkpoint is ONE safetensors file (`ckpt/last.safetensors`):
//! model variables under `model.`, optimizer state under `optim.`, EMA
//! weights under `ema.`, and the loop state as JSON in the safetensors
//! metadata. Why one file: a single rename is the only multi-part commit the
//! file system gives for free.

use super::TrainError;
use safetensors::tensor::{Dtype, SafeTensors, View};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Metadata key holding the JSON loop state in a checkpoint file.
pub const STATE_KEY: &str = "exp.train_state";

/// Write `bytes` to `path` atomically ([`crate::atomic_file`]), as a
/// [`TrainError`] naming the file.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    crate::atomic_file::write_atomic(path, bytes).map_err(|e| TrainError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn dtype_of(kind: Kind) -> Option<Dtype> {
    Some(match kind {
        Kind::Bool => Dtype::BOOL,
        Kind::Uint8 => Dtype::U8,
        Kind::Int8 => Dtype::I8,
        Kind::Int16 => Dtype::I16,
        Kind::Int => Dtype::I32,
        Kind::Int64 => Dtype::I64,
        Kind::BFloat16 => Dtype::BF16,
        Kind::Half => Dtype::F16,
        Kind::Float => Dtype::F32,
        Kind::Double => Dtype::F64,
        _ => return None,
    })
}

fn kind_of(dtype: Dtype) -> Option<Kind> {
    Some(match dtype {
        Dtype::BOOL => Kind::Bool,
        Dtype::U8 => Kind::Uint8,
        Dtype::I8 => Kind::Int8,
        Dtype::I16 => Kind::Int16,
        Dtype::I32 => Kind::Int,
        Dtype::I64 => Kind::Int64,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::F16 => Kind::Half,
        Dtype::F32 => Kind::Float,
        Dtype::F64 => Kind::Double,
        _ => return None,
    })
}

/// A tensor copied to host memory, ready to serialise.
struct HostTensor {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl HostTensor {
    fn from_tensor(name: &str, t: &Tensor, path: &Path) -> Result<Self, TrainError> {
        let kind = t.kind();
        let dtype = dtype_of(kind).ok_or_else(|| TrainError::Checkpoint {
            path: path.to_path_buf(),
            message: format!("tensor `{name}` has unsupported kind {kind:?}"),
        })?;
        let host = t.to_device(Device::Cpu).contiguous();
        let numel = host.numel();
        let mut data = vec![0u8; numel * kind.elt_size_in_bytes()];
        host.f_copy_data_u8(&mut data, numel)
            .map_err(|e| TrainError::Checkpoint {
                path: path.to_path_buf(),
                message: format!("tensor `{name}`: {e}"),
            })?;
        let shape = host.size().iter().map(|&d| d as usize).collect();
        Ok(Self { dtype, shape, data })
    }
}

impl View for &HostTensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

/// Serialise named tensors (+ string metadata) as safetensors and write the
/// file atomically. Names must be unique. Pass at most one metadata key when
/// the bytes must be reproducible (safetensors orders metadata by hash).
pub fn save_tensors(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: BTreeMap<String, String>,
) -> Result<(), TrainError> {
    let host = tensors
        .iter()
        .map(|(n, t)| Ok((n.clone(), HostTensor::from_tensor(n, t, path)?)))
        .collect::<Result<Vec<_>, TrainError>>()?;
    let meta: Option<HashMap<String, String>> = if metadata.is_empty() {
        None
    } else {
        Some(metadata.into_iter().collect())
    };
    let bytes = safetensors::tensor::serialize(host.iter().map(|(n, h)| (n.as_str(), h)), meta)
        .map_err(|e| TrainError::Checkpoint {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    atomic_write(path, &bytes)
}

/// Named tensors (on the CPU) and metadata of a safetensors file.
pub struct TensorFile {
    pub tensors: BTreeMap<String, Tensor>,
    pub metadata: BTreeMap<String, String>,
}

pub fn load_tensors(path: &Path) -> Result<TensorFile, TrainError> {
    let bytes = std::fs::read(path).map_err(|e| TrainError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let bad = |message: String| TrainError::Checkpoint {
        path: path.to_path_buf(),
        message,
    };
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
    let metadata: BTreeMap<String, String> = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let mut tensors = BTreeMap::new();
    for (name, view) in st.tensors() {
        let kind = kind_of(view.dtype()).ok_or_else(|| {
            bad(format!(
                "tensor `{name}` has unsupported dtype {:?}",
                view.dtype()
            ))
        })?;
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let t = Tensor::f_from_data_size(view.data(), &shape, kind)
            .map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
        tensors.insert(name, t);
    }
    Ok(TensorFile { tensors, metadata })
}

/// Copy `src` tensors into the variables `dst` (same names), in place and
/// without recording gradients. Every variable must be present.
pub fn copy_into(
    dst: &BTreeMap<String, Tensor>,
    src: &BTreeMap<String, Tensor>,
    prefix: &str,
    path: &Path,
) -> Result<(), TrainError> {
    tch::no_grad(|| {
        for (name, var) in dst {
            let key = format!("{prefix}{name}");
            let t = src.get(&key).ok_or_else(|| TrainError::Checkpoint {
                path: path.to_path_buf(),
                message: format!("variable `{key}` is missing"),
            })?;
            if t.size() != var.size() {
                return Err(TrainError::Checkpoint {
                    path: path.to_path_buf(),
                    message: format!(
                        "variable `{key}` has shape {:?}, the model expects {:?}",
                        t.size(),
                        var.size()
                    ),
                });
            }
            let mut v = var.shallow_clone();
            v.f_copy_(t).map_err(|e| TrainError::Checkpoint {
                path: path.to_path_buf(),
                message: format!("`{key}`: {e}"),
            })?;
        }
        Ok(())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_keeps_bits_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.safetensors");
        let a = Tensor::from_slice(&[1.5f32, -0.0, f32::MIN_POSITIVE]).view([3, 1]);
        let b = Tensor::from_slice(&[7i64]);
        let mut meta = BTreeMap::new();
        meta.insert(STATE_KEY.to_string(), "{\"k\":1}".to_string());
        save_tensors(
            &p,
            &[("a".into(), a.shallow_clone()), ("b".into(), b)],
            meta,
        )
        .unwrap();
        let f = load_tensors(&p).unwrap();
        assert_eq!(f.metadata[STATE_KEY], "{\"k\":1}");
        assert_eq!(f.tensors["a"].size(), vec![3, 1]);
        assert!(f.tensors["a"].equal(&a));
        assert_eq!(f.tensors["b"].int64_value(&[0]), 7);
        // No temp files left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
    }
}

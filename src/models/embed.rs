//! `exp embed`: pooled backbone features of a list of images, written as a
//! safetensors file (`features`, f32 `[N, D]`, rows in argument order; the
//! paths, backbone and image size in the file's metadata).
//!
//! Preprocessing is the data module's, exactly as a data set's images reach
//! the model when scored: decoded as the decode cache decodes them (EXIF
//! orientation applied, shorter side resized to the cache size, by default
//! `image_size × 8/7`), centre-cropped by the eval transform, normalised as
//! the loader normalises ([`crate::data::files`]).
//!
//! Why one path: features of an image must be those of the same image in a
//! data set the model trained and was scored on, or the two disagree for
//! rotated phone photos and by resampling noise.

use super::head::BACKBONE_PREFIX;
use super::{arch_info, build_backbone, check_image_size, load_safetensors, runtime, ModelError};
use crate::data::files::{eval_batch, eval_image, EvalTransform};
use crate::options::EmbedOptions as EmbedArgs;
use crate::score::predictions::F32Tensor;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tch::{nn, Device, Kind, Tensor};

/// Images per forward pass.
const BATCH: usize = 32;

/// `hf:org/name` (the repo's `model.safetensors` in the local Hugging Face
/// cache) or a file path.
pub fn weights_path(arg: &Path) -> Result<PathBuf, ModelError> {
    match arg.to_str().and_then(|s| s.strip_prefix("hf:")) {
        Some(repo) => super::hf_cache::resolve(repo, None, None),
        None => Ok(arg.to_path_buf()),
    }
}

/// What one `exp embed` call computes.
#[derive(Debug, Clone)]
pub struct EmbedRequest {
    pub backbone: String,
    pub weights: Option<PathBuf>,
    pub image_size: Option<u32>,
    /// Shorter side images are decoded to before the centre crop (default
    /// the data sets' default for the image size).
    pub cache_size: Option<u32>,
    pub device: Device,
    pub images: Vec<PathBuf>,
}

/// Features `[N, D]` (f32, CPU) of the request's images, in order.
pub fn embed(req: &EmbedRequest) -> Result<Tensor, ModelError> {
    let info = arch_info(&req.backbone).ok_or_else(|| ModelError::unknown_arch(&req.backbone))?;
    let size = req.image_size.unwrap_or(info.input_size);
    check_image_size(info.name, size)?;
    // Why a fixed seed: without weights the features must still be the same
    // on every run (tests, smoke runs).
    tch::manual_seed(0);
    let mut vs = nn::VarStore::new(req.device);
    let backbone = build_backbone(&(vs.root() / "backbone"), info.name, 0.0)?;
    if let Some(w) = &req.weights {
        load_safetensors(&mut vs, &weights_path(w)?, BACKBONE_PREFIX)?;
    }
    let cuda = runtime::use_channels_last(req.device);
    if cuda {
        runtime::vs_to_channels_last(&vs);
    }
    let mut t = EvalTransform::new(size, info.mean, info.std);
    if let Some(c) = req.cache_size {
        t.cache_size = c.max(size);
    }
    let mut rows = Vec::with_capacity(req.images.len());
    for chunk in req.images.chunks(BATCH) {
        let crops = chunk
            .iter()
            .map(|p| {
                eval_image(p, &t).map_err(|reason| ModelError::BadImage {
                    path: p.clone(),
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let x = eval_batch(&crops, &t, req.device, cuda).map_err(|e| ModelError::BadImage {
            path: chunk[0].clone(),
            reason: e.to_string(),
        })?;
        let y = tch::no_grad(|| backbone.forward_features(&x, false));
        rows.push(y.to_kind(Kind::Float).to_device(Device::Cpu));
    }
    Ok(Tensor::cat(&rows, 0))
}

/// Write `features` with the image paths and settings as metadata.
pub fn write_features(
    out: &Path,
    features: &Tensor,
    req: &EmbedRequest,
    size: u32,
) -> Result<(), ModelError> {
    let shape: Vec<usize> = features.size().iter().map(|&d| d as usize).collect();
    let n = shape.iter().product::<usize>();
    let mut values = vec![0f32; n];
    features.contiguous().view([-1]).copy_data(&mut values, n);
    let matrix = F32Tensor::new(&values, shape);
    let paths: Vec<String> = req.images.iter().map(|p| p.display().to_string()).collect();
    let mut meta = HashMap::new();
    meta.insert(
        "paths".to_string(),
        serde_json::to_string(&paths).unwrap_or_default(),
    );
    meta.insert("backbone".to_string(), req.backbone.clone());
    meta.insert("image_size".to_string(), size.to_string());
    meta.insert(
        "weights".to_string(),
        req.weights
            .as_ref()
            .map(|w| w.display().to_string())
            .unwrap_or_else(|| "random-init(seed 0)".into()),
    );
    safetensors::tensor::serialize_to_file([("features", &matrix)], Some(meta), out).map_err(|e| {
        ModelError::Write {
            path: out.to_path_buf(),
            reason: e.to_string(),
        }
    })
}

/// `exp embed`, on `device` (resolved by the caller from `a.device`).
pub fn cmd_embed(a: &EmbedArgs, device: Device) -> miette::Result<ExitCode> {
    let req = EmbedRequest {
        backbone: a.backbone.clone(),
        weights: a.weights.clone(),
        image_size: a.image_size,
        cache_size: a.cache_size,
        device,
        images: a.images.clone(),
    };
    if req.weights.is_none() {
        eprintln!(
            "exp embed: no --weights given: features of a randomly initialised `{}` (seed 0)",
            req.backbone
        );
    }
    let features = embed(&req)?;
    let size = req
        .image_size
        .or_else(|| arch_info(&req.backbone).map(|i| i.input_size))
        .unwrap_or(0);
    write_features(&a.out, &features, &req, size)?;
    let dims = features.size();
    println!(
        "wrote {} × {} features to {}",
        dims[0],
        dims[1],
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

//! `exp embed`: pooled backbone features of a list of images, written as a
//! safetensors file (`features`, f32 `[N, D]`, rows in argument order; the
//! paths, backbone and image size in the file's metadata).
//!
//! Preprocessing is timm's evaluation transform without the crop margin: the
//! shorter side is resized to the image size (bicubic), the centre square is
//! cropped and the backbone's mean/std applied. An image whose shorter side
//! already is the image size is cropped without resampling.

use super::head::BACKBONE_PREFIX;
use super::{
    arch_info, build_backbone, check_image_size, load_safetensors, runtime, ArchInfo, ModelError,
};
use crate::cli::EmbedArgs;
use fast_image_resize::{images::Image, FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use safetensors::{tensor::View, Dtype};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tch::{nn, Device, Kind, Tensor};

/// Images per forward pass.
const BATCH: usize = 32;

/// Parse `auto`, `cpu`, `cuda` or `cuda:N`.
pub fn parse_device(s: &str) -> Result<Device, ModelError> {
    match s {
        "auto" => Ok(Device::cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        "cuda" => Ok(Device::Cuda(0)),
        other => other
            .strip_prefix("cuda:")
            .and_then(|n| n.parse::<usize>().ok())
            .map(Device::Cuda)
            .ok_or_else(|| ModelError::BadDevice(other.to_string())),
    }
}

/// Decode `path` and return its `size × size` centre crop as RGB bytes.
pub fn load_center_crop(path: &Path, size: u32) -> Result<Vec<u8>, ModelError> {
    let bad = |reason: String| ModelError::BadImage {
        path: path.to_path_buf(),
        reason,
    };
    let img = image::ImageReader::open(path)
        .map_err(|e| bad(e.to_string()))?
        .with_guessed_format()
        .map_err(|e| bad(e.to_string()))?
        .decode()
        .map_err(|e| bad(e.to_string()))?
        .to_rgb8();
    let (w, h) = img.dimensions();
    let short = w.min(h);
    if short == size {
        // Why round: torchvision's CenterCrop offset, so the same pixels are kept.
        let left = ((w - size) as f64 / 2.0).round() as u32;
        let top = ((h - size) as f64 / 2.0).round() as u32;
        return Ok(image::imageops::crop_imm(&img, left, top, size, size)
            .to_image()
            .into_raw());
    }
    let src = Image::from_vec_u8(w, h, img.into_raw(), PixelType::U8x3)
        .map_err(|e| bad(e.to_string()))?;
    let mut dst = Image::new(size, size, PixelType::U8x3);
    let left = (w - short) as f64 / 2.0;
    let top = (h - short) as f64 / 2.0;
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom))
        .crop(left, top, short as f64, short as f64);
    Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| bad(e.to_string()))?;
    Ok(dst.into_vec())
}

/// `[N, 3, S, S]` f32 from RGB crops, normalised with the arch's mean/std.
fn to_batch(crops: &[Vec<u8>], size: u32, info: &ArchInfo) -> Tensor {
    let s = size as i64;
    let flat: Vec<u8> = crops.concat();
    let x = Tensor::from_slice(&flat)
        .reshape([crops.len() as i64, s, s, 3])
        .permute([0, 3, 1, 2])
        .to_kind(Kind::Float)
        / 255.0;
    let mean = Tensor::from_slice(&info.mean)
        .to_kind(Kind::Float)
        .view([1, 3, 1, 1]);
    let std = Tensor::from_slice(&info.std)
        .to_kind(Kind::Float)
        .view([1, 3, 1, 1]);
    (x - mean) / std
}

/// An f32 matrix for safetensors serialisation.
struct F32Matrix {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for &F32Matrix {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// What one `exp embed` call computes.
#[derive(Debug, Clone)]
pub struct EmbedRequest {
    pub backbone: String,
    pub weights: Option<PathBuf>,
    pub image_size: Option<u32>,
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
        load_safetensors(&mut vs, w, BACKBONE_PREFIX)?;
    }
    let cuda = req.device.is_cuda();
    if cuda {
        runtime::vs_to_channels_last(&vs);
    }
    let mut rows = Vec::with_capacity(req.images.len());
    for chunk in req.images.chunks(BATCH) {
        let crops = chunk
            .iter()
            .map(|p| load_center_crop(p, size))
            .collect::<Result<Vec<_>, _>>()?;
        let mut x = to_batch(&crops, size, &info).to_device(req.device);
        if cuda {
            x = runtime::to_channels_last(&x);
        }
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
    let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let matrix = F32Matrix { shape, bytes };
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

pub fn cmd_embed(a: &EmbedArgs) -> miette::Result<ExitCode> {
    let req = EmbedRequest {
        backbone: a.backbone.clone(),
        weights: a.weights.clone(),
        image_size: a.image_size,
        device: parse_device(&a.device)?,
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

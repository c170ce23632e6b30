//! Image files outside any data set (`exp embed`), taken through the data
//! module's own path: the decode of the decode cache (EXIF orientation
//! applied, shorter side resized to the cache size, aspect capped), the eval
//! transform (centre crop) and the loader's normalisation. A file's features
//! are therefore those the model sees of the same image in a data set.

use super::augment::{eval_transform, View};
use super::decode::{decode_resized, Rgb};
use super::loader::Normalize;
use super::DataError;
use crate::spec::DataSpec;
use std::path::Path;
use tch::{Device, Tensor};

/// The eval transform of a data set with this image size and cache size.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalTransform {
    /// Side of the square crop fed to the model.
    pub image_size: u32,
    /// Shorter side images are decoded to before the crop.
    pub cache_size: u32,
    pub mean: [f64; 3],
    pub std: [f64; 3],
}

impl EvalTransform {
    /// The transform of a data set declaring only `image_size` (its cache
    /// size takes the language's default).
    pub fn new(image_size: u32, mean: [f64; 3], std: [f64; 3]) -> Self {
        Self {
            image_size,
            cache_size: DataSpec::default_cache_size(image_size),
            mean,
            std,
        }
    }
}

/// The eval crop (`image_size²` RGB) of one file. Errors are a one-line reason.
pub fn eval_image(path: &Path, t: &EvalTransform) -> Result<Rgb, String> {
    let img = decode_resized(path, t.cache_size.max(t.image_size))?;
    let view = View {
        w: img.w,
        h: img.h,
        data: &img.data,
    };
    eval_transform(view, t.image_size)
}

/// Eval crops as the model's input: `[N, 3, S, S]` f32 on `device`,
/// normalised as the loader normalises (channels-last when asked).
pub fn eval_batch(
    crops: &[Rgb],
    t: &EvalTransform,
    device: Device,
    channels_last: bool,
) -> Result<Tensor, DataError> {
    let s = i64::from(t.image_size);
    let mut bytes = Vec::with_capacity(crops.len() * (s * s * 3) as usize);
    for c in crops {
        if (c.w, c.h) != (t.image_size, t.image_size) {
            return Err(DataError::Settings(format!(
                "an eval crop is {}×{}, not {s}×{s}",
                c.w, c.h
            )));
        }
        bytes.extend_from_slice(&c.data);
    }
    let nhwc =
        crate::models::runtime::u8_tensor(&bytes, &[crops.len() as i64, s, s, 3], device.is_cuda())
            .map_err(DataError::Device)?;
    Normalize::new(t.mean, t.std, device)?.apply(&nhwc, device, channels_last)
}

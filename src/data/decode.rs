//! Decoding one image file into RGB uint8 (HWC) with its shorter side resized
//! to a target, EXIF orientation applied.
//!
//! Fast paths: JPEGs go through libjpeg-turbo (the `turbojpeg` crate) with a
//! DCT-domain scaling factor, so a 12 MP photo destined for 256 px is decoded
//! at 1/8 size; the remaining resize uses `fast_image_resize` (SIMD,
//! antialiased). PNG and anything libjpeg-turbo cannot hold (CMYK) go through
//! the `image` crate. Dimensions are checked from the header before any
//! pixel buffer is allocated, and decoder panics are caught.

use fast_image_resize as fir;
use image::metadata::Orientation;
use std::cell::RefCell;
use std::path::Path;

/// Largest accepted width or height of a source image.
pub const MAX_SIDE: u32 = 20_000;
/// Largest accepted pixel count of a source image (100 MP: 300 MB as RGB).
pub const MAX_PIXELS: u64 = 100_000_000;
pub use exp_lang::dataset::files::{
    image_extensions, open_regular, read_image_file, MAX_FILE_BYTES,
};
/// Longer side / shorter side kept in the cache; wider images are centre-cropped.
/// Why: bounds the cache entry of a panorama at `MAX_ASPECT × size²` pixels.
pub const MAX_ASPECT: f64 = 3.0;

/// An RGB uint8 image, rows of `w * 3` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb {
    pub w: u32,
    pub h: u32,
    pub data: Vec<u8>,
}

thread_local! {
    static RESIZER: RefCell<fir::Resizer> = RefCell::new(fir::Resizer::new());
    static TJ: RefCell<Option<super::tj::Decompressor>> = const { RefCell::new(None) };
}

/// Check a width × height against the limits.
pub fn check_dims(w: u32, h: u32) -> Result<(), String> {
    if w == 0 || h == 0 {
        return Err(format!("image has no pixels ({w}×{h})"));
    }
    if w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(format!(
            "image is {w}×{h}, over the limit of {MAX_SIDE} px per side and {} MP",
            MAX_PIXELS / 1_000_000
        ));
    }
    Ok(())
}

/// Width and height from the file header, without decoding pixels. Only a
/// regular file is opened (see [`open_regular`]).
pub fn header_dims(path: &Path) -> Result<(u32, u32), String> {
    let file = open_regular(path)?;
    // Why a bounded reader: a header never needs more than the file's first
    // megabytes, and the size limit holds whatever the metadata said.
    let reader = std::io::BufReader::new(std::io::Read::take(file, MAX_FILE_BYTES));
    let r = image::ImageReader::new(reader)
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    if r.format().is_none() {
        return Err(not_an_image());
    }
    let (w, h) = r.into_dimensions().map_err(|e| e.to_string())?;
    check_dims(w, h)?;
    Ok((w, h))
}

/// Decode `path` and resize so the shorter side is `short` (aspect capped at
/// `MAX_ASPECT` by a centre crop). Errors are a one-line reason. The file is
/// read with [`read_image_file`] (regular files only, size limit while
/// reading). Signature kept stable: `exp embed` decodes through it too.
pub fn decode_resized(path: &Path, short: u32) -> Result<Rgb, String> {
    let bytes = read_image_file(path)?;
    decode_bytes_resized(&bytes, short)
}

fn not_an_image() -> String {
    format!(
        "not an image format exp reads ({})",
        image_extensions().join(", ")
    )
}

/// As `decode_resized`, from the file's bytes.
pub fn decode_bytes_resized(bytes: &[u8], short: u32) -> Result<Rgb, String> {
    // Why: a decoder bug on hostile input must become an error for this one
    // file, not take down the run.
    match std::panic::catch_unwind(|| decode_inner(bytes, short)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(format!("decoder panicked: {msg}"))
        }
    }
}

fn is_jpeg(b: &[u8]) -> bool {
    b.len() > 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF
}

fn decode_inner(bytes: &[u8], short: u32) -> Result<Rgb, String> {
    if short == 0 {
        return Err("target size is 0".into());
    }
    let (img, orientation) = if is_jpeg(bytes) {
        decode_jpeg(bytes, short)?
    } else {
        decode_other(bytes)?
    };
    let (w, h) = (img.w, img.h);
    // Resize in the stored frame (orientation only swaps axes, the shorter
    // side is the same), then orient the small result.
    let (cw, ch) = {
        let (s, l) = (w.min(h) as f64, w.max(h) as f64);
        let l = l.min(s * MAX_ASPECT);
        if w <= h {
            (s, l)
        } else {
            (l, s)
        }
    };
    let scale = f64::from(short) / cw.min(ch);
    let dw = ((cw * scale).round() as u32).max(1);
    let dh = ((ch * scale).round() as u32).max(1);
    let left = (f64::from(w) - cw) / 2.0;
    let top = (f64::from(h) - ch) / 2.0;
    let out = resize_rgb(&img, (left, top, cw, ch), dw, dh)?;
    orient(out, orientation)
}

/// Resize the crop box `(left, top, width, height)` of `src` to `dw × dh`
/// (antialiased bilinear; a plain copy when no scaling is needed).
pub fn resize_rgb(src: &Rgb, crop: (f64, f64, f64, f64), dw: u32, dh: u32) -> Result<Rgb, String> {
    resize_slice(src.w, src.h, &src.data, crop, dw, dh)
}

/// As `resize_rgb`, from a borrowed `w × h` RGB buffer (no copy of it).
pub fn resize_slice(
    w: u32,
    h: u32,
    data: &[u8],
    crop: (f64, f64, f64, f64),
    dw: u32,
    dh: u32,
) -> Result<Rgb, String> {
    let (l, t, cw, ch) = crop;
    if cw == f64::from(dw) && ch == f64::from(dh) && l.fract() == 0.0 && t.fract() == 0.0 {
        let mut out = Vec::with_capacity(dw as usize * dh as usize * 3);
        let row = w as usize * 3;
        for r in t as usize..t as usize + dh as usize {
            let s = r * row + l as usize * 3;
            out.extend_from_slice(
                data.get(s..s + dw as usize * 3)
                    .ok_or("crop box outside the image")?,
            );
        }
        return Ok(Rgb {
            w: dw,
            h: dh,
            data: out,
        });
    }
    let view =
        fir::images::ImageRef::new(w, h, data, fir::PixelType::U8x3).map_err(|e| e.to_string())?;
    let mut dst = fir::images::Image::new(dw, dh, fir::PixelType::U8x3);
    let opts = fir::ResizeOptions::new()
        .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Bilinear))
        .crop(l, t, cw, ch);
    RESIZER
        .with(|r| r.borrow_mut().resize(&view, &mut dst, &opts))
        .map_err(|e| e.to_string())?;
    Ok(Rgb {
        w: dw,
        h: dh,
        data: dst.into_vec(),
    })
}

/// Copy a `w × h` window at `(x, y)` (must lie inside `src`).
pub fn copy_crop(src: &Rgb, x: u32, y: u32, w: u32, h: u32) -> Rgb {
    let mut data = Vec::with_capacity(w as usize * h as usize * 3);
    let row = src.w as usize * 3;
    for r in y..y + h {
        let s = r as usize * row + x as usize * 3;
        data.extend_from_slice(&src.data[s..s + w as usize * 3]);
    }
    Rgb { w, h, data }
}

fn decode_jpeg(bytes: &[u8], short: u32) -> Result<(Rgb, Orientation), String> {
    let orientation = jpeg_orientation(bytes);
    TJ.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(super::tj::Decompressor::new()?);
        }
        let Some(d) = slot.as_mut() else {
            return Err("libjpeg-turbo decompressor unavailable".to_string());
        };
        let header = d.header(bytes)?;
        check_dims(header.width, header.height)?;
        if header.cmyk {
            return decode_other(bytes).map(|(img, _)| (img, orientation));
        }
        let (w, h, data) = d.decode_scaled(bytes, header, short)?;
        Ok((Rgb { w, h, data }, orientation))
    })
}

fn decode_other(bytes: &[u8]) -> Result<(Rgb, Orientation), String> {
    use image::ImageDecoder;
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    if reader.format().is_none() {
        return Err(not_an_image());
    }
    // Side limits are checked below from the header, with a clearer message;
    // the allocation cap guards whatever the decoder allocates besides.
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 4);
    reader.limits(limits);
    let mut dec = reader.into_decoder().map_err(|e| e.to_string())?;
    let (w, h) = dec.dimensions();
    check_dims(w, h)?;
    let orientation = dec.orientation().unwrap_or(Orientation::NoTransforms);
    let img = image::DynamicImage::from_decoder(dec).map_err(|e| e.to_string())?;
    let rgb = img.into_rgb8();
    Ok((
        Rgb {
            w: rgb.width(),
            h: rgb.height(),
            data: rgb.into_raw(),
        },
        orientation,
    ))
}

/// The EXIF orientation of a JPEG (APP1 `Exif` segment), default upright.
pub fn jpeg_orientation(b: &[u8]) -> Orientation {
    let mut i = 2;
    while i + 4 <= b.len() {
        if b[i] != 0xFF {
            break;
        }
        let m = b[i + 1];
        if m == 0xD8 || m == 0x01 || (0xD0..=0xD7).contains(&m) {
            i += 2;
            continue;
        }
        if m == 0xDA || m == 0xD9 {
            break;
        }
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        let end = (i + 2 + len).min(b.len());
        if m == 0xE1 && len >= 8 && b.get(i + 4..i + 10) == Some(b"Exif\0\0") {
            if let Some(o) = b.get(i + 10..end).and_then(Orientation::from_exif_chunk) {
                return o;
            }
        }
        i = end;
    }
    Orientation::NoTransforms
}

fn orient(img: Rgb, o: Orientation) -> Result<Rgb, String> {
    if o == Orientation::NoTransforms {
        return Ok(img);
    }
    let buf = image::RgbImage::from_raw(img.w, img.h, img.data)
        .ok_or("internal: RGB buffer of the wrong size")?;
    let mut d = image::DynamicImage::ImageRgb8(buf);
    d.apply_orientation(o);
    let rgb = d.into_rgb8();
    Ok(Rgb {
        w: rgb.width(),
        h: rgb.height(),
        data: rgb.into_raw(),
    })
}

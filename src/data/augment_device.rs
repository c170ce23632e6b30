//! The device twin of `augment.rs`: the same per-sample plans
//! ([`plan_sample`]), applied to a whole batch with tensor ops on the
//! training device.
//!
//! The workers only draw the plans and copy each sample's crop box (plus the
//! few pixels around it that the antialiasing filter reads) out of the cache
//! into one uint8 tile batch; the resize, flips, rotation, colour jitter and
//! random erasing run batched on the device. RandAugment is not on the
//! device yet: a recipe with it runs wholly on the CPU path. Mixup/cutmix and the normalisation follow in
//! the loader as on the CPU path.
//!
//! Why a matrix product for the resize: the cache's filter (antialiased
//! bilinear, `fast_image_resize`'s convolution) is separable, so each sample's
//! resize is `Wy · tile · Wxᵀ` with per-sample weights built on the device from
//! its box; two batched matmuls resize every sample with its own box, where
//! `interpolate` would need one launch per sample.
//!
//! Pixels agree with the CPU path exactly for a crop that needs no resize,
//! for flips and for random erasing (the same fill bytes); the resize and the colour ops agree within a level or two of
//! 255 (the CPU filter works in fixed point, the device in f32).

use super::augment::{
    posterize_mask, rand_op_affine, rotation, RandOp, SamplePlan, Step, View, FILL,
};
use crate::spec::Augment;
use tch::{Device, Kind, Tensor};

/// Why a recipe's augmentation cannot run on the device (the loader then
/// uses the CPU path for the whole recipe), or `None` when it can. Every op
/// is on the device now; the match is exhaustive so that an op added to the
/// language later must be placed here (device, or a fallback reason).
pub fn unsupported(augs: &[Augment]) -> Option<&'static str> {
    augs.iter().find_map(|a| match a {
        Augment::RandomResizedCrop { .. }
        | Augment::HFlip { .. }
        | Augment::VFlip { .. }
        | Augment::Rotate { .. }
        | Augment::ColorJitter { .. }
        | Augment::RandAugment { .. }
        | Augment::RandomErasing { .. }
        | Augment::Mixup { .. }
        | Augment::Cutmix { .. } => None,
    })
}

/// One batch as the workers hand it to the device path.
pub struct Tiles {
    /// `[B, TH, TW, 3]` uint8 tiles (each sample's region at the top left).
    pub bytes: Vec<u8>,
    pub th: usize,
    pub tw: usize,
    /// Per sample: box x offset in its tile, box width, valid tile width,
    /// then the same for y.
    pub crops: Vec<f32>,
    pub plans: Vec<SamplePlan>,
}

/// The region of the cached image a box's resize to `size` reads: the box
/// grown by the filter's radius (plus one), clipped to the image.
fn region(n: u32, off: u32, len: u32, size: u32) -> (u32, u32) {
    let radius = (f64::from(len) / f64::from(size)).max(1.0).ceil() as u32 + 1;
    let lo = off.saturating_sub(radius);
    let hi = (off + len + radius).min(n);
    (lo, hi - lo)
}

/// Cut each sample's region out of the cache into one tile batch.
pub fn pack(views: &[View<'_>], plans: Vec<SamplePlan>, size: u32) -> Tiles {
    let regions: Vec<_> = views
        .iter()
        .zip(&plans)
        .map(|(v, p)| {
            let (x, y, w, h) = p.crop;
            (region(v.w, x, w, size), region(v.h, y, h, size))
        })
        .collect();
    let tw = regions.iter().map(|r| r.0 .1).max().unwrap_or(1) as usize;
    let th = regions.iter().map(|r| r.1 .1).max().unwrap_or(1) as usize;
    let mut bytes = vec![0u8; views.len() * th * tw * 3];
    let mut crops = Vec::with_capacity(views.len() * 6);
    for (i, ((v, p), &((rx, rw), (ry, rh)))) in views.iter().zip(&plans).zip(&regions).enumerate() {
        let tile = &mut bytes[i * th * tw * 3..(i + 1) * th * tw * 3];
        let (rx, rw, ry, rh) = (rx as usize, rw as usize, ry as usize, rh as usize);
        for r in 0..rh {
            let s = ((ry + r) * v.w as usize + rx) * 3;
            tile[r * tw * 3..(r * tw + rw) * 3].copy_from_slice(&v.data[s..s + rw * 3]);
        }
        let (x, y, w, h) = p.crop;
        crops.extend_from_slice(&[
            (x as usize - rx) as f32,
            w as f32,
            rw as f32,
            (y as usize - ry) as f32,
            h as f32,
            rh as f32,
        ]);
    }
    Tiles {
        bytes,
        th,
        tw,
        crops,
        plans,
    }
}

type R<T> = Result<T, tch::TchError>;

/// Per-sample resize weights along one axis: `[B, size, n_in]`, each row the
/// normalised antialiased-bilinear taps of one output pixel (as the cache's
/// resizer: taps clipped to the image, radius `max(scale, 1)`).
fn axis_weights(off: &Tensor, len: &Tensor, valid: &Tensor, size: i64, n_in: i64) -> R<Tensor> {
    let (kind, d) = (Kind::Float, off.device());
    let b = off.size()[0];
    let scale = (len / size as f64).f_view([b, 1, 1])?;
    let fs = scale.f_clamp_min(1.0)?;
    let t = Tensor::f_arange(size, (kind, d))?.f_view([1, size, 1])?;
    let centre = off.f_view([b, 1, 1])? + (t + 0.5) * &scale - 0.5;
    let j = Tensor::f_arange(n_in, (kind, d))?.f_view([1, 1, n_in])?;
    let dist = (&j - centre).f_abs()? / fs;
    let w = (dist * -1.0 + 1.0).f_clamp_min(0.0)?;
    let w = w * j.f_lt_tensor(&valid.f_view([b, 1, 1])?)?.f_to_kind(kind)?;
    let sum = w.f_sum_dim_intlist([-1i64].as_slice(), true, kind)?;
    Ok(w / sum.f_clamp_min(1e-12)?)
}

/// Round and clamp to the uint8 range, as the CPU path stores each op's result.
fn quantise(x: &Tensor) -> R<Tensor> {
    x.f_round()?.f_clamp(0.0, 255.0)
}

/// `[B, 1, 1, 1]` f32 tensor of one value per sample.
fn per_sample(v: &[f64], d: Device) -> R<Tensor> {
    let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    Tensor::f_from_slice(&v)?
        .f_view([v.len() as i64, 1, 1, 1])?
        .f_to_device(d)
}

/// The `Step` of sample `i` at position `k` (plans of one recipe line up).
fn step_at(plans: &[SamplePlan], k: usize) -> impl Iterator<Item = &Step> {
    plans.iter().filter_map(move |p| p.steps.get(k))
}

/// Apply the plans to `tiles` (uint8 `[B, TH, TW, 3]` already on the device):
/// f32 `[B, size, size, 3]` in 0..=255, quantised after every op like the
/// CPU path's uint8 images.
pub fn apply(tiles: &Tensor, crops: &[f32], plans: &[SamplePlan], size: u32) -> R<Tensor> {
    let d = tiles.device();
    let dims = tiles.size();
    let (b, th, tw) = (dims[0], dims[1], dims[2]);
    let s = i64::from(size);
    let c = Tensor::f_from_slice(crops)?
        .f_view([b, 6])?
        .f_to_device(d)?;
    let col = |i: i64| c.f_select(1, i);
    let wx = axis_weights(&col(0)?, &col(1)?, &col(2)?, s, tw)?;
    let wy = axis_weights(&col(3)?, &col(4)?, &col(5)?, s, th)?;
    let x = tiles.f_to_kind(Kind::Float)?;
    let rows = wy
        .f_matmul(&x.f_view([b, th, tw * 3])?)?
        .f_view([b, s, tw, 3])?;
    let mut x = quantise(&wx.f_unsqueeze(1)?.f_matmul(&rows)?)?;
    let n_steps = plans.first().map_or(0, |p| p.steps.len());
    for k in 0..n_steps {
        let steps: Vec<&Step> = step_at(plans, k).collect();
        x = match steps.first() {
            Some(Step::HFlip(_)) | Some(Step::VFlip(_)) => flip(&x, &steps, d)?,
            Some(Step::Rotate(_)) => rotate(&x, &steps, s, d)?,
            Some(Step::Jitter { .. }) => jitter(&x, &steps, d)?,
            Some(Step::Erase(_)) => erase(&x, &steps, s, d)?,
            Some(Step::RandOp(_)) => rand_ops(&x, &steps, s, d)?,
            None => {
                return Err(tch::TchError::Convert(
                    "internal: an op the device path does not apply reached it".into(),
                ))
            }
        };
    }
    Ok(x)
}

fn flip(x: &Tensor, steps: &[&Step], d: Device) -> R<Tensor> {
    let (mut on, mut dim) = (Vec::with_capacity(steps.len()), 2);
    for st in steps {
        match st {
            Step::HFlip(f) => on.push(f64::from(u8::from(*f))),
            Step::VFlip(f) => {
                dim = 1;
                on.push(f64::from(u8::from(*f)))
            }
            _ => {}
        }
    }
    let mask = per_sample(&on, d)?.f_gt(0.5)?;
    x.f_flip([dim])?.f_where_self(&mask, x)
}

/// Bilinear rotation about the centre with the mean-colour fill.
fn rotate(x: &Tensor, steps: &[&Step], s: i64, d: Device) -> R<Tensor> {
    let mats: Vec<[f64; 6]> = steps
        .iter()
        .filter_map(|st| match st {
            Step::Rotate(deg) => Some(rotation(*deg, s as u32, s as u32)),
            _ => None,
        })
        .collect();
    warp(x, &mats, s, d)
}

/// Warp each sample with its inverse affine map (the CPU path's `affine`:
/// sampled at pixel centres by `grid_sample`, mean-colour fill).
fn warp(x: &Tensor, mats: &[[f64; 6]], s: i64, d: Device) -> R<Tensor> {
    let b = x.size()[0];
    let m: Vec<f32> = mats.iter().flatten().map(|&v| v as f32).collect();
    let m = Tensor::f_from_slice(&m)?
        .f_view([b, 6, 1, 1])?
        .f_to_device(d)?;
    let mi = |i: i64| m.f_select(1, i);
    let f = Tensor::f_arange(s, (Kind::Float, d))? + 0.5;
    let (fx, fy) = (f.f_view([1, 1, s])?, f.f_view([1, s, 1])?);
    // Pixel coordinates (+0.5) of the source → grid_sample's [-1, 1].
    let gx = (mi(0)? * &fx + mi(1)? * &fy + mi(2)?) * (2.0 / s as f64) - 1.0;
    let gy = (mi(3)? * &fx + mi(4)? * &fy + mi(5)?) * (2.0 / s as f64) - 1.0;
    let grid = Tensor::f_stack(&[gx, gy], 3)?;
    let fill = Tensor::f_from_slice(&FILL.map(f32::from))?
        .f_view([1, 1, 1, 3])?
        .f_to_device(d)?;
    let nchw = (x - &fill).f_permute([0, 3, 1, 2])?;
    // Why shift by the fill: grid_sample pads with zeros; outside pixels
    // must read as the fill colour, as on the CPU path.
    let out = nchw
        .f_grid_sampler(&grid, 0, 0, false)?
        .f_permute([0, 2, 3, 1])?;
    quantise(&(out + fill))
}

/// SplitMix64's output mix of states held as i64 bit patterns (wrapping
/// multiplies; `>>` made logical by masking the sign extension).
fn splitmix(state: &Tensor) -> R<Tensor> {
    let shr = |z: &Tensor, k: i64| -> R<Tensor> {
        z.f_bitwise_right_shift_tensor_scalar(k)?
            .f_bitwise_and((1i64 << (64 - k)) - 1)
    };
    let z = state.f_bitwise_xor_tensor(&shr(state, 30)?)? * (0xBF58_476D_1CE4_E5B9u64 as i64);
    let z = z.f_bitwise_xor_tensor(&shr(&z, 27)?)? * (0x94D0_49BB_1331_11EBu64 as i64);
    z.f_bitwise_xor_tensor(&shr(&z, 31)?)
}

/// Random erasing with the CPU path's very fill bytes: byte `o` of box row
/// `r` is byte `o mod 8` of draw `r · ⌈3w/8⌉ + o/8 + 1` of the sample's
/// fill generator, and draw `n` of SplitMix64 is `mix(state + n · γ)`.
fn erase(x: &Tensor, steps: &[&Step], s: i64, d: Device) -> R<Tensor> {
    let b = x.size()[0];
    let mut p: Vec<i64> = Vec::with_capacity(steps.len() * 6);
    for st in steps {
        match st {
            Step::Erase(Some(((x0, y0, w, h), rng))) => {
                let per_row = (w * 3).div_ceil(8);
                p.extend([
                    *x0 as i64,
                    *y0 as i64,
                    *w as i64,
                    *h as i64,
                    per_row as i64,
                    rng.state() as i64,
                ]);
            }
            _ => p.extend([0, 0, 0, 0, 0, 0]),
        }
    }
    let p = Tensor::f_from_slice(&p)?
        .f_view([b, 6, 1, 1, 1])?
        .f_to_device(d)?;
    let pi = |i: i64| p.f_select(1, i);
    let (x0, y0, w, h, per_row, state) = (pi(0)?, pi(1)?, pi(2)?, pi(3)?, pi(4)?, pi(5)?);
    let idx = |n: i64, shape: [i64; 4]| -> R<Tensor> {
        Tensor::f_arange(n, (Kind::Int64, d))?.f_view(shape)
    };
    let r = idx(s, [1, s, 1, 1])? - &y0;
    let col = idx(s, [1, 1, s, 1])? - &x0;
    let o = &col * 3 + idx(3, [1, 1, 1, 3])?;
    let inside = r
        .f_ge(0)?
        .f_logical_and(&r.f_lt_tensor(&h)?)?
        .f_logical_and(&col.f_ge(0)?)?
        .f_logical_and(&col.f_lt_tensor(&w)?)?;
    let n = &r * &per_row + o.f_bitwise_right_shift_tensor_scalar(3)? + 1;
    let z = splitmix(&(state + n * (0x9E37_79B9_7F4A_7C15u64 as i64)))?;
    let shift = o.f_bitwise_and(7)? * 8;
    let byte = z
        .f_bitwise_right_shift(&shift)?
        .f_bitwise_and(255)?
        .f_to_kind(Kind::Float)?;
    byte.f_where_self(&inside, x)
}

/// The CPU path's colour jitter (brightness, contrast, saturation, hue, each
/// quantised), with per-sample factors broadcast over the batch.
fn jitter(x: &Tensor, steps: &[&Step], d: Device) -> R<Tensor> {
    let (mut fb, mut fc, mut fsat, mut hue) = (vec![], vec![], vec![], vec![]);
    let mut mats: Vec<f32> = Vec::with_capacity(steps.len() * 9);
    for st in steps {
        if let Step::Jitter { b, c, s, h } = st {
            fb.push(*b);
            fc.push(*c);
            fsat.push(*s);
            hue.push(*h);
            mats.extend(hue_matrix(*h));
        }
    }
    let x = brightness(x, &per_sample(&fb, d)?)?;
    let x = contrast(&x, &per_sample(&fc, d)?)?;
    let x = saturation(&x, &per_sample(&fsat, d)?)?;
    let dims = x.size();
    let mt = Tensor::f_from_slice(&mats)?
        .f_view([dims[0], 3, 3])?
        .f_to_device(d)?;
    let hued = quantise(
        &x.f_reshape([dims[0], -1, 3])?
            .f_matmul(&mt)?
            .f_view(dims.as_slice())?,
    )?;
    // Why skip a zero shift: the CPU path leaves those pixels untouched.
    let on = per_sample(&hue, d)?.f_ne(0.0)?;
    hued.f_where_self(&on, &x)
}

/// ITU-R 601 grey `[B, H, W, 1]` of `[B, H, W, 3]` pixels.
fn grey(x: &Tensor) -> R<Tensor> {
    let w = Tensor::f_from_slice(&[0.299f32, 0.587, 0.114])?
        .f_view([3, 1])?
        .f_to_device(x.device())?;
    x.f_matmul(&w)
}

/// PIL's enhance blends with per-sample factors `f` (`[B, 1, 1, 1]`), quantised.
fn brightness(x: &Tensor, f: &Tensor) -> R<Tensor> {
    quantise(&(x * f))
}

fn contrast(x: &Tensor, f: &Tensor) -> R<Tensor> {
    let m = grey(x)?.f_mean_dim([1i64, 2, 3].as_slice(), true, Kind::Float)?;
    quantise(&(&m + f * (x - &m)))
}

fn saturation(x: &Tensor, f: &Tensor) -> R<Tensor> {
    let g = grey(x)?;
    quantise(&(&g + f * (x - &g)))
}

/// Sharpness: blend with the 3×3 smoothing (centre weight 5, ÷ 13) on the
/// interior pixels; the border stays as it is, as on the CPU path.
fn sharpness(x: &Tensor, f: &Tensor) -> R<Tensor> {
    let dims = x.size();
    let (h, w) = (dims[1], dims[2]);
    if h < 3 || w < 3 {
        return Ok(x.copy());
    }
    let k: Vec<f32> = [1., 1., 1., 1., 5., 1., 1., 1., 1.].repeat(3);
    let k = Tensor::f_from_slice(&k)?
        .f_view([3, 1, 3, 3])?
        .f_to_device(x.device())?;
    let nchw = x.f_permute([0, 3, 1, 2])?.f_contiguous()?;
    let smooth = nchw.f_conv2d(&k, None::<Tensor>, [1, 1], [0, 0], [1, 1], 3)? / 13.0;
    let inner = nchw.f_narrow(2, 1, h - 2)?.f_narrow(3, 1, w - 2)?;
    let blended = quantise(&(&smooth + f * (inner - &smooth)))?;
    let out = nchw.copy();
    out.f_narrow(2, 1, h - 2)?
        .f_narrow(3, 1, w - 2)?
        .f_copy_(&blended)?;
    out.f_permute([0, 2, 3, 1])
}

/// Per channel, stretch `lo..=hi` to `0..=255` (in f64, as the CPU path).
fn autocontrast(x: &Tensor) -> R<Tensor> {
    let x64 = x.f_to_kind(Kind::Double)?;
    let lo = x64.f_amin([1i64, 2].as_slice(), true)?;
    let hi = x64.f_amax([1i64, 2].as_slice(), true)?;
    let span = &hi - &lo;
    let scale = span.f_clamp_min(1.0)?.f_reciprocal()? * 255.0;
    let y = quantise(&((&x64 - &lo) * scale))?.f_to_kind(Kind::Float)?;
    y.f_where_self(&span.f_gt(0.0)?, x)
}

/// PIL's `ImageOps.equalize` per channel, in exact integer arithmetic
/// (quotients of integers below 2⁵³ floor exactly in f64).
fn equalize(x: &Tensor) -> R<Tensor> {
    let dims = x.size();
    let (b, d) = (dims[0], x.device());
    let px = dims[1] * dims[2];
    let idx = x
        .f_permute([0, 3, 1, 2])?
        .f_reshape([b, 3, px])?
        .f_to_kind(Kind::Int64)?;
    // Why sort + searchsorted, not scatter_add + cumsum: both are exact
    // and deterministic on CUDA under `--deterministic`.
    let (sorted, _) = idx.f_sort(2, false)?;
    let bins = Tensor::f_arange(257, (Kind::Int64, d))?
        .f_view([1, 1, 257])?
        .f_expand([b, 3, 257], false)?
        .f_contiguous()?;
    let below = bins
        .f_searchsorted(&sorted, false, false, "left", None::<Tensor>)?
        .f_to_kind(Kind::Double)?;
    let before = below.f_narrow(2, 0, 256)?;
    let hist = below.f_narrow(2, 1, 256)? - &before;
    let seen = hist.f_gt(0.0)?.f_to_kind(Kind::Double)?;
    let bins = Tensor::f_arange(256, (Kind::Double, d))?;
    let top = (seen * (bins + 1.0)).f_amax([2i64].as_slice(), true)? - 1.0;
    let top = top.f_clamp_min(0.0)?.f_to_kind(Kind::Int64)?;
    let last = hist.f_gather(2, &top, false)?;
    let step = ((last * -1.0 + px as f64) / 255.0).f_floor()?;
    let safe = step.f_clamp_min(1.0)?;
    let lut = ((&safe / 2.0).f_floor()? + before)
        .f_div(&safe)?
        .f_floor()?
        .f_clamp_max(255.0)?;
    let mapped = lut.f_gather(2, &idx, false)?.f_to_kind(Kind::Float)?;
    let orig = idx.f_to_kind(Kind::Float)?;
    mapped
        .f_where_self(&step.f_gt(0.0)?, &orig)?
        .f_view([b, 3, dims[1], dims[2]])?
        .f_permute([0, 2, 3, 1])
}

/// One RandAugment step: each op kind drawn in the batch applied to the
/// samples that drew it (`index_select`, the op, and back by a mask:
/// `index_copy` has no deterministic CUDA kernel).
fn rand_ops(x: &Tensor, steps: &[&Step], s: i64, d: Device) -> R<Tensor> {
    let ops: Vec<RandOp> = steps
        .iter()
        .filter_map(|st| match st {
            Step::RandOp(o) => Some(*o),
            _ => None,
        })
        .collect();
    let mut out = x.copy();
    for kind in 1..13u64 {
        let picked: Vec<(i64, RandOp)> = ops
            .iter()
            .enumerate()
            .filter(|(_, o)| o.op == kind)
            .map(|(i, o)| (i as i64, *o))
            .collect();
        if picked.is_empty() {
            continue;
        }
        let at: Vec<i64> = picked.iter().map(|p| p.0).collect();
        let at = Tensor::f_from_slice(&at)?.f_to_device(d)?;
        let sub = x.f_index_select(0, &at)?;
        let per = |f: &dyn Fn(&RandOp) -> f64| -> R<Tensor> {
            let v: Vec<f64> = picked.iter().map(|(_, o)| f(o)).collect();
            per_sample(&v, d)
        };
        let factor = || per(&|o| 1.0 + o.sign * 0.9 * o.level);
        let y = match kind {
            1 => autocontrast(&sub)?,
            2 => equalize(&sub)?,
            4 => {
                let m = per(&|o| f64::from(posterize_mask(o.level)))?.f_to_kind(Kind::Int64)?;
                sub.f_to_kind(Kind::Int64)?
                    .f_bitwise_and_tensor(&m)?
                    .f_to_kind(Kind::Float)?
            }
            5 => {
                let t = per(&|o| 256.0 - 256.0 * o.level)?;
                let inverted = (&sub * -1.0) + 255.0;
                inverted.f_where_self(&sub.f_ge_tensor(&t)?, &sub)?
            }
            6 => saturation(&sub, &factor()?)?,
            7 => contrast(&sub, &factor()?)?,
            8 => brightness(&sub, &factor()?)?,
            9 => sharpness(&sub, &factor()?)?,
            _ => {
                let mats: Vec<[f64; 6]> = picked
                    .iter()
                    .filter_map(|(_, o)| rand_op_affine(*o, s as u32, s as u32))
                    .collect();
                warp(&sub, &mats, s, d)?
            }
        };
        let (mut row, mut hit) = (vec![0i64; ops.len()], vec![0.0; ops.len()]);
        for (r, (i, _)) in picked.iter().enumerate() {
            row[*i as usize] = r as i64;
            hit[*i as usize] = 1.0;
        }
        let row = Tensor::f_from_slice(&row)?.f_to_device(d)?;
        let full = y.f_index_select(0, &row)?;
        out = full.f_where_self(&per_sample(&hit, d)?.f_gt(0.5)?, &out)?;
    }
    Ok(out)
}

/// The transposed RGB → RGB matrix of a YIQ chroma rotation by `h` turns
/// (the CPU path's `hue_shift`), for `pixels · M`.
fn hue_matrix(h: f64) -> [f32; 9] {
    let (s, c) = (h * std::f64::consts::TAU).sin_cos();
    let to_yiq = [
        [0.299, 0.587, 0.114],
        [0.596, -0.274, -0.322],
        [0.211, -0.523, 0.312],
    ];
    let rot = [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]];
    let to_rgb = [
        [1.0, 0.956, 0.621],
        [1.0, -0.272, -0.647],
        [1.0, -1.106, 1.703],
    ];
    let mul = |a: [[f64; 3]; 3], b: [[f64; 3]; 3]| {
        let mut o = [[0.0; 3]; 3];
        for (i, row) in o.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
            }
        }
        o
    };
    let m = mul(to_rgb, mul(rot, to_yiq));
    let mut out = [0f32; 9];
    for i in 0..3 {
        for j in 0..3 {
            out[i * 3 + j] = m[j][i] as f32;
        }
    }
    out
}

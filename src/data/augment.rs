//! Per-sample augmentation on uint8 HWC images, and the eval transform.
//!
//! Every random draw comes from one `SampleRng` seeded by the caller with
//! `derive_seed(cell seed, Augment, [epoch, sample index])`, and the ops draw
//! in a fixed order, so a sample's pixels depend only on (seed, epoch, index)
//! — never on which loader thread made them.
//!
//! Order: the geometric crop (random-resized crop, else the eval centre crop)
//! first; then the listed ops in the order written; random erasing last.
//! Mixup and cutmix mix whole batches and live in the loader.

use super::decode::{resize_slice, Rgb};
use crate::seeds::SampleRng;
use crate::spec::Augment;

/// Fill of pixels that geometric ops move in from outside (ImageNet mean, as timm).
pub(crate) const FILL: [u8; 3] = [124, 116, 104];

/// A borrowed cached image.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub w: u32,
    pub h: u32,
    pub data: &'a [u8],
}

/// Eval transform: the central `size × size` square of the cached image (whose
/// shorter side is the cache size), resized if the cache is smaller.
pub fn eval_transform(src: View<'_>, size: u32) -> Result<Rgb, String> {
    crop_resized(src, size, centre_box(src.w, src.h, size))
}

/// Copy the `w × h` window at `(x, y)` of a cached image (must lie inside).
pub fn crop_view(src: View<'_>, x: u32, y: u32, w: u32, h: u32) -> Rgb {
    let mut data = Vec::with_capacity(w as usize * h as usize * 3);
    let row = src.w as usize * 3;
    for r in y..y + h {
        let s = r as usize * row + x as usize * 3;
        data.extend_from_slice(&src.data[s..s + w as usize * 3]);
    }
    Rgb { w, h, data }
}

/// One random decision of a sample's plan, one per listed op (RandAugment:
/// one per drawn op), in the order the ops apply.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    HFlip(bool),
    VFlip(bool),
    /// Degrees, counter-clockwise.
    Rotate(f64),
    /// Brightness, contrast, saturation factors and hue shift in turns.
    Jitter {
        b: f64,
        c: f64,
        s: f64,
        h: f64,
    },
    RandOp(RandOp),
    /// The erased `(x, y, w, h)` box and the generator its fill bytes come
    /// from; `None` when not drawn or no box fitted.
    Erase(Option<((usize, usize, usize, usize), SampleRng)>),
}

/// One drawn RandAugment op: index 0..13, sign ±1, and for translate the axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandOp {
    pub op: u64,
    pub sign: f64,
    pub level: f64,
    pub vertical: bool,
}

/// Every random decision of one training sample: the crop box in the cached
/// image and the per-op steps. The CPU path and the device path both apply a
/// plan from [`plan_sample`], so they cannot disagree on a crop or a flip.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplePlan {
    /// `(x, y, w, h)` in the cached image, resized to `size × size`
    /// (a plain copy when it is already that size).
    pub crop: (u32, u32, u32, u32),
    pub steps: Vec<Step>,
}

/// The eval centre-crop box: the central square of side `min(shorter side, size)`.
pub fn centre_box(w: u32, h: u32, size: u32) -> (u32, u32, u32, u32) {
    let c = w.min(h).min(size);
    ((w - c) / 2, (h - c) / 2, c, c)
}

/// Draw a sample's decisions in the order the CPU path always drew them:
/// the crop box, then each listed op, then random erasing.
pub fn plan_sample(w: u32, h: u32, size: u32, augs: &[Augment], rng: &mut SampleRng) -> SamplePlan {
    let rrc = augs.iter().find_map(|a| match a {
        Augment::RandomResizedCrop { scale, ratio } => Some((*scale, *ratio)),
        _ => None,
    });
    let crop = match rrc {
        Some((scale, ratio)) => rrc_box(w, h, scale, ratio, rng),
        None => centre_box(w, h, size),
    };
    let mut steps = Vec::new();
    for a in augs {
        match a {
            Augment::HFlip { p } => steps.push(Step::HFlip(rng.uniform() < *p)),
            Augment::VFlip { p } => steps.push(Step::VFlip(rng.uniform() < *p)),
            Augment::Rotate { degrees } => steps.push(Step::Rotate(rng.range(-degrees, *degrees))),
            Augment::ColorJitter {
                brightness,
                contrast,
                saturation,
                hue,
            } => {
                let b = rng.range((1.0 - brightness).max(0.0), 1.0 + brightness);
                let c = rng.range((1.0 - contrast).max(0.0), 1.0 + contrast);
                let s = rng.range((1.0 - saturation).max(0.0), 1.0 + saturation);
                let h = rng.range(-hue, *hue);
                steps.push(Step::Jitter { b, c, s, h });
            }
            Augment::RandAugment { n, m } => {
                for _ in 0..*n {
                    steps.push(Step::RandOp(draw_rand_op(*m, rng)));
                }
            }
            Augment::RandomResizedCrop { .. }
            | Augment::RandomErasing { .. }
            | Augment::Mixup { .. }
            | Augment::Cutmix { .. } => {}
        }
    }
    for a in augs {
        if let Augment::RandomErasing { p } = a {
            let erase = if rng.uniform() < *p {
                draw_erase(size as usize, size as usize, rng)
            } else {
                None
            };
            steps.push(Step::Erase(erase));
        }
    }
    SamplePlan { crop, steps }
}

/// Train transform of one sample.
pub fn train_transform(
    src: View<'_>,
    size: u32,
    augs: &[Augment],
    rng: &mut SampleRng,
) -> Result<Rgb, String> {
    let plan = plan_sample(src.w, src.h, size, augs, rng);
    apply_plan(src, size, &plan)
}

/// The `size × size` crop of a plan's box (copied, or resized with the
/// cache's antialiased bilinear filter).
pub fn crop_resized(
    src: View<'_>,
    size: u32,
    (x, y, w, h): (u32, u32, u32, u32),
) -> Result<Rgb, String> {
    if w == size && h == size {
        return Ok(crop_view(src, x, y, w, h));
    }
    resize_slice(
        src.w,
        src.h,
        src.data,
        (f64::from(x), f64::from(y), f64::from(w), f64::from(h)),
        size,
        size,
    )
}

/// Apply a plan on the host (the CPU path).
pub fn apply_plan(src: View<'_>, size: u32, plan: &SamplePlan) -> Result<Rgb, String> {
    let mut img = crop_resized(src, size, plan.crop)?;
    for step in &plan.steps {
        match step {
            Step::HFlip(true) => hflip(&mut img),
            Step::VFlip(true) => vflip(&mut img),
            Step::HFlip(false) | Step::VFlip(false) | Step::Erase(None) => {}
            Step::Rotate(d) => img = affine(&img, rotation(*d, img.w, img.h)),
            Step::Jitter { b, c, s, h } => color_jitter(&mut img, *b, *c, *s, *h),
            Step::RandOp(op) => rand_augment_op(&mut img, *op),
            Step::Erase(Some((b, fill))) => random_erase(&mut img, *b, &mut fill.clone()),
        }
    }
    Ok(img)
}

/// torchvision's RandomResizedCrop box: (x, y, w, h).
pub fn rrc_box(
    w: u32,
    h: u32,
    scale: (f64, f64),
    ratio: (f64, f64),
    rng: &mut SampleRng,
) -> (u32, u32, u32, u32) {
    let area = f64::from(w) * f64::from(h);
    let (lr0, lr1) = (ratio.0.max(1e-6).ln(), ratio.1.max(1e-6).ln());
    for _ in 0..10 {
        let target = area * rng.range(scale.0, scale.1);
        let aspect = rng.range(lr0, lr1).exp();
        let cw = (target * aspect).sqrt().round() as u32;
        let ch = (target / aspect).sqrt().round() as u32;
        if cw > 0 && ch > 0 && cw <= w && ch <= h {
            let x = rng.below(u64::from(w - cw) + 1) as u32;
            let y = rng.below(u64::from(h - ch) + 1) as u32;
            return (x, y, cw, ch);
        }
    }
    // Fallback: central crop with the aspect ratio clamped into range.
    let in_ratio = f64::from(w) / f64::from(h);
    let (cw, ch) = if in_ratio < ratio.0.min(ratio.1) {
        (
            w,
            ((f64::from(w) / ratio.0.min(ratio.1)).round() as u32).clamp(1, h),
        )
    } else if in_ratio > ratio.0.max(ratio.1) {
        (
            ((f64::from(h) * ratio.0.max(ratio.1)).round() as u32).clamp(1, w),
            h,
        )
    } else {
        (w, h)
    };
    ((w - cw) / 2, (h - ch) / 2, cw, ch)
}

pub fn hflip(img: &mut Rgb) {
    let w = img.w as usize;
    // Why reverse + swap: reversing a row's bytes (vectorised) mirrors the
    // pixels but also turns RGB into BGR; one swap per pixel puts it back.
    for row in img.data.chunks_exact_mut(w * 3) {
        row.reverse();
        for px in row.chunks_exact_mut(3) {
            px.swap(0, 2);
        }
    }
}

pub fn vflip(img: &mut Rgb) {
    let row = img.w as usize * 3;
    let h = img.h as usize;
    for y in 0..h / 2 {
        let (top, bottom) = img.data.split_at_mut((h - 1 - y) * row);
        top[y * row..(y + 1) * row].swap_with_slice(&mut bottom[..row]);
    }
}

/// Inverse affine map about the image centre for a rotation by `deg` degrees
/// (counter-clockwise): output (x, y) samples input `m · (x, y, 1)`.
pub(crate) fn rotation(deg: f64, w: u32, h: u32) -> [f64; 6] {
    let t = deg.to_radians();
    let (c, s) = (t.cos(), t.sin());
    let (cx, cy) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
    // x_in = c*(x-cx) - s*(y-cy) + cx ; y_in = s*(x-cx) + c*(y-cy) + cy (inverse of CCW in image coords)
    [c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy]
}

/// Warp with an inverse affine map (bilinear, `FILL` outside).
fn affine(img: &Rgb, m: [f64; 6]) -> Rgb {
    let (w, h) = (img.w as usize, img.h as usize);
    let mut out = vec![0u8; w * h * 3];
    let px = |x: isize, y: isize, c: usize| -> f64 {
        if x < 0 || y < 0 || x >= w as isize || y >= h as isize {
            f64::from(FILL[c])
        } else {
            f64::from(img.data[(y as usize * w + x as usize) * 3 + c])
        }
    };
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f64 + 0.5, y as f64 + 0.5);
            let sx = m[0] * fx + m[1] * fy + m[2] - 0.5;
            let sy = m[3] * fx + m[4] * fy + m[5] - 0.5;
            let (x0, y0) = (sx.floor(), sy.floor());
            let (ax, ay) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            for c in 0..3 {
                let v = (1.0 - ay) * ((1.0 - ax) * px(x0, y0, c) + ax * px(x0 + 1, y0, c))
                    + ay * ((1.0 - ax) * px(x0, y0 + 1, c) + ax * px(x0 + 1, y0 + 1, c));
                out[(y * w + x) * 3 + c] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    Rgb {
        w: img.w,
        h: img.h,
        data: out,
    }
}

fn grey(p: &[u8]) -> f64 {
    0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2])
}

fn clamp_u8(v: f64) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

fn mean_grey(img: &Rgb) -> f64 {
    let n = (img.w as usize * img.h as usize).max(1);
    img.data.chunks_exact(3).map(grey).sum::<f64>() / n as f64
}

/// PIL's `ImageEnhance` blend: `degenerate + f · (img − degenerate)`.
fn blend_with(img: &mut Rgb, f: f64, degenerate: impl Fn(&[u8], usize) -> f64) {
    for p in img.data.chunks_exact_mut(3) {
        let d: [f64; 3] = [degenerate(p, 0), degenerate(p, 1), degenerate(p, 2)];
        for c in 0..3 {
            p[c] = clamp_u8(d[c] + f * (f64::from(p[c]) - d[c]));
        }
    }
}

fn brightness(img: &mut Rgb, f: f64) {
    blend_with(img, f, |_, _| 0.0);
}

fn contrast(img: &mut Rgb, f: f64) {
    let m = mean_grey(img);
    blend_with(img, f, |_, _| m);
}

fn saturation(img: &mut Rgb, f: f64) {
    blend_with(img, f, |p, _| grey(p));
}

/// Hue shift by `h` turns (−0.5..0.5), a rotation in YIQ chroma space.
fn hue_shift(img: &mut Rgb, h: f64) {
    if h == 0.0 {
        return;
    }
    let (s, c) = (h * std::f64::consts::TAU).sin_cos();
    for p in img.data.chunks_exact_mut(3) {
        let (r, g, b) = (f64::from(p[0]), f64::from(p[1]), f64::from(p[2]));
        let y = 0.299 * r + 0.587 * g + 0.114 * b;
        let i = 0.596 * r - 0.274 * g - 0.322 * b;
        let q = 0.211 * r - 0.523 * g + 0.312 * b;
        let (i2, q2) = (i * c - q * s, i * s + q * c);
        p[0] = clamp_u8(y + 0.956 * i2 + 0.621 * q2);
        p[1] = clamp_u8(y - 0.272 * i2 - 0.647 * q2);
        p[2] = clamp_u8(y - 1.106 * i2 + 1.703 * q2);
    }
}

/// Colour jitter in a fixed order: brightness, contrast, saturation, hue.
pub fn color_jitter(img: &mut Rgb, b: f64, c: f64, s: f64, h: f64) {
    brightness(img, b);
    contrast(img, c);
    saturation(img, s);
    hue_shift(img, h);
}

fn sharpness(img: &mut Rgb, f: f64) {
    let (w, h) = (img.w as usize, img.h as usize);
    if w < 3 || h < 3 {
        return;
    }
    let src = img.data.clone();
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            for c in 0..3 {
                let mut acc = 0.0;
                for dy in 0..3 {
                    for dx in 0..3 {
                        let wgt = if dx == 1 && dy == 1 { 5.0 } else { 1.0 };
                        acc += wgt * f64::from(src[((y + dy - 1) * w + x + dx - 1) * 3 + c]);
                    }
                }
                let smooth = acc / 13.0;
                let i = (y * w + x) * 3 + c;
                img.data[i] = clamp_u8(smooth + f * (f64::from(src[i]) - smooth));
            }
        }
    }
}

fn autocontrast(img: &mut Rgb) {
    for c in 0..3 {
        let (mut lo, mut hi) = (255u8, 0u8);
        for p in img.data.chunks_exact(3) {
            lo = lo.min(p[c]);
            hi = hi.max(p[c]);
        }
        if hi > lo {
            let scale = 255.0 / f64::from(hi - lo);
            for p in img.data.chunks_exact_mut(3) {
                p[c] = clamp_u8(f64::from(p[c] - lo) * scale);
            }
        }
    }
}

/// PIL's `ImageOps.equalize`, per channel.
fn equalize(img: &mut Rgb) {
    for c in 0..3 {
        let mut hist = [0usize; 256];
        for p in img.data.chunks_exact(3) {
            hist[p[c] as usize] += 1;
        }
        let last = hist.iter().rposition(|&n| n > 0).map_or(0, |i| hist[i]);
        let total: usize = hist.iter().sum();
        let step = (total - last) / 255;
        if step == 0 {
            continue;
        }
        let mut lut = [0u8; 256];
        let mut n = step / 2;
        for (i, l) in lut.iter_mut().enumerate() {
            *l = (n / step).min(255) as u8;
            n += hist[i];
        }
        for p in img.data.chunks_exact_mut(3) {
            p[c] = lut[p[c] as usize];
        }
    }
}

/// Draw one RandAugment op (torchvision's op set less Invert), magnitude `m` of 10.
fn draw_rand_op(m: u32, rng: &mut SampleRng) -> RandOp {
    let level = (f64::from(m) / 10.0).clamp(0.0, 1.0);
    let op = rng.below(13);
    let sign = if rng.uniform() < 0.5 { -1.0 } else { 1.0 };
    let vertical = op >= 12 && rng.uniform() >= 0.5;
    RandOp {
        op,
        sign,
        level,
        vertical,
    }
}

/// Apply one drawn RandAugment op.
fn rand_augment_op(img: &mut Rgb, o: RandOp) {
    let RandOp {
        op, sign, level, ..
    } = o;
    if let Some(m) = rand_op_affine(o, img.w, img.h) {
        *img = affine(img, m);
        return;
    }
    match op {
        1 => autocontrast(img),
        2 => equalize(img),
        4 => {
            let mask = posterize_mask(level);
            img.data.iter_mut().for_each(|v| *v &= mask);
        }
        5 => {
            let t = 256.0 - 256.0 * level;
            img.data.iter_mut().for_each(|v| {
                if f64::from(*v) >= t {
                    *v = 255 - *v
                }
            });
        }
        6 => saturation(img, 1.0 + sign * 0.9 * level),
        7 => contrast(img, 1.0 + sign * 0.9 * level),
        8 => brightness(img, 1.0 + sign * 0.9 * level),
        9 => sharpness(img, 1.0 + sign * 0.9 * level),
        _ => {}
    }
}

/// The bits posterize keeps at `level`, as a mask.
pub(crate) fn posterize_mask(level: f64) -> u8 {
    let bits = 8 - (4.0 * level).round() as u32;
    (0xFFu32 << (8 - bits)) as u8
}

/// The inverse affine map of a geometric RandAugment op (rotate, shear x,
/// shear y, translate) on a `w × h` image; `None` for the other ops.
pub(crate) fn rand_op_affine(o: RandOp, img_w: u32, img_h: u32) -> Option<[f64; 6]> {
    let RandOp {
        op,
        sign,
        level,
        vertical,
    } = o;
    let (w, h) = (f64::from(img_w), f64::from(img_h));
    match op {
        3 => Some(rotation(sign * 30.0 * level, img_w, img_h)),
        10 => {
            let s = sign * 0.3 * level;
            Some([1.0, s, -s * h / 2.0, 0.0, 1.0, 0.0])
        }
        11 => {
            let s = sign * 0.3 * level;
            Some([1.0, 0.0, 0.0, s, 1.0, -s * w / 2.0])
        }
        12.. => {
            let t = sign * 0.45 * level;
            Some(if vertical {
                [1.0, 0.0, 0.0, 0.0, 1.0, t * h]
            } else {
                [1.0, 0.0, t * w, 0.0, 1.0, 0.0]
            })
        }
        _ => None,
    }
}

/// timm's random erasing box: 2–33 % of the area, aspect 0.3–3.3, and the
/// generator its random-pixel fill is drawn from. The returned generator is
/// where the CPU path starts the fill; `rng` is moved past the fill's draws,
/// so a second erasing op draws what it always drew.
fn draw_erase(
    w: usize,
    h: usize,
    rng: &mut SampleRng,
) -> Option<((usize, usize, usize, usize), SampleRng)> {
    let area = (w * h) as f64;
    for _ in 0..10 {
        let target = area * rng.range(0.02, 1.0 / 3.0);
        let aspect = rng.range(0.3f64.ln(), 3.3f64.ln()).exp();
        let eh = (target * aspect).sqrt().round() as usize;
        let ew = (target / aspect).sqrt().round() as usize;
        if ew > 0 && eh > 0 && ew < w && eh < h {
            let x0 = rng.below((w - ew + 1) as u64) as usize;
            let y0 = rng.below((h - eh + 1) as u64) as usize;
            let fill = rng.clone();
            for _ in 0..eh * (ew * 3).div_ceil(8) {
                rng.next_u64();
            }
            return Some(((x0, y0, ew, eh), fill));
        }
    }
    None
}

/// Fill the box with random bytes, 8 per draw, row by row.
fn random_erase(
    img: &mut Rgb,
    (x0, y0, ew, eh): (usize, usize, usize, usize),
    rng: &mut SampleRng,
) {
    let w = img.w as usize;
    for y in y0..y0 + eh {
        let row = &mut img.data[(y * w + x0) * 3..(y * w + x0 + ew) * 3];
        for chunk in row.chunks_mut(8) {
            let bytes = rng.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::decode::copy_crop;

    fn ramp(w: u32, h: u32) -> Rgb {
        let data = (0..w * h * 3).map(|i| (i % 251) as u8).collect();
        Rgb { w, h, data }
    }

    #[test]
    fn flips_are_involutions() {
        let a = ramp(5, 4);
        let mut b = a.clone();
        hflip(&mut b);
        assert_ne!(a, b);
        assert_eq!(&b.data[0..3], &a.data[12..15]);
        hflip(&mut b);
        assert_eq!(a, b);
        vflip(&mut b);
        assert_eq!(&b.data[0..15], &a.data[45..60]);
        vflip(&mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn zero_rotation_is_identity_and_eval_crop_is_central() {
        let a = ramp(6, 6);
        assert_eq!(affine(&a, rotation(0.0, 6, 6)), a);
        let big = ramp(8, 6);
        let v = View {
            w: 8,
            h: 6,
            data: &big.data,
        };
        let c = eval_transform(v, 4).expect("crop");
        assert_eq!(c, copy_crop(&big, 2, 1, 4, 4));
    }

    #[test]
    fn rrc_box_stays_inside() {
        let mut r = SampleRng::new(9);
        for _ in 0..500 {
            let (x, y, w, h) = rrc_box(40, 30, (0.08, 1.0), (0.75, 4.0 / 3.0), &mut r);
            assert!(w > 0 && h > 0 && x + w <= 40 && y + h <= 30);
        }
    }
}

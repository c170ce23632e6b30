//! The built-in generated data set: small PNGs with a class-dependent shape
//! and colour (strength `image_signal`) on a noisy background, and a manifest
//! with a numeric column `age` carrying class signal (`metadata_signal`) and a
//! categorical column `site` carrying none (both with ~2 % missing values).
//!
//! Written under `root` on first use and rewritten only when the settings
//! change: a stamp file holds the settings it was written with. Every pixel
//! comes from `derive_seed(spec.seed, Generate, [index])`, so the data set is
//! the same on every machine and for every thread count.

use super::DataError;
use crate::seeds::{derive_seed, SampleRng, SeedPurpose};
use crate::spec::{Columns, GeneratedSpec};
use rayon::prelude::*;
use std::path::Path;

pub(crate) use exp_lang::dataset::source::GENERATED_MANIFEST as MANIFEST;
const STAMP: &str = ".exp-generated.json";
/// The data root's advisory lock: held while the data set is (re)written.
pub(crate) const LOCK: &str = ".exp-generated.lock";
// 2: balanced class assignment (1 gave one class only for 2, 4 or 8 classes).
const VERSION: u32 = 2;

fn stamp_text(g: &GeneratedSpec, cols: &Columns) -> String {
    serde_json::json!({
        "version": VERSION,
        "classes": g.classes, "train": g.train, "val": g.val, "test": g.test,
        "size": g.size, "seed": g.seed,
        "image_signal": g.image_signal, "metadata_signal": g.metadata_signal,
        "columns": [cols.path, cols.label, cols.split],
    })
    .to_string()
}

/// Class names of a generated data set (`class_0`, `class_1`, ...; zero-padded
/// so the sorted order is the numeric one).
/// Class of the `i`-th image of a split: balanced, every class present in
/// every split of at least `classes` images (the loader shuffles the order).
fn class_of(i: u64, classes: u32) -> u32 {
    (i % u64::from(classes.max(1))) as u32
}

pub fn class_name(k: u32, classes: u32) -> String {
    let width = classes.saturating_sub(1).max(1).to_string().len();
    format!("class_{k:0width$}")
}

/// Whether the data set is already written with these settings.
pub fn is_current(g: &GeneratedSpec, cols: &Columns) -> bool {
    std::fs::read_to_string(g.root.join(STAMP)).ok().as_deref()
        == Some(stamp_text(g, cols).as_str())
        && g.root.join(MANIFEST).is_file()
}

/// Write the data set unless the stamp says it is already there with these
/// settings. Returns whether it was (re)written.
pub fn ensure(g: &GeneratedSpec, cols: &Columns) -> Result<bool, DataError> {
    if g.classes < 2 || g.size < 8 || g.train == 0 {
        return Err(DataError::Settings(format!(
            "generated data needs classes ≥ 2, size ≥ 8 and train ≥ 1 (got classes = {}, size = {}, train = {})",
            g.classes, g.size, g.train
        )));
    }
    if g.size > 1024 || g.train + g.val + g.test > 1_000_000 {
        return Err(DataError::Settings(
            "generated data is capped at 1024 px and 1,000,000 images".into(),
        ));
    }
    if is_current(g, cols) {
        return Ok(false);
    }
    let want = stamp_text(g, cols);
    let stamp = g.root.join(STAMP);
    std::fs::create_dir_all(&g.root).map_err(|e| DataError::io(&g.root, e))?;
    // Why a temp dir + renames: a crash (or a second process) never sees a
    // half-written data set under the stamp.
    // Why 0777: minus the umask, like every file exp writes (a group shares data).
    let tmp = tempfile::Builder::new()
        .prefix(".gen-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .tempdir_in(&g.root)
        .map_err(|e| DataError::io(&g.root, e))?;
    write_all(g, cols, tmp.path())?;
    let images = g.root.join("images");
    if images.exists() {
        std::fs::remove_dir_all(&images).map_err(|e| DataError::io(&images, e))?;
    }
    let _ = std::fs::remove_file(&stamp);
    std::fs::rename(tmp.path().join("images"), &images).map_err(|e| DataError::io(&images, e))?;
    std::fs::rename(tmp.path().join(MANIFEST), g.root.join(MANIFEST))
        .map_err(|e| DataError::io(g.root.join(MANIFEST), e))?;
    std::fs::write(&stamp, want).map_err(|e| DataError::io(&stamp, e))?;
    Ok(true)
}

struct Row {
    path: String,
    label: String,
    split: &'static str,
    age: Option<f64>,
    site: Option<&'static str>,
}

fn write_all(g: &GeneratedSpec, cols: &Columns, dir: &Path) -> Result<(), DataError> {
    let splits: [(&'static str, u64); 3] = [("train", g.train), ("val", g.val), ("test", g.test)];
    let mut jobs = Vec::new();
    let mut idx = 0u64;
    for (split, n) in splits {
        std::fs::create_dir_all(dir.join("images").join(split))
            .map_err(|e| DataError::io(dir, e))?;
        for i in 0..n {
            jobs.push((split, i, idx));
            idx += 1;
        }
    }
    let rows = jobs
        .par_iter()
        .map(|&(split, i, idx)| -> Result<Row, DataError> {
            let mut rng = SampleRng::new(derive_seed(g.seed, SeedPurpose::Generate, &[&idx]));
            let k = class_of(i, g.classes);
            let img = draw(g, k, &mut rng);
            let rel = format!("images/{split}/{i:05}.png");
            let path = dir.join(&rel);
            img.save_with_format(&path, image::ImageFormat::Png)
                .map_err(|e| DataError::io(&path, e))?;
            let centred = if g.classes > 1 {
                2.0 * f64::from(k) / f64::from(g.classes - 1) - 1.0
            } else {
                0.0
            };
            let age = 50.0 + 10.0 * rng.normal() + 15.0 * g.metadata_signal * centred;
            let age = (rng.uniform() >= 0.02).then_some((age * 10.0).round() / 10.0);
            let site =
                (rng.uniform() >= 0.02).then(|| ["north", "south", "west"][rng.below(3) as usize]);
            Ok(Row {
                path: rel,
                label: class_name(k, g.classes),
                split,
                age,
                site,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mpath = dir.join(MANIFEST);
    let mut w = csv::Writer::from_path(&mpath).map_err(|e| DataError::io(&mpath, e))?;
    w.write_record([
        cols.path.as_str(),
        cols.label.as_str(),
        cols.split.as_str(),
        "age",
        "site",
    ])
    .map_err(|e| DataError::io(&mpath, e))?;
    for r in rows {
        let age = r.age.map(|a| format!("{a:.1}")).unwrap_or_default();
        w.write_record([
            r.path.as_str(),
            r.label.as_str(),
            r.split,
            age.as_str(),
            r.site.unwrap_or(""),
        ])
        .map_err(|e| DataError::io(&mpath, e))?;
    }
    w.flush().map_err(|e| DataError::io(&mpath, e))?;
    Ok(())
}

fn hue_rgb(h: f64) -> [f64; 3] {
    let h6 = (h.rem_euclid(1.0)) * 6.0;
    let x = 1.0 - (h6 % 2.0 - 1.0).abs();
    match h6 as u32 {
        0 => [1.0, x, 0.0],
        1 => [x, 1.0, 0.0],
        2 => [0.0, 1.0, x],
        3 => [0.0, x, 1.0],
        4 => [x, 0.0, 1.0],
        _ => [1.0, 0.0, x],
    }
}

/// One image of class `k`: a shape (disk, square, ring, cross by `k % 4`) in
/// the class's hue, blended over noise with weight `image_signal`.
fn draw(g: &GeneratedSpec, k: u32, rng: &mut SampleRng) -> image::RgbImage {
    let s = g.size as f64;
    let alpha = g.image_signal.clamp(0.0, 1.0);
    let colour = hue_rgb(f64::from(k) / f64::from(g.classes));
    let shape = k % 4;
    let r = s * rng.range(0.22, 0.32);
    let cx = s * 0.5 + s * rng.range(-0.12, 0.12);
    let cy = s * 0.5 + s * rng.range(-0.12, 0.12);
    let bg = [
        rng.range(60.0, 160.0),
        rng.range(60.0, 160.0),
        rng.range(60.0, 160.0),
    ];
    let mut img = image::RgbImage::new(g.size, g.size);
    for (x, y, p) in img.enumerate_pixels_mut() {
        let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
        let d = (dx * dx + dy * dy).sqrt();
        let inside = match shape {
            0 => d <= r,
            1 => dx.abs() <= r * 0.85 && dy.abs() <= r * 0.85,
            2 => d <= r && d >= r * 0.55,
            _ => (dx.abs() <= r * 0.3 && dy.abs() <= r) || (dy.abs() <= r * 0.3 && dx.abs() <= r),
        };
        for c in 0..3 {
            let noise = rng.normal() * 25.0;
            let base = bg[c] + noise;
            let v = if inside {
                (1.0 - alpha) * base + alpha * (40.0 + 200.0 * colour[c] + noise * 0.5)
            } else {
                base
            };
            p.0[c] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::class_of;

    #[test]
    fn every_class_is_drawn_and_balanced_for_any_class_count() {
        for classes in 2..=9u32 {
            let mut counts = vec![0u32; classes as usize];
            for i in 0..u64::from(classes) * 10 {
                counts[class_of(i, classes) as usize] += 1;
            }
            assert!(
                counts.iter().all(|&c| c == 10),
                "classes {classes}: {counts:?}"
            );
        }
    }
}

//! Helpers shared by the data tests: specs, budgets and small image files.
#![allow(dead_code)]

use exp::spec::{BadImagePolicy, BudgetSpec, Columns, DataSource, DataSpec, GeneratedSpec};
use std::path::{Path, PathBuf};

pub fn budget(train: Option<u64>, val: Option<u64>) -> BudgetSpec {
    BudgetSpec {
        name: "b".into(),
        train_samples: train,
        val_samples: val,
        frozen_epochs: 1,
        finetune_epochs: 1,
        time_limit_s: None,
        max_samples: None,
        checkpoint_every_steps: None,
    }
}

pub fn spec(name: &str, source: DataSource, cache: &Path) -> DataSpec {
    DataSpec {
        name: name.into(),
        source,
        image_size: 24,
        cache_size: 28,
        metadata: vec![],
        columns: Columns::default(),
        stratify: false,
        on_bad_image: BadImagePolicy::Fail,
        cache_dir: Some(cache.to_path_buf()),
        content: None,
        near_duplicates: false,
        metadata_types: Default::default(),
    }
}

pub fn generated(root: &Path, cache: &Path) -> DataSpec {
    let mut s = spec(
        "shapes",
        DataSource::Generated(GeneratedSpec {
            root: root.to_path_buf(),
            classes: 3,
            train: 48,
            val: 12,
            test: 12,
            size: 32,
            seed: 5,
            image_signal: 0.8,
            metadata_signal: 1.0,
        }),
        cache,
    );
    s.metadata = vec!["age".into(), "site".into()];
    s
}

/// A `w × h` PNG whose pixel (x, y) is (x·8, y·8, seed).
pub fn png(path: &Path, w: u32, h: u32, seed: u8) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 8) as u8, (y * 8) as u8, seed])
    });
    img.save_with_format(path, image::ImageFormat::Png)
        .expect("write png");
}

/// JPEG bytes of a `w × h` image: left half red, right half blue.
pub fn jpeg_bytes(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, _| {
        if x < w / 2 {
            image::Rgb([230, 20, 20])
        } else {
            image::Rgb([20, 20, 230])
        }
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
        .encode_image(&img)
        .expect("encode jpeg");
    out
}

pub fn jpeg(path: &Path, w: u32, h: u32) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, jpeg_bytes(w, h)).expect("write jpeg");
}

/// Insert an EXIF APP1 segment with the given orientation after SOI.
pub fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    // Little-endian TIFF: header, IFD0 with one entry (0x0112 SHORT 1 = orientation).
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"II*\0");
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_le_bytes());
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A manifest data set under `dir`: `rows` of (path, label, split, extra columns...).
pub fn manifest(dir: &Path, header: &str, rows: &[String]) -> PathBuf {
    let m = dir.join("manifest.csv");
    let mut text = format!("{header}\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(&m, text).expect("write manifest");
    m
}

/// A spec over a manifest written by [`manifest`], images under `dir`.
pub fn manifest_spec(dir: &Path, header: &str, rows: &[String]) -> DataSpec {
    let m = manifest(dir, header, rows);
    spec(
        "d",
        DataSource::Manifest {
            manifest: m,
            root: dir.to_path_buf(),
        },
        &dir.join("cache"),
    )
}

/// A small valid manifest data set with `age` (numeric) and `sex`
/// (categorical) columns: 6 train, 2 val, 2 test PNGs.
pub fn small_manifest(dir: &Path) -> (PathBuf, Vec<String>) {
    let mut rows = Vec::new();
    let ages = ["30", "40", "", "50", "60", "NA", "35", "45", "55", "65"];
    let sexes = ["F", "M", "F", "", "M", "F", "X", "M", "F", "M"];
    for i in 0..10 {
        let split = if i < 6 {
            "train"
        } else if i < 8 {
            "val"
        } else {
            "test"
        };
        let label = if i % 2 == 0 { "benign" } else { "malignant" };
        let p = format!("img/{i}.png");
        png(&dir.join(&p), 32, 40, i as u8);
        rows.push(format!("{p},{label},{split},{},{}", ages[i], sexes[i]));
    }
    (manifest(dir, "path,label,split,age,sex", &rows), rows)
}

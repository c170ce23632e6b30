//! `exp embed` end to end: the file it writes, row order, metadata, that an
//! image already at the image size is used pixel for pixel, and its errors.
#![allow(clippy::unwrap_used)] // Why: tests fail loudly on unexpected errors.

use exp::models::{build_backbone, load_safetensors, IMAGENET_MEAN, IMAGENET_STD};
use safetensors::SafeTensors;
use std::path::{Path, PathBuf};
use std::process::Command;
use tch::{nn, Device, Kind, Tensor};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models")
        .join(name)
}

/// A deterministic noisy RGB image.
fn write_png(path: &Path, w: u32, h: u32, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let img = image::RgbImage::from_fn(w, h, |_, _| {
        let mut px = [0u8; 3];
        for c in &mut px {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            *c = (state >> 24) as u8;
        }
        image::Rgb(px)
    });
    img.save(path).unwrap();
    img.into_raw()
}

fn exp(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_exp"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn embed_writes_features_in_argument_order_with_paths_in_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a.png");
    let b = tmp.path().join("b.png");
    let a_pixels = write_png(&a, 64, 64, 1);
    write_png(&b, 100, 80, 2);
    let out = tmp.path().join("feats.safetensors");
    let weights = fixture("resnet_basic.safetensors");
    let (a_s, b_s, out_s, w_s) = (
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        out.to_str().unwrap(),
        weights.to_str().unwrap(),
    );
    let run = exp(&[
        "embed",
        "--backbone",
        "resnet_test",
        "--weights",
        w_s,
        "--image-size",
        "64",
        "--device",
        "cpu",
        "--out",
        out_s,
        a_s,
        b_s,
        a_s,
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(String::from_utf8_lossy(&run.stdout).contains("wrote 3 × 64 features"));

    let bytes = std::fs::read(&out).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    let paths: Vec<String> = serde_json::from_str(&meta["paths"]).unwrap();
    assert_eq!(paths, vec![a_s, b_s, a_s]);
    assert_eq!(meta["backbone"], "resnet_test");
    assert_eq!(meta["image_size"], "64");

    let feats = Tensor::read_safetensors(&out).unwrap().remove(0).1;
    assert_eq!(feats.size(), vec![3, 64]);
    assert_eq!(feats.kind(), Kind::Float);
    let row = |i: i64| feats.get(i);
    assert_eq!(f64::try_from((row(0) - row(2)).abs().max()).unwrap(), 0.0);
    assert!(f64::try_from((row(0) - row(1)).abs().max()).unwrap() > 0.0);

    // a.png is already 64×64: its features are those of its exact pixels.
    let mut vs = nn::VarStore::new(Device::Cpu);
    let backbone = build_backbone(&(vs.root() / "backbone"), "resnet_test", 0.0).unwrap();
    load_safetensors(&mut vs, &weights, "backbone.").unwrap();
    let x = Tensor::from_slice(&a_pixels)
        .reshape([1, 64, 64, 3])
        .permute([0, 3, 1, 2])
        .to_kind(Kind::Float)
        / 255.0;
    let mean = Tensor::from_slice(&IMAGENET_MEAN)
        .to_kind(Kind::Float)
        .view([1, 3, 1, 1]);
    let std = Tensor::from_slice(&IMAGENET_STD)
        .to_kind(Kind::Float)
        .view([1, 3, 1, 1]);
    let want = tch::no_grad(|| backbone.forward_features(&((x - mean) / std), false)).get(0);
    assert!(f64::try_from((row(0) - want).abs().max()).unwrap() < 1e-5);
}

#[test]
fn unreadable_image_and_unknown_backbone_fail_with_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o.safetensors");
    let bad = tmp.path().join("not_an_image.png");
    std::fs::write(&bad, b"definitely not a png").unwrap();
    let run = exp(&[
        "embed",
        "--backbone",
        "resnet_test",
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("exp::model::bad_image") && err.contains("not_an_image.png"),
        "{err}"
    );
    assert!(!out.exists());

    let run = exp(&[
        "embed",
        "--backbone",
        "resnet_tset",
        "--out",
        out.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("exp::model::unknown_arch") && err.contains("resnet_test"),
        "{err}"
    );
}

#[test]
fn embed_reads_hf_weights_from_the_local_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("hub/models--timm--resnet_test.fake");
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::create_dir_all(repo.join("snapshots/feed")).unwrap();
    std::fs::write(repo.join("refs/main"), "feed").unwrap();
    std::fs::copy(
        fixture("resnet_basic.safetensors"),
        repo.join("snapshots/feed/model.safetensors"),
    )
    .unwrap();
    let img = tmp.path().join("a.png");
    write_png(&img, 64, 64, 3);
    let (via_hf, via_file) = (
        tmp.path().join("hf.safetensors"),
        tmp.path().join("file.safetensors"),
    );
    let fixture_path = fixture("resnet_basic.safetensors");
    for (out, weights) in [
        (&via_hf, "hf:timm/resnet_test.fake"),
        (&via_file, fixture_path.to_str().unwrap()),
    ] {
        let run = Command::new(env!("CARGO_BIN_EXE_exp"))
            .env("HF_HUB_CACHE", tmp.path().join("hub"))
            .args([
                "embed",
                "--backbone",
                "resnet_test",
                "--device",
                "cpu",
                "--weights",
                weights,
            ])
            .args(["--out", out.to_str().unwrap(), img.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    let a = Tensor::read_safetensors(&via_hf).unwrap().remove(0).1;
    let b = Tensor::read_safetensors(&via_file).unwrap().remove(0).1;
    assert_eq!(f64::try_from((a - b).abs().max()).unwrap(), 0.0);
}

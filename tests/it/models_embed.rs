//! `exp embed` end to end: the file it writes, row order, metadata, that its
//! features are the model applied to the data module's eval batch of the
//! same files (EXIF orientation included), and its errors.
#![allow(clippy::unwrap_used)] // Why: tests fail loudly on unexpected errors.

use exp::data::{loader, prepare, LoaderConfig};
use exp::models::{build_backbone, load_safetensors, IMAGENET_MEAN, IMAGENET_STD};
use exp::spec::DataSource;
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
    write_png(&a, 64, 64, 1);
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

#[test]
fn embed_features_are_the_model_on_the_data_modules_eval_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("folder");
    // Orientation 6: stored 64×40 landscape, displayed 40×64 portrait.
    let stored = crate::data_support::jpeg_bytes(64, 40);
    let rotated = root.join("test/a/rotated.jpg");
    let plain = root.join("test/a/plain.jpg");
    std::fs::create_dir_all(rotated.parent().unwrap()).unwrap();
    std::fs::write(
        &rotated,
        crate::data_support::with_exif_orientation(&stored, 6),
    )
    .unwrap();
    std::fs::write(&plain, &stored).unwrap();
    crate::data_support::png(&root.join("test/b/tall.png"), 50, 70, 9);
    crate::data_support::png(&root.join("train/a/t1.png"), 40, 40, 1);
    crate::data_support::png(&root.join("train/b/t2.png"), 40, 40, 2);
    let mut spec = crate::data_support::spec(
        "folder",
        DataSource::ImageFolder { root: root.clone() },
        &tmp.path().join("cache"),
    );
    spec.image_size = 32;
    spec.cache_size = exp::spec::DataSpec::default_cache_size(32);
    let data = prepare(&spec, &crate::data_support::budget(None, None), 0, false).unwrap();
    let cfg = LoaderConfig {
        batch_size: 8,
        image_size: 32,
        mean: IMAGENET_MEAN,
        std: IMAGENET_STD,
        train: false,
        augment: vec![],
        seed: 0,
        epoch: 0,
        workers: 1,
        prefetch: 1,
        device: Device::Cpu,
        drop_last: false,
        start_batch: 0,
        channels_last: false,
        augment_on: exp::data::AugmentOn::Auto,
        shard: None,
    };
    let batch = loader(&data, "test", &cfg)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    // The files in the split's (loader) order; image-folder ids are
    // `split/class/file` under the root.
    let ids = data.split_ids("test").unwrap();
    let files: Vec<PathBuf> = ids.iter().map(|id| root.join(id)).collect();
    assert_eq!(files.len(), 3);

    let weights = fixture("resnet_basic.safetensors");
    let out = tmp.path().join("f.safetensors");
    let mut args = vec![
        "embed".to_string(),
        "--backbone".into(),
        "resnet_test".into(),
        "--weights".into(),
        weights.to_str().unwrap().into(),
        "--image-size".into(),
        "32".into(),
        "--device".into(),
        "cpu".into(),
        "--out".into(),
        out.to_str().unwrap().into(),
    ];
    args.extend(files.iter().map(|p| p.to_str().unwrap().to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = exp(&refs);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let feats = Tensor::read_safetensors(&out).unwrap().remove(0).1;

    let mut vs = nn::VarStore::new(Device::Cpu);
    let backbone = build_backbone(&(vs.root() / "backbone"), "resnet_test", 0.0).unwrap();
    load_safetensors(&mut vs, &weights, "backbone.").unwrap();
    let want = tch::no_grad(|| backbone.forward_features(&batch.images, false));
    assert_eq!(feats.size(), want.size());
    let diff = f64::try_from((&feats - &want).abs().max()).unwrap();
    assert!(diff < 1e-5, "embed vs eval batch differ by {diff}");

    // The EXIF orientation is applied: the rotated file is not the plain one.
    let row = |name: &str| feats.get(files.iter().position(|p| p.ends_with(name)).unwrap() as i64);
    let d = f64::try_from((row("rotated.jpg") - row("plain.jpg")).abs().max()).unwrap();
    assert!(d > 1e-3, "rotation changed nothing ({d})");
}

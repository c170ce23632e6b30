//! Numerical parity with timm: seeded random-init timm models (exported with
//! scripts/export_timm_fixtures.py) loaded into exp's backbones give the same
//! pooled features to ≤ 1e-4 max abs error, on CPU in f32.
#![allow(clippy::unwrap_used)] // Why: tests fail loudly on unexpected errors.

use exp::models::convnextv2::{ConvNeXtV2, ConvNeXtV2Config};
use exp::models::efficientnetv2::{EfficientNetV2, EfficientNetV2Config};
use exp::models::resnet::{ResNet, ResNetConfig};
use exp::models::vit::{Vit, VitConfig};
use exp::models::{build_backbone, load_safetensors, Backbone};
use std::path::PathBuf;
use tch::{nn, Device, Tensor};

const TOLERANCE: f64 = 1e-4;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models")
        .join(name)
}

/// Load fixture `name` into the backbone `make` builds and return the max abs
/// error over every exported input.
fn max_error(name: &str, make: impl FnOnce(&nn::Path) -> Box<dyn Backbone>) -> f64 {
    let mut vs = nn::VarStore::new(Device::Cpu);
    let backbone = make(&vs.root());
    load_safetensors(&mut vs, &fixture(&format!("{name}.safetensors")), "").unwrap();
    let io = Tensor::read_safetensors(fixture(&format!("{name}.io.safetensors"))).unwrap();
    let get = |k: &str| {
        io.iter()
            .find(|(n, _)| n == k)
            .map(|(_, t)| t.shallow_clone())
    };
    let mut worst = 0.0f64;
    let mut count = 0;
    while let (Some(x), Some(want)) = (
        get(&format!("input_{count}")),
        get(&format!("expected_{count}")),
    ) {
        let got = tch::no_grad(|| backbone.forward_features(&x, false));
        assert_eq!(got.size(), want.size(), "{name} input {count}");
        let err = f64::try_from((got - want).abs().max()).unwrap();
        println!(
            "{name} input {count} {:?}: max abs error {err:.3e}",
            x.size()
        );
        worst = worst.max(err);
        count += 1;
    }
    assert!(count > 0, "{name}: fixture has inputs");
    worst
}

#[test]
fn resnet_basic_block_matches_timm() {
    // The checkpoint carries timm's `fc.*` classifier, which must be ignored.
    let err = max_error("resnet_basic", |p| {
        build_backbone(p, "resnet_test", 0.0).unwrap()
    });
    assert!(err <= TOLERANCE, "max abs error {err}");
}

#[test]
fn resnet_bottleneck_matches_timm() {
    let cfg = ResNetConfig {
        bottleneck: true,
        depths: [1, 1, 1, 1],
        widths: [8, 16, 32, 64],
        stem: 64,
    };
    let err = max_error("resnet_bottleneck", |p| Box::new(ResNet::new(p, &cfg, 0.0)));
    assert!(err <= TOLERANCE, "max abs error {err}");
}

#[test]
fn convnextv2_conv_mlp_matches_timm() {
    let err = max_error("convnextv2_convmlp", |p| {
        build_backbone(p, "convnextv2_test", 0.0).unwrap()
    });
    assert!(err <= TOLERANCE, "max abs error {err}");
}

#[test]
fn convnextv2_linear_mlp_matches_timm() {
    let cfg = ConvNeXtV2Config {
        conv_mlp: false,
        ..ConvNeXtV2Config::test()
    };
    let err = max_error("convnextv2_linear", |p| {
        Box::new(ConvNeXtV2::new(p, &cfg, 0.0))
    });
    assert!(err <= TOLERANCE, "max abs error {err}");
}

#[test]
fn efficientnetv2_matches_timm() {
    let err = max_error("efficientnetv2", |p| {
        build_backbone(p, "efficientnetv2_test", 0.0).unwrap()
    });
    assert!(err <= TOLERANCE, "max abs error {err}");
}

#[test]
fn tf_efficientnetv2_same_padding_matches_timm() {
    let cfg = EfficientNetV2Config::test(true);
    let err = max_error("tf_efficientnetv2", |p| {
        Box::new(EfficientNetV2::new(p, &cfg, 0.0))
    });
    assert!(err <= TOLERANCE, "max abs error {err}");
}

/// scripts/export_timm_fixtures.py's `formula_value`: weights of a full-size
/// fixture as a function of the key and element index (f64, cast to f32).
fn formula_value(name: &str, shape: &[i64]) -> Tensor {
    let h = name
        .bytes()
        .enumerate()
        .map(|(j, b)| (j as u64 + 1) * u64::from(b))
        .sum::<u64>()
        % 997;
    let n: i64 = shape.iter().product();
    let fan_in = shape.first().map_or(1, |&o| n / o.max(1)) as f64;
    let v: Vec<f64> = (0..n)
        .map(|i| {
            let u = (0.7 * i as f64 + 0.1 * h as f64).sin();
            if name.ends_with("running_var") {
                1.0 + 0.5 * u
            } else if name.ends_with("running_mean") {
                0.1 * u
            } else if shape.len() <= 1 {
                if name.ends_with("weight") {
                    1.0 + 0.1 * u
                } else {
                    0.1 * u
                }
            } else {
                u * (1.0 / fan_in).sqrt()
            }
        })
        .collect();
    Tensor::from_slice(&v)
        .reshape(shape)
        .to_kind(tch::Kind::Float)
}

#[test]
fn full_size_tf_efficientnetv2_s_matches_timms_factory() {
    // The report's EfficientNetV2-S (`tf_efficientnetv2_s.in21k_ft_in1k`),
    // built by `timm.create_model("tf_efficientnetv2_s")` itself: every
    // stage, the TF padding at every stride and batch-norm eps 1e-3.
    let name = "tf_efficientnetv2_s_full";
    let vs = nn::VarStore::new(Device::Cpu);
    let backbone = build_backbone(&vs.root(), "tf_efficientnetv2_s", 0.0).unwrap();
    tch::no_grad(|| {
        for (key, mut var) in vs.variables() {
            var.copy_(&formula_value(&key, &var.size()));
        }
    });
    let io = Tensor::read_safetensors(fixture(&format!("{name}.io.safetensors"))).unwrap();
    let get = |k: &str| {
        io.iter()
            .find(|(n, _)| n == k)
            .map(|(_, t)| t.shallow_clone())
            .unwrap()
    };
    let (x, want) = (get("input_0"), get("expected_0"));
    let got = tch::no_grad(|| backbone.forward_features(&x, false));
    assert_eq!(got.size(), want.size());
    let err = f64::try_from((&got - &want).abs().max()).unwrap();
    let scale = f64::try_from(want.abs().mean(tch::Kind::Float)).unwrap();
    println!("{name}: max abs error {err:.3e}, mean |feature| {scale:.3}");
    assert!(scale > 0.1, "the fixture's features are not degenerate");
    assert!(err <= TOLERANCE, "max abs error {err}");
}

#[test]
fn vit_dinov2_matches_timm_including_resampled_position_embeddings() {
    let err = max_error("vit_dinov2", |p| {
        Box::new(Vit::new(p, &VitConfig::test(), 0.0))
    });
    assert!(err <= TOLERANCE, "max abs error {err}");
}

//! Pretrained weights: loading into the bake-off model (from a file and from
//! the Hugging Face cache) and a clear error for every kind of bad file.
#![allow(clippy::unwrap_used)] // Why: tests fail loudly on unexpected errors.

use exp::models::hf_cache::resolve_in;
use exp::models::{
    load_pretrained, load_safetensors, BakeoffModel, HeadConfig, ModelError, BACKBONE_PREFIX,
};
use exp::spec::{BackboneSpec, Dropout, Family, Weights};
use std::path::{Path, PathBuf};
use tch::{nn, Device, Tensor};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models")
        .join(name)
}

fn spec(arch: &str) -> BackboneSpec {
    BackboneSpec {
        name: arch.into(),
        arch: arch.into(),
        pretrained: None,
        drop_path: 0.0,
        input_size: 64,
        mean: [0.5; 3],
        std: [0.5; 3],
        family: Family::ResNet,
    }
}

fn head() -> HeadConfig {
    HeadConfig {
        num_classes: 3,
        metadata_dim: 0,
        metadata_hidden: 0,
        dropout: Dropout {
            head: 0.0,
            metadata: 0.0,
        },
    }
}

fn model(arch: &str, size: u32) -> (nn::VarStore, BakeoffModel) {
    let vs = nn::VarStore::new(Device::Cpu);
    let m = BakeoffModel::new(&vs.root(), &spec(arch), size, &head()).unwrap();
    (vs, m)
}

/// The rendered diagnostic, as the user sees it (wide, so no line wraps).
fn render(e: ModelError) -> String {
    let mut out = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .with_width(10_000)
        .render_report(&mut out, &e)
        .unwrap();
    out
}

fn expected_features(name: &str) -> (Tensor, Tensor) {
    let io = Tensor::read_safetensors(fixture(&format!("{name}.io.safetensors"))).unwrap();
    let get = |k: &str| io.iter().find(|(n, _)| n == k).unwrap().1.shallow_clone();
    (get("input_0"), get("expected_0"))
}

#[test]
fn file_weights_load_under_the_backbone_prefix_and_give_timms_features() {
    let (mut vs, m) = model("resnet_test", 64);
    load_pretrained(&mut vs, &Weights::File(fixture("resnet_basic.safetensors"))).unwrap();
    let (x, want) = expected_features("resnet_basic");
    let got = m.features(&x, false, true);
    assert!(f64::try_from((got - want).abs().max()).unwrap() <= 1e-4);
}

#[test]
fn hf_reference_is_resolved_in_the_local_cache_without_network() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("models--timm--convnextv2_test.fake");
    let snap = repo.join("snapshots/0123abcd");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "0123abcd").unwrap();
    std::fs::copy(
        fixture("convnextv2_convmlp.safetensors"),
        snap.join("model.safetensors"),
    )
    .unwrap();
    // Why explicit roots, not `$HF_HUB_CACHE`: the tests share one process,
    // and a variable set here would leak into every other test and child.
    let roots = [tmp.path().to_path_buf()];
    let (mut vs, m) = model("convnextv2_test", 64);
    let found = resolve_in(&roots, "timm/convnextv2_test.fake", None, None).unwrap();
    assert_eq!(found.path, snap.join("model.safetensors"));
    load_safetensors(&mut vs, &found.path, BACKBONE_PREFIX).unwrap();
    let (x, want) = expected_features("convnextv2_convmlp");
    assert!(f64::try_from((m.features(&x, false, true) - want).abs().max()).unwrap() <= 1e-4);

    let text = render(resolve_in(&roots, "timm/not_cached", None, None).unwrap_err());
    assert!(
        text.contains("exp::model::hf_not_cached") && text.contains("models--timm--not_cached"),
        "{text}"
    );
}

#[test]
fn truncated_file_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("resnet_basic.safetensors")).unwrap();
    let path = tmp.path().join("half.safetensors");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let (mut vs, _m) = model("resnet_test", 64);
    let text = render(load_safetensors(&mut vs, &path, "backbone.").unwrap_err());
    assert!(text.contains("exp::model::corrupt_weights"), "{text}");
    assert!(text.contains("truncated"), "{text}");
    assert!(text.contains("half.safetensors"), "{text}");
}

#[test]
fn wrong_shapes_name_the_tensors() {
    // Same keys, but ConvNeXt-V2 with linear MLP weights `[out, in]` where
    // the network has 1×1 convolutions `[out, in, 1, 1]`.
    let (mut vs, _m) = model("convnextv2_test", 64);
    let e = load_pretrained(
        &mut vs,
        &Weights::File(fixture("convnextv2_linear.safetensors")),
    )
    .unwrap_err();
    assert!(matches!(&e, ModelError::ShapeMismatch { .. }));
    let text = render(e);
    assert!(text.contains("exp::model::shape_mismatch"), "{text}");
    assert!(text.contains("stages.0.blocks.0.mlp.fc1.weight"), "{text}");
    assert!(
        text.contains("checkpoint [32, 8], network [32, 8, 1, 1]"),
        "{text}"
    );
}

#[test]
fn wrong_architecture_lists_missing_and_unexpected_keys() {
    let (mut vs, _m) = model("vit_test", 56);
    let e =
        load_pretrained(&mut vs, &Weights::File(fixture("resnet_basic.safetensors"))).unwrap_err();
    let ModelError::KeyMismatch {
        missing,
        unexpected,
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert!(missing.contains(&"cls_token".to_string()));
    assert!(unexpected.contains(&"conv1.weight".to_string()));
    // The checkpoint's classifier is ignored, not reported.
    assert!(!unexpected.iter().any(|k| k.starts_with("fc.")));
    let text = render(e);
    assert!(
        text.contains("exp::model::key_mismatch")
            && text.contains("`conv1.weight`")
            && text.contains("… and"),
        "{text}"
    );
}

fn pickle_error(path: &Path) -> String {
    let (mut vs, _m) = model("resnet_test", 64);
    render(load_pretrained(&mut vs, &Weights::File(path.to_path_buf())).unwrap_err())
}

#[test]
fn pickle_checkpoints_are_refused_with_the_conversion_command() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["model.pth", "model.pt", "pytorch_model.bin"] {
        let path = tmp.path().join(name);
        std::fs::write(&path, b"\x80\x02}q\x00.").unwrap();
        let text = pickle_error(&path);
        assert!(text.contains("exp::model::pickle_weights"), "{text}");
        assert!(
            text.contains("safetensors.torch") && text.contains("save_file"),
            "{text}"
        );
    }
    // A torch.save zip renamed to .safetensors is recognised too.
    let renamed = tmp.path().join("renamed.safetensors");
    std::fs::write(&renamed, b"PK\x03\x04rest-of-zip").unwrap();
    assert!(pickle_error(&renamed).contains("exp::model::pickle_weights"));
}

#[test]
fn missing_file_names_the_path() {
    let text = pickle_error(Path::new("/nonexistent/weights.safetensors"));
    assert!(
        text.contains("exp::model::weights_not_found")
            && text.contains("/nonexistent/weights.safetensors"),
        "{text}"
    );
}

//! Every full-size backbone has exactly timm's state_dict keys and shapes
//! (the list in tests/fixtures/models/keys.json was exported from timm by
//! scripts/export_timm_keys.py), so timm checkpoints load with no renaming.
#![allow(clippy::unwrap_used)] // Why: tests fail loudly on unexpected errors.

use exp::models::{build_backbone, BakeoffModel, HeadConfig, ARCHS};
use exp::spec::{BackboneSpec, Dropout};
use std::collections::BTreeMap;
use tch::{nn, Device};

fn timm_keys() -> BTreeMap<String, Vec<(String, Vec<i64>)>> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/models/keys.json"
    ))
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = BTreeMap::new();
    for (arch, keys) in json["archs"].as_object().unwrap() {
        let keys = keys
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| {
                let name = kv[0].as_str().unwrap().to_string();
                let shape = kv[1]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_i64().unwrap())
                    .collect();
                (name, shape)
            })
            // Why: batch-norm step counters carry no weights; exp keeps none.
            .filter(|(name, _)| !name.ends_with("num_batches_tracked"))
            .collect();
        out.insert(arch.clone(), keys);
    }
    out
}

#[test]
fn every_full_size_arch_has_exactly_timms_keys_and_shapes() {
    let expected = timm_keys();
    let full: Vec<&str> = ARCHS
        .iter()
        .map(|a| a.0)
        .filter(|n| !n.ends_with("_test") && *n != "dinov2_vits14")
        .collect();
    assert_eq!(
        full.len(),
        expected.len(),
        "keys.json covers every full-size arch"
    );
    for arch in full {
        let want: BTreeMap<String, Vec<i64>> = expected[arch].iter().cloned().collect();
        let vs = nn::VarStore::new(Device::Cpu);
        let backbone = build_backbone(&vs.root(), arch, 0.1).unwrap();
        let got: BTreeMap<String, Vec<i64>> = vs
            .variables()
            .into_iter()
            .map(|(k, v)| (k, v.size()))
            .collect();
        let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
        let unexpected: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
        assert!(
            missing.is_empty() && unexpected.is_empty(),
            "{arch}: missing {missing:?}, unexpected {unexpected:?}"
        );
        for (k, shape) in &want {
            assert_eq!(&got[k], shape, "{arch}: shape of {k}");
        }
        let dim = ARCHS.iter().find(|a| a.0 == arch).unwrap().2;
        assert_eq!(backbone.feature_dim(), dim, "{arch}: feature width");
        // Every variable falls in a layer-decay group.
        for k in got.keys() {
            let id = backbone.layer_id(k);
            assert!(
                id.is_some_and(|i| i <= backbone.num_layers()),
                "{arch}: {k} has layer id {id:?}"
            );
        }
    }
}

#[test]
fn bakeoff_model_puts_timm_keys_under_backbone_and_adds_meta_and_head() {
    let vs = nn::VarStore::new(Device::Cpu);
    let spec = BackboneSpec {
        name: "b".into(),
        arch: "resnet_test".into(),
        pretrained: None,
        drop_path: 0.0,
        input_size: 64,
        mean: [0.5; 3],
        std: [0.5; 3],
        family: exp::spec::Family::ResNet,
    };
    let head = HeadConfig {
        num_classes: 5,
        metadata_dim: 3,
        metadata_hidden: 16,
        dropout: Dropout {
            head: 0.2,
            metadata: 0.1,
        },
    };
    let model = BakeoffModel::new(&vs.root(), &spec, 64, &head).unwrap();
    let vars = vs.variables();
    assert!(vars.contains_key("backbone.conv1.weight"));
    assert!(vars.contains_key("backbone.layer4.0.bn2.running_var"));
    assert_eq!(vars["meta.fc.weight"].size(), vec![16, 3]);
    assert_eq!(vars["head.fc.weight"].size(), vec![5, 64 + 16]);
    assert_eq!(model.layer_id("backbone.conv1.weight"), Some(0));
    assert_eq!(model.layer_id("backbone.layer3.0.conv1.weight"), Some(3));
    assert_eq!(model.layer_id("head.fc.weight"), None);
    assert_eq!(model.num_layers(), 6);
    assert!(vars
        .keys()
        .all(|k| k.starts_with("backbone.") || k.starts_with("meta.") || k.starts_with("head.")));
}

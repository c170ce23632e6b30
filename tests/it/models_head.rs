//! The bake-off model's training behaviour: gradients, frozen backbone,
//! metadata branch, dropout switches, and the GPU code paths (channels-last,
//! bf16 autocast regions) run on CPU.
#![allow(clippy::unwrap_used)] // Why: tests fail loudly on unexpected errors.

use exp::models::{is_no_decay, runtime, BakeoffModel, HeadConfig, ARCHS};
use exp::spec::{BackboneSpec, Dropout, Family};
use tch::{nn, Device, Kind, Tensor};

fn build(arch: &str, size: u32, meta: i64, drop_path: f64) -> (nn::VarStore, BakeoffModel) {
    let _rng = crate::global_rng();
    tch::manual_seed(7);
    let vs = nn::VarStore::new(Device::Cpu);
    let spec = BackboneSpec {
        name: arch.into(),
        arch: arch.into(),
        pretrained: None,
        drop_path,
        input_size: size,
        mean: [0.5; 3],
        std: [0.5; 3],
        family: Family::Tiny,
    };
    let head = HeadConfig {
        num_classes: 4,
        metadata_dim: meta,
        metadata_hidden: if meta > 0 { 8 } else { 0 },
        dropout: Dropout {
            head: 0.3,
            metadata: 0.2,
        },
    };
    let m = BakeoffModel::new(&vs.root(), &spec, size, &head).unwrap();
    (vs, m)
}

fn grad_norm(vs: &nn::VarStore, prefix: &str) -> f64 {
    vs.variables()
        .iter()
        .filter(|(k, v)| k.starts_with(prefix) && v.requires_grad())
        .map(|(_, v)| {
            let g = v.grad();
            if g.defined() {
                f64::try_from(g.abs().sum(Kind::Double)).unwrap()
            } else {
                0.0
            }
        })
        .sum()
}

#[test]
fn every_test_arch_trains_end_to_end_under_autocast() {
    for &(arch, _, _, size) in ARCHS.iter().filter(|a| a.0.ends_with("_test")) {
        let (vs, m) = build(arch, size, 2, 0.1);
        let x = Tensor::randn([3, 3, size as i64, size as i64], (Kind::Float, Device::Cpu));
        let meta = Tensor::randn([3, 2], (Kind::Float, Device::Cpu));
        let logits = runtime::autocast_bf16(true, || m.forward(&x, &meta, true, false));
        assert_eq!(logits.size(), vec![3, 4], "{arch}");
        logits.sum(Kind::Float).backward();
        assert!(
            grad_norm(&vs, "backbone.") > 0.0,
            "{arch}: backbone gets gradients"
        );
        assert!(
            grad_norm(&vs, "meta.") > 0.0,
            "{arch}: metadata branch gets gradients"
        );
        assert!(grad_norm(&vs, "head.") > 0.0, "{arch}: head gets gradients");
    }
}

#[test]
fn channels_last_forward_matches_nchw_for_every_test_arch() {
    // Forward only: libtorch 2.11's CPU oneDNN backward of 1×1 convolutions
    // on channels-last input crashes (also from Python), which is why
    // `runtime::use_channels_last` is true on CUDA only.
    for &(arch, _, _, size) in ARCHS.iter().filter(|a| a.0.ends_with("_test")) {
        let (vs, m) = build(arch, size, 0, 0.0);
        let x = Tensor::randn([2, 3, size as i64, size as i64], (Kind::Float, Device::Cpu));
        let none = Tensor::zeros([2, 0], (Kind::Float, Device::Cpu));
        let want = tch::no_grad(|| m.forward(&x, &none, false, false));
        runtime::vs_to_channels_last(&vs);
        let key = format!("backbone.{}", first_conv(arch));
        assert!(runtime::is_channels_last(&vs.variables()[&key]), "{arch}");
        let got = tch::no_grad(|| m.forward(&runtime::to_channels_last(&x), &none, false, false));
        assert!(
            f64::try_from((got - want).abs().max()).unwrap() < 1e-4,
            "{arch}"
        );
    }
    assert!(!runtime::use_channels_last(Device::Cpu));
    assert!(runtime::use_channels_last(Device::Cuda(0)));
}

fn first_conv(arch: &str) -> &'static str {
    match arch {
        "resnet_test" => "conv1.weight",
        "convnextv2_test" => "stem.0.weight",
        "efficientnetv2_test" => "conv_stem.weight",
        _ => "patch_embed.proj.weight",
    }
}

#[test]
fn frozen_backbone_gets_no_gradient_and_keeps_its_batch_norm_statistics() {
    let (vs, m) = build("resnet_test", 64, 0, 0.0);
    let before = vs.variables()["backbone.bn1.running_mean"].copy();
    let x = Tensor::randn([4, 3, 64, 64], (Kind::Float, Device::Cpu));
    let logits = m.forward(
        &x,
        &Tensor::zeros([4, 0], (Kind::Float, Device::Cpu)),
        true,
        true,
    );
    logits.sum(Kind::Float).backward();
    assert_eq!(grad_norm(&vs, "backbone."), 0.0);
    assert!(grad_norm(&vs, "head.") > 0.0);
    let after = &vs.variables()["backbone.bn1.running_mean"];
    assert_eq!(f64::try_from((after - before).abs().max()).unwrap(), 0.0);
    // Unfrozen training does update them.
    let _ = m.forward(
        &x,
        &Tensor::zeros([4, 0], (Kind::Float, Device::Cpu)),
        true,
        false,
    );
    let moved = &vs.variables()["backbone.bn1.running_mean"];
    assert!(f64::try_from(moved.abs().max()).unwrap() > 0.0);
}

#[test]
fn eval_forward_is_deterministic_and_train_forward_applies_dropout() {
    let (_vs, m) = build("convnextv2_test", 64, 2, 0.2);
    let x = Tensor::randn([2, 3, 64, 64], (Kind::Float, Device::Cpu));
    let meta = Tensor::randn([2, 2], (Kind::Float, Device::Cpu));
    let a = m.forward(&x, &meta, false, false);
    let b = m.forward(&x, &meta, false, false);
    assert_eq!(f64::try_from((&a - &b).abs().max()).unwrap(), 0.0);
    let c = m.forward(&x, &meta, true, false);
    assert!(f64::try_from((&a - &c).abs().max()).unwrap() > 0.0);
}

#[test]
fn no_decay_covers_biases_norms_and_vit_tokens() {
    let (vs, _m) = build("vit_test", 56, 0, 0.0);
    let vars = vs.variables();
    let decayed: Vec<_> = vars
        .iter()
        .filter(|(k, v)| !is_no_decay(k, &v.size()))
        .map(|(k, _)| k.clone())
        .collect();
    assert!(
        decayed.iter().all(|k| k.ends_with(".weight")),
        "{decayed:?}"
    );
    assert!(!decayed.iter().any(|k| k.contains("norm")), "{decayed:?}");
    assert!(is_no_decay("backbone.pos_embed", &[1, 17, 64]));
    assert!(is_no_decay("backbone.cls_token", &[1, 1, 64]));
    assert!(is_no_decay("backbone.blocks.0.ls1.gamma", &[64]));
    assert!(!is_no_decay(
        "backbone.blocks.0.attn.qkv.weight",
        &[192, 64]
    ));
}

#[test]
fn vit_rejects_sizes_that_are_not_patch_multiples() {
    let vs = nn::VarStore::new(Device::Cpu);
    let mut spec = BackboneSpec {
        name: "v".into(),
        arch: "vit_test".into(),
        pretrained: None,
        drop_path: 0.0,
        input_size: 56,
        mean: [0.5; 3],
        std: [0.5; 3],
        family: Family::Vit,
    };
    let head = HeadConfig {
        num_classes: 2,
        metadata_dim: 0,
        metadata_hidden: 0,
        dropout: Dropout {
            head: 0.0,
            metadata: 0.0,
        },
    };
    let err = BakeoffModel::new(&vs.root(), &spec, 60, &head).unwrap_err();
    let text = format!("{:?}", miette::Report::new(err));
    assert!(
        text.contains("exp::model::image_size") && text.contains("multiple of 14"),
        "{text}"
    );
    spec.arch = "nonet".into();
    assert!(BakeoffModel::new(&vs.root(), &spec, 64, &head).is_err());
}

#[test]
fn param_groups_scale_lr_by_layer_and_flag_no_decay() {
    let (vs, m) = build("vit_test", 56, 2, 0.0);
    let groups = m.param_groups(&vs, Some(0.5));
    let get = |n: &str| groups.iter().find(|g| g.name == n).unwrap();
    // vit_test: patch embed = 0, blocks 1..=2, final norm = 3, head = 4.
    assert_eq!(m.num_layers(), 4);
    assert_eq!(
        get("backbone.patch_embed.proj.weight").lr_scale,
        0.5f64.powi(4)
    );
    assert_eq!(
        get("backbone.blocks.1.attn.qkv.weight").lr_scale,
        0.5f64.powi(2)
    );
    assert_eq!(get("backbone.norm.weight").lr_scale, 0.5);
    assert_eq!(get("head.fc.weight").lr_scale, 1.0);
    assert_eq!(get("meta.fc.weight").lr_scale, 1.0);
    assert!(get("backbone.pos_embed").no_decay && !get("head.fc.weight").no_decay);
    assert!(get("backbone.cls_token").backbone && !get("head.fc.bias").backbone);
    assert!(m.param_groups(&vs, None).iter().all(|g| g.lr_scale == 1.0));
    // Running statistics are not parameters.
    let (vs, m) = build("resnet_test", 64, 0, 0.0);
    assert!(!m
        .param_groups(&vs, None)
        .iter()
        .any(|g| g.name.contains("running_")));
}

#[test]
fn flop_counts_of_the_zoo_match_the_published_and_analytic_totals() {
    use exp::models::flops::{
        bf16_peak_tflops, forward_flops_per_image, mfu, train_flops_per_image,
    };
    // ResNet-50 at 224 px: 4.09 GMACs (torchvision's published figure with
    // its 1000-class fc, 2.05 M MACs of which a 4-class head does not have).
    let (_vs, m) = build("resnet50", 224, 0, 0.0);
    let got = forward_flops_per_image(&m, 224, 0, Device::Cpu);
    let want = 2.0 * (4.0895e9 - 2048.0 * 996.0);
    assert!(
        (got / want - 1.0).abs() < 5e-3,
        "resnet50: {got:e} FLOPs, want {want:e}"
    );
    // DINOv2 ViT-S/14 at 224 px, counted by hand: 256 patches + cls token,
    // 12 blocks of qkv, attention (q·kᵀ and ·v), proj and a 4× MLP.
    let (_vs, m) = build("vit_small_patch14_dinov2", 224, 0, 0.0);
    let got = forward_flops_per_image(&m, 224, 0, Device::Cpu);
    let (n, d): (f64, f64) = (257.0, 384.0);
    let block = n * d * 3.0 * d + 2.0 * n * n * d + n * d * d + 2.0 * n * d * 4.0 * d;
    let macs = 256.0 * d * 3.0 * 14.0 * 14.0 + 12.0 * block + d * 4.0;
    assert!(
        (got / (2.0 * macs) - 1.0).abs() < 1e-9,
        "vit: {got:e} FLOPs, want {:e}",
        2.0 * macs
    );
    // Counting is off outside the counting pass.
    let x = Tensor::zeros([1, 3, 224, 224], (Kind::Float, Device::Cpu));
    let _ = m.forward(
        &x,
        &Tensor::zeros([1, 0], (Kind::Float, Device::Cpu)),
        false,
        false,
    );
    assert_eq!(forward_flops_per_image(&m, 224, 0, Device::Cpu), got);
    assert_eq!(train_flops_per_image(got, false), 3.0 * got);
    assert_eq!(train_flops_per_image(got, true), got);
    assert_eq!(bf16_peak_tflops("NVIDIA H200"), Some(989.4));
    assert_eq!(bf16_peak_tflops("NVIDIA H100 PCIe"), Some(756.0));
    assert_eq!(bf16_peak_tflops("NVIDIA A100-SXM4-80GB"), Some(312.0));
    assert_eq!(bf16_peak_tflops("NVIDIA A10"), Some(125.0));
    assert_eq!(bf16_peak_tflops("Tesla V100-SXM2-16GB"), None);
    assert!((mfu(1e9, 1000.0, 1.0) - 1.0).abs() < 1e-12);
}

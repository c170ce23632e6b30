//! CUDA check of every full-size backbone: forward + backward at 224 px under
//! bf16 autocast with channels-last weights and inputs, and training
//! throughput (img/s, printed, not asserted). Needs a GPU, so it is ignored
//! by default; on a GPU machine run
//! `cargo test --release --test models_gpu -- --ignored --nocapture`.
#![allow(clippy::unwrap_used)] // Why: tests fail loudly on unexpected errors.

use exp::models::{runtime, BakeoffModel, HeadConfig, ARCHS};
use exp::spec::{BackboneSpec, Dropout, Family};
use std::time::Instant;
use tch::{nn, Cuda, Device, Kind, Tensor};

const BATCH: i64 = 32;
const SIZE: u32 = 224;
const STEPS: usize = 5;

#[test]
#[ignore = "needs a CUDA device; run with --ignored on a GPU machine"]
fn cuda_forward_backward_bf16_channels_last_every_backbone() {
    assert!(Cuda::is_available(), "no CUDA device visible to libtorch");
    let device = Device::Cuda(0);
    runtime::set_deterministic(false);
    for &(arch, _, _, _) in ARCHS
        .iter()
        .filter(|a| !a.0.ends_with("_test") && a.0 != "dinov2_vits14")
    {
        let vs = nn::VarStore::new(device);
        let spec = BackboneSpec {
            name: arch.into(),
            arch: arch.into(),
            pretrained: None,
            drop_path: 0.1,
            input_size: SIZE,
            mean: [0.5; 3],
            std: [0.5; 3],
            family: Family::Tiny,
        };
        let head = HeadConfig {
            num_classes: 10,
            metadata_dim: 0,
            metadata_hidden: 0,
            dropout: Dropout {
                head: 0.1,
                metadata: 0.0,
            },
        };
        let model = BakeoffModel::new(&vs.root(), &spec, SIZE, &head).unwrap();
        assert!(runtime::use_channels_last(device));
        runtime::vs_to_channels_last(&vs);
        let x = runtime::to_channels_last(&Tensor::randn(
            [BATCH, 3, SIZE as i64, SIZE as i64],
            (Kind::Float, device),
        ));
        let y = Tensor::randint(10, [BATCH], (Kind::Int64, device));
        let none = Tensor::zeros([BATCH, 0], (Kind::Float, device));
        let step = || {
            let logits = runtime::autocast_bf16(true, || model.forward(&x, &none, true, false));
            assert_eq!(
                logits.kind(),
                Kind::BFloat16,
                "{arch}: autocast produced bf16 logits"
            );
            let loss = logits.to_kind(Kind::Float).cross_entropy_for_logits(&y);
            for v in vs.trainable_variables() {
                let mut g = v.grad();
                if g.defined() {
                    let _zeroed = g.zero_();
                }
            }
            loss.backward();
            loss
        };
        for _ in 0..2 {
            let _warmup = step();
        }
        Cuda::synchronize(0);
        let start = Instant::now();
        let mut last = Tensor::zeros([], (Kind::Float, device));
        for _ in 0..STEPS {
            last = step();
        }
        Cuda::synchronize(0);
        let secs = start.elapsed().as_secs_f64();
        let loss = f64::try_from(&last).unwrap();
        assert!(loss.is_finite(), "{arch}: loss {loss}");
        let grads_finite = vs.trainable_variables().iter().all(|v| {
            let g = v.grad();
            !g.defined() || bool::try_from(g.isfinite().all()).unwrap_or(false)
        });
        assert!(grads_finite, "{arch}: non-finite gradient");
        println!(
            "{arch:<26} train fwd+bwd bf16 channels-last {SIZE}px batch {BATCH}: {:8.1} img/s",
            (BATCH as usize * STEPS) as f64 / secs
        );
    }
}

#[test]
#[ignore = "needs a CUDA device; run with --ignored on a GPU machine"]
fn cuda_vit_at_non_native_size_trains_under_deterministic_algorithms() {
    // The position-embedding resize must not use a kernel without a
    // deterministic CUDA backward (518 px grid → 224 px grid).
    assert!(Cuda::is_available(), "no CUDA device visible to libtorch");
    runtime::set_deterministic(true);
    let device = Device::Cuda(0);
    let vs = nn::VarStore::new(device);
    let spec = BackboneSpec {
        name: "v".into(),
        arch: "vit_small_patch14_dinov2".into(),
        pretrained: None,
        drop_path: 0.0,
        input_size: SIZE,
        mean: [0.5; 3],
        std: [0.5; 3],
        family: Family::Vit,
    };
    let head = HeadConfig {
        num_classes: 3,
        metadata_dim: 0,
        metadata_hidden: 0,
        dropout: Dropout {
            head: 0.0,
            metadata: 0.0,
        },
    };
    let model = BakeoffModel::new(&vs.root(), &spec, SIZE, &head).unwrap();
    let x = Tensor::randn([2, 3, SIZE as i64, SIZE as i64], (Kind::Float, device));
    let none = Tensor::zeros([2, 0], (Kind::Float, device));
    let logits = runtime::autocast_bf16(true, || model.forward(&x, &none, true, false));
    logits.to_kind(Kind::Float).sum(Kind::Float).backward();
    let g = vs.variables()["backbone.pos_embed"].grad();
    assert!(g.defined() && f64::try_from(g.abs().sum(Kind::Float)).unwrap() > 0.0);
    runtime::set_deterministic(false);
}

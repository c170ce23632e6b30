//! One optimizer step over ResNet-18's parameter shapes (62 tensors, 11.7 M
//! f32 values; weight decay on the conv/linear weights only, as exp's
//! parameter groups do), run by scripts/bench_optim.sh beside torch.optim on
//! the same shapes. Prints `optimizer median_ms` per optimizer: the median of
//! 20 steps after 3 warm-up steps, on CPU.

use exp::spec::OptimizerKind;
use exp::train::optim::{Optimizer, ParamSpec};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// ResNet-18's parameter shapes (ImageNet head), weights then norm vectors.
pub fn resnet18_shapes() -> Vec<Vec<i64>> {
    let mut v: Vec<Vec<i64>> = vec![vec![64, 3, 7, 7]];
    v.extend(std::iter::repeat_n(vec![64, 64, 3, 3], 4));
    for (c, prev) in [(128, 64), (256, 128), (512, 256)] {
        v.push(vec![c, prev, 3, 3]);
        v.push(vec![c, c, 3, 3]);
        v.push(vec![c, prev, 1, 1]);
        v.extend(std::iter::repeat_n(vec![c, c, 3, 3], 2));
    }
    v.push(vec![1000, 512]);
    for c in [64, 128, 256, 512] {
        v.extend(std::iter::repeat_n(vec![c], 10));
    }
    v
}

fn median_ms(kind: OptimizerKind) -> f64 {
    tch::manual_seed(0);
    let params: Vec<(ParamSpec, Tensor)> = resnet18_shapes()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let p = Tensor::randn(s.as_slice(), (Kind::Float, Device::Cpu)).set_requires_grad(true);
            let spec = ParamSpec {
                name: format!("p{i}"),
                lr_scale: 1.0,
                weight_decay: if s.len() > 1 { 1e-4 } else { 0.0 },
            };
            (spec, p)
        })
        .collect();
    let grads: Vec<Tensor> = params.iter().map(|(_, p)| Tensor::randn_like(p)).collect();
    let mut opt = Optimizer::new(
        kind,
        params
            .iter()
            .map(|(s, p)| (s.clone(), p.shallow_clone()))
            .collect(),
    );
    let mut times = Vec::new();
    for i in 0..23 {
        // The same gradients every step, set outside the timed region.
        for ((_, p), g) in params.iter().zip(&grads) {
            let mut pg = p.grad();
            if pg.defined() {
                pg.copy_(g);
            } else {
                (p * g).sum(Kind::Float).backward();
            }
        }
        let t = Instant::now();
        opt.step(0.01).expect("optimizer step");
        if i >= 3 {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let runs = [
        (
            "adamw",
            OptimizerKind::AdamW {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
        ),
        (
            "sgd_momentum",
            OptimizerKind::Sgd {
                momentum: 0.9,
                nesterov: false,
            },
        ),
        (
            "rmsprop",
            OptimizerKind::RmsProp {
                alpha: 0.9,
                eps: 1e-3,
                momentum: 0.9,
                tf_style: false,
            },
        ),
    ];
    for (name, kind) in runs {
        println!("{name} {:.3}", median_ms(kind));
    }
}

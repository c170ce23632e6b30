//! Unit-level checks of the trainer's pieces against PyTorch/timm reference
//! numbers: optimizer updates, gradient clipping, lr schedules, selection and
//! early stopping, parameter groups, checkpoint files.

#![allow(clippy::unwrap_used)] // Why: tests fail loudly by design.
use exp::spec::{EarlyStop, Monitor, OptimizerKind, Schedule, Warmup};
use exp::train::early_stop::{EarlyStopper, Selection};
use exp::train::optim::{Optimizer, ParamSpec};
use exp::train::phases::{self, PhaseKind};
use exp::train::schedule::PhaseSchedule;
use std::collections::{BTreeMap, BTreeSet};
use tch::{Kind, Tensor};

// Reference numbers made with torch 2.11.0 / timm 1.0.31 (float64):
//
// import torch, timm.optim
// torch.set_default_dtype(torch.float64)
// p0 = torch.tensor([[0.5, -1.0, 2.0], [0.1, 0.0, -0.3]])
// gs = [torch.tensor([[0.1, -0.2, 0.3], [1.0, -0.5, 0.05]]),
//       torch.tensor([[-0.3, 0.4, 0.1], [0.2, 0.2, -0.7]]),
//       torch.tensor([[0.05, 0.0, -0.2], [-1.0, 0.3, 0.4]])]
// lrs = [0.01, 0.005, 0.02]
// def run(make):
//     p = torch.nn.Parameter(p0.clone()); o = make([p])
//     for g, lr in zip(gs, lrs):
//         for grp in o.param_groups: grp["lr"] = lr
//         p.grad = g.clone(); o.step()
//     return p.detach().flatten().tolist()
// run(lambda ps: torch.optim.AdamW(ps, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05))  # adamw
// run(lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01))    # adam_l2
// run(lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9, weight_decay=1e-3))                      # sgd_momentum
// run(lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9, nesterov=True))                          # sgd_nesterov
// run(lambda ps: torch.optim.SGD(ps, lr=0.01))                                                      # sgd_plain
// run(lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-3, weight_decay=1e-2))          # rmsprop
// run(lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-3, momentum=0.9))               # rmsprop_momentum
// run(lambda ps: timm.optim.RMSpropTF(ps, lr=0.01, alpha=0.9, eps=1e-3, momentum=0.9, weight_decay=1e-2))  # rmsprop_tf
// run(lambda ps: timm.optim.RMSpropTF(ps, lr=0.01, alpha=0.9, eps=1e-3))                            # rmsprop_tf_nomom
const P0: [f64; 6] = [0.5, -1.0, 2.0, 0.1, 0.0, -0.3];
const GS: [[f64; 6]; 3] = [
    [0.1, -0.2, 0.3, 1.0, -0.5, 0.05],
    [-0.3, 0.4, 0.1, 0.2, 0.2, -0.7],
    [0.05, 0.0, -0.2, -1.0, 0.3, 0.4],
];
const LRS: [f64; 3] = [0.01, 0.005, 0.02];

fn run_optimizer(kind: OptimizerKind, weight_decay: f64) -> Vec<f64> {
    let p = Tensor::from_slice(&P0).view([2, 3]).set_requires_grad(true);
    let spec = ParamSpec {
        name: "w".into(),
        lr_scale: 1.0,
        weight_decay,
    };
    let mut opt = Optimizer::new(kind, vec![(spec, p.shallow_clone())]);
    for (g, lr) in GS.iter().zip(LRS) {
        opt.zero_grad().unwrap();
        let g = Tensor::from_slice(g).view([2, 3]);
        (&p * &g).sum(Kind::Double).backward();
        opt.step(lr).unwrap();
    }
    Vec::<f64>::try_from(p.detach().flatten(0, -1)).unwrap()
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-12 * (1.0 + w.abs()),
            "{what}[{i}]: got {g:.17}, PyTorch {w:.17}"
        );
    }
}

#[test]
fn adamw_matches_pytorch() {
    let got = run_optimizer(
        OptimizerKind::AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        },
        0.05,
    );
    let want = [
        0.4971563776176457,
        -0.9957520414644853,
        1.9776187791143158,
        0.0859158919882425,
        0.010158259624220085,
        -0.30299518872241255,
    ];
    assert_close(&got, &want, "adamw");
}

#[test]
fn adam_with_l2_matches_pytorch() {
    let got = run_optimizer(
        OptimizerKind::Adam {
            beta1: 0.8,
            beta2: 0.99,
            eps: 1e-6,
        },
        0.01,
    );
    let want = [
        0.4977319888819449,
        -0.9973473747591759,
        1.9812287910121487,
        0.08810239919802204,
        0.008225614525735319,
        -0.303923900022766,
    ];
    assert_close(&got, &want, "adam_l2");
}

#[test]
fn sgd_variants_match_pytorch() {
    let got = run_optimizer(
        OptimizerKind::Sgd {
            momentum: 0.9,
            nesterov: false,
        },
        1e-3,
    );
    let want = [
        0.5027931723098995,
        -1.0029863646197992,
        1.992342767239698,
        0.0846931700609999,
        0.004749760000500001,
        -0.2934129341860497,
    ];
    assert_close(&got, &want, "sgd_momentum");
    let got = run_optimizer(
        OptimizerKind::Sgd {
            momentum: 0.9,
            nesterov: true,
        },
        0.0,
    );
    let want = [
        0.502047,
        -1.002754,
        1.993741,
        0.09523000000000001,
        0.0022749999999999997,
        -0.2990915,
    ];
    assert_close(&got, &want, "sgd_nesterov");
    let got = run_optimizer(
        OptimizerKind::Sgd {
            momentum: 0.0,
            nesterov: false,
        },
        0.0,
    );
    let want = [
        0.49949999999999994,
        -1.0,
        2.0005,
        0.10900000000000001,
        -0.0019999999999999996,
        -0.305,
    ];
    assert_close(&got, &want, "sgd_plain");
}

/// SGD with momentum and L2 decay by hand, PyTorch's per-parameter rule:
/// the buffer starts as the first gradient the parameter gets.
fn sgd_by_hand(p0: &[f64], grads: &[Option<Vec<f64>>], lrs: &[f64], wd: f64) -> Vec<f64> {
    let mut p = p0.to_vec();
    let mut buf: Option<Vec<f64>> = None;
    for (g, lr) in grads.iter().zip(lrs) {
        let Some(g) = g else { continue };
        let d: Vec<f64> = g.iter().zip(&p).map(|(g, p)| g + wd * p).collect();
        let b = match buf.take() {
            Some(b) => b.iter().zip(&d).map(|(b, d)| 0.9 * b + d).collect(),
            None => d,
        };
        for (p, b) in p.iter_mut().zip(&b) {
            *p -= lr * b;
        }
        buf = Some(b);
    }
    p
}

#[test]
fn sgd_momentum_starts_each_parameter_at_its_first_gradient() {
    // `q` first gets a gradient at the second step, as a backbone does when
    // it is unfrozen after the head: its buffer starts there while `p`'s
    // carries on (two fused calls in one group).
    let p = Tensor::from_slice(&P0).view([2, 3]).set_requires_grad(true);
    let q0 = [1.0, -2.0];
    let q = Tensor::from_slice(&q0).set_requires_grad(true);
    let spec = |name: &str| ParamSpec {
        name: name.into(),
        lr_scale: 1.0,
        weight_decay: 1e-3,
    };
    let mut opt = Optimizer::new(
        OptimizerKind::Sgd {
            momentum: 0.9,
            nesterov: false,
        },
        vec![
            (spec("p"), p.shallow_clone()),
            (spec("q"), q.shallow_clone()),
        ],
    );
    let hq = [None, Some(vec![0.5, -0.25]), Some(vec![-1.0, 2.0])];
    for ((g, h), lr) in GS.iter().zip(&hq).zip(LRS) {
        opt.zero_grad().unwrap();
        let mut loss = (&p * Tensor::from_slice(g).view([2, 3])).sum(Kind::Double);
        if let Some(h) = h {
            loss += (&q * Tensor::from_slice(h)).sum(Kind::Double);
        }
        loss.backward();
        opt.step(lr).unwrap();
    }
    let flat = |t: &Tensor| Vec::<f64>::try_from(t.detach().flatten(0, -1)).unwrap();
    let gp: Vec<Option<Vec<f64>>> = GS.iter().map(|g| Some(g.to_vec())).collect();
    assert_close(&flat(&p), &sgd_by_hand(&P0, &gp, &LRS, 1e-3), "p");
    assert_close(&flat(&q), &sgd_by_hand(&q0, &hq, &LRS, 1e-3), "q");
}

#[test]
fn rmsprop_matches_pytorch_and_timm_tf_style() {
    let got = run_optimizer(
        OptimizerKind::RmsProp {
            alpha: 0.9,
            eps: 1e-3,
            momentum: 0.0,
            tf_style: false,
        },
        1e-2,
    );
    let want = [
        0.4727188417541745,
        -0.9813448942297587,
        1.9945038387603395,
        0.11162218261734892,
        -0.007626711863504332,
        -0.3460732770018108,
    ];
    assert_close(&got, &want, "rmsprop");
    let got = run_optimizer(
        OptimizerKind::RmsProp {
            alpha: 0.9,
            eps: 1e-3,
            momentum: 0.9,
            tf_style: false,
        },
        0.0,
    );
    let want = [
        0.4642111264179646,
        -0.9696774100789675,
        1.9159742658032737,
        0.0347106550984125,
        0.03546414340458147,
        -0.3515125000862281,
    ];
    assert_close(&got, &want, "rmsprop_momentum");
    let got = run_optimizer(
        OptimizerKind::RmsProp {
            alpha: 0.9,
            eps: 1e-3,
            momentum: 0.9,
            tf_style: true,
        },
        1e-2,
    );
    let want = [
        0.49881827045694227,
        -0.9978547753281102,
        1.9938367228284746,
        0.09177897233429098,
        0.00513272949538359,
        -0.30307407807957953,
    ];
    assert_close(&got, &want, "rmsprop_tf");
    let got = run_optimizer(
        OptimizerKind::RmsProp {
            alpha: 0.9,
            eps: 1e-3,
            momentum: 0.0,
            tf_style: true,
        },
        0.0,
    );
    let want = [
        0.49943950457730263,
        -1.0000921388282442,
        2.0009460617053825,
        0.10986672615704397,
        -0.0027663757026605666,
        -0.3057520076715087,
    ];
    assert_close(&got, &want, "rmsprop_tf_nomom");
}

#[test]
fn optimizer_state_roundtrip_continues_identically() {
    // Two steps, save state, restore into a fresh optimizer, third step:
    // identical to three uninterrupted steps. For SGD this also checks that a
    // restored momentum buffer is continued, not restarted.
    let kinds = [
        (
            OptimizerKind::AdamW {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            "exp_avg",
        ),
        (
            OptimizerKind::Sgd {
                momentum: 0.9,
                nesterov: false,
            },
            "momentum_buffer",
        ),
        (
            OptimizerKind::RmsProp {
                alpha: 0.9,
                eps: 1e-3,
                momentum: 0.9,
                tf_style: false,
            },
            "square_avg",
        ),
    ];
    for (kind, buffer) in kinds {
        let straight = run_optimizer(kind.clone(), 0.05);
        let p = Tensor::from_slice(&P0).view([2, 3]).set_requires_grad(true);
        let spec = ParamSpec {
            name: "w".into(),
            lr_scale: 1.0,
            weight_decay: 0.05,
        };
        let mut opt = Optimizer::new(kind.clone(), vec![(spec.clone(), p.shallow_clone())]);
        for (g, lr) in GS.iter().zip(LRS).take(2) {
            opt.zero_grad().unwrap();
            (&p * Tensor::from_slice(g).view([2, 3]))
                .sum(Kind::Double)
                .backward();
            opt.step(lr).unwrap();
        }
        let saved: BTreeMap<String, Tensor> = opt
            .state_tensors()
            .into_iter()
            .map(|(n, t)| (format!("optim.{n}"), t.copy()))
            .collect();
        assert!(
            saved.contains_key(&format!("optim.w.{buffer}")) && saved.contains_key("optim.w.step"),
            "{kind:?}: {:?}",
            saved.keys().collect::<Vec<_>>()
        );
        let mut opt2 = Optimizer::new(kind.clone(), vec![(spec, p.shallow_clone())]);
        opt2.load_state(&saved, "optim.").unwrap();
        opt2.zero_grad().unwrap();
        (&p * Tensor::from_slice(&GS[2]).view([2, 3]))
            .sum(Kind::Double)
            .backward();
        opt2.step(LRS[2]).unwrap();
        let resumed = Vec::<f64>::try_from(p.detach().flatten(0, -1)).unwrap();
        assert_eq!(
            straight, resumed,
            "{kind:?}: bit-identical after a state round trip"
        );
    }
}

#[test]
fn grad_clip_matches_clip_grad_norm() {
    // a.grad = [3,4,0], b.grad = [12,0]; clip_grad_norm_([a, b], 1.3) → total 13,
    // grads scaled by 1.3 / (13 + 1e-6): a = [0.2999999769230787, 0.39999996923077163, 0], b = [1.199999907692315, 0].
    let a = Tensor::zeros([3], (Kind::Double, tch::Device::Cpu)).set_requires_grad(true);
    let b = Tensor::zeros([2], (Kind::Double, tch::Device::Cpu)).set_requires_grad(true);
    ((&a * Tensor::from_slice(&[3.0f64, 4.0, 0.0])).sum(Kind::Double)
        + (&b * Tensor::from_slice(&[12.0f64, 0.0])).sum(Kind::Double))
    .backward();
    let spec = |n: &str| ParamSpec {
        name: n.into(),
        lr_scale: 1.0,
        weight_decay: 0.0,
    };
    let opt = Optimizer::new(
        OptimizerKind::Sgd {
            momentum: 0.0,
            nesterov: false,
        },
        vec![
            (spec("a"), a.shallow_clone()),
            (spec("b"), b.shallow_clone()),
        ],
    );
    let total = opt.clip_grad_norm(1.3).unwrap();
    assert_eq!(total.double_value(&[]), 13.0);
    assert_close(
        &Vec::<f64>::try_from(a.grad()).unwrap(),
        &[0.2999999769230787, 0.39999996923077163, 0.0],
        "a.grad",
    );
    assert_close(
        &Vec::<f64>::try_from(b.grad()).unwrap(),
        &[1.199999907692315, 0.0],
        "b.grad",
    );
}

#[test]
fn cosine_schedule_with_step_warmup() {
    // 2 epochs × 5 steps, 2 warmup steps, cosine to 10 %.
    let s = PhaseSchedule::new(
        1.0,
        &Schedule::Cosine { min_lr_ratio: 0.1 },
        Warmup::Steps(2),
        5,
        2,
    );
    assert_eq!((s.warmup_steps, s.total_steps), (2, 10));
    let want = [
        (0, 0.5),
        (1, 1.0),
        (2, 1.0),
        (6, 0.55),
        (
            9,
            0.1 + 0.45 * (1.0 + (7.0 * std::f64::consts::PI / 8.0).cos()),
        ),
        (10, 0.1),
        (50, 0.1),
    ];
    for (step, lr) in want {
        assert!(
            (s.lr(step) - lr).abs() < 1e-12,
            "step {step}: {} vs {lr}",
            s.lr(step)
        );
    }
    // 0.1 + 0.45·(1 + cos 7π/8) = 0.13425421036992...
    assert!((s.lr(9) - 0.134_254_210_369_92).abs() < 1e-12);
}

#[test]
fn a_sample_cap_shortens_the_cosine_to_end_where_training_stops() {
    // 4 epochs × 5 steps, but max_samples stops training after 6 steps: the
    // cosine spans those 6 (2 warmup + 4), not the budget's 20.
    let s = PhaseSchedule::new(
        1.0,
        &Schedule::Cosine { min_lr_ratio: 0.0 },
        Warmup::Steps(2),
        5,
        4,
    )
    .capped(Some(6));
    assert_eq!((s.warmup_steps, s.total_steps), (2, 6));
    assert!((s.lr(4) - 0.5).abs() < 1e-12, "halfway: {}", s.lr(4));
    assert!(s.lr(6).abs() < 1e-12, "at the cap: {}", s.lr(6));
    // A cap beyond the phase changes nothing; a cap inside warmup clamps it.
    let long = PhaseSchedule::new(1.0, &Schedule::Constant, Warmup::Steps(2), 5, 4);
    assert_eq!(long.clone().capped(Some(100)), long);
    assert_eq!(long.capped(Some(1)).warmup_steps, 1);
}

#[test]
fn step_schedule_with_epoch_warmup_and_constant() {
    let s = PhaseSchedule::new(
        2.0,
        &Schedule::Step {
            every_epochs: 1,
            gamma: 0.5,
        },
        Warmup::Epochs(0.5),
        4,
        3,
    );
    assert_eq!(s.warmup_steps, 2);
    let lrs: Vec<f64> = (0..12).map(|i| s.lr(i)).collect();
    assert_eq!(
        lrs,
        vec![1.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5]
    );
    let c = PhaseSchedule::new(0.3, &Schedule::Constant, Warmup::None, 7, 1);
    assert!((0..7).all(|i| c.lr(i) == 0.3));
    // Warmup longer than the phase is clamped to it.
    let w = PhaseSchedule::new(1.0, &Schedule::Constant, Warmup::Steps(100), 3, 2);
    assert_eq!(w.warmup_steps, 6);
    assert_eq!(w.lr(5), 1.0);
}

#[test]
fn selection_keeps_best_and_ignores_nan() {
    let mut sel = Selection::default();
    assert!(sel.observe(Monitor::ValLoss, 1, 0.9, 0.5));
    assert!(!sel.observe(Monitor::ValLoss, 2, f64::NAN, 0.9));
    assert!(sel.observe(Monitor::ValLoss, 3, 0.8, 0.4));
    assert!(
        !sel.observe(Monitor::ValLoss, 4, 0.8, 0.7),
        "ties keep the earlier epoch"
    );
    assert_eq!(
        (sel.best_epoch, sel.best_val_loss, sel.best_val_top1),
        (3, 0.8, 0.4)
    );
    let mut top = Selection::default();
    top.observe(Monitor::ValTop1, 1, 0.9, 0.5);
    assert!(top.observe(Monitor::ValTop1, 2, 5.0, 0.6));
    assert_eq!(top.best_epoch, 2);
}

#[test]
fn early_stopping_counts_patience_with_min_delta() {
    let rule = EarlyStop {
        patience: 2,
        monitor: Monitor::ValLoss,
        min_delta: 0.01,
    };
    let mut es = EarlyStopper::default();
    let stops: Vec<bool> = [1.0, 0.995, 0.98, 0.99, 0.985]
        .iter()
        .map(|&l| es.observe(&rule, l, 0.0))
        .collect();
    assert_eq!(stops, vec![false, false, false, false, true]);
    let rule = EarlyStop {
        patience: 1,
        monitor: Monitor::ValTop1,
        min_delta: 0.0,
    };
    let mut es = EarlyStopper::default();
    assert!(!es.observe(&rule, 0.0, 0.5));
    assert!(!es.observe(&rule, 0.0, 0.6));
    assert!(es.observe(&rule, 0.0, 0.6));
}

#[test]
fn param_groups_exclude_norms_and_biases_and_freeze_backbone() {
    let mut vars = BTreeMap::new();
    vars.insert(
        "backbone.conv.weight".to_string(),
        Tensor::zeros([4, 3, 3, 3], (Kind::Float, tch::Device::Cpu)),
    );
    vars.insert(
        "backbone.bn.weight".to_string(),
        Tensor::zeros([4], (Kind::Float, tch::Device::Cpu)),
    );
    vars.insert(
        "backbone.bn.running_mean".to_string(),
        Tensor::zeros([4], (Kind::Float, tch::Device::Cpu)),
    );
    vars.insert(
        "head.fc.weight".to_string(),
        Tensor::zeros([2, 4], (Kind::Float, tch::Device::Cpu)),
    );
    vars.insert(
        "head.fc.bias".to_string(),
        Tensor::zeros([2], (Kind::Float, tch::Device::Cpu)),
    );
    vars.insert(
        "meta.fc1.weight".to_string(),
        Tensor::zeros([8, 3], (Kind::Float, tch::Device::Cpu)),
    );
    let trainable: BTreeSet<String> = vars
        .keys()
        .filter(|k| !k.contains("running"))
        .cloned()
        .collect();
    let scale = |n: &str| {
        if n.starts_with("backbone.") {
            0.25
        } else {
            1.0
        }
    };
    let frozen = phases::param_specs(PhaseKind::Frozen, &vars, &trainable, 0.05, &scale);
    let names: Vec<&str> = frozen.iter().map(|(s, _)| s.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["head.fc.bias", "head.fc.weight", "meta.fc1.weight"]
    );
    let fin = phases::param_specs(PhaseKind::Finetune, &vars, &trainable, 0.05, &scale);
    let got: Vec<(&str, f64, f64)> = fin
        .iter()
        .map(|(s, _)| (s.name.as_str(), s.lr_scale, s.weight_decay))
        .collect();
    assert_eq!(
        got,
        vec![
            ("backbone.bn.weight", 0.25, 0.0),
            ("backbone.conv.weight", 0.25, 0.05),
            ("head.fc.bias", 1.0, 0.0),
            ("head.fc.weight", 1.0, 0.05),
            ("meta.fc1.weight", 1.0, 0.05),
        ]
    );
    // Layer-wise decay: decay^(num_layers − id); non-backbone variables keep 1.
    assert_eq!(phases::layer_decay_scale(Some(0.5), Some(1), 3), 0.25);
    assert_eq!(phases::layer_decay_scale(Some(0.5), Some(3), 3), 1.0);
    assert_eq!(phases::layer_decay_scale(Some(0.5), None, 3), 1.0);
    assert_eq!(phases::layer_decay_scale(None, Some(0), 3), 1.0);
}

#[test]
fn metrics_csv_is_written_atomically_with_the_documented_columns() {
    use exp::train::history::{write, EpochRow};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("metrics.csv");
    let row = EpochRow {
        epoch: 1,
        phase: "frozen".into(),
        train_loss: 0.5,
        val_loss: 0.25,
        val_top1: 0.75,
        lr: 0.001,
        img_per_s: 123.456,
        data_wait: 0.12345,
        skipped_steps: 2,
        loss_scale: 16384.0,
        mfu: 0.41234,
    };
    write(&p, &[row]).unwrap();
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "epoch,phase,train_loss,val_loss,val_top1,lr,img_per_s,data_wait,skipped_steps,loss_scale,mfu\n1,frozen,0.5,0.25,0.75,0.001,123.5,0.1235,2,16384,0.4123\n"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp file left"
    );
}

#[test]
fn capturable_optimizers_equal_the_eager_ones_over_20_steps() {
    // Two groups (different lr scale and weight decay), a schedule that
    // changes the lr every step, f32 parameters as in training: the
    // optimizer with its lr on the device (`set_lr` + `step_device_lr`, what
    // a CUDA graph records, or plain `step`) gives bit-identical weights.
    let kinds = [
        OptimizerKind::AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        },
        OptimizerKind::Adam {
            beta1: 0.8,
            beta2: 0.99,
            eps: 1e-6,
        },
        OptimizerKind::Sgd {
            momentum: 0.9,
            nesterov: true,
        },
        OptimizerKind::Sgd {
            momentum: 0.0,
            nesterov: false,
        },
        OptimizerKind::RmsProp {
            alpha: 0.9,
            eps: 1e-3,
            momentum: 0.9,
            tf_style: false,
        },
        OptimizerKind::RmsProp {
            alpha: 0.9,
            eps: 1e-3,
            momentum: 0.0,
            tf_style: true,
        },
        OptimizerKind::RmsProp {
            alpha: 0.9,
            eps: 1e-3,
            momentum: 0.9,
            tf_style: true,
        },
    ];
    let run = |kind: &OptimizerKind, capturable: bool| -> Vec<Vec<f32>> {
        // Held while this run draws its parameters and inputs.
        let _rng = crate::global_rng();
        tch::manual_seed(7);
        let a = Tensor::randn([4, 3], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        let b = Tensor::randn([5], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        let specs = [("a", 1.0, 0.05), ("b", 0.5, 0.0)];
        let params = specs
            .iter()
            .zip([&a, &b])
            .map(|(&(name, lr_scale, weight_decay), t)| {
                let spec = ParamSpec {
                    name: name.into(),
                    lr_scale,
                    weight_decay,
                };
                (spec, t.shallow_clone())
            })
            .collect();
        let mut opt = if capturable {
            Optimizer::capturable(kind.clone(), params)
        } else {
            Optimizer::new(kind.clone(), params)
        };
        assert_eq!(opt.is_capturable(), capturable);
        for step in 0..20 {
            opt.zero_grad().unwrap();
            let x = Tensor::randn([5], (Kind::Float, tch::Device::Cpu));
            let loss = (a.sum(Kind::Float) * x.sum(Kind::Float)).sin()
                + (&b * &x).square().sum(Kind::Float);
            loss.backward();
            let lr = 0.01 * (1.0 + f64::from(step)).sqrt().recip();
            if capturable && step % 2 == 1 {
                opt.set_lr(lr);
                opt.step_device_lr().unwrap();
            } else {
                opt.step(lr).unwrap();
            }
        }
        [&a, &b]
            .iter()
            .map(|t| Vec::<f32>::try_from(t.detach().flatten(0, -1)).unwrap())
            .collect()
    };
    for kind in &kinds {
        let eager = run(kind, false);
        let captured = run(kind, true);
        assert_eq!(
            eager, captured,
            "{kind:?}: device-resident lr changes the weights"
        );
        assert!(
            eager[0].iter().all(|v| v.is_finite()),
            "{kind:?}: the run diverged"
        );
    }
    let mut eager = Optimizer::new(kinds[0].clone(), Vec::new());
    assert!(
        eager.step_device_lr().is_err(),
        "a host-lr optimizer refuses the graph step"
    );
}

fn loader_batch(seed: i64, n: i64, soft: bool) -> exp::data::Batch {
    let _rng = crate::global_rng();
    tch::manual_seed(seed);
    let cpu = (Kind::Float, tch::Device::Cpu);
    exp::data::Batch {
        images: Tensor::randn([n, 3, 8, 8], cpu),
        labels: Tensor::randint(5, [n], (Kind::Int64, tch::Device::Cpu)),
        soft_targets: soft.then(|| Tensor::rand([n, 5], cpu)),
        metadata: Tensor::randn([n, 2], cpu),
        index: (0..n as usize).collect(),
        global_len: n as usize,
    }
}

#[test]
fn static_batch_buffers_take_every_batch_in_place_and_refuse_other_shapes() {
    use exp::train::graph::StaticBatch;
    let first = loader_batch(1, 4, false);
    let statics = StaticBatch::like(&first);
    let storage = statics.images.data_ptr();
    for seed in [1, 2, 3] {
        let b = loader_batch(seed, 4, false);
        statics.fill(&b).unwrap();
        let fed = statics.as_batch();
        // The captured step reads the same memory every time...
        assert_eq!(fed.images.data_ptr(), storage);
        assert_eq!(fed.labels.data_ptr(), statics.labels.data_ptr());
        // ...which now holds this batch.
        assert!(fed.images.equal(&b.images), "images of batch {seed}");
        assert!(fed.labels.equal(&b.labels), "labels of batch {seed}");
        assert!(fed.metadata.equal(&b.metadata), "metadata of batch {seed}");
        assert_eq!(fed.index, vec![0, 1, 2, 3]);
    }
    let last = loader_batch(3, 4, false);
    // A last partial batch or a mixed batch does not fit: it runs eagerly.
    let partial = loader_batch(4, 3, false);
    assert!(!statics.accepts(&partial));
    let err = statics.fill(&partial).unwrap_err();
    assert!(
        err.contains("[3, 3, 8, 8]") && err.contains("[4, 3, 8, 8]"),
        "{err}"
    );
    assert!(!statics.accepts(&loader_batch(5, 4, true)));
    assert!(
        statics.images.equal(&last.images),
        "a refused batch leaves the buffers alone"
    );
    // Mixed batches get their own soft-target buffer.
    let mixed = StaticBatch::like(&loader_batch(6, 4, true));
    let b = loader_batch(7, 4, true);
    mixed.fill(&b).unwrap();
    assert!(mixed
        .as_batch()
        .soft_targets
        .unwrap()
        .equal(b.soft_targets.as_ref().unwrap()));
    // Channels-last images keep their layout in the buffer.
    let mut cl = loader_batch(8, 4, false);
    cl.images = exp::models::runtime::to_channels_last(&cl.images);
    let cl_statics = StaticBatch::like(&cl);
    assert!(exp::models::runtime::is_channels_last(&cl_statics.images));
    cl_statics.fill(&cl).unwrap();
    assert!(cl_statics.images.equal(&cl.images));
}

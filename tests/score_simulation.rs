//! Simulated comparisons: the verdicts must call equal models `within noise`
//! and a real 2-point top-1 gain on 16k images `better`.
//!
//! Models are simulated as logits `mu · onehot(label) + shared + own` with
//! standard-normal noise split between a part shared by both models (they see
//! the same hard images) and a part of their own; probabilities are the
//! softmax. Why few resamples: the verdicts come from McNemar's exact test and
//! DeLong's test, not from the bootstrap, so the bootstrap here (50 resamples)
//! only has to run, not to be precise.

#![allow(clippy::unwrap_used)] // Why: a test that cannot read its own fixture should panic.

use exp::plan::seeds::SampleRng;
use exp::score::stats::{self, BootstrapPlan, Scored, Stat, Verdict};

const STATS: [Stat; 3] = [Stat::Top1, Stat::TopK(3), Stat::Auc];

struct World {
    labels: Vec<i64>,
    shared: Vec<f64>,
    classes: usize,
}

fn world(rng: &mut SampleRng, n: usize, classes: usize) -> World {
    let labels = (0..n).map(|_| rng.below(classes as u64) as i64).collect();
    let shared = (0..n * classes).map(|_| rng.normal()).collect();
    World {
        labels,
        shared,
        classes,
    }
}

fn model(w: &World, rng: &mut SampleRng, mu: f64) -> Scored {
    let c = w.classes;
    let mut probs = Vec::with_capacity(w.labels.len() * c);
    for (i, &l) in w.labels.iter().enumerate() {
        let z: Vec<f64> = (0..c)
            .map(|j| {
                let signal = if j as i64 == l { mu } else { 0.0 };
                signal + 0.8 * w.shared[i * c + j] + 0.6 * rng.normal()
            })
            .collect();
        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        probs.extend(e.iter().map(|v| (v / s) as f32));
    }
    Scored::new(&probs, &w.labels, c, 3)
}

#[test]
fn equal_models_are_within_noise_in_at_least_95_percent_of_trials() {
    let trials = 200;
    let mut quiet = 0;
    for t in 0..trials {
        let mut rng = SampleRng::new(1000 + t);
        let w = world(&mut rng, 2000, 5);
        let a = model(&w, &mut rng, 1.6);
        let b = model(&w, &mut rng, 1.6);
        let plan = BootstrapPlan {
            seed: t,
            label: "sim",
            resamples: 50,
            confidence: 0.95,
        };
        let cmp = stats::paired_compare(&a, &b, &STATS, plan);
        let v = stats::verdicts(&cmp, 0.95);
        if v.iter().all(|(_, v)| *v == Verdict::WithinNoise) {
            quiet += 1;
        }
    }
    eprintln!("equal models: {quiet}/{trials} trials within noise on every metric");
    assert!(
        quiet * 100 >= trials * 95,
        "only {quiet}/{trials} trials called within noise"
    );
}

#[test]
fn a_two_point_gain_on_16k_images_is_better() {
    let mut rng = SampleRng::new(42);
    let w = world(&mut rng, 16_380, 26);
    let base = model(&w, &mut rng, 2.5);
    let cell = model(&w, &mut rng, 2.57);
    let plan = BootstrapPlan {
        seed: 1,
        label: "sim",
        resamples: 200,
        confidence: 0.95,
    };
    let cmp = stats::paired_compare(&cell, &base, &STATS, plan);
    let v = stats::verdicts(&cmp, 0.95);
    let d = cmp[0].delta;
    eprintln!(
        "top-1 Δ {:.4} [{:.4}, {:.4}], p {:.2e}, Holm p {:.2e}",
        d.estimate, d.lo, d.hi, cmp[0].p, v[0].0
    );
    assert!(
        (0.012..0.03).contains(&d.estimate),
        "simulated gain {}",
        d.estimate
    );
    assert_eq!(v[0].1, Verdict::Better);
    assert!(d.lo > 0.0, "the paired interval excludes 0");
    assert!(v.iter().all(|(_, v)| *v != Verdict::Worse));
}

fn refs(v: &[Scored]) -> Vec<&Scored> {
    v.iter().collect()
}

#[test]
fn seeds_and_images_both_enter_the_hierarchical_comparison() {
    let mut rng = SampleRng::new(9);
    let w = world(&mut rng, 3000, 5);
    let arm: Vec<Scored> = (0..3).map(|_| model(&w, &mut rng, 1.9)).collect();
    let base: Vec<Scored> = (0..3).map(|_| model(&w, &mut rng, 1.6)).collect();
    let same: Vec<Scored> = (0..3).map(|_| model(&w, &mut rng, 1.6)).collect();
    let plan = BootstrapPlan {
        seed: 3,
        label: "hier",
        resamples: 400,
        confidence: 0.95,
    };
    let gain = stats::hierarchical_compare(&refs(&arm), &refs(&base), Stat::Top1, plan);
    let null = stats::hierarchical_compare(&refs(&same), &refs(&base), Stat::Top1, plan);
    eprintln!("hierarchical: gain {gain:?}\nnull {null:?}");
    assert!(gain.delta.lo > 0.0 && gain.p < 0.05);
    assert!(null.delta.lo < 0.0 && null.delta.hi > 0.0 && null.p > 0.05);
}

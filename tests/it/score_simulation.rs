//! Simulated comparisons: the verdicts must call equal models `within noise`
//! and a real 2-point top-1 gain on 16k images `better`; configuration-level
//! verdicts must hold their 5 % with 2, 3 and 5 seeds (per-seed scores with a
//! known seed spread, thousands of replicates); a 2×5 factorial must call
//! its one huge effect after Holm.
//!
//! Models are simulated as logits `mu · onehot(label) + shared + own` with
//! standard-normal noise split between a part shared by both models (they see
//! the same hard images) and a part of their own; probabilities are the
//! softmax. Why few resamples: the verdicts come from McNemar's exact test and
//! DeLong's test, not from the bootstrap, so the bootstrap here (50 resamples)
//! only has to run, not to be precise.

#![allow(clippy::unwrap_used)] // Why: a test that cannot read its own fixture should panic.

use exp::score::stats::{self, BootstrapPlan, Grid, Scored, Spread, Stat, Verdict};
use exp::seeds::SampleRng;

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
        let cmp = stats::paired_compare(&a, &b, &STATS, 0.95);
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
    let cmp = stats::paired_compare(&cell, &base, &STATS, 0.95);
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

/// Per-seed top-1 of one configuration: `mu` + the test-set offset
/// `test` shared by its seeds + seed noise of sd `sigma`.
fn seeds(rng: &mut SampleRng, k: usize, mu: f64, test: f64, sigma: f64) -> Vec<f64> {
    (0..k).map(|_| mu + test + sigma * rng.normal()).collect()
}

/// Share of `reps` simulated comparisons with p < 0.05: arm − base, `ka`
/// and `kb` seeds, seed sd σ = 0.5 pt, a test-set difference of sd τ =
/// 0.3 pt (known to the test, as the bootstrap gives it), true effect
/// `delta`. `borrow`: a single-seed side borrows the base's spread.
fn rejection_rate(seed: u64, reps: u32, ka: usize, kb: usize, delta: f64, borrow: bool) -> f64 {
    let (sigma, tau) = (0.005, 0.003);
    let mut rng = SampleRng::new(seed);
    let mut rejected = 0;
    for _ in 0..reps {
        let t = tau * rng.normal();
        let arm = seeds(&mut rng, ka, 0.7 + delta, t, sigma);
        let base = seeds(&mut rng, kb, 0.7, 0.0, sigma);
        let borrowed = if borrow { Spread::of(&base) } else { None };
        let c = stats::configuration_compare(Stat::Top1, &arm, &base, borrowed, tau * tau, 0.95)
            .unwrap();
        // The interval agrees with the p-value.
        assert_eq!(c.p < 0.05, c.delta.lo > 0.0 || c.delta.hi < 0.0, "{c:?}");
        if c.p < 0.05 {
            rejected += 1;
        }
    }
    f64::from(rejected) / f64::from(reps)
}

#[test]
fn configuration_level_false_verdicts_hold_at_5_percent_for_2_3_and_5_seeds() {
    // Why 4000: the Monte Carlo sd of a 5 % rate is then 0.34 pt; the bound
    // allows two of them.
    let reps = 4000;
    let bound = 0.05 + 2.0 * (0.05f64 * 0.95 / f64::from(reps)).sqrt();
    for k in [2, 3, 5] {
        let null = rejection_rate(10 + k as u64, reps, k, k, 0.0, false);
        let power = rejection_rate(20 + k as u64, reps, k, k, 0.01, false);
        eprintln!("{k} vs {k} seeds: false verdicts {null:.4}, power at +1 pt {power:.3}");
        assert!(null <= bound, "{k} seeds: false-verdict rate {null}");
        assert!(power > null, "{k} seeds: no power");
    }
    // `replicates`: one seed against the baseline with 1 + N seeds, the
    // spread borrowed from the baseline (an exact t test when the spreads
    // are equal).
    for n in [2, 4] {
        let null = rejection_rate(30 + n as u64, reps, 1, n + 1, 0.0, true);
        let power = rejection_rate(40 + n as u64, reps, 1, n + 1, 0.02, true);
        eprintln!(
            "1 vs {} seeds (replicates = {n}): false verdicts {null:.4}, power at +2 pt {power:.3}",
            n + 1
        );
        assert!(null <= bound, "replicates {n}: false-verdict rate {null}");
    }
    // The old way: a per-pair McNemar-style test that ignores seeds
    // (σ = 0.5 pt against a test-set sd of 0.3 pt) calls most twins.
    let mut rng = SampleRng::new(5);
    let mut naive = 0;
    for _ in 0..reps {
        let a = 0.7 + 0.005 * rng.normal();
        let b = 0.7 + 0.005 * rng.normal();
        if ((a - b) / 0.003).abs() > 1.96 {
            naive += 1;
        }
    }
    assert!(f64::from(naive) / f64::from(reps) > 0.3);
}

#[test]
fn twin_configurations_are_not_called_and_a_weak_recipe_is() {
    // Prediction level: three seeds of two identical configurations and of a
    // much weaker one, on the same 3000 images.
    let mut rng = SampleRng::new(9);
    let w = world(&mut rng, 3000, 5);
    let base: Vec<Scored> = (0..3).map(|_| model(&w, &mut rng, 1.6)).collect();
    let twin: Vec<Scored> = (0..3).map(|_| model(&w, &mut rng, 1.6)).collect();
    let weak: Vec<Scored> = (0..3).map(|_| model(&w, &mut rng, 1.0)).collect();
    let plan = BootstrapPlan {
        seed: 3,
        label: "twins",
        resamples: 400,
        confidence: 0.95,
    };
    let all: Vec<&Scored> = base.iter().chain(&twin).chain(&weak).collect();
    let d = stats::shared_draws(&all, &[Stat::Top1], plan);
    let top1 =
        |v: &[Scored]| -> Vec<f64> { v.iter().map(|s| s.weighted(Stat::Top1, None)).collect() };
    let tv = |arm: usize| {
        let diff: Vec<f64> = (0..400)
            .map(|r| {
                (0..3)
                    .map(|s| d[arm * 3 + s][0][r] - d[s][0][r])
                    .sum::<f64>()
                    / 3.0
            })
            .collect();
        stats::variance(&diff)
    };
    let twin_c =
        stats::configuration_compare(Stat::Top1, &top1(&twin), &top1(&base), None, tv(1), 0.95)
            .unwrap();
    let weak_c =
        stats::configuration_compare(Stat::Top1, &top1(&weak), &top1(&base), None, tv(2), 0.95)
            .unwrap();
    let v = stats::verdicts(&[twin_c, weak_c], 0.95);
    eprintln!("twin {twin_c:?}\nweak {weak_c:?}");
    assert_eq!(v[0].1, Verdict::WithinNoise);
    assert_eq!(v[1].1, Verdict::Worse);
}

#[test]
fn a_2x5_factorial_calls_its_one_huge_effect_after_holm() {
    // 2 backbones × 5 recipes × 2 seeds; recipe r4 is 30+ points worse.
    let mut rng = SampleRng::new(77);
    let w = world(&mut rng, 1500, 5);
    let mut cells: Vec<Vec<Vec<Scored>>> = Vec::new();
    for _b in 0..2 {
        let mut row = Vec::new();
        for r in 0..5 {
            let mu = if r == 4 { 0.2 } else { 1.6 };
            row.push((0..2).map(|_| model(&w, &mut rng, mu)).collect::<Vec<_>>());
        }
        cells.push(row);
    }
    let flat: Vec<&Scored> = cells.iter().flatten().flatten().collect();
    let plan = BootstrapPlan {
        seed: 5,
        label: "grid",
        resamples: 300,
        confidence: 0.95,
    };
    let d = stats::shared_draws(&flat, &[Stat::Top1], plan);
    let drefs: Vec<&Vec<Vec<f64>>> = d.iter().collect();
    let grid = Grid {
        axis_a: "backbone",
        axis_b: "recipe",
        levels_a: vec!["b0".into(), "b1".into()],
        levels_b: (0..5).map(|r| format!("r{r}")).collect(),
        cells: cells
            .iter()
            .map(|row| row.iter().map(|s| refs(s)).collect())
            .collect(),
    };
    let dec = stats::factorial_from_draws(&grid, &[Stat::Top1], &drefs, 0.95);
    // 1 + 4 main effects, 4 interactions; 2 × 4 + 5 simple effects.
    assert_eq!(dec.effects.len(), 9);
    assert_eq!(dec.simple_effects.len(), 13);
    let huge = dec
        .effects
        .iter()
        .position(|e| e.name == "recipe: r0 → r4")
        .unwrap();
    let model: Vec<_> = dec.effects.iter().map(|e| e.model).collect();
    let config: Vec<_> = dec
        .effects
        .iter()
        .map(|e| e.configuration.unwrap())
        .collect();
    let (vm, vc) = (
        stats::verdicts(&model, 0.95),
        stats::verdicts(&config, 0.95),
    );
    eprintln!(
        "huge effect: model {:?} {:?}; configuration {:?} {:?}",
        model[huge], vm[huge], config[huge], vc[huge]
    );
    assert!(model[huge].delta.estimate < -0.3);
    assert_eq!(vm[huge].1, Verdict::Worse);
    assert_eq!(vc[huge].1, Verdict::Worse);
    // Not floored: far below what 300 resamples could show.
    assert!(model[huge].p < 1e-10 && config[huge].p < 1e-4);
    // A simple effect is labelled with its condition.
    let s = &dec.simple_effects[0];
    assert_eq!(s.label(), "backbone: b0 → b1, at recipe r0");
}

//! exp's statistics against independent references (statsmodels, scikit-learn,
//! numpy) written by scripts/make_stats_fixtures.py into tests/fixtures/stats/.

#![allow(clippy::unwrap_used)] // Why: a test that cannot read its own fixture should panic.

use exp::score::metrics;
use exp::score::stats::{self, BootstrapPlan, Scored, Stat, Test};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/stats/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn i64s(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn mcnemar_exact_matches_statsmodels() {
    let mut worst: f64 = 0.0;
    for case in fixture("mcnemar").as_array().unwrap() {
        let (b, c) = (case["b"].as_u64().unwrap(), case["c"].as_u64().unwrap());
        let want = case["p"].as_f64().unwrap();
        let got = stats::mcnemar_exact(b, c);
        let rel = (got - want).abs() / want.max(1e-300);
        worst = worst.max(rel);
        assert!(rel < 1e-9, "b={b} c={c}: {got} vs statsmodels {want}");
    }
    eprintln!("mcnemar: max relative deviation {worst:.2e}");
}

#[test]
fn macro_auc_matches_scikit_learn_with_ties() {
    let mut worst: f64 = 0.0;
    for case in fixture("auc").as_array().unwrap() {
        let c = case["classes"].as_u64().unwrap() as usize;
        let probs = f32s(&case["probs"]);
        let labels = i64s(&case["labels"]);
        let want = case["macro_auc"].as_f64().unwrap();
        let got = metrics::macro_auc(&probs, &labels, c);
        let weighted = Scored::new(&probs, &labels, c, 3).weighted(Stat::Auc, None);
        worst = worst.max((got - want).abs()).max((weighted - want).abs());
        assert!(
            (got - want).abs() < 1e-12,
            "{c} classes: {got} vs sklearn {want}"
        );
        assert!(
            (weighted - want).abs() < 1e-12,
            "weighted sweep: {weighted} vs {want}"
        );
        let top1 = metrics::top_k(&probs, &labels, c, 1);
        assert!((top1 - case["top1"].as_f64().unwrap()).abs() < 1e-12);
    }
    eprintln!("auc: max absolute deviation {worst:.2e}");
}

#[test]
fn holm_matches_statsmodels() {
    for case in fixture("holm").as_array().unwrap() {
        let p = f64s(&case["p"]);
        let want = f64s(&case["adjusted"]);
        let got = stats::holm(&p);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-12, "{p:?}: {got:?} vs {want:?}");
        }
        let reject: Vec<bool> = case["reject_05"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_bool().unwrap())
            .collect();
        let ours: Vec<bool> = got.iter().map(|&a| a < 0.05).collect();
        assert_eq!(ours, reject);
    }
}

#[test]
fn delong_matches_published_algorithm_and_numpy() {
    let mut worst: f64 = 0.0;
    for case in fixture("delong").as_array().unwrap() {
        let c = case["classes"].as_u64().unwrap() as usize;
        let labels = i64s(&case["labels"]);
        let a = Scored::new(&f32s(&case["probs_a"]), &labels, c, 1);
        let b = Scored::new(&f32s(&case["probs_b"]), &labels, c, 1);
        let (d, se, p) = stats::delong_macro(&a, &b);
        let (wd, wse, wp) = (
            case["delta"].as_f64().unwrap(),
            case["se"].as_f64().unwrap(),
            case["p"].as_f64().unwrap(),
        );
        let method = case["method"].as_str().unwrap();
        worst = worst.max((se - wse).abs() / wse).max((p - wp).abs());
        assert!((d - wd).abs() < 1e-9, "{method}: Δ {d} vs {wd}");
        assert!((se - wse).abs() / wse < 1e-6, "{method}: se {se} vs {wse}");
        assert!((p - wp).abs() < 1e-6, "{method}: p {p} vs {wp}");
    }
    eprintln!("delong: max relative se / absolute p deviation {worst:.2e}");
}

#[test]
fn bootstrap_intervals_match_numpy_within_monte_carlo_error() {
    let case = fixture("bootstrap");
    let c = case["classes"].as_u64().unwrap() as usize;
    let labels = i64s(&case["labels"]);
    let a = Scored::new(&f32s(&case["probs_a"]), &labels, c, 2);
    let b = Scored::new(&f32s(&case["probs_b"]), &labels, c, 2);
    // Why 4000 resamples and ¼ sd: the Monte Carlo error of a 2.5 % quantile
    // with 4000 (ours) and 20,000 (numpy's) draws is about 0.05 sd together.
    let plan = BootstrapPlan {
        seed: 7,
        label: "fixture",
        resamples: 4000,
        confidence: 0.95,
    };
    let tol1 = 0.25 * case["sd_top1"].as_f64().unwrap();
    let tol_auc = 0.25 * case["sd_auc"].as_f64().unwrap();
    let cis = stats::bootstrap_cell(&a, &[Stat::Top1, Stat::TopK(2), Stat::Auc], plan);
    let mut worst: f64 = 0.0;
    for (ci, key, tol) in [
        (cis[0], "top1", tol1),
        (cis[1], "top2", tol1),
        (cis[2], "auc", tol_auc),
    ] {
        let want = f64s(&case[key]);
        worst = worst
            .max((ci.lo - want[0]).abs())
            .max((ci.hi - want[1]).abs());
        assert!(
            (ci.lo - want[0]).abs() < tol && (ci.hi - want[1]).abs() < tol,
            "{key}: {ci:?} vs {want:?}"
        );
        assert!(ci.lo <= ci.estimate && ci.estimate <= ci.hi);
    }
    let paired = stats::paired_bootstrap(&a, &b, &[Stat::Top1, Stat::Auc], plan);
    for (c, key, tol) in [
        (paired[0], "delta_top1", tol1),
        (paired[1], "delta_auc", tol_auc),
    ] {
        let want = f64s(&case[key]);
        worst = worst
            .max((c.lo - want[0]).abs())
            .max((c.hi - want[1]).abs());
        assert!(
            (c.lo - want[0]).abs() < tol && (c.hi - want[1]).abs() < tol,
            "{key}: {c:?} vs {want:?}"
        );
    }
    // The intervals printed beside a verdict are those of its test: they
    // agree in width with the paired bootstrap (same images, same question).
    let cmp = stats::paired_compare(&a, &b, &[Stat::Top1, Stat::Auc], 0.95);
    assert_eq!(cmp[0].test, Test::McNemarExact);
    assert_eq!(cmp[1].test, Test::DeLong);
    for (c, p) in cmp.iter().zip(&paired) {
        let (w, wb) = (c.delta.hi - c.delta.lo, p.hi - p.lo);
        assert!((w / wb - 1.0).abs() < 0.2, "{c:?} vs bootstrap {p:?}");
    }
    eprintln!("bootstrap: max absolute endpoint deviation {worst:.4}");
    // Same seed, same draws: deterministic.
    assert_eq!(
        cis,
        stats::bootstrap_cell(&a, &[Stat::Top1, Stat::TopK(2), Stat::Auc], plan)
    );
}

//! `exp report` on synthetic sweep directories written here (the files `exp
//! run` leaves: sweep.json, results.csv, per cell config.json, scores.json,
//! predictions.csv, metrics.csv): the files it writes, their numbers, a sweep
//! with broken cells, and the HTML page rendered by headless Chromium.

#![allow(clippy::unwrap_used)] // Why: a test that cannot read its own fixture should panic.

use exp::score::metrics;
use exp::seeds::SampleRng;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const CLASSES: usize = 5;
const N: usize = 600;

struct World {
    labels: Vec<i64>,
    shared: Vec<f64>,
}

fn world(seed: u64) -> World {
    let mut rng = SampleRng::new(seed);
    let labels = (0..N).map(|_| rng.below(CLASSES as u64) as i64).collect();
    let shared = (0..N * CLASSES).map(|_| rng.normal()).collect();
    World { labels, shared }
}

fn probs(w: &World, mu: f64, seed: u64) -> Vec<f32> {
    let mut rng = SampleRng::new(seed);
    let mut out = Vec::new();
    for (i, &l) in w.labels.iter().enumerate() {
        let z: Vec<f64> = (0..CLASSES)
            .map(|j| if j as i64 == l { mu } else { 0.0 } + 0.8 * w.shared[i * CLASSES + j] + 0.6 * rng.normal())
            .collect();
        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        out.extend(e.iter().map(|v| (v / s) as f32));
    }
    out
}

struct CellSpec<'a> {
    backbone: &'a str,
    recipe: &'a str,
    seed: u64,
    status: &'a str,
    /// None: the cell left no predictions.
    mu: Option<f64>,
    data_wait: f64,
}

fn short_id(c: &CellSpec) -> String {
    format!("{}-{}-s{}", c.backbone, c.recipe, c.seed)
}

fn write_cell(sweep_dir: &Path, sweep: &str, c: &CellSpec, w: &World) {
    let dir = sweep_dir.join(short_id(c));
    std::fs::create_dir_all(&dir).unwrap();
    let cell = json!({
        "id": format!("{sweep}/{}", short_id(c)), "sweep": sweep, "seed": c.seed,
        "axis_values": {"backbone": c.backbone, "recipe": c.recipe, "seed": c.seed.to_string()},
        "score": {"name": "test", "split": "test", "metrics": ["Top1", {"TopK": 3}, "Auc"],
                  "confidence": 0.95, "bootstrap": 1000},
    });
    std::fs::write(
        dir.join("config.json"),
        json!({"cell": cell, "exp_version": "0.1.0"}).to_string(),
    )
    .unwrap();
    let classes: Vec<String> = (0..CLASSES).map(|i| format!("class{i}")).collect();
    let mut scores = json!({
        "cell": format!("{sweep}/{}", short_id(c)), "status": c.status, "split": "test", "n": 0,
        "classes": classes, "top1": null, "top3": null, "auc": null, "topk": {},
        "per_class_accuracy": [], "confusion": [], "best_epoch": 3, "diverged": null, "exp_version": "0.1.0",
    });
    if c.status == "unstable" {
        scores["unstable"] =
            json!({"epoch": 3, "reason": "epoch 3: val loss 9.2000 is 12.1× the best so far"});
    }
    if c.status == "diverged" {
        scores["diverged"] = json!({"epoch": 2, "step": 37, "reason": "loss is NaN"});
        scores["best_epoch"] = Value::Null;
    }
    if let Some(mu) = c.mu {
        let p = probs(w, mu, c.seed * 31 + mu.to_bits() % 1000);
        let mut csv = String::from("id,label,pred");
        for j in 0..CLASSES {
            let _ = write!(csv, ",p_{j}");
        }
        csv.push('\n');
        for i in 0..N {
            let row = &p[i * CLASSES..(i + 1) * CLASSES];
            let _ = write!(csv, "img{i:04},{},{}", w.labels[i], metrics::argmax(row));
            for v in row {
                let _ = write!(csv, ",{v:.6}");
            }
            csv.push('\n');
        }
        std::fs::write(dir.join("predictions.csv"), csv).unwrap();
        scores["n"] = json!(N);
        scores["top1"] = json!(metrics::top_k(&p, &w.labels, CLASSES, 1));
    }
    std::fs::write(dir.join("scores.json"), scores.to_string()).unwrap();
    let mut m = String::from("epoch,phase,train_loss,val_loss,val_top1,lr,img_per_s,data_wait\n");
    let epochs = if c.status == "diverged" { 2 } else { 5 };
    let gain = c.mu.unwrap_or(1.0);
    for e in 1..=epochs {
        let phase = if e == 1 { "frozen" } else { "finetune" };
        let val_loss = if c.status == "diverged" && e == 2 {
            f64::NAN
        } else {
            1.6 - 0.15 * e as f64 + 0.04 * (e as f64 - 3.0).powi(2)
        };
        let top1 = 0.25 + 0.1 * gain * e as f64 / epochs as f64;
        let _ = writeln!(
            m,
            "{e},{phase},{},{val_loss},{top1},0.001,{:.1},{:.4}",
            1.7 - 0.2 * e as f64,
            400.0 - 30.0 * c.data_wait,
            c.data_wait
        );
    }
    std::fs::write(dir.join("metrics.csv"), m).unwrap();
}

fn write_sweep(
    root: &Path,
    sweep: &str,
    baseline: Option<&str>,
    cells: &[CellSpec],
    world_seed: u64,
) -> PathBuf {
    let dir = root.join(sweep);
    std::fs::create_dir_all(&dir).unwrap();
    let w = world(world_seed);
    let ids: Vec<String> = cells.iter().map(short_id).collect();
    std::fs::write(
        dir.join("sweep.json"),
        json!({"sweep": sweep, "axes": ["backbone", "recipe", "seed"],
               "baseline": baseline.map(|b| format!("{sweep}/{b}")), "cells": ids, "exp_version": "0.1.0"})
        .to_string(),
    )
    .unwrap();
    let mut results = String::from("cell,backbone,recipe,seed,status,top1,top3,auc\n");
    for c in cells {
        write_cell(&dir, sweep, c, &w);
        let _ = writeln!(
            results,
            "{sweep}/{},{},{},{},{},,,",
            short_id(c),
            c.backbone,
            c.recipe,
            c.seed,
            c.status
        );
    }
    std::fs::write(dir.join("results.csv"), results).unwrap();
    dir
}

/// 2 backbones × 2 recipes × 2 seeds; the recipe is the big lever, one cell IO-bound.
fn bakeoff(root: &Path) -> PathBuf {
    let mut cells = Vec::new();
    for (backbone, b_gain) in [("resnet", 0.0), ("convnext", 0.15)] {
        for (recipe, r_gain) in [("rmsprop", 0.0), ("adamw", 0.6)] {
            for seed in [1, 2] {
                let wait = if backbone == "convnext" && recipe == "adamw" && seed == 2 {
                    0.55
                } else {
                    0.05
                };
                cells.push(CellSpec {
                    backbone,
                    recipe,
                    seed,
                    status: "done",
                    mu: Some(1.3 + b_gain + r_gain),
                    data_wait: wait,
                });
            }
        }
    }
    write_sweep(root, "round1", Some("resnet-rmsprop-s1"), &cells, 5)
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn report_files_hold_intervals_verdicts_decomposition_and_power() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = bakeoff(tmp.path());
    let table = exp::report::write_report(&dir).unwrap();
    for f in [
        "report.md",
        "report.html",
        "report.json",
        "plots/val_loss.svg",
        "plots/val_loss.png",
        "plots/val_top1.png",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    assert!(dir.join("plots/confusion_convnext-adamw-s2.svg").is_file());
    let j = read_json(&dir.join("report.json"));
    assert_eq!(j["baseline"], "resnet-rmsprop-s1");
    assert_eq!(j["cells"].as_array().unwrap().len(), 8);
    // The per-cell estimate equals the exact metric and sits in its interval.
    let c0 = &j["cells"][0];
    let t1 = &c0["metrics"]["top1"];
    let est = t1["estimate"].as_f64().unwrap();
    assert!(t1["lo"].as_f64().unwrap() < est && est < t1["hi"].as_f64().unwrap());
    let scores = read_json(&dir.join("resnet-rmsprop-s1/scores.json"));
    assert!((est - scores["top1"].as_f64().unwrap()).abs() < 1e-12);
    // The recipe is a large real gain: adamw cells are `better` on top-1, at
    // model level (McNemar, these two networks) ...
    let cmps = j["comparisons"].as_array().unwrap();
    let adamw = cmps
        .iter()
        .find(|c| c["cell"] == "resnet-adamw-s1" && c["metric"] == "top1")
        .unwrap();
    assert_eq!(adamw["level"], "model");
    assert_eq!(adamw["verdict"], "better");
    assert_eq!(adamw["test"], "McNemarExact");
    assert!(adamw["p_holm"].as_f64().unwrap() >= adamw["p"].as_f64().unwrap());
    // ... and at configuration level (seed to seed, 2 vs 2 seeds): the
    // unadjusted interval excludes 0, but with 2 seeds a side and Holm over
    // 9 rows the verdict may stay `within noise`; never `worse`.
    let cfg = j["configuration_comparisons"].as_array().unwrap();
    let adamw = cfg
        .iter()
        .find(|c| c["cell"] == "backbone=resnet, recipe=adamw" && c["metric"] == "top1")
        .unwrap();
    assert_eq!(adamw["level"], "configuration");
    assert_eq!(adamw["test"], "SeedT");
    assert_eq!(adamw["seeds"], json!([2, 2]));
    assert_ne!(adamw["verdict"], "worse", "{adamw}");
    assert!(adamw["p"].as_f64().unwrap() < 0.05, "{adamw}");
    let (lo, hi) = (
        adamw["delta"]["lo"].as_f64().unwrap(),
        adamw["delta"]["hi"].as_f64().unwrap(),
    );
    assert!(lo > 0.0 && lo < hi);
    // Seeds are compared at the same seed against the baseline configuration.
    let s2 = cmps
        .iter()
        .find(|c| c["cell"] == "convnext-rmsprop-s2")
        .unwrap();
    assert_eq!(s2["baseline"], "resnet-rmsprop-s2");
    // Seed groups: one per configuration.
    assert_eq!(j["seed_groups"].as_array().unwrap().len(), 4);
    // Factorial: recipe main effect is large and positive with an interval,
    // at both levels.
    let eff = j["factorial"]["effects"].as_array().unwrap();
    let recipe = eff
        .iter()
        .find(|e| e["name"] == "recipe: rmsprop → adamw" && e["metric"] == "top1")
        .unwrap();
    assert!(
        recipe["model"]["delta"]["lo"].as_f64().unwrap() > 0.03,
        "{recipe}"
    );
    assert_eq!(recipe["model"]["level"], "model");
    assert_eq!(recipe["configuration"]["level"], "configuration");
    assert!(
        recipe["configuration"]["delta"]["estimate"]
            .as_f64()
            .unwrap()
            > 0.03,
        "{recipe}"
    );
    assert!(eff.iter().any(|e| e["kind"] == "interaction"));
    // Simple effects: the recipe effect at each backbone, labelled.
    let simple = j["factorial"]["simple_effects"].as_array().unwrap();
    let at_resnet = simple
        .iter()
        .find(|e| {
            e["name"] == "recipe: rmsprop → adamw"
                && e["condition"] == "at backbone resnet"
                && e["metric"] == "top1"
        })
        .unwrap();
    let m = |id: &str| {
        j["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()["metrics"]["top1"]["estimate"]
            .as_f64()
            .unwrap()
    };
    let want = (m("resnet-adamw-s1") + m("resnet-adamw-s2")
        - m("resnet-rmsprop-s1")
        - m("resnet-rmsprop-s2"))
        / 2.0;
    let got = at_resnet["model"]["delta"]["estimate"].as_f64().unwrap();
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    assert_eq!(simple.len(), 4 * j["metrics"].as_array().unwrap().len());
    // Power at n = 600: the half-width, and a gain and a drop.
    let hw = j["power"]["half_width"].as_f64().unwrap();
    let p = j["power"]["top1"].as_f64().unwrap();
    assert!((hw - 1.959964 * (p * (1.0 - p) / 600.0).sqrt()).abs() < 1e-6);
    assert!(j["power"]["gain"].as_f64().unwrap() > 0.0);
    assert!(j["power"]["drop"].as_f64().unwrap() > 0.0);
    assert!(
        j["power"]["configuration_gain"].as_f64().unwrap() > j["power"]["gain"].as_f64().unwrap()
    );
    // IO-bound verdict from data_wait.
    let io = j["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "convnext-adamw-s2")
        .unwrap();
    assert_eq!(io["throughput"]["verdict"], "IO-bound");
    assert_eq!(j["cells"][0]["throughput"]["verdict"], "compute-bound");
    // Markdown and terminal carry the same tables.
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for needle in [
        "## Against the baseline: configuration level",
        "## Against the baseline: model level",
        "## Decomposition",
        "### Simple effects",
        "recipe: rmsprop → adamw, at backbone convnext",
        "unadjusted",
        "## Power",
        "Holm",
        "better",
        "IO-bound",
        "recipe: rmsprop → adamw",
    ] {
        assert!(md.contains(needle), "report.md lacks {needle}");
    }
    assert!(
        table.contains("resnet-rmsprop-s1")
            && table.contains("baseline")
            && table.contains("Δ top-1 vs baseline (configuration)"),
        "{table}"
    );
    // Deterministic: a second run writes the same report.json.
    exp::report::write_report(&dir).unwrap();
    assert_eq!(read_json(&dir.join("report.json")), j);
}

#[test]
fn a_baseline_from_another_sweep_and_compare_pairs_get_comparisons() {
    let tmp = tempfile::tempdir().unwrap();
    let round1 = bakeoff(tmp.path());
    // An extra pair in round1: convnext + adamw against resnet + adamw.
    let mut sj = read_json(&round1.join("sweep.json"));
    sj["compare"] = json!([[
        {"backbone": "convnext", "recipe": "adamw"},
        {"backbone": "resnet", "recipe": "adamw"}
    ]]);
    std::fs::write(round1.join("sweep.json"), sj.to_string()).unwrap();
    exp::report::write_report(&round1).unwrap();
    let j = read_json(&round1.join("report.json"));
    let pair: Vec<&Value> = j["configuration_comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["pair"] == true)
        .collect();
    assert_eq!(pair.len(), 3, "one row per metric");
    assert_eq!(pair[0]["cell"], "backbone=convnext, recipe=adamw");
    assert_eq!(pair[0]["baseline"], "backbone=resnet, recipe=adamw");
    // Holm-corrected together with the baseline comparisons: 3 configurations
    // + 1 pair, × 3 metrics.
    assert_eq!(j["configuration_comparisons"].as_array().unwrap().len(), 12);
    assert!(j["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["pair"] == true && r["baseline"] == "resnet-adamw-s1"));

    // A one-cell sweep whose baseline is a cell of round1 (same images).
    let cells = [CellSpec {
        backbone: "convnext",
        recipe: "strong",
        seed: 1,
        status: "done",
        mu: Some(2.4),
        data_wait: 0.1,
    }];
    let base = write_sweep(tmp.path(), "base", None, &cells, 5);
    let mut sj = read_json(&base.join("sweep.json"));
    sj["baseline"] = json!("round1/resnet-rmsprop-s1");
    std::fs::write(base.join("sweep.json"), sj.to_string()).unwrap();
    let table = exp::report::write_report(&base).unwrap();
    let j = read_json(&base.join("report.json"));
    assert_eq!(j["baseline"], "round1/resnet-rmsprop-s1");
    assert_eq!(j["baseline_declared"], true);
    let m = j["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "top1")
        .unwrap();
    assert_eq!(m["cell"], "convnext-strong-s1");
    assert_eq!(m["baseline"], "round1/resnet-rmsprop-s1");
    assert_eq!(m["verdict"], "better", "{m}");
    // One seed each side and no spread to borrow: no configuration verdict.
    let c = j["configuration_comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "top1")
        .unwrap();
    assert_eq!(c["verdict"], "single_seed");
    assert!(c["p"].is_null());
    assert!(table.contains("single seed"), "{table}");
    let md = std::fs::read_to_string(base.join("report.md")).unwrap();
    assert!(md.contains("replicates = N"), "{md}");
}

#[test]
fn broken_cells_are_reported_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let cells = [
        CellSpec {
            backbone: "resnet",
            recipe: "adamw",
            seed: 1,
            status: "done",
            mu: Some(1.5),
            data_wait: 0.1,
        },
        CellSpec {
            backbone: "vit",
            recipe: "adamw",
            seed: 1,
            status: "diverged",
            mu: None,
            data_wait: 0.1,
        },
        CellSpec {
            backbone: "cnx",
            recipe: "adamw",
            seed: 1,
            status: "unstable",
            mu: Some(1.2),
            data_wait: 0.1,
        },
    ];
    let dir = write_sweep(tmp.path(), "broken", None, &cells, 8);
    // A cell listed in sweep.json whose directory was never written.
    let mut sweep = read_json(&dir.join("sweep.json"));
    sweep["cells"]
        .as_array_mut()
        .unwrap()
        .push(json!("ghost-adamw-s1"));
    std::fs::write(dir.join("sweep.json"), sweep.to_string()).unwrap();
    // And a cell with a corrupt predictions file.
    std::fs::create_dir_all(dir.join("bad-adamw-s1")).unwrap();
    std::fs::write(
        dir.join("bad-adamw-s1/predictions.csv"),
        "id,label,pred,p_0\nx,notanumber,0,1\n",
    )
    .unwrap();
    sweep["cells"]
        .as_array_mut()
        .unwrap()
        .push(json!("bad-adamw-s1"));
    std::fs::write(dir.join("sweep.json"), sweep.to_string()).unwrap();

    let table = exp::report::write_report(&dir).unwrap();
    assert!(
        table.contains("diverged") && table.contains("not scored"),
        "{table}"
    );
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("no baseline declared"), "{md}");
    assert!(md.contains("vit-adamw-s1: no predictions"));
    assert!(md.contains("epoch 2 step 37: loss is NaN"));
    // An unstable cell is scored, with its status and reason shown.
    assert!(table.contains("unstable"), "{table}");
    assert!(md.contains("epoch 3: val loss 9.2000 is 12.1× the best so far"));
    assert!(md.contains("bad-adamw-s1: predictions.csv unreadable: row 1"));
    assert!(md.contains("ghost-adamw-s1: no config.json"));
}

#[test]
fn missing_sweep_is_a_diagnostic() {
    let tmp = tempfile::tempdir().unwrap();
    let err = exp::report::write_report(&tmp.path().join("nope")).unwrap_err();
    assert_eq!(
        err.code().map(|c| c.to_string()).as_deref(),
        Some("exp::report::no_sweep")
    );
    assert!(err.to_string().contains("sweep.json"), "{err}");
}

fn chromium() -> PathBuf {
    let p = PathBuf::from("/usr/bin/chromium");
    assert!(
        p.is_file(),
        "/usr/bin/chromium is missing: the HTML report test needs headless Chromium \
         (scripts/ci_deps.sh installs the `chromium` package; run `apt-get install chromium`)"
    );
    p
}

fn headless(profile: &Path) -> Command {
    let mut c = Command::new(chromium());
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = bakeoff(tmp.path());
    exp::report::write_report(&dir).unwrap();
    let html = dir.join("report.html");
    let text = std::fs::read_to_string(&html).unwrap();
    // Self-contained: no external resource is referenced.
    for needle in ["src=\"http", "href=\"http", "<link", "<script src"] {
        assert!(
            !text.contains(needle),
            "report.html references an external resource: {needle}"
        );
    }
    let url = format!("file://{}", html.display());

    let out = headless(&tmp.path().join("profile-dom"))
        .args(["--enable-logging=stderr", "--log-level=0", "--dump-dom"])
        .arg(&url)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium --dump-dom failed: {log}");
    // No page error: at --log-level=0 Chromium logs every console message and uncaught error as `CONSOLE`.
    for needle in [
        "CONSOLE",
        "Uncaught",
        "ERR_FILE_NOT_FOUND",
        "Failed to load",
    ] {
        assert!(
            !log.contains(needle),
            "chromium logged `{needle}` for report.html:\n{log}"
        );
    }
    let dom = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "<table id=\"results\"",
        "<table id=\"comparisons\"",
        "<table id=\"configurations\"",
        "<table id=\"factorial\"",
        "<table id=\"simple-effects\"",
        "<table id=\"training\"",
        "<div id=\"curves\"",
        "<div id=\"confusion\"",
        "<svg",
        "validation loss",
        "IO-bound",
    ] {
        assert!(dom.contains(needle), "rendered DOM lacks {needle}");
    }
    assert!(
        dom.matches("<svg").count() >= 2 + 8,
        "curves and 8 confusion matrices are rendered"
    );

    let png = tmp.path().join("shot.png");
    let out = headless(&tmp.path().join("profile-shot"))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1280,2000")
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium --screenshot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image::open(&png).expect("screenshot is a PNG").to_rgb8();
    assert_eq!(img.dimensions(), (1280, 2000));
    // Not blank: many distinct colours and a fair share of non-white pixels.
    let mut colours = std::collections::HashSet::new();
    let mut ink = 0usize;
    for p in img.pixels() {
        colours.insert(p.0);
        if p.0 != [255, 255, 255] {
            ink += 1;
        }
    }
    assert!(
        colours.len() > 50,
        "screenshot has only {} colours",
        colours.len()
    );
    assert!(
        ink > 1280 * 2000 / 50,
        "screenshot is nearly blank ({ink} non-white pixels)"
    );
}

#[test]
fn exp_report_cli_prints_the_table_and_fails_with_a_diagnostic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = bakeoff(tmp.path());
    let out = Command::new(env!("CARGO_BIN_EXE_exp"))
        .arg("report")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exp report failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("convnext-adamw-s2")
            && stdout.contains("verdict")
            && stdout.contains("smallest resolvable top-1 gain"),
        "{stdout}"
    );
    assert!(dir.join("report.html").is_file());

    let out = Command::new(env!("CARGO_BIN_EXE_exp"))
        .arg("report")
        .arg(tmp.path().join("nope"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("exp::report::no_sweep") && stderr.contains("sweep.json"),
        "{stderr}"
    );
}

//! End-to-end `exp run` on CPU: tiny generated data sets and tiny backbones,
//! through the real binary. What the user sees: files, statuses, exit codes.
#![allow(clippy::unwrap_used)]

mod run_support;

use run_support::{cpu_run, csv_rows, exp, text, tiny_pipeline};
use std::path::{Path, PathBuf};

/// The tiny pipeline with `extra` appended (more declarations / a sweep).
fn pipeline(dir: &Path, extra: &str) -> PathBuf {
    tiny_pipeline(dir, "tiny.exp", "", extra)
}

#[test]
fn a_sweep_learns_writes_every_output_and_reports_divergence_without_stopping() {
    let tmp = tempfile::tempdir().unwrap();
    let file = pipeline(
        tmp.path(),
        r#"
recipe explode extends fast {
  optimizer = sgd(lr = 10, finetune_lr = 10)
}

sweep s {
  data     = tiny
  backbone = [resnet_test]
  recipe   = [fast, explode]
  budget   = short
  score    = test
}
"#,
    );
    let out = exp(tmp.path(), &cpu_run(file.to_str().unwrap(), &[]));
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("2 cell(s): 1 done, 0 cached, 1 diverged, 0 failed"),
        "{t}"
    );

    let sweep = tmp.path().join("runs/s");
    let rows = csv_rows(&sweep.join("results.csv"));
    assert_eq!(
        rows[0][..8],
        ["cell", "backbone", "recipe", "seed", "status", "top1", "top3", "auc"]
    );
    assert_eq!(
        rows[1][..5],
        ["resnet_test-fast-s3", "resnet_test", "fast", "3", "done"]
    );
    let top1: f64 = rows[1][5].parse().unwrap();
    assert!(top1 > 0.6, "3 classes: chance is 0.33, got {top1}");
    assert_eq!(rows[2][4], "diverged");

    let cell = sweep.join("resnet_test-fast-s3");
    for f in [
        "config.json",
        "metrics.csv",
        "best.safetensors",
        "scores.json",
        "predictions.csv",
    ] {
        assert!(cell.join(f).is_file(), "missing {f}");
    }
    let scores: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cell.join("scores.json")).unwrap()).unwrap();
    assert_eq!(scores["status"], "done");
    assert_eq!(scores["n"], 60);
    assert_eq!(scores["split"], "test");
    assert!(scores["diverged"].is_null());
    let preds = std::fs::read_to_string(cell.join("predictions.csv")).unwrap();
    assert!(preds.starts_with("id,label,pred\n"));
    assert!(cell.join("probs.safetensors").is_file());
    assert_eq!(preds.lines().count(), 61);
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cell.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["cell"]["id"], "s/resnet_test-fast-s3");
    assert!(cfg["exp_version"].is_string());
    let sj: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sweep.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(
        sj["cells"],
        serde_json::json!(["resnet_test-fast-s3", "resnet_test-explode-s3"])
    );

    let div: serde_json::Value = serde_json::from_slice(
        &std::fs::read(sweep.join("resnet_test-explode-s3/scores.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(div["status"], "diverged");
    assert!(div["diverged"]["reason"].is_string(), "{div}");

    let st = exp(
        tmp.path(),
        &["status", file.to_str().unwrap(), "--out", "runs"],
    );
    let t = text(&st);
    assert!(
        t.contains("s/resnet_test-fast-s3") && t.contains("done") && t.contains("diverged"),
        "{t}"
    );
}

#[test]
fn metadata_branch_helps_where_metadata_carries_signal() {
    let tmp = tempfile::tempdir().unwrap();
    // Weak pixels, strong metadata: the branch fed with `age` must win.
    let file = pipeline(
        tmp.path(),
        r#"
data weak {
  source = generated(classes = 3, train = 120 samples, val = 48 samples, test = 90 samples,
                     size = 32, seed = 6, image_signal = 0.0, metadata_signal = 1.0)
  root = "data/weak"
  image_size = 32
}

data weak_meta extends weak {
  metadata = ["age"]
}

sweep plain {
  data = weak
  backbone = resnet_test
  recipe = fast
  budget = short
  score = test
}

sweep meta {
  data = weak_meta
  backbone = resnet_test
  recipe = fast
  budget = short
  score = test
}
"#,
    );
    let out = exp(tmp.path(), &cpu_run(file.to_str().unwrap(), &[]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let top1 = |sweep: &str| -> f64 {
        let rows = csv_rows(&tmp.path().join(format!("runs/{sweep}/results.csv")));
        rows[1][5].parse().unwrap()
    };
    let (plain, meta) = (top1("plain"), top1("meta"));
    assert!(meta > plain + 0.1, "metadata {meta} vs none {plain}");
}

#[test]
fn missing_pretrained_weights_stop_the_run_before_anything_trains() {
    let tmp = tempfile::tempdir().unwrap();
    let file = pipeline(
        tmp.path(),
        r#"
backbone warm {
  arch       = "resnet_test"
  pretrained = "weights/not_here.safetensors"
}

sweep s {
  data     = tiny
  backbone = [resnet_test, warm]
  recipe   = fast
  budget   = short
  score    = test
}
"#,
    );
    let out = exp(tmp.path(), &cpu_run(file.to_str().unwrap(), &[]));
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("exp::exec::missing_weights")
            && t.contains("backbone `warm`")
            && t.contains("not_here.safetensors")
            && t.contains("help:"),
        "{t}"
    );
    assert!(
        !tmp.path().join("runs").exists(),
        "no cell trains, not even the one that needs no weights"
    );

    // The same check before a Slurm submission: nothing is queued.
    let out = exp(
        tmp.path(),
        &cpu_run(file.to_str().unwrap(), &["--on", "slurm"]),
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("exp::exec::missing_weights"), "{t}");
    assert!(!tmp.path().join("runs").exists(), "no job script written");
}

#[test]
fn errors_and_bad_arguments_have_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let file = pipeline(tmp.path(), "sweep s {\n  data = tiny\n  backbone = resnet_tset\n  recipe = fast\n  budget = short\n  score = test\n}\n");
    let out = exp(
        tmp.path(),
        &["run", file.to_str().unwrap(), "--out", "runs"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        !tmp.path().join("runs").exists(),
        "nothing runs when the file has errors"
    );

    let file = pipeline(tmp.path(), "sweep s {\n  data = tiny\n  backbone = [resnet_test]\n  recipe = [fast]\n  budget = short\n  score = test\n}\n");
    let out = exp(
        tmp.path(),
        &["run", file.to_str().unwrap(), "--device", "cuda:7"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("exp::exec::device"), "{}", text(&out));
    let out = exp(
        tmp.path(),
        &[
            "run",
            file.to_str().unwrap(),
            "--cell",
            "s/resnet_test-fast-s4",
            "--device",
            "cpu",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("exp::exec::unknown_cell") && text(&out).contains("did you mean"),
        "{}",
        text(&out)
    );
}

#[test]
fn twin_recipes_get_no_configuration_verdict_a_weak_one_does_and_aucs_agree() {
    let tmp = tempfile::tempdir().unwrap();
    // `fast_twin` is `fast` byte for byte under another name: only the
    // per-cell random stream differs. `weak` barely moves from chance.
    let file = pipeline(
        tmp.path(),
        r#"
recipe fast_twin {
  optimizer = adamw(lr = 1e-2, finetune_lr = 3e-3, weight_decay = 0.01)
  schedule  = constant
  warmup    = 0 steps
  batch     = 16
}

recipe weak extends fast {
  optimizer = sgd(lr = 1e-6, finetune_lr = 1e-6)
}

sweep twins {
  data     = tiny
  backbone = resnet_test
  recipe   = [fast, fast_twin, weak]
  seeds    = [1, 2, 3]
  budget   = short
  score    = test
  baseline = { recipe = fast }
}
"#,
    );
    let out = exp(tmp.path(), &cpu_run(file.to_str().unwrap(), &[]));
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let sweep = tmp.path().join("runs/twins");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sweep.join("report.json")).unwrap()).unwrap();
    let cfg = report["configuration_comparisons"].as_array().unwrap();
    let verdict = |recipe: &str, metric: &str| {
        cfg.iter()
            .find(|r| {
                r["cell"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("recipe={recipe}"))
                    && r["metric"] == metric
            })
            .map(|r| r["verdict"].as_str().unwrap().to_string())
            .unwrap()
    };
    for m in ["top1", "top3", "auc"] {
        let v = verdict("fast_twin", m);
        assert!(v != "better" && v != "worse", "twin {m}: {v}\n{t}");
    }
    assert_eq!(verdict("weak", "top1"), "worse", "{t}");
    // results.csv carries the configuration-level verdict of each cell.
    let rows = csv_rows(&sweep.join("results.csv"));
    let col = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
    let (vc, ac) = (col("verdict"), col("auc"));
    for r in &rows[1..] {
        let want = if r[2] == "fast" {
            "baseline"
        } else if r[2] == "weak" {
            "worse"
        } else {
            "within noise"
        };
        assert_eq!(r[vc], want, "{r:?}");
    }
    // The same AUC in results.csv, scores.json and report.json, every cell:
    // every score comes from the same stored f32 probabilities.
    for (i, r) in rows[1..].iter().enumerate() {
        let scores: serde_json::Value =
            serde_json::from_slice(&std::fs::read(sweep.join(&r[0]).join("scores.json")).unwrap())
                .unwrap();
        let auc = scores["auc"].as_f64().unwrap();
        let cell = &report["cells"][i];
        assert_eq!(cell["id"], r[0].as_str());
        assert_eq!(cell["metrics"]["auc"]["estimate"].as_f64().unwrap(), auc);
        assert_eq!(r[ac], format!("{auc:.6}"));
        assert_eq!(
            cell["metrics"]["top1"]["estimate"].as_f64().unwrap(),
            scores["top1"].as_f64().unwrap()
        );
        assert!(sweep.join(&r[0]).join("probs.safetensors").is_file());
    }
    // The terminal table shows the configuration-level verdicts.
    assert!(t.contains("worse") && t.contains("configuration"), "{t}");
}

//! End-to-end `exp run` on CPU: tiny generated data sets and tiny backbones,
//! through the real binary. What the user sees: files, statuses, exit codes.
#![allow(clippy::unwrap_used)]

use crate::run_support::{cpu_run, csv_rows, exp, text, tiny_pipeline};
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
        rows[0][..9],
        ["cell", "backbone", "recipe", "seed", "status", "reason", "top1", "top3", "auc"]
    );
    assert_eq!(
        rows[1][..6],
        [
            "resnet_test-fast-s3",
            "resnet_test",
            "fast",
            "3",
            "done",
            ""
        ]
    );
    let top1: f64 = rows[1][6].parse().unwrap();
    assert!(top1 > 0.6, "3 classes: chance is 0.33, got {top1}");
    assert_eq!(rows[2][4], "diverged");
    assert!(rows[2][5].starts_with("epoch 2 step "), "{:?}", rows[2]);

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

/// A recipe whose finetune lr wrecks the network without a non-finite
/// loss, the training-loss watchdog set aside: the validation checks see it.
const WOBBLE: &str = r#"
recipe wobble extends fast {
  optimizer       = adamw(lr = 1e-2, finetune_lr = 3, weight_decay = 0.01)
  diverge_factor  = 1e9
}

recipe wobble_stop extends wobble {
  on_unstable = stop
}
"#;

#[test]
fn validation_instability_ends_cells_unstable_or_diverged_and_the_sweep_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let file = pipeline(
        tmp.path(),
        &format!(
            r#"{WOBBLE}
sweep s {{
  data     = tiny
  backbone = [resnet_test]
  recipe   = [wobble, wobble_stop, fast]
  budget   = short
  score    = test
}}
"#
        ),
    );
    let out = exp(tmp.path(), &cpu_run(file.to_str().unwrap(), &[]));
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("unstable from epoch 2: "), "{t}");
    let rows = csv_rows(&tmp.path().join("runs/s/results.csv"));
    assert_eq!(rows[0][4..6], ["status", "reason"]);
    // Ran on: unstable, scored, with the epoch and the reason.
    assert_eq!(
        rows[1][..5],
        [
            "resnet_test-wobble-s3",
            "resnet_test",
            "wobble",
            "3",
            "unstable"
        ]
    );
    assert!(rows[1][5].starts_with("epoch 2: "), "{:?}", rows[1]);
    assert!(
        !rows[1][6].is_empty(),
        "an unstable cell is scored: {:?}",
        rows[1]
    );
    // Stopped: diverged after the epoch that tripped; metrics.csv ends there.
    assert_eq!(rows[2][4], "diverged");
    assert!(rows[2][5].starts_with("epoch 2 step 12: "), "{:?}", rows[2]);
    let metrics = std::fs::read_to_string(
        tmp.path()
            .join("runs/s/resnet_test-wobble_stop-s3/metrics.csv"),
    )
    .unwrap();
    assert_eq!(metrics.lines().count(), 3, "header + 2 epochs: {metrics}");
    // The sweep went on: the healthy recipe is done.
    assert_eq!(rows[3][4], "done");
    let st = exp(
        tmp.path(),
        &["status", file.to_str().unwrap(), "--out", "runs"],
    );
    let t = text(&st);
    assert!(t.contains("unstable") && t.contains("epoch 2: "), "{t}");
}

/// A fake Hugging Face cache holding exp's `resnet_test` (timm's layout,
/// tests/fixtures/models/resnet_basic.safetensors) at `commit`.
fn fake_hf_cache(root: &Path, repo: &str, commit: &str) {
    let dir = root.join(format!("models--{}", repo.replace('/', "--")));
    std::fs::create_dir_all(dir.join("refs")).unwrap();
    std::fs::write(dir.join("refs/main"), commit).unwrap();
    let snap = dir.join("snapshots").join(commit);
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/models/resnet_basic.safetensors"),
        snap.join("model.safetensors"),
    )
    .unwrap();
}

#[test]
fn config_json_records_the_hugging_face_snapshot_a_cell_loaded() {
    let tmp = tempfile::tempdir().unwrap();
    let commit = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
    fake_hf_cache(&tmp.path().join("hub"), "exp-tests/resnet_test", commit);
    let file = pipeline(
        tmp.path(),
        r#"
backbone warm {
  arch       = "resnet_test"
  pretrained = hf("exp-tests/resnet_test")
}

budget one {
  frozen   = 1 epoch
  finetune = 1 epoch
}

sweep s {
  data     = tiny
  backbone = warm
  recipe   = fast
  budget   = one
  score    = test
}
"#,
    );
    let run = |f: &Path| {
        let mut c = crate::run_support::cmd(tmp.path(), &cpu_run(f.to_str().unwrap(), &[]));
        c.env("HF_HUB_CACHE", tmp.path().join("hub"));
        c.output().unwrap()
    };
    let out = run(&file);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The sweep's only cell, whatever its short id.
    let cell_cfg = std::fs::read_dir(tmp.path().join("runs/s"))
        .unwrap()
        .map(|e| e.unwrap().path().join("config.json"))
        .find(|p| p.is_file())
        .unwrap();
    let cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(cell_cfg).unwrap()).unwrap();
    assert_eq!(cfg["weights"]["hf"], "exp-tests/resnet_test");
    assert_eq!(cfg["weights"]["revision"], "main");
    assert_eq!(cfg["weights"]["commit"], commit);

    // Pinned to that commit, the pipeline checks and runs from the same file.
    let pinned = tmp.path().join("pinned.exp");
    std::fs::write(
        &pinned,
        std::fs::read_to_string(&file).unwrap().replace(
            r#"hf("exp-tests/resnet_test")"#,
            &format!(r#"hf("exp-tests/resnet_test", revision = "{commit}")"#),
        ),
    )
    .unwrap();
    let out = run(&pinned);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
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
        rows[1][6].parse().unwrap()
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

// Long enough that every seed of `fast` converges: the seed spread is then
// small and a weak recipe is called, as in a real bake-off.
budget converged {
  frozen   = 1 epoch
  finetune = 9 epochs
}

sweep twins {
  data     = tiny
  backbone = resnet_test
  recipe   = [fast, fast_twin, weak]
  seeds    = [1, 2, 3]
  budget   = converged
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

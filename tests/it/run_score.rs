//! `exp score` end to end on CPU: train a tiny cell, re-score it on its
//! validation split, on a data declaration of another file and on its own
//! test split; the run's files stay byte for byte as they were.
#![allow(clippy::unwrap_used)]

use crate::run_support::{cpu_run, csv_rows, exp, run_ok, text, tiny_pipeline};
use std::collections::BTreeMap;
use std::path::Path;

/// Every file under `dir` outside `scores/` directories, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().is_some_and(|n| n == "scores") {
                continue;
            }
            if p.is_dir() {
                todo.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_trained_cell_is_rescored_on_another_split_and_other_data_without_touching_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tiny_pipeline(
        tmp.path(),
        "tiny.exp",
        "",
        r#"
sweep s {
  data     = tiny
  backbone = [resnet_test]
  recipe   = fast
  budget   = short
  score    = test
}
"#,
    );
    // Another file's data: same classes, other images (another generator seed).
    std::fs::write(
        tmp.path().join("external.exp"),
        r#"data clinic {
  source = generated(classes = 3, train = 30 samples, val = 12 samples, test = 36 samples,
                     size = 32, seed = 11, image_signal = 0.9, metadata_signal = 0.0)
  root = "data/clinic"
  image_size = 32
}
"#,
    )
    .unwrap();
    run_ok(tmp.path(), &cpu_run(file.to_str().unwrap(), &[]));
    let runs = tmp.path().join("runs");
    let before = snapshot(&runs);
    let cell = "runs/s/resnet_test-s3";
    // The status (and its reason) of a re-scored cell are the run's own.
    let original = csv_rows(&runs.join("s/results.csv"));
    let status = original[1][4].clone();
    let printed = format!("s/resnet_test-s3: {status}  top1=");

    // A sweep directory on its validation split: the run's table, a sweep
    // directory of its own under scores/.
    let t = run_ok(
        tmp.path(),
        &["score", "runs/s", "--split", "val", "--device", "cpu"],
    );
    assert!(t.contains(&printed), "{t}");
    assert!(t.contains("scores: runs/s/scores/tiny.val"), "{t}");
    let val = runs.join("s/scores/tiny.val");
    let sc = json(&val.join("resnet_test-s3/scores.json"));
    assert_eq!(
        (sc["split"].as_str(), sc["n"].as_u64()),
        (Some("val"), Some(48))
    );
    let rows = csv_rows(&val.join("results.csv"));
    assert_eq!(rows[1][..4], ["resnet_test-s3", "resnet_test", "fast", "3"]);
    assert_eq!(rows[1][4..6], original[1][4..6]);
    assert_eq!(rows[1][6], format!("{:.6}", sc["top1"].as_f64().unwrap()));
    assert!(val.join("report.md").is_file() && val.join("report.json").is_file());
    let report = run_ok(tmp.path(), &["report", "runs/s/scores/tiny.val"]);
    assert!(report.contains("resnet_test"), "{report}");

    // One cell on a data declaration of another file.
    let t = run_ok(
        tmp.path(),
        &[
            "score",
            cell,
            "--data",
            "external.exp:clinic",
            "--device",
            "cpu",
        ],
    );
    assert!(t.contains(&printed), "{t}");
    let ext = runs.join("s/resnet_test-s3/scores/clinic.test");
    let sc = json(&ext.join("scores.json"));
    assert_eq!(
        (sc["split"].as_str(), sc["n"].as_u64()),
        (Some("test"), Some(36))
    );
    // Chance is 1/3; the tiny model transfers to the other generator seed.
    assert!(sc["top1"].as_f64().unwrap() > 0.4, "{sc}");
    let preds = std::fs::read_to_string(ext.join("predictions.csv")).unwrap();
    assert_eq!(preds.lines().count(), 37);
    assert_eq!(json(&ext.join("scored.json"))["data"], "clinic");

    // Its own test split again: the run's own predictions, bit for bit.
    run_ok(tmp.path(), &["score", cell, "--device", "cpu"]);
    let own = runs.join("s/resnet_test-s3/scores/tiny.test");
    assert_eq!(
        std::fs::read(own.join("predictions.csv")).unwrap(),
        before["s/resnet_test-s3/predictions.csv"]
    );

    assert_eq!(snapshot(&runs), before, "the run's files changed");
}

#[test]
fn bad_directories_and_data_names_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("empty")).unwrap();
    let o = exp(tmp.path(), &["score", "empty", "--device", "cpu"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("exp::exec::not_a_run_dir"), "{t}");

    std::fs::write(
        tmp.path().join("d.exp"),
        "data clinic {\n  layout = image_folder\n  root = \"x\"\n}\n",
    )
    .unwrap();
    let o = exp(
        tmp.path(),
        &["score", "empty", "--data", "d.exp:clinc", "--device", "cpu"],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("did you mean `clinic`"), "{t}");
    let o = exp(tmp.path(), &["score", "empty", "--data", "d.exp"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("FILE.exp:NAME"));
}

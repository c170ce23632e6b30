//! TensorBoard event files as TensorBoard itself reads them: `exp run` on a
//! two-cell sweep, then TensorBoard's `EventMultiplexer` (what
//! `tensorboard --logdir runs/s` uses) on the sweep folder. Each cell is a run
//! of its own, its per-epoch scalars equal metrics.csv, and the training loss
//! is logged every `--tb-every` steps.
//!
//! The `tensorboard` Python package comes from scripts/ci_deps.sh (a venv at
//! `$EXP_TB_VENV`, default `~/.cache/exp/venv-tensorboard-2.21.0`).
#![allow(clippy::unwrap_used)]

use crate::run_support::{cpu_run, csv_rows, exp, text, tiny_pipeline};
use std::path::PathBuf;
use std::process::Command;

const READER: &str = r#"
import json, sys
from tensorboard.backend.event_processing import event_multiplexer
m = event_multiplexer.EventMultiplexer()
m.AddRunsFromDirectory(sys.argv[1])
m.Reload()
out = {}
for run, tags in m.Runs().items():
    out[run] = {t: [[e.step, e.value] for e in m.Scalars(run, t)] for t in tags.get("scalars", [])}
print(json.dumps(out, sort_keys=True))
"#;

fn tensorboard_python() -> PathBuf {
    let venv = std::env::var_os("EXP_TB_VENV").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").unwrap())
                .join(".cache/exp/venv-tensorboard-2.21.0")
        },
        PathBuf::from,
    );
    let py = venv.join("bin/python");
    assert!(
        py.is_file(),
        "{} is missing: install TensorBoard with scripts/ci_deps.sh \
         (python3 -m venv {v} && {v}/bin/python -m pip install tensorboard==2.21.0)",
        py.display(),
        v = venv.display()
    );
    py
}

#[test]
fn tensorboard_reads_every_cell_of_a_sweep() {
    let py = tensorboard_python();
    let tmp = tempfile::tempdir().unwrap();
    let file = tiny_pipeline(
        tmp.path(),
        "tb.exp",
        "",
        r#"
recipe slow extends fast {
  optimizer = adamw(lr = 1e-3, finetune_lr = 1e-3)
}

sweep s {
  data     = tiny
  backbone = [resnet_test]
  recipe   = [fast, slow]
  budget   = short
  score    = test
}
"#,
    );
    let out = exp(
        tmp.path(),
        &cpu_run(file.to_str().unwrap(), &["--tb-every", "2"]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let sweep = tmp.path().join("runs/s");

    let read = Command::new(&py)
        .args(["-c", READER])
        .arg(&sweep)
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "TensorBoard could not read the logs:\n{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let runs: serde_json::Value = serde_json::from_slice(&read.stdout).unwrap();
    let names: Vec<&String> = runs.as_object().unwrap().keys().collect();
    assert_eq!(
        names,
        ["resnet_test-fast-s3", "resnet_test-slow-s3"],
        "one TensorBoard run per cell"
    );

    for cell in names {
        let scalars = &runs[cell];
        let rows = csv_rows(&sweep.join(cell).join("metrics.csv"));
        let header = &rows[0];
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        for (tag, column) in [
            ("epoch/train_loss", "train_loss"),
            ("epoch/val_loss", "val_loss"),
            ("epoch/val_top1", "val_top1"),
            ("epoch/lr", "lr"),
            ("epoch/img_per_s", "img_per_s"),
            ("epoch/data_wait", "data_wait"),
        ] {
            let points = scalars[tag].as_array().unwrap_or_else(|| {
                panic!("{cell}: no {tag} in {scalars}");
            });
            assert_eq!(points.len(), rows.len() - 1, "{cell} {tag}: one per epoch");
            for (p, row) in points.iter().zip(&rows[1..]) {
                let epoch: u64 = row[col("epoch")].parse().unwrap();
                let want: f64 = row[col(column)].parse().unwrap();
                assert_eq!(p[0].as_u64(), Some(epoch), "{cell} {tag}");
                let got = p[1].as_f64().unwrap();
                // metrics.csv rounds img/s to 0.1 and data_wait to 1e-4;
                // the event file holds f32.
                let tol = if column == "img_per_s" {
                    0.06
                } else {
                    1e-4 + want.abs() * 1e-6
                };
                assert!(
                    (got - want).abs() <= tol,
                    "{cell} {tag} epoch {epoch}: {got} vs {want}"
                );
            }
        }
        let steps = scalars["step/train_loss"].as_array().unwrap();
        // 96 training images in batches of 16: 6 steps per epoch, 5 epochs.
        let want: Vec<u64> = (1..=30).filter(|s| s % 2 == 0).collect();
        let got: Vec<u64> = steps.iter().map(|p| p[0].as_u64().unwrap()).collect();
        assert_eq!(got, want, "{cell}: the loss every 2 steps");
        assert!(steps.iter().all(|p| p[1].as_f64().unwrap().is_finite()));
    }
}

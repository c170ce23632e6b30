//! The stage store, resume and locks through the real binary: rerun is a
//! no-op, adding a cell trains only it, changing the score split re-scores
//! only, `kill -9` then resume gives the uninterrupted bits, two concurrent
//! runs train each cell once, `--jobs 2` gives the same results, and
//! changed data retrains while copied or moved data does not.
#![allow(clippy::unwrap_used)]

use crate::run_support::{cmd, cpu_run, read, run_ok, text, tiny_pipeline};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The tiny pipeline checkpointing every 2 steps, one sweep over `backbones`.
fn pipeline(dir: &Path, name: &str, backbones: &str) -> PathBuf {
    let sweep = format!(
        r#"
sweep s {{
  data     = tiny
  backbone = [{backbones}]
  recipe   = [fast]
  budget   = short
  score    = test
}}
"#
    );
    tiny_pipeline(dir, name, "  checkpoint_every = 2 steps\n", &sweep)
}

/// Tensor names and bytes of a safetensors file (the header's metadata map
/// is left out: its key order is not part of the weights).
fn weights(p: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = read(p);
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut v: Vec<(String, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.data().to_vec()))
        .collect();
    v.sort();
    v
}

#[test]
fn rerun_is_a_noop_adding_a_cell_trains_only_it_and_a_new_split_only_rescores() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let one = pipeline(d, "one.exp", "resnet_test");
    let t = run_ok(d, &cpu_run(one.to_str().unwrap(), &["--deterministic"]));
    assert!(t.contains("1 cell(s): 1 done, 0 cached"), "{t}");
    let cell = d.join("runs/s/resnet_test-fast-s3");
    let (csv1, w1, m1) = (
        read(&d.join("runs/s/results.csv")),
        weights(&cell.join("best.safetensors")),
        read(&cell.join("metrics.csv")),
    );

    let t = run_ok(d, &cpu_run(one.to_str().unwrap(), &["--deterministic"]));
    assert!(t.contains("1 cell(s): 0 done, 1 cached"), "{t}");
    assert_eq!(
        read(&d.join("runs/s/results.csv")),
        csv1,
        "results.csv byte-identical"
    );
    assert_eq!(read(&cell.join("metrics.csv")), m1, "no training happened");
    assert_eq!(weights(&cell.join("best.safetensors")), w1);

    let two = pipeline(d, "two.exp", "resnet_test, convnextv2_test");
    let t = run_ok(d, &cpu_run(two.to_str().unwrap(), &["--deterministic"]));
    assert!(t.contains("2 cell(s): 1 done, 1 cached"), "{t}");
    assert_eq!(read(&cell.join("metrics.csv")), m1);

    // A different scoring split: scores change, training does not.
    let t = run_ok(
        d,
        &[
            "run",
            two.to_str().unwrap(),
            "--out",
            "runs",
            "--device",
            "cpu",
            "--set",
            "score.test.split=\"train\"",
        ],
    );
    assert!(t.contains("2 cell(s): 2 done, 0 cached"), "{t}");
    assert_eq!(
        read(&cell.join("metrics.csv")),
        m1,
        "re-scored without retraining"
    );
    assert_eq!(weights(&cell.join("best.safetensors")), w1);
    let s: serde_json::Value = serde_json::from_slice(&read(&cell.join("scores.json"))).unwrap();
    assert_eq!(
        (s["split"].as_str(), s["n"].as_u64()),
        (Some("train"), Some(96))
    );

    // A fresh output directory reproduces the bits (deterministic CPU).
    run_ok(
        d,
        &[
            "run",
            one.to_str().unwrap(),
            "--out",
            "again",
            "--device",
            "cpu",
            "--deterministic",
        ],
    );
    assert_eq!(read(&d.join("again/s/results.csv")), csv1);
    assert_eq!(
        weights(&d.join("again/s/resnet_test-fast-s3/best.safetensors")),
        w1
    );
}

/// A hand-written manifest data set under `dir/data`: 3 classes, 12 train,
/// 6 val and 6 test 32 px PNGs. Returns the manifest rows.
fn manifest_data(dir: &Path) -> Vec<String> {
    let mut rows = Vec::new();
    for i in 0..24u8 {
        let split = match i {
            0..12 => "train",
            12..18 => "val",
            _ => "test",
        };
        let p = format!("img/{i}.png");
        crate::data_support::png(&dir.join("data").join(&p), 32, 32, i * 10);
        rows.push(format!("{p},c{},{split}", i % 3));
    }
    crate::data_support::manifest(&dir.join("data"), "path,label,split", &rows);
    rows
}

/// `(stages, cached)` from `exp plan`'s "stages (N, K cached)" line.
fn plan_counts(plan: &str) -> (usize, usize) {
    let line = plan
        .lines()
        .find(|l| l.starts_with("stages ("))
        .unwrap_or_else(|| panic!("no stages line: {plan}"));
    let nums: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    (nums[0], nums[1])
}

/// A one-cell pipeline over the manifest data of [`manifest_data`].
fn manifest_pipeline(dir: &Path) -> PathBuf {
    let extra = r#"
data hand {
  manifest   = "data/manifest.csv"
  image_size = 32
}

sweep s {
  data     = hand
  backbone = [resnet_test]
  recipe   = [fast]
  budget   = short
  score    = test
}
"#;
    tiny_pipeline(dir, "hand.exp", "", extra)
}

#[test]
fn relabelled_data_retrains_but_touched_or_moved_data_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    std::fs::create_dir_all(&a).unwrap();
    let rows = manifest_data(&a);
    manifest_pipeline(&a);
    let run = |dir: &Path| run_ok(dir, &cpu_run("hand.exp", &[]));
    let plan = |dir: &Path| run_ok(dir, &["plan", "hand.exp", "--out", "runs"]);

    let t = run(&a);
    assert!(t.contains("1 cell(s): 1 done, 0 cached"), "{t}");
    let weights_path = "runs/s/resnet_test-fast-s3/best.safetensors";
    let w1 = weights(&a.join(weights_path));

    // Every image rewritten with the same bytes: new mtimes, same content.
    for i in 0..24 {
        let p = a.join(format!("data/img/{i}.png"));
        std::fs::write(&p, read(&p)).unwrap();
    }
    let t = run(&a);
    assert!(t.contains("1 cell(s): 0 done, 1 cached"), "{t}");

    // The whole project moved: paths change, the data does not.
    let b = tmp.path().join("b");
    std::fs::rename(&a, &b).unwrap();
    let p = plan(&b);
    let (stages, cached) = plan_counts(&p);
    assert!(stages > 0 && cached == stages, "{p}");
    let t = run(&b);
    assert!(t.contains("1 cell(s): 0 done, 1 cached"), "{t}");

    // One train row relabelled: the cell's results are stale.
    let mut relabelled = rows.clone();
    relabelled[0] = relabelled[0].replace(",c0,", ",c1,");
    crate::data_support::manifest(&b.join("data"), "path,label,split", &relabelled);
    let p = plan(&b);
    assert_eq!(plan_counts(&p).1, 0, "{p}");
    let t = run(&b);
    assert!(t.contains("1 cell(s): 1 done, 0 cached"), "{t}");
    assert_ne!(
        weights(&b.join(weights_path)),
        w1,
        "trained on the new labels"
    );
    let config: serde_json::Value =
        serde_json::from_slice(&read(&b.join("runs/s/resnet_test-fast-s3/config.json"))).unwrap();
    assert!(
        config
            .pointer("/cell/data/content")
            .and_then(|v| v.as_str())
            .is_some(),
        "the resolved config records the data's content key: {config}"
    );
}

/// When to kill: a predicate on the cell directory.
type KillPoint = dyn Fn(&Path) -> bool;

/// Kill the run with SIGKILL once `ready` says so (or when it ends by itself).
fn run_and_kill(d: &Path, file: &Path, out: &str, ready: impl Fn(&Path) -> bool) -> bool {
    let mut child = cmd(
        d,
        &[
            "run",
            file.to_str().unwrap(),
            "--out",
            out,
            "--device",
            "cpu",
            "--deterministic",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let cell = d.join(out).join("s/resnet_test-fast-s3");
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if ready(&cell) || start.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn count_files(dir: &Path, pred: &dyn Fn(&str) -> bool) -> usize {
    let mut n = 0;
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            n += count_files(&p, pred);
        } else if p.file_name().and_then(|s| s.to_str()).is_some_and(pred) {
            n += 1;
        }
    }
    n
}

fn metrics_lines(cell: &Path) -> usize {
    std::fs::read_to_string(cell.join("metrics.csv"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn kill_9_at_several_points_then_resume_gives_the_uninterrupted_bits() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let file = pipeline(d, "one.exp", "resnet_test");
    run_ok(
        d,
        &[
            "run",
            file.to_str().unwrap(),
            "--out",
            "clean",
            "--device",
            "cpu",
            "--deterministic",
        ],
    );

    // Several interruptions of the same cell, each resumed by the next run:
    // while a checkpoint is being written (a temp file exists), after the
    // first checkpoint, after the first epoch's metrics line, mid-second epoch.
    let points: Vec<Box<KillPoint>> = vec![
        Box::new(|c: &Path| count_files(c, &|n| n.ends_with(".tmp")) > 0),
        Box::new(|c: &Path| count_files(&c.join("ckpt"), &|_| true) > 0),
        Box::new(|c: &Path| metrics_lines(c) >= 2),
        Box::new(|c: &Path| metrics_lines(c) >= 3),
    ];
    let mut killed = 0;
    let metrics = d.join("killed/s/resnet_test-fast-s3/metrics.csv");
    let mut written_before_kill = Vec::new();
    for ready in &points {
        if run_and_kill(d, &file, "killed", ready) {
            killed += 1;
            if let Ok(m) = std::fs::read_to_string(&metrics) {
                written_before_kill.push(m);
            }
        }
    }
    assert!(
        killed >= 2,
        "the run was interrupted at least twice ({killed})"
    );
    run_ok(
        d,
        &[
            "run",
            file.to_str().unwrap(),
            "--out",
            "killed",
            "--device",
            "cpu",
            "--deterministic",
        ],
    );
    let best = "s/resnet_test-fast-s3/best.safetensors";
    assert_eq!(
        weights(&d.join("killed").join(best)),
        weights(&d.join("clean").join(best)),
        "weights differ after kill -9 + resume"
    );
    for f in [
        "s/results.csv",
        "s/resnet_test-fast-s3/scores.json",
        "s/resnet_test-fast-s3/predictions.csv",
    ] {
        assert_eq!(
            read(&d.join("killed").join(f)),
            read(&d.join("clean").join(f)),
            "{f} differs after kill -9 + resume"
        );
    }
    // metrics.csv: byte for byte but for the two wall-clock columns...
    let resumed = String::from_utf8(read(&metrics)).unwrap();
    let clean =
        String::from_utf8(read(&d.join("clean/s/resnet_test-fast-s3/metrics.csv"))).unwrap();
    let no_timing = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| l.split(',').take(6).collect::<Vec<_>>().join(","))
            .collect()
    };
    assert_eq!(
        no_timing(&resumed),
        no_timing(&clean),
        "metrics.csv differs after kill -9 + resume"
    );
    // ...and the rows a killed run had checkpointed (all but its last) come
    // back from the checkpoint exactly, timings included.
    for before in &written_before_kill {
        let lines: Vec<&str> = before.lines().collect();
        let kept = &lines[..lines.len().saturating_sub(1)];
        assert_eq!(
            &resumed.lines().take(kept.len()).collect::<Vec<_>>()[..],
            kept,
            "rows restored from the checkpoint are not byte-identical:\n{before}\n---\n{resumed}"
        );
    }
    // The temp file of the write that kill -9 cut short is gone.
    assert_eq!(
        count_files(&d.join("killed"), &|n| n.ends_with(".tmp")),
        0,
        "stale temp files were removed by the resuming run"
    );
}

#[test]
fn two_concurrent_runs_train_each_cell_once_and_jobs_2_matches() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let file = pipeline(d, "two.exp", "resnet_test, convnextv2_test");
    let args = [
        "run",
        file.to_str().unwrap(),
        "--out",
        "runs",
        "--device",
        "cpu",
        "--deterministic",
    ];
    let a = cmd(d, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let b = cmd(d, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let (ta, tb) = (text(&a), text(&b));
    assert_eq!(
        (a.status.code(), b.status.code()),
        (Some(0), Some(0)),
        "{ta}\n{tb}"
    );
    let done = |t: &str| t.lines().filter(|l| l.contains(": done")).count();
    assert_eq!(
        done(&ta) + done(&tb),
        2,
        "each cell trained exactly once:\n{ta}\n{tb}"
    );
    let csv = String::from_utf8(read(&d.join("runs/s/results.csv"))).unwrap();
    assert_eq!(
        csv.lines().filter(|l| l.contains(",done,")).count(),
        2,
        "{csv}"
    );

    run_ok(
        d,
        &[
            "run",
            file.to_str().unwrap(),
            "--out",
            "jobs",
            "--device",
            "cpu",
            "--deterministic",
            "--jobs",
            "2",
        ],
    );
    assert_eq!(
        read(&d.join("jobs/s/results.csv")),
        csv.as_bytes(),
        "--jobs 2 gives the same results"
    );
    assert!(d.join("jobs/s/resnet_test-fast-s3/run.log").is_file());
}

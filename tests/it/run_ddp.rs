//! Data-parallel cells through the real binary, two ranks over Gloo on the
//! CPU (`exp run --ddp 2`): the same validation losses as one process with
//! the same global batch; `kill -9` of the whole run and a rerun give the
//! uninterrupted run's files bit for bit; a rank killed alone ends the cell
//! within 60 s with an error naming it, and the rerun resumes;
//! `sync_bn = true` makes a batch-norm model train as one process does.
#![allow(clippy::unwrap_used)]

use crate::run_support::{
    cmd, csv_rows, exp, metric_columns, processes_in, read, run_ok, text, tiny_pipeline, wait_for,
    wait_none_left,
};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Global batch 32 (two shares of 16), a mid-epoch checkpoint every 2
/// steps; `sync` is a recipe with `sync_bn = true`.
fn pipeline(dir: &Path) -> PathBuf {
    let extra = r#"
recipe wide extends fast {
  batch = 32
}

recipe sync extends wide {
  sync_bn = true
}

sweep s {
  data     = tiny
  backbone = [convnextv2_test]
  recipe   = [wide]
  budget   = short
  score    = test
}

sweep bn {
  data     = tiny
  backbone = [resnet_test]
  recipe   = [wide, sync]
  budget   = short
  score    = test
}
"#;
    tiny_pipeline(dir, "dp.exp", "  checkpoint_every = 2 steps\n", extra)
}

const CELL: &str = "s/convnextv2_test-wide-s3";

fn run_args<'a>(out: &'a str, sweep: &'a str, ddp: bool) -> Vec<&'a str> {
    let mut v = vec![
        "run",
        "dp.exp",
        "--out",
        out,
        "--sweep",
        sweep,
        "--device",
        "cpu",
        "--deterministic",
        "--workers",
        "1",
    ];
    if ddp {
        v.extend(["--ddp", "2"]);
    }
    v
}

/// `(epoch, train_loss, val_loss)` of each metrics.csv row.
fn losses(metrics: &Path) -> Vec<(String, f64, f64)> {
    csv_rows(metrics)
        .into_iter()
        .skip(1)
        .map(|r| (r[0].clone(), r[2].parse().unwrap(), r[3].parse().unwrap()))
        .collect()
}

fn max_rel_diff(a: &[(String, f64, f64)], b: &[(String, f64, f64)]) -> f64 {
    assert_eq!(a.len(), b.len(), "epochs differ: {a:?} vs {b:?}");
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            assert_eq!(x.0, y.0);
            ((x.2 - y.2) / x.2.abs().max(1e-12)).abs()
        })
        .fold(0.0, f64::max)
}

/// A temporary directory holding the pipeline and the uninterrupted
/// two-rank run of sweep `s` (`two/`), made once for the tests here.
fn reference() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        pipeline(tmp.path());
        run_ok(tmp.path(), &run_args("two", "s", true));
        tmp
    })
    .path()
}

#[test]
fn two_ranks_give_the_validation_losses_of_one_process_with_the_same_global_batch() {
    let d = reference();
    let one = tempfile::tempdir().unwrap();
    pipeline(one.path());
    run_ok(one.path(), &run_args("one", "s", false));
    let single = losses(&one.path().join("one").join(CELL).join("metrics.csv"));
    let cell = d.join("two").join(CELL);
    let ranks = losses(&cell.join("metrics.csv"));
    assert_eq!(single.len(), 5, "1 frozen + 4 finetune epochs: {single:?}");
    let rel = max_rel_diff(&single, &ranks);
    assert!(
        rel <= 1e-5,
        "val losses differ by {rel:e} (relative):\n{single:?}\n{ranks:?}"
    );

    // results.csv keeps its columns; the report's numbers agree.
    let a = csv_rows(&one.path().join("one/s/results.csv"));
    let b = csv_rows(&d.join("two/s/results.csv"));
    assert_eq!(a[0], b[0], "results.csv header");
    let top1 = a[0].iter().position(|h| h == "top1").unwrap();
    let (x, y): (f64, f64) = (a[1][top1].parse().unwrap(), b[1][top1].parse().unwrap());
    assert!((x - y).abs() <= 1.0 / 60.0, "top-1 {x} vs {y}");

    // Rank 0 alone writes: one event file; rank 1 leaves only its log.
    let events: Vec<_> = std::fs::read_dir(&cell)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("events.out"))
        .collect();
    assert_eq!(events.len(), 1);
    assert!(cell.join("run.rank1.log").exists());
    let log = std::fs::read_to_string(cell.join("run.log")).unwrap();
    assert!(
        log.contains("data-parallel backward") && log.contains("gradient all-reduce"),
        "{log}"
    );
}

fn start(d: &Path, out: &str) -> Child {
    cmd(d, &run_args(out, "s", true))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The pid of rank `rank` among the processes running in `d`.
fn rank_pid(d: &Path, rank: usize) -> Option<u32> {
    let want = format!("EXP_DIST_RANK={rank}");
    processes_in(d).into_iter().find(|pid| {
        std::fs::read(format!("/proc/{pid}/environ"))
            .map(|env| env.split(|&b| b == 0).any(|v| v == want.as_bytes()))
            .unwrap_or(false)
    })
}

/// Start a two-rank run into `out` and wait until rank 0 wrote a checkpoint
/// (both ranks are training).
fn start_training(d: &Path, out: &str) -> Child {
    let ckpt = d.join(out).join(CELL).join("ckpt/last.safetensors");
    let mut child = start(d, out);
    let training = wait_for(&mut child, || ckpt.exists() && rank_pid(d, 1).is_some());
    assert!(training, "the run ended before it trained:\n{}", {
        let o = child.wait_with_output().unwrap();
        text(&o)
    });
    child
}

fn kill9(pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
}

#[test]
fn kill_9_of_the_whole_run_then_a_rerun_gives_the_uninterrupted_files() {
    let reference = reference();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    pipeline(d);
    let mut child = start_training(d, "killed");
    // Ranks first: killed after their parent, they would see it go and
    // checkpoint on their own.
    for rank in [1, 0] {
        if let Some(pid) = rank_pid(d, rank) {
            kill9(pid);
        }
    }
    kill9(child.id());
    let _ = child.wait();
    wait_none_left(d, "kill -9");
    let cell = d.join("killed").join(CELL);
    assert!(
        !cell.join("scores.json").exists(),
        "the run finished before it was killed; the test needs a longer budget"
    );

    run_ok(d, &run_args("killed", "s", true));
    let log = std::fs::read_to_string(cell.join("run.log")).unwrap();
    assert!(log.contains("resuming at"), "{log}");
    let done = reference.join("two").join(CELL);
    assert_eq!(
        metric_columns(&cell.join("metrics.csv")),
        metric_columns(&done.join("metrics.csv"))
    );
    for f in ["best.safetensors", "probs.safetensors", "predictions.csv"] {
        assert!(read(&cell.join(f)) == read(&done.join(f)), "{f} differs");
    }
}

#[test]
fn a_rank_killed_alone_ends_the_cell_within_60_s_naming_it_and_the_rerun_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    pipeline(d);
    let child = start_training(d, "lone");
    let victim = rank_pid(d, 1).unwrap();
    kill9(victim);
    let killed = Instant::now();
    let out = child.wait_with_output().unwrap();
    let took = killed.elapsed();
    let t = text(&out);
    assert!(took < Duration::from_secs(60), "took {took:?}:\n{t}");
    wait_none_left(d, "one rank killed");
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("rank 1 of 2 was killed by SIGKILL"), "{t}");
    assert!(t.contains("failed"), "{t}");

    let t = run_ok(d, &run_args("lone", "s", true));
    assert!(t.contains("1 done"), "{t}");
    let log = std::fs::read_to_string(d.join("lone").join(CELL).join("run.log")).unwrap();
    assert!(log.contains("resuming at"), "{log}");
}

#[test]
fn sync_bn_makes_two_ranks_of_a_batch_norm_model_train_as_one_process() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    pipeline(d);
    run_ok(d, &run_args("one", "bn", false));
    run_ok(d, &run_args("two", "bn", true));
    let m = |out: &str, recipe: &str| {
        losses(
            &d.join(out)
                .join(format!("bn/resnet_test-{recipe}-s3"))
                .join("metrics.csv"),
        )
    };
    // The statistics of the whole batch: what one process computes.
    let synced = max_rel_diff(&m("one", "sync"), &m("two", "sync"));
    assert!(synced <= 1e-4, "sync_bn: val losses differ by {synced:e}");
    // Each rank's own half-batch statistics (timm's default): another model.
    let local = max_rel_diff(&m("one", "wide"), &m("two", "wide"));
    assert!(
        local > 1e-4,
        "per-rank batch norm should differ from one process ({local:e})"
    );
}

#[test]
fn a_batch_that_does_not_split_over_the_ranks_is_refused_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    pipeline(d);
    let mut args = run_args("odd", "s", false);
    args.extend(["--ddp", "3"]);
    let o = exp(d, &args);
    // The diagnostic as one line: miette wraps it to the terminal.
    let t = text(&o)
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(o.status.code(), Some(2), "a usage error: {t}");
    assert!(t.contains("exp::exec::ddp"), "{t}");
    assert!(t.contains("--set recipe.wide.batch=33"), "{t}");
    assert!(t.contains("global batch of 32"), "{t}");
    assert!(t.contains("does not split over 3 ranks"), "{t}");
    assert!(!d.join("odd").join(CELL).exists());

    let mut args = run_args("odd", "s", false);
    args.extend(["--nodes", "2"]);
    let t = text(&exp(d, &args));
    assert!(
        t.contains("exp::exec::ddp") && t.contains("--on slurm"),
        "{t}"
    );
}

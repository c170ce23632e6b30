//! Helpers shared by the tests that drive the real `exp` binary
//! (`run_e2e`, `sweep_cache`): the tiny pipeline they train and the
//! command runners.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// The tiny pipeline: 3 classes of 32 px generated images, recipe `fast`,
/// budget `short` (1 frozen + 4 finetune epochs, plus `budget_extra` lines),
/// score `test`; `extra` is appended (more declarations, a sweep). Written
/// to `dir/name`.
pub fn tiny_pipeline(dir: &Path, name: &str, budget_extra: &str, extra: &str) -> PathBuf {
    let text = format!(
        r#"use std.backbones
seed 3

data tiny {{
  source = generated(classes = 3, train = 96 samples, val = 48 samples, test = 60 samples,
                     size = 32, seed = 5, image_signal = 0.9, metadata_signal = 0.0)
  root = "data/tiny"
  image_size = 32
}}

recipe fast {{
  optimizer = adamw(lr = 1e-2, finetune_lr = 3e-3, weight_decay = 0.01)
  schedule  = constant
  warmup    = 0 steps
  batch     = 16
}}

budget short {{
  frozen   = 1 epoch
  finetune = 4 epochs
{budget_extra}}}

score test {{
  split   = "test"
  metrics = [top1, top3, auc]
}}
{extra}"#
    );
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The arguments of `exp run FILE --out runs --device cpu EXTRA...`.
pub fn cpu_run<'a>(file: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["run", file, "--out", "runs", "--device", "cpu"];
    v.extend_from_slice(extra);
    v
}

/// `exp ARGS` in `dir`, with the decode cache under `dir/cache`.
pub fn cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_exp"));
    c.args(args)
        .current_dir(dir)
        .env("EXP_CACHE", dir.join("cache"));
    c
}

pub fn exp(dir: &Path, args: &[&str]) -> Output {
    cmd(dir, args).output().unwrap()
}

/// stdout then stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Run and assert exit code 0; returns the output text.
pub fn run_ok(dir: &Path, args: &[&str]) -> String {
    let o = exp(dir, args);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    t
}

pub fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(String::from).collect())
        .collect()
}

/// Processes (other than zombies) whose working directory is `dir`: the
/// `exp` parent and its children all run there.
pub fn processes_in(dir: &Path) -> Vec<u32> {
    let dir = dir.canonicalize().unwrap();
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if std::fs::read_link(e.path().join("cwd")).ok().as_deref() != Some(dir.as_path()) {
            continue;
        }
        let zombie = std::fs::read_to_string(e.path().join("stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true);
        if !zombie {
            pids.push(pid);
        }
    }
    pids
}

/// Wait (bounded) until no process runs in `dir`.
pub fn wait_none_left(dir: &Path, what: &str) {
    let start = Instant::now();
    while !processes_in(dir).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "{what}: processes left behind: {:?}",
            processes_in(dir)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wait (bounded) until `ready`, or the child ended; true when ready.
pub fn wait_for(child: &mut Child, ready: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if ready() {
            return true;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "never ready");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `metrics.csv` without the two wall-clock columns (img_per_s, data_wait).
pub fn metric_columns(p: &Path) -> String {
    String::from_utf8(read(p))
        .unwrap()
        .lines()
        .map(|l| l.split(',').take(6).collect::<Vec<_>>().join(","))
        .collect::<Vec<_>>()
        .join("\n")
}

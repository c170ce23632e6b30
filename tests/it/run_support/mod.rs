//! Helpers shared by the tests that drive the real `exp` binary
//! (`run_e2e`, `sweep_cache`): the tiny pipeline they train and the
//! command runners.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

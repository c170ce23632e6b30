//! `exp check` on a generated 10,000-line pipeline: parse, resolve, check,
//! sweep expansion and lints, as the command runs them. Prints min / median
//! / max over repeated runs (harness = false: no extra dependency).
//!
//! Run: `cargo bench --bench check`.

use exp_lang::driver::{check_path, CheckOptions};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// A realistic file of about `lines` lines: recipes with doc comments and
/// `extends`, budgets, and sweeps over them.
fn generate(lines: usize) -> String {
    let mut s = String::from("use std.backbones\nuse std.recipes\nuse std.scores\n\nseed 17\n\n");
    s.push_str("data derm {\n  manifest   = \"data/derm/manifest.csv\"\n  metadata   = [\"age\", \"sex\", \"site\"]\n  image_size = 224\n}\n\n");
    let recipes = lines * 85 / 100 / 10;
    for i in 0..recipes {
        let _ = write!(
            s,
            "/// Recipe variant {i}.\nrecipe r{i} extends adamw_cosine {{\n  optimizer.weight_decay = 0.{:02}\n  batch     = {}\n  warmup    = {} steps\n  augment   = [hflip, rotate({} deg), color_jitter(0.4)]\n  dropout   = {{ head = 0.{}, metadata = 0.1 }}\n  early_stop = {{ patience = 2 epochs, monitor = val_loss }}\n}}\n\n",
            i % 100,
            16 + i % 64,
            5 + i % 10,
            i % 45,
            i % 9
        );
    }
    let per_sweep = 40;
    // One budget per sweep, so every declaration is used (no lint noise).
    let budgets = recipes.div_ceil(per_sweep);
    for i in 0..budgets {
        let _ = writeln!(s, "budget b{i} {{\n  train = {} samples\n  frozen = 1 epoch\n  finetune = {} epochs\n}}\n", 1000 + i, 1 + i % 5);
    }
    for (k, chunk) in (0..recipes)
        .collect::<Vec<_>>()
        .chunks(per_sweep)
        .enumerate()
    {
        let _ = writeln!(s, "sweep s{k} {{\n  data     = derm\n  backbone = [resnet50, convnextv2_tiny]\n  recipe   = [");
        for i in chunk {
            let _ = writeln!(s, "    r{i},");
        }
        let _ = writeln!(
            s,
            "  ]\n  budget   = b{}\n  score    = full_test\n}}\n",
            k % budgets.max(1)
        );
    }
    s
}

fn main() {
    let dir = std::env::temp_dir().join(format!("exp-bench-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("big.exp");
    let src = generate(10_000);
    std::fs::write(&path, &src).expect("write bench file");
    let n_lines = src.lines().count();

    // Warm up and make sure the file is valid: a benchmark of error paths
    // would measure something else.
    let o = check_path(&path, &[], CheckOptions::default()).expect("readable");
    assert!(!o.has_errors(), "generated file has errors");
    let cells: usize = o
        .pipeline
        .as_ref()
        .map_or(0, |p| p.sweeps.values().map(|s| s.cells.len()).sum());

    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let o = check_path(&path, &[], CheckOptions::default()).expect("readable");
        std::hint::black_box(&o);
        times.push(t.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "exp check: {n_lines} lines, {} bytes, {cells} cells, {} diagnostics: min {:.1} ms, median {:.1} ms, max {:.1} ms (20 runs)",
        src.len(),
        o.diagnostics.len(),
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

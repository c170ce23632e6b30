//! What the user sees of the data rules through the real binary:
//! `exp check --data` exits 1 on every case `exp run` rejects; skipped
//! images are named in the run's output and in `skipped.csv`, and the images
//! each split used are recorded; runs with different `--out` directories
//! share one generated data root safely (issue 19).
#![allow(clippy::unwrap_used)]

use crate::run_support::{exp, text};
use std::path::Path;

/// A 16 × 16 PNG whose pixels depend on `seed`.
fn png(path: &Path, seed: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_fn(16, 16, |x, y| {
        image::Rgb([(x * 16) as u8 ^ seed, (y * 16) as u8, seed])
    })
    .save_with_format(path, image::ImageFormat::Png)
    .unwrap();
}

/// A manifest data set in `dir/data`: 8 train, 4 val, 4 test images of two
/// classes, an `age` column; `edit` changes the rows before writing.
fn data_set(dir: &Path, edit: impl Fn(&mut Vec<String>)) {
    let data = dir.join("data");
    let mut rows = Vec::new();
    for i in 0..16u8 {
        let split = match i {
            0..=7 => "train",
            8..=11 => "val",
            _ => "test",
        };
        let label = if i % 2 == 0 { "cat" } else { "dog" };
        png(&data.join(format!("img/{i}.png")), i * 13);
        rows.push(format!("img/{i}.png,{label},{split},{}", 20 + i));
    }
    edit(&mut rows);
    let mut text = String::from("path,label,split,age\n");
    for r in rows {
        text.push_str(&r);
        text.push('\n');
    }
    std::fs::write(data.join("manifest.csv"), text).unwrap();
}

/// A pipeline over `data/manifest.csv` with one tiny cell.
fn pipeline(dir: &Path, data_extra: &str) -> String {
    let text = format!(
        r#"use std.backbones
seed 1

data d {{
  manifest   = "data/manifest.csv"
  image_size = 16
  {data_extra}
}}

recipe r {{
  optimizer = adamw(lr = 1e-2)
  batch     = 4
}}

budget b {{
  frozen   = 0 epochs
  finetune = 1 epoch
}}

score s {{
  split   = "test"
  metrics = [top1]
}}

sweep w {{
  data     = d
  backbone = resnet_test
  recipe   = r
  budget   = b
  score    = s
}}
"#
    );
    std::fs::write(dir.join("p.exp"), text).unwrap();
    "p.exp".into()
}

/// Every file named `name` under `dir`, at any depth.
fn find(dir: &Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(find(&p, name));
        } else if p.file_name().is_some_and(|n| n == name) {
            out.push(p);
        }
    }
    out
}

#[test]
fn check_data_fails_on_every_case_run_rejects() {
    type Edit = fn(&mut Vec<String>);
    let cases: Vec<(&str, Edit, &str, &str)> = vec![
        (
            "missing image",
            |r| r[3] = "img/gone.png,dog,train,23".into(),
            "",
            "exp::data::missing_image",
        ),
        (
            "unknown label",
            |r| r[13] = "img/13.png,cow,test,33".into(),
            "",
            "exp::data::unknown_label",
        ),
        ("unreadable file", |_| {}, "", "exp::data::bad_image"),
        (
            "word in a numeric column",
            |r| r[5] = "img/5.png,dog,train,unknown".into(),
            "metadata = [age: numeric]",
            "exp::data::bad_value",
        ),
        (
            "mostly numbers with a word",
            |r| r[5] = "img/5.png,dog,train,unknown".into(),
            "metadata = [age]",
            "exp::data::metadata_type",
        ),
        (
            "split the score needs",
            |r| {
                for row in r.iter_mut() {
                    *row = row.replace(",test,", ",testing,");
                }
            },
            "",
            "exp::lint::missing_split",
        ),
        (
            "same file twice",
            |r| r[12] = "img/./0.png,cat,test,32".into(),
            "",
            "exp::data::duplicate_path",
        ),
    ];
    for (what, edit, extra, code) in cases {
        let t = tempfile::tempdir().unwrap();
        data_set(t.path(), edit);
        if what == "unreadable file" {
            std::fs::write(t.path().join("data/img/6.png"), b"not a png").unwrap();
        }
        let file = pipeline(t.path(), extra);
        let check = exp(t.path(), &["check", &file, "--data"]);
        let ct = text(&check);
        assert_eq!(check.status.code(), Some(1), "{what}: check --data\n{ct}");
        assert!(ct.contains(code), "{what}: {code} in\n{ct}");
        let run = exp(
            t.path(),
            &["run", &file, "--out", "runs", "--device", "cpu"],
        );
        let rt = text(&run);
        assert_eq!(run.status.code(), Some(1), "{what}: run\n{rt}");
        assert!(
            !t.path()
                .join("runs/w/resnet_test-r-s1/best.safetensors")
                .exists(),
            "{what}: rejected before training\n{rt}"
        );
    }
}

#[test]
fn skipped_images_are_named_and_listed_and_split_sizes_recorded() {
    let t = tempfile::tempdir().unwrap();
    data_set(t.path(), |_| {});
    std::fs::write(t.path().join("data/img/2.png"), b"truncated").unwrap();
    let file = pipeline(t.path(), "on_bad_image = skip");
    let run = exp(
        t.path(),
        &["run", &file, "--out", "runs", "--device", "cpu"],
    );
    let rt = text(&run);
    assert_eq!(run.status.code(), Some(0), "{rt}");
    assert!(
        rt.contains("1 unreadable image(s) skipped") && rt.contains("img/2.png"),
        "{rt}"
    );
    let configs = find(&t.path().join("runs/w"), "config.json");
    assert_eq!(configs.len(), 1, "{configs:?}");
    let cell = configs[0].parent().unwrap().to_path_buf();
    let skipped = std::fs::read_to_string(cell.join("skipped.csv")).unwrap();
    let lines: Vec<&str> = skipped.lines().collect();
    assert_eq!(lines[0], "path,reason");
    assert_eq!(lines.len(), 2, "{skipped}");
    assert!(lines[1].contains("img/2.png"), "{skipped}");
    let used: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cell.join("data.json")).unwrap()).unwrap();
    assert_eq!(used["images"]["train"], 7);
    assert_eq!(used["images"]["val"], 4);
    assert_eq!(used["images"]["test"], 4);
    let report = exp(t.path(), &["report", "runs/w"]);
    assert_eq!(report.status.code(), Some(0), "{}", text(&report));
    let md = std::fs::read_to_string(t.path().join("runs/w/report.md")).unwrap();
    assert!(
        md.contains("images used: test 4, train 7, val 4") && md.contains("1 unreadable"),
        "{md}"
    );
}

/// Issue 19: two `exp run` with different `--out` on one generated root,
/// started together, ten times over a fresh root: neither ever fails.
#[test]
fn runs_with_different_outs_share_one_generated_root() {
    let t = tempfile::tempdir().unwrap();
    for i in 0..10 {
        let text_ = format!(
            r#"use std.backbones
seed 1
data g {{
  source = generated(classes = 2, train = 8 samples, val = 4 samples, test = 4 samples,
                     size = 16, seed = {i})
  root   = "shared/root{i}"
  image_size = 16
}}
recipe r {{
  optimizer = adamw(lr = 1e-2)
  batch     = 4
}}
budget b {{
  frozen   = 0 epochs
  finetune = 1 epoch
}}
score s {{
  split   = "test"
  metrics = [top1]
}}
sweep w {{
  data     = g
  backbone = resnet_test
  recipe   = r
  budget   = b
  score    = s
}}
"#
        );
        std::fs::write(t.path().join(format!("g{i}.exp")), text_).unwrap();
        let f = format!("g{i}.exp");
        let spawn = |out: &str| {
            crate::run_support::cmd(t.path(), &["run", &f, "--out", out, "--device", "cpu"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let a = spawn(&format!("out_a{i}"));
        let b = spawn(&format!("out_b{i}"));
        for child in [a, b] {
            let o = child.wait_with_output().unwrap();
            assert_eq!(o.status.code(), Some(0), "round {i}:\n{}", text(&o));
        }
    }
}

//! Bad input: each problem is an error naming the file or row (or, with
//! `on_bad_image = skip`, a skipped and listed image), and `inspect` lists
//! them all.

use crate::data_support::*;
use exp::data::{inspect, prepare, DataError};
use exp::spec::{BadImagePolicy, DataSource, DataSpec};
use std::path::Path;

/// Two good train images per class plus one val image.
fn base_rows(dir: &Path) -> Vec<String> {
    let mut rows = Vec::new();
    for (i, (label, split)) in [
        ("a", "train"),
        ("b", "train"),
        ("a", "train"),
        ("b", "train"),
        ("a", "val"),
    ]
    .iter()
    .enumerate()
    {
        let p = format!("ok{i}.png");
        png(&dir.join(&p), 20, 20, i as u8);
        rows.push(format!("{p},{label},{split}"));
    }
    rows
}

fn err(s: &DataSpec) -> DataError {
    match prepare(s, &budget(None, None), 0, false) {
        Ok(_) => panic!("prepare should fail"),
        Err(e) => e,
    }
}

fn rendered(e: &DataError) -> String {
    format!("{e} | {} | {}", e.code(), e.help_line())
}

#[test]
fn missing_image_names_the_row_and_path() {
    let t = tempfile::tempdir().expect("tempdir");
    let mut rows = base_rows(t.path());
    rows.push("gone.png,a,train".into());
    let s = manifest_spec(t.path(), "path,label,split", &rows);
    let e = rendered(&err(&s));
    assert!(e.contains("manifest.csv:7"), "{e}");
    assert!(e.contains("gone.png"), "{e}");
    assert!(e.contains("exp::data::missing_image"), "{e}");
    assert!(e.contains("on_bad_image = skip"), "{e}");
}

#[test]
fn corrupt_and_truncated_images_fail_or_are_skipped_and_listed() {
    let t = tempfile::tempdir().expect("tempdir");
    let mut rows = base_rows(t.path());
    std::fs::write(
        t.path().join("corrupt.png"),
        b"\x89PNG\r\n\x1a\nthis is not a png",
    )
    .expect("write");
    let full = jpeg_bytes(64, 48);
    std::fs::write(t.path().join("trunc.jpg"), &full[..full.len() / 2]).expect("write");
    std::fs::write(
        t.path().join("noise.jpg"),
        b"\xff\xd8\xff\xe0garbage garbage",
    )
    .expect("write");
    rows.push("corrupt.png,a,train".into());
    rows.push("trunc.jpg,b,train".into());
    rows.push("noise.jpg,b,val".into());
    let mut s = manifest_spec(t.path(), "path,label,split", &rows);
    let e = rendered(&err(&s));
    assert!(
        e.contains("corrupt.png") && e.contains("manifest.csv:7"),
        "{e}"
    );
    assert!(e.contains("exp::data::bad_image"), "{e}");

    s.on_bad_image = BadImagePolicy::Skip;
    let d = prepare(&s, &budget(None, None), 0, false).expect("skip policy prepares");
    let names: Vec<String> = d
        .skipped
        .iter()
        .map(|(p, _)| p.file_name().expect("name").to_string_lossy().to_string())
        .collect();
    assert_eq!(names, vec!["corrupt.png", "trunc.jpg", "noise.jpg"]);
    assert!(d.skipped.iter().all(|(_, why)| !why.is_empty()));
    assert_eq!(d.split_len("train").expect("train"), 4);
    assert_eq!(d.split_len("val").expect("val"), 1);

    // The cache built under `skip` remembers the bad files: `fail` still fails.
    s.on_bad_image = BadImagePolicy::Fail;
    assert!(rendered(&err(&s)).contains("corrupt.png"));

    // inspect lists header failures without decoding.
    let sum = inspect(&s).expect("inspect");
    let bad: Vec<&str> = sum.problems.iter().map(|p| p.location.as_str()).collect();
    assert!(bad.iter().any(|l| l.ends_with("manifest.csv:7")), "{bad:?}");
    assert!(bad.iter().any(|l| l.ends_with("manifest.csv:9")), "{bad:?}");
    assert!(sum
        .problems
        .iter()
        .all(|p| p.code == "exp::data::bad_image" && !p.help.is_empty()));
}

#[test]
fn bad_csv_rows_are_named_by_line() {
    let t = tempfile::tempdir().expect("tempdir");
    let mut rows = base_rows(t.path());
    rows.insert(2, "ok9.png,a".into());
    let s = manifest_spec(t.path(), "path,label,split", &rows);
    let e = rendered(&err(&s));
    assert!(
        e.contains("manifest.csv:4") && e.contains("2 fields, expected 3"),
        "{e}"
    );
    assert!(e.contains("exp::data::bad_row"), "{e}");
}

#[test]
fn non_numeric_value_in_numeric_column_is_a_bad_value() {
    let t = tempfile::tempdir().expect("tempdir");
    let mut rows: Vec<String> = Vec::new();
    for i in 0..12 {
        let p = format!("m{i}.png");
        png(&t.path().join(&p), 20, 20, i);
        let age = if i == 5 {
            "forty".to_string()
        } else {
            format!("{}", 30 + i)
        };
        rows.push(format!(
            "{p},{},train,{age}",
            if i % 2 == 0 { "a" } else { "b" }
        ));
    }
    let mut s = manifest_spec(t.path(), "path,label,split,age", &rows);
    s.metadata = vec!["age".into()];
    // Undeclared, a mostly numeric column with a word is ambiguous: an error
    // asking for the kind (it used to be read as 12 categories, silently).
    let e = rendered(&err(&s));
    assert!(
        e.contains("manifest.csv:7") && e.contains("`age`") && e.contains("forty"),
        "{e}"
    );
    assert!(e.contains("exp::data::metadata_type"), "{e}");
    // Declared numeric, the word is a bad value of its row.
    s.metadata_types
        .insert("age".into(), exp::spec::MetadataKind::Numeric);
    let e = rendered(&err(&s));
    assert!(
        e.contains("manifest.csv:7") && e.contains("`age`") && e.contains("forty"),
        "{e}"
    );
    assert!(e.contains("exp::data::bad_value"), "{e}");
    s.metadata = vec!["weight".into()];
    let e = rendered(&err(&s));
    assert!(
        e.contains("no column `weight`") && e.contains("exp::data::missing_column"),
        "{e}"
    );
}

#[test]
fn unknown_label_and_duplicate_path_name_their_rows() {
    let t = tempfile::tempdir().expect("tempdir");
    let mut rows = base_rows(t.path());
    rows.push("ok4.png,c,val".into());
    let s = manifest_spec(t.path(), "path,label,split", &rows);
    // Row 7 repeats row 6's path: reported as a duplicate naming both rows.
    let e = rendered(&err(&s));
    assert!(
        e.contains("manifest.csv:7") && e.contains("ok4.png") && e.contains("manifest.csv:6"),
        "{e}"
    );
    assert!(e.contains("exp::data::duplicate_path"), "{e}");

    let mut rows = base_rows(t.path());
    png(&t.path().join("x.png"), 20, 20, 1);
    rows.push("x.png,cat,test".into());
    let s = manifest_spec(t.path(), "path,label,split", &rows);
    let e = rendered(&err(&s));
    assert!(
        e.contains("manifest.csv:7") && e.contains("`cat`") && e.contains("a, b"),
        "{e}"
    );
    assert!(e.contains("exp::data::unknown_label"), "{e}");

    let sum = inspect(&s).expect("inspect");
    assert_eq!(sum.problems.len(), 1);
    assert_eq!(sum.problems[0].code, "exp::data::unknown_label");
    assert!(sum.problems[0].location.ends_with("manifest.csv:7"));
}

#[test]
fn empty_splits_are_errors() {
    let t = tempfile::tempdir().expect("tempdir");
    // No train rows at all.
    png(&t.path().join("v.png"), 20, 20, 1);
    let s = manifest_spec(t.path(), "path,label,split", &["v.png,a,val".to_string()]);
    let e = rendered(&err(&s));
    assert!(
        e.contains("split `train`") && e.contains("exp::data::empty_split"),
        "{e}"
    );

    // An ImageFolder split directory with no images.
    let root = t.path().join("folder");
    png(&root.join("train/a/0.png"), 20, 20, 1);
    std::fs::create_dir_all(root.join("val/a")).expect("mkdir");
    let s = spec(
        "f",
        DataSource::ImageFolder { root: root.clone() },
        &t.path().join("cache"),
    );
    let e = rendered(&err(&s));
    assert!(
        e.contains("split `val`") && e.contains(&root.join("val").display().to_string()),
        "{e}"
    );

    // A split whose every image is skipped.
    let mut rows = base_rows(t.path());
    std::fs::write(t.path().join("bad.png"), b"nope").expect("write");
    rows.push("bad.png,a,test".into());
    let mut s = manifest_spec(t.path(), "path,label,split", &rows);
    s.on_bad_image = BadImagePolicy::Skip;
    let e = rendered(&err(&s));
    assert!(e.contains("split `test`") && e.contains("skipped"), "{e}");
}

#[test]
fn oversized_dimensions_are_refused_from_the_header() {
    // A PNG header claiming 30000 × 10 pixels: refused before any allocation.
    let t = tempfile::tempdir().expect("tempdir");
    image::GrayImage::new(30_000, 1)
        .save(t.path().join("wide.png"))
        .expect("write");
    let err =
        exp::data::decode::decode_resized(&t.path().join("wide.png"), 32).expect_err("too wide");
    assert!(err.contains("30000×1") && err.contains("limit"), "{err}");
}

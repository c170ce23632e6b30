//! Data sources: the generated data set, a CSV manifest with metadata columns
//! and the ImageFolder layout, read through `prepare` and `inspect`.

use crate::data_support::*;
use exp::data::{inspect, prepare, ColumnEncoding};
use exp::spec::DataSource;

#[test]
fn generated_data_set_is_written_once_with_manifest_and_metadata() {
    let t = tempfile::tempdir().expect("tempdir");
    let spec = generated(&t.path().join("shapes"), &t.path().join("cache"));
    let before = inspect(&spec).expect("inspect before writing");
    assert_eq!(before.split_sizes["train"], 48);
    assert!(
        !t.path().join("shapes").exists(),
        "inspect must not write the data set"
    );

    let d = prepare(&spec, &budget(None, None), 1, false).expect("prepare");
    assert_eq!(d.classes, vec!["class_0", "class_1", "class_2"]);
    assert_eq!(d.split_names(), vec!["test", "train", "val"]);
    assert_eq!(d.split_len("train").expect("train"), 48);
    assert_eq!(d.split_len("val").expect("val"), 12);
    assert_eq!(d.metadata_names[0], "age");
    assert!(
        d.metadata_names.contains(&"site=<unknown>".to_string()),
        "{:?}",
        d.metadata_names
    );
    assert_eq!(d.decoded, 72);
    let manifest = std::fs::read_to_string(t.path().join("shapes/manifest.csv")).expect("manifest");
    assert!(
        manifest.starts_with("path,label,split,age,site\n"),
        "{manifest}"
    );
    assert!(t.path().join("shapes/images/train/00000.png").is_file());

    // Same settings: not rewritten (mtime unchanged); changed settings: rewritten.
    let m0 = std::fs::metadata(t.path().join("shapes/manifest.csv"))
        .and_then(|m| m.modified())
        .expect("mtime");
    let DataSource::Generated(g) = &spec.source else {
        unreachable!()
    };
    assert!(!exp::data::generated::ensure(g, &spec.columns).expect("ensure"));
    let m1 = std::fs::metadata(t.path().join("shapes/manifest.csv"))
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(m0, m1);
    let mut g2 = g.clone();
    g2.train = 30;
    assert!(exp::data::generated::ensure(&g2, &spec.columns).expect("ensure"));
    let rows = std::fs::read_to_string(t.path().join("shapes/manifest.csv"))
        .expect("manifest")
        .lines()
        .count();
    assert_eq!(rows, 1 + 30 + 12 + 12);

    let s = inspect(&spec).ok();
    assert!(s.is_some());
}

#[test]
fn generated_metadata_carries_class_signal() {
    let t = tempfile::tempdir().expect("tempdir");
    let spec = generated(&t.path().join("shapes"), &t.path().join("cache"));
    let d = prepare(&spec, &budget(None, None), 1, false).expect("prepare");
    let labels = d.split_labels("train").expect("labels");
    let meta = d.split_metadata("train").expect("meta");
    let m = d.metadata_dim;
    let mean_age = |k: i64| {
        let v: Vec<f32> = labels
            .iter()
            .enumerate()
            .filter(|(_, &l)| l == k)
            .map(|(i, _)| meta[i * m])
            .collect();
        v.iter().sum::<f32>() / v.len() as f32
    };
    assert!(
        mean_age(2) - mean_age(0) > 1.0,
        "class 2 is older than class 0 by > 1 sd"
    );
}

#[test]
fn manifest_metadata_is_standardised_with_train_statistics() {
    let t = tempfile::tempdir().expect("tempdir");
    let (m, _) = small_manifest(t.path());
    let mut s = spec(
        "derm",
        DataSource::Manifest {
            manifest: m,
            root: t.path().to_path_buf(),
        },
        &t.path().join("cache"),
    );
    s.metadata = vec!["age".into(), "sex".into()];
    let d = prepare(&s, &budget(None, None), 3, false).expect("prepare");
    assert_eq!(d.classes, vec!["benign", "malignant"]);
    assert_eq!(
        d.metadata_names,
        vec!["age", "age=<missing>", "sex=F", "sex=M", "sex=<unknown>"]
    );
    // Train ages present: 30, 40, 50, 60 → mean 45, population sd sqrt(125).
    let sd = 125f64.sqrt();
    match &d.metadata_encoding.columns[0].1 {
        ColumnEncoding::Numeric {
            mean,
            std,
            has_missing,
        } => {
            assert!((mean - 45.0).abs() < 1e-9);
            assert!((std - sd).abs() < 1e-9);
            assert!(has_missing);
        }
        other => panic!("age should be numeric, got {other:?}"),
    }
    let ids = d.split_ids("train").expect("ids");
    assert_eq!(ids[0], "img/0.png");
    let meta = d.split_metadata("train").expect("meta");
    let row = |i: usize| &meta[i * 5..(i + 1) * 5];
    assert!((f64::from(row(0)[0]) - (30.0 - 45.0) / sd).abs() < 1e-6);
    assert_eq!(&row(0)[1..], &[0.0, 1.0, 0.0, 0.0]);
    // Row 2: age missing → 0 + indicator; sex F.
    assert_eq!(row(2), &[0.0, 1.0, 1.0, 0.0, 0.0]);
    // Row 3: sex missing → <unknown>.
    assert_eq!(&row(3)[2..], &[0.0, 0.0, 1.0]);
    // Val row 0 (img/6): sex X never seen in train → <unknown>; age 35 standardised with train stats.
    let vm = d.split_metadata("val").expect("val meta");
    assert!((f64::from(vm[0]) - (35.0 - 45.0) / sd).abs() < 1e-6);
    assert_eq!(&vm[2..5], &[0.0, 0.0, 1.0]);
}

#[test]
fn image_folder_layout_has_sorted_classes_and_relative_ids() {
    let t = tempfile::tempdir().expect("tempdir");
    let root = t.path().join("folder");
    for (split, n) in [("train", 3), ("val", 1)] {
        for class in ["zebra", "ant", "moth"] {
            for i in 0..n {
                png(
                    &root.join(split).join(class).join(format!("{i}.png")),
                    30,
                    30,
                    i,
                );
            }
        }
    }
    jpeg(&root.join("train/ant/big.JPG"), 60, 40);
    std::fs::write(root.join("train/ant/notes.txt"), "ignored").expect("write");
    let s = spec(
        "folder",
        DataSource::ImageFolder { root: root.clone() },
        &t.path().join("cache"),
    );
    let d = prepare(&s, &budget(None, None), 0, false).expect("prepare");
    assert_eq!(d.classes, vec!["ant", "moth", "zebra"]);
    assert_eq!(d.split_len("train").expect("train"), 10);
    assert_eq!(d.split_len("val").expect("val"), 3);
    let ids = d.split_ids("train").expect("ids");
    assert_eq!(ids[0], "train/ant/0.png");
    assert!(ids.contains(&"train/ant/big.JPG".to_string()));
    assert_eq!(d.split_labels("val").expect("labels"), vec![0, 1, 2]);
    assert_eq!(d.metadata_dim, 0);
    let v = d
        .cached_image(
            "train",
            ids.iter()
                .position(|i| i.ends_with("big.JPG"))
                .expect("big"),
        )
        .expect("cached");
    assert_eq!(
        (v.w, v.h),
        (42, 28),
        "shorter side resized to cache_size 28, aspect kept"
    );

    let sum = inspect(&s).expect("inspect");
    assert!(sum.problems.is_empty(), "{:?}", sum.problems);
    assert_eq!(sum.split_sizes["train"], 10);
    assert!(sum.columns.is_empty());
}

/// Nearest-centroid accuracy on the mean colour of each val image's centre,
/// with centroids from the train split.
fn centroid_accuracy(signal: f64) -> f64 {
    let t = tempfile::tempdir().expect("tempdir");
    let mut spec = generated(&t.path().join("shapes"), &t.path().join("cache"));
    if let DataSource::Generated(g) = &mut spec.source {
        g.image_signal = signal;
        g.train = 150;
        g.val = 60;
    }
    let d = prepare(&spec, &budget(None, None), 1, false).expect("prepare");
    let feats = |split: &str| -> Vec<[f64; 3]> {
        (0..d.split_len(split).expect("len"))
            .map(|i| {
                let v = d.cached_image(split, i).expect("img");
                let (w, h) = (v.w as usize, v.h as usize);
                let mut m = [0.0; 3];
                let mut n = 0.0;
                for y in h / 3..2 * h / 3 {
                    for x in w / 3..2 * w / 3 {
                        for (c, mc) in m.iter_mut().enumerate() {
                            *mc += f64::from(v.data[(y * w + x) * 3 + c]);
                        }
                        n += 1.0;
                    }
                }
                m.map(|s| s / n)
            })
            .collect()
    };
    let (tr, trl) = (feats("train"), d.split_labels("train").expect("labels"));
    let mut cent = [[0.0; 3]; 3];
    let mut cnt = [0.0; 3];
    for (f, &l) in tr.iter().zip(&trl) {
        for c in 0..3 {
            cent[l as usize][c] += f[c];
        }
        cnt[l as usize] += 1.0;
    }
    for k in 0..3 {
        cent[k] = cent[k].map(|s| s / cnt[k]);
    }
    let (va, val) = (feats("val"), d.split_labels("val").expect("labels"));
    let hits = va
        .iter()
        .zip(&val)
        .filter(|(f, &l)| {
            let dist = |k: usize| (0..3).map(|c| (f[c] - cent[k][c]).powi(2)).sum::<f64>();
            (0..3).min_by(|&a, &b| dist(a).total_cmp(&dist(b))) == Some(l as usize)
        })
        .count();
    hits as f64 / va.len() as f64
}

#[test]
fn generated_images_carry_a_class_signal_scaled_by_image_signal() {
    let strong = centroid_accuracy(0.8);
    let none = centroid_accuracy(0.0);
    assert!(
        strong > 0.9,
        "a trivial colour classifier should separate the classes: {strong}"
    );
    assert!(
        none < 0.6,
        "image_signal = 0 leaves no colour signal: {none}"
    );
}

//! Data you can trust (issue 18): each finding of the hostile-data survey as
//! a test. Content keys see an edit whatever its size and mtime; a cache
//! file changed behind exp's back is repaired; the same file under two
//! spellings is one file; metadata mistakes are errors; image folders
//! descend and read every format the decoder reads; labels are NFC; special
//! files are refused; cache files follow the umask; two data sets of the
//! same name keep their own caches.

use crate::data_support::*;
use exp::data::{content_key, inspect, prepare, DataError};
use exp::spec::{DataSource, DataSpec, MetadataKind};
use std::path::Path;

fn prepare_err(s: &DataSpec) -> DataError {
    match prepare(s, &budget(None, None), 0, false) {
        Ok(_) => panic!("prepare should fail"),
        Err(e) => e,
    }
}

/// Rewrite `path` with other pixels of the same byte size, then give it back
/// its old modification time (what `cp -p` / `rsync -a` do).
fn same_size_edit(path: &Path) {
    let before = std::fs::metadata(path).expect("meta");
    let mut bytes = std::fs::read(path).expect("read");
    let old_mtime = before.modified().expect("mtime");
    // A PNG of the same size with other pixels: re-encode with another seed
    // until the size matches (the test images compress to equal sizes).
    let (w, h) = image::image_dimensions(path).expect("dims");
    for seed in 100u8..=255 {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 8) as u8, (y * 8) as u8, seed])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .expect("png");
        if out.get_ref().len() == bytes.len() && *out.get_ref() != bytes {
            bytes = out.into_inner();
            break;
        }
    }
    assert_eq!(bytes.len() as u64, before.len());
    assert_ne!(bytes, std::fs::read(path).expect("read"), "pixels changed");
    std::fs::write(path, &bytes).expect("write");
    let f = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open");
    f.set_modified(old_mtime).expect("restore mtime");
    let after = std::fs::metadata(path).expect("meta");
    assert_eq!(after.len(), before.len());
    assert_eq!(after.modified().expect("mtime"), old_mtime);
}

#[test]
fn an_edit_that_keeps_size_and_mtime_changes_the_content_key_and_the_pixels() {
    let t = tempfile::tempdir().expect("tempdir");
    let (m, _) = small_manifest(t.path());
    let s = spec(
        "derm",
        DataSource::Manifest {
            manifest: m,
            root: t.path().to_path_buf(),
        },
        &t.path().join("cache"),
    );
    let k1 = content_key(&s).expect("key");
    let d1 = prepare(&s, &budget(None, None), 0, false).expect("first");
    let before = d1.cached_image("val", 1).expect("img").data.to_vec();
    assert_eq!(
        content_key(&s).expect("key"),
        k1,
        "stable when nothing changed"
    );

    same_size_edit(&t.path().join("img/7.png"));
    let k2 = content_key(&s).expect("key");
    assert_ne!(k1, k2, "the stage keys see the edit");
    let d2 = prepare(&s, &budget(None, None), 0, false).expect("second");
    assert!(d2.decoded > 0, "the decode cache sees the edit");
    let after = d2.cached_image("val", 1).expect("img").data.to_vec();
    assert_ne!(before, after, "new pixels are used");
}

#[test]
fn a_moved_data_set_keeps_its_content_key() {
    let t = tempfile::tempdir().expect("tempdir");
    let a = t.path().join("a");
    let (m, _) = small_manifest(&a);
    let s = spec(
        "derm",
        DataSource::Manifest {
            manifest: m,
            root: a.clone(),
        },
        &t.path().join("cache"),
    );
    let k1 = content_key(&s).expect("key");
    let b = t.path().join("b");
    std::fs::rename(&a, &b).expect("move");
    let s2 = spec(
        "derm",
        DataSource::Manifest {
            manifest: b.join("manifest.csv"),
            root: b.clone(),
        },
        &t.path().join("cache"),
    );
    assert_eq!(content_key(&s2).expect("key"), k1);
}

#[test]
fn a_cache_file_changed_behind_exps_back_is_repaired() {
    let t = tempfile::tempdir().expect("tempdir");
    let (m, _) = small_manifest(t.path());
    let s = spec(
        "derm",
        DataSource::Manifest {
            manifest: m,
            root: t.path().to_path_buf(),
        },
        &t.path().join("cache"),
    );
    let d1 = prepare(&s, &budget(None, None), 0, false).expect("first");
    let good = d1.cached_image("train", 2).expect("img").data.to_vec();
    let path = d1.cache_path.clone();
    drop(d1);
    // Black out the whole pixel file (same length): the old cache would be
    // trusted and train on black images.
    let len = std::fs::metadata(&path).expect("meta").len();
    std::fs::write(&path, vec![0u8; len as usize]).expect("overwrite");
    let d2 = prepare(&s, &budget(None, None), 0, false).expect("second");
    assert!(d2.decoded > 0, "damaged blocks are decoded again");
    assert_eq!(d2.cache_path, path, "same key, same file");
    assert_eq!(d2.cached_image("train", 2).expect("img").data, &good[..]);
    let d3 = prepare(&s, &budget(None, None), 0, false).expect("third");
    assert_eq!(d3.decoded, 0, "repaired cache is valid again");
}

#[test]
fn the_same_file_under_two_spellings_is_one_file() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path();
    for i in 0..4 {
        png(&dir.join(format!("a/{i}.png")), 20, 20, i as u8);
    }
    let abs = dir.join("a/0.png").display().to_string();
    for spelling in ["./a/0.png", "a//0.png", "a/../a/0.png", abs.as_str()] {
        let rows = vec![
            "a/0.png,x,train".to_string(),
            "a/1.png,y,train".to_string(),
            "a/2.png,x,val".to_string(),
            "a/3.png,y,val".to_string(),
            format!("{spelling},x,test"),
        ];
        let s = manifest_spec(dir, "path,label,split", &rows);
        let summary = inspect(&s).expect("inspect");
        let dup: Vec<_> = summary
            .problems
            .iter()
            .filter(|p| p.code == "exp::data::duplicate_path")
            .collect();
        assert_eq!(dup.len(), 1, "{spelling}: {:?}", summary.problems);
        assert!(
            dup[0].message.contains("two splits leaks"),
            "{}",
            dup[0].message
        );
        assert_eq!(
            prepare_err(&s).code(),
            "exp::data::duplicate_path",
            "{spelling}"
        );
    }
}

#[test]
fn the_same_content_under_two_names_in_two_splits_is_found() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path();
    let mut rows = Vec::new();
    for (i, (label, split)) in [("x", "train"), ("y", "train"), ("x", "val"), ("y", "test")]
        .iter()
        .enumerate()
    {
        png(&dir.join(format!("{i}.png")), 20, 20, i as u8);
        rows.push(format!("{i}.png,{label},{split}"));
    }
    std::fs::copy(dir.join("0.png"), dir.join("copy_of_0.png")).expect("copy");
    rows.push("copy_of_0.png,x,test".into());
    let mut s = manifest_spec(dir, "path,label,split", &rows);
    let summary = inspect(&s).expect("inspect");
    assert_eq!(summary.same_content.len(), 1, "{:?}", summary.same_content);
    let pair = &summary.same_content[0];
    assert_eq!((pair.a.as_str(), pair.a_split.as_str()), ("0.png", "train"));
    assert_eq!(
        (pair.b.as_str(), pair.b_split.as_str()),
        ("copy_of_0.png", "test")
    );
    assert!(summary.near_duplicates.is_empty(), "off by default");

    // Near duplicates: the same picture with a few pixels changed.
    let mut img = image::open(dir.join("1.png")).expect("open").to_rgb8();
    img.put_pixel(3, 3, image::Rgb([255, 255, 255]));
    img.save(dir.join("edited_1.png")).expect("save");
    let mut rows2 = rows.clone();
    rows2.push("edited_1.png,y,val".into());
    s = manifest_spec(dir, "path,label,split", &rows2);
    s.near_duplicates = true;
    let summary = inspect(&s).expect("inspect");
    assert!(
        summary
            .near_duplicates
            .iter()
            .any(|p| p.a == "1.png" && p.b == "edited_1.png"),
        "{:?}",
        summary.near_duplicates
    );
}

/// Six train rows (3 per class), two val, two test, with an `age` column.
fn meta_rows(dir: &Path, ages: [&str; 10]) -> Vec<String> {
    (0..10)
        .map(|i| {
            let split = match i {
                0..=5 => "train",
                6 | 7 => "val",
                _ => "test",
            };
            let label = if i % 2 == 0 { "a" } else { "b" };
            png(&dir.join(format!("{i}.png")), 16, 16, i as u8);
            format!(
                "{i}.png,{label},{split},{},{}",
                ages[i],
                label.to_uppercase()
            )
        })
        .collect()
}

#[test]
fn metadata_mistakes_are_errors_naming_rows_and_columns() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path();
    let ok = ["30", "40", "50", "60", "35", "45", "55", "65", "70", "20"];
    let header = "path,label,split,age,code";

    // The label column as metadata.
    let mut s = manifest_spec(dir, header, &meta_rows(dir, ok));
    s.metadata = vec!["label".into()];
    assert_eq!(prepare_err(&s).code(), "exp::data::label_in_metadata");
    // A one-to-one function of the label (`code` is the label upper-cased).
    s.metadata = vec!["code".into()];
    let e = prepare_err(&s);
    assert_eq!(e.code(), "exp::data::label_in_metadata");
    assert!(e.to_string().contains("one-to-one"), "{e}");

    // A numeric column with some words: an error naming the rows.
    let mut ages = ok;
    ages[2] = "unknown";
    ages[7] = "unknown";
    let mut s = manifest_spec(dir, header, &meta_rows(dir, ages));
    s.metadata = vec!["age".into()];
    let e = prepare_err(&s);
    assert_eq!(e.code(), "exp::data::metadata_type");
    let text = e.to_string();
    assert!(
        text.contains("`unknown`") && text.contains("rows 4, 9"),
        "{text}"
    );
    // Declared categorical, it is accepted as such.
    s.metadata_types
        .insert("age".into(), MetadataKind::Category);
    let d = prepare(&s, &budget(None, None), 0, false).expect("declared category");
    assert!(d.metadata_names.iter().any(|n| n == "age=unknown"));
    // Declared numeric, each word is a bad value naming its row.
    s.metadata_types.insert("age".into(), MetadataKind::Numeric);
    let e = prepare_err(&s);
    assert_eq!(e.code(), "exp::data::bad_value");
    assert!(e.to_string().contains(":4:"), "{e}");

    // A column with no values in train.
    let mut ages = ok;
    for a in ages.iter_mut().take(6) {
        *a = "";
    }
    let mut s = manifest_spec(dir, header, &meta_rows(dir, ages));
    s.metadata = vec!["age".into()];
    assert_eq!(prepare_err(&s).code(), "exp::data::empty_column");

    // Two columns of the same name.
    let rows: Vec<String> = meta_rows(dir, ok)
        .into_iter()
        .map(|r| {
            let f: Vec<&str> = r.split(',').collect();
            format!("{},{},{},{}", f[0], f[1], f[2], f[1])
        })
        .collect();
    let s = manifest_spec(dir, "path,label,split,label", &rows);
    let e = prepare_err(&s);
    assert_eq!(e.code(), "exp::data::duplicate_column");
    assert!(matches!(inspect(&s), Err(ref e) if e.code() == "exp::data::duplicate_column"));
}

#[test]
fn image_folders_descend_read_every_decoder_format_and_say_what_they_ignore() {
    let t = tempfile::tempdir().expect("tempdir");
    let root = t.path().join("pets");
    let save = |rel: &str, fmt: image::ImageFormat, seed: u8| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        let img = image::RgbImage::from_fn(16, 16, |x, y| {
            image::Rgb([(x * 8) as u8, (y * 8) as u8, seed])
        });
        img.save_with_format(&p, fmt).expect("save");
    };
    save("train/cat/a.png", image::ImageFormat::Png, 1);
    save("train/cat/nested/deeper/b.bmp", image::ImageFormat::Bmp, 2);
    save("train/dog/c.tif", image::ImageFormat::Tiff, 3);
    save("train/dog/d.webp", image::ImageFormat::WebP, 4);
    save("val/cat/e.png", image::ImageFormat::Png, 5);
    save("val/dog/f.png", image::ImageFormat::Png, 6);
    std::fs::write(root.join("train/dog/notes.txt"), "not an image").expect("txt");
    let s = spec(
        "pets",
        DataSource::ImageFolder { root: root.clone() },
        &t.path().join("cache"),
    );
    let summary = inspect(&s).expect("inspect");
    assert!(summary.problems.is_empty(), "{:?}", summary.problems);
    assert_eq!(summary.split_sizes.get("train"), Some(&4));
    assert_eq!(summary.ignored.len(), 1, "{:?}", summary.ignored);
    assert!(summary.ignored[0].1.contains(".txt"));
    let d = prepare(&s, &budget(None, None), 0, false).expect("prepare");
    let ids = d.split_ids("train").expect("ids");
    assert!(
        ids.contains(&"train/cat/nested/deeper/b.bmp".to_string()),
        "{ids:?}"
    );
    assert_eq!(d.ignored.len(), 1);
}

#[test]
fn labels_equal_up_to_unicode_normalisation_are_one_class() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path();
    let nfc = "caf\u{e9}";
    let nfd = "cafe\u{301}";
    let mut rows = Vec::new();
    for (i, (label, split)) in [
        (nfc, "train"),
        ("tea", "train"),
        (nfd, "train"),
        ("tea", "val"),
        (nfd, "val"),
    ]
    .iter()
    .enumerate()
    {
        png(&dir.join(format!("{i}.png")), 16, 16, i as u8);
        rows.push(format!("{i}.png,{label},{split}"));
    }
    let s = manifest_spec(dir, "path,label,split", &rows);
    let d = prepare(&s, &budget(None, None), 0, false).expect("prepare");
    assert_eq!(d.classes, vec![nfc.to_string(), "tea".to_string()]);
}

#[test]
fn special_files_are_refused_by_name_without_hanging() {
    let t = tempfile::tempdir().expect("tempdir");
    let dir = t.path();
    let mut rows = Vec::new();
    for (i, (label, split)) in [("x", "train"), ("y", "train"), ("x", "val")]
        .iter()
        .enumerate()
    {
        png(&dir.join(format!("{i}.png")), 16, 16, i as u8);
        rows.push(format!("{i}.png,{label},{split}"));
    }
    let fifo = dir.join("fifo.png");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("cstring");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.png")).expect("symlink");
    rows.push("fifo.png,y,val".into());
    rows.push("zero.png,x,test".into());
    png(&dir.join("3.png"), 16, 16, 3);
    rows.push("3.png,y,test".into());
    let s = manifest_spec(dir, "path,label,split", &rows);
    let summary = inspect(&s).expect("inspect");
    let msgs: Vec<&str> = summary
        .problems
        .iter()
        .filter(|p| p.code == "exp::data::bad_image")
        .map(|p| p.message.as_str())
        .collect();
    assert!(
        msgs.iter()
            .any(|m| m.contains("fifo.png") && m.contains("FIFO")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("zero.png") && m.contains("device")),
        "{msgs:?}"
    );
    let e = prepare_err(&s);
    assert_eq!(e.code(), "exp::data::bad_image", "{e}");
    let e = exp::data::decode::decode_resized(&dir.join("zero.png"), 16).expect_err("device");
    assert!(e.contains("device"), "{e}");
}

#[test]
fn cache_files_follow_the_umask_and_same_named_data_sets_keep_their_caches() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: umask has no memory-safety preconditions. Why 0o002: the
    // group-shared setting; files must come out group-readable.
    let old = unsafe { libc::umask(0o002) };
    let t = tempfile::tempdir().expect("tempdir");
    let cache = t.path().join("cache");
    let mut specs = Vec::new();
    for project in ["p1", "p2"] {
        let dir = t.path().join(project);
        let (m, _) = small_manifest(&dir);
        // The two projects' images differ.
        png(
            &dir.join("img/0.png"),
            32,
            40,
            if project == "p1" { 90 } else { 91 },
        );
        specs.push(spec(
            "derm",
            DataSource::Manifest {
                manifest: m,
                root: dir.clone(),
            },
            &cache,
        ));
    }
    let a = prepare(&specs[0], &budget(None, None), 0, false).expect("p1");
    let b = prepare(&specs[1], &budget(None, None), 0, false).expect("p2");
    unsafe { libc::umask(old) };
    assert_ne!(a.cache_path, b.cache_path);
    let again = prepare(&specs[0], &budget(None, None), 0, false).expect("p1 again");
    assert_eq!(again.decoded, 0, "p2 did not evict p1's cache");
    for e in std::fs::read_dir(cache.join("decoded"))
        .expect("dir")
        .flatten()
    {
        let name = e.file_name().to_string_lossy().to_string();
        if name.ends_with(".bin") || name.ends_with(".json") {
            let mode = e.metadata().expect("meta").permissions().mode();
            assert_eq!(mode & 0o660, 0o660, "{name}: {mode:o}");
        }
    }
}

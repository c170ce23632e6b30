//! The decode cache: reused without decoding, rebuilt when a source file
//! changes, one file per (data, size); EXIF orientation honoured; the scaled
//! JPEG path gives the requested shorter side.

use crate::data_support::*;
use exp::data::{decode, prepare};
use exp::spec::DataSource;

fn cache_files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("decoded"))
        .expect("cache dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        // The pixel files and their indexes (not the locks and content index).
        .filter(|n| n.ends_with(".bin") || n.ends_with(".idx.json"))
        .collect();
    v.sort();
    v
}

#[test]
fn second_prepare_reuses_the_cache_and_a_changed_file_invalidates_it() {
    let t = tempfile::tempdir().expect("tempdir");
    let (m, _) = small_manifest(t.path());
    let cache = t.path().join("cache");
    let s = spec(
        "derm",
        DataSource::Manifest {
            manifest: m,
            root: t.path().to_path_buf(),
        },
        &cache,
    );
    let d1 = prepare(&s, &budget(None, None), 0, false).expect("first");
    assert_eq!(d1.decoded, 10);
    let files = cache_files(&cache);
    assert_eq!(files.len(), 2, "one data file + one index: {files:?}");
    assert!(
        files
            .iter()
            .all(|f| f.starts_with("derm-") && f.contains("-28-")),
        "{files:?}"
    );
    let bin_mtime = std::fs::metadata(&d1.cache_path)
        .and_then(|m| m.modified())
        .expect("mtime");

    let d2 = prepare(&s, &budget(Some(4), None), 9, false).expect("second");
    assert_eq!(d2.decoded, 0, "nothing decoded the second time");
    assert_eq!(d2.cache_path, d1.cache_path);
    assert_eq!(
        std::fs::metadata(&d2.cache_path)
            .and_then(|m| m.modified())
            .expect("mtime"),
        bin_mtime
    );
    let a = d1.cached_image("val", 0).expect("img");
    let b = d2.cached_image("val", 0).expect("img");
    assert_eq!((a.w, a.h, a.data), (b.w, b.h, b.data));
    assert_eq!((a.w, a.h), (28, 35), "32×40 source, shorter side 28");

    // Rewrite one image with other pixels and size: a new cache replaces the old one.
    std::thread::sleep(std::time::Duration::from_millis(20));
    png(&t.path().join("img/7.png"), 50, 40, 200);
    let d3 = prepare(&s, &budget(None, None), 0, false).expect("third");
    assert_eq!(d3.decoded, 10);
    assert_ne!(d3.cache_path, d1.cache_path);
    let files = cache_files(&cache);
    assert_eq!(files.len(), 2, "the stale cache is removed: {files:?}");
    let c = d3.cached_image("val", 1).expect("img");
    assert_eq!((c.w, c.h), (35, 28));

    // Another cache size is another file; no temp files are left behind.
    let mut s2 = s.clone();
    s2.cache_size = 16;
    prepare(&s2, &budget(None, None), 0, false).expect("size 16");
    let files = cache_files(&cache);
    assert_eq!(files.len(), 4, "{files:?}");
    let temps: Vec<String> = std::fs::read_dir(cache.join("decoded"))
        .expect("cache dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
}

#[test]
fn exif_orientation_is_applied() {
    // 64×32 JPEG, left half red; orientation 6 = rotate 90° clockwise to display:
    // the result is 32 wide, 64 tall, red on top.
    let t = tempfile::tempdir().expect("tempdir");
    let bytes = with_exif_orientation(&jpeg_bytes(64, 32), 6);
    let p = t.path().join("rot.jpg");
    std::fs::write(&p, &bytes).expect("write");
    let img = decode::decode_resized(&p, 32).expect("decode");
    assert_eq!((img.w, img.h), (32, 64));
    let px = |x: u32, y: u32| {
        let i = ((y * img.w + x) * 3) as usize;
        [img.data[i], img.data[i + 1], img.data[i + 2]]
    };
    assert!(
        px(16, 8)[0] > 150 && px(16, 8)[2] < 100,
        "top is red: {:?}",
        px(16, 8)
    );
    assert!(
        px(16, 56)[2] > 150 && px(16, 56)[0] < 100,
        "bottom is blue: {:?}",
        px(16, 56)
    );

    // Orientation 1 (or none) leaves the image as stored.
    let plain = t.path().join("plain.jpg");
    std::fs::write(&plain, with_exif_orientation(&jpeg_bytes(64, 32), 1)).expect("write");
    let img = decode::decode_resized(&plain, 32).expect("decode");
    assert_eq!((img.w, img.h), (64, 32));
}

#[test]
fn large_jpeg_is_scaled_in_the_dct_and_resized_to_the_shorter_side() {
    let t = tempfile::tempdir().expect("tempdir");
    let p = t.path().join("big.jpg");
    jpeg(&p, 1200, 900);
    let img = decode::decode_resized(&p, 100).expect("decode");
    assert_eq!((img.w, img.h), (133, 100));
    assert_eq!(img.data.len(), 133 * 100 * 3);
    // Colours survive the scaled decode + resize.
    let left = &img.data[(50 * 133 + 10) * 3..(50 * 133 + 10) * 3 + 3];
    let right = &img.data[(50 * 133 + 120) * 3..(50 * 133 + 120) * 3 + 3];
    assert!(left[0] > 180 && left[2] < 60, "{left:?}");
    assert!(right[2] > 180 && right[0] < 60, "{right:?}");
    // A panorama is centre-cropped to 3:1.
    let pano = t.path().join("pano.jpg");
    jpeg(&pano, 800, 100);
    let img = decode::decode_resized(&pano, 20).expect("decode");
    assert_eq!((img.w, img.h), (60, 20));
}

//! Data-path benchmark (run by scripts/bench_data.sh): decode + resize of
//! JPEGs on one core, and random-order cache reads with crop + flip.
//!
//! Usage: `data_decode decode DIR SIZE ROUNDS` prints `images seconds` for
//! decoding every `*.jpg` in DIR to shorter side SIZE, ROUNDS times;
//! `data_decode cache DIR SIZE CROP READS CACHE_DIR` builds the decode cache of
//! DIR's JPEGs, then times READS random crop + flip reads on one thread;
//! `data_decode loader DIR SIZE CROP BATCH WORKERS EPOCHS CACHE_DIR cpu|cuda`
//! times the full loader (random-resized crop + flip, device copy and
//! normalisation) and prints `images seconds wait_fraction`.

use exp::data::{augment, decode, loader, prepare, LoaderConfig, PreparedData};
use exp::seeds::SampleRng;
use exp::spec::{BadImagePolicy, BudgetSpec, Columns, DataSource, DataSpec};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn jpegs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The decode cache of DIR's JPEGs (one `train` split), built if needed.
fn prepared(dir: &Path, size: u32, crop: u32, cache_dir: PathBuf) -> PreparedData {
    let files = jpegs(dir);
    let manifest = cache_dir.join("bench_manifest.csv");
    let mut text = String::from("path,label,split\n");
    for f in &files {
        text.push_str(&format!("{},a,train\n", f.display()));
    }
    std::fs::create_dir_all(&cache_dir).expect("cache dir");
    std::fs::write(&manifest, text).expect("manifest");
    let spec = DataSpec {
        name: "bench".into(),
        source: DataSource::Manifest {
            manifest,
            root: dir.to_path_buf(),
        },
        image_size: crop,
        cache_size: size,
        metadata: vec![],
        columns: Columns::default(),
        stratify: false,
        on_bad_image: BadImagePolicy::Fail,
        cache_dir: Some(cache_dir),
        content: None,
        near_duplicates: false,
        metadata_types: Default::default(),
    };
    let budget = BudgetSpec {
        name: "all".into(),
        train_samples: None,
        val_samples: None,
        frozen_epochs: 0,
        finetune_epochs: 1,
        time_limit_s: None,
        max_samples: None,
        checkpoint_every_steps: None,
    };
    prepare(&spec, &budget, 0, false).expect("prepare")
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, name: &str) -> T {
    match args.get(i).and_then(|s| s.parse().ok()) {
        Some(v) => v,
        None => {
            eprintln!(
                "data_decode: argument {i} ({name}) missing or invalid; see the file's header"
            );
            std::process::exit(2);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.first().map(String::as_str) {
        Some("decode") => {
            let dir = PathBuf::from(arg::<String>(&args, 1, "DIR"));
            let size: u32 = arg(&args, 2, "SIZE");
            let rounds: usize = arg(&args, 3, "ROUNDS");
            let files = jpegs(&dir);
            // Warm the page cache and the decoder, as the Pillow side does.
            for f in &files {
                decode::decode_resized(f, size).expect("benchmark image decodes");
            }
            let t = Instant::now();
            let mut n = 0;
            for _ in 0..rounds {
                for f in &files {
                    let img = decode::decode_resized(f, size).expect("benchmark image decodes");
                    std::hint::black_box(&img);
                    n += 1;
                }
            }
            println!("{n} {:.6}", t.elapsed().as_secs_f64());
        }
        Some("loader") => {
            let dir = PathBuf::from(arg::<String>(&args, 1, "DIR"));
            let size: u32 = arg(&args, 2, "SIZE");
            let crop: u32 = arg(&args, 3, "CROP");
            let batch: usize = arg(&args, 4, "BATCH");
            let workers: usize = arg(&args, 5, "WORKERS");
            let epochs: u64 = arg(&args, 6, "EPOCHS");
            let cache_dir = PathBuf::from(arg::<String>(&args, 7, "CACHE_DIR"));
            let device = if arg::<String>(&args, 8, "DEVICE") == "cuda" {
                tch::Device::Cuda(0)
            } else {
                tch::Device::Cpu
            };
            let data = prepared(&dir, size, crop, cache_dir);
            if device.is_cuda() {
                // Start CUDA outside the timed region.
                let _ = tch::Tensor::zeros([1], (tch::Kind::Float, device));
                tch::Cuda::synchronize(0);
            }
            let mut n = 0usize;
            let mut waited = 0.0;
            let t = Instant::now();
            for epoch in 0..epochs {
                let cfg = LoaderConfig {
                    batch_size: batch,
                    image_size: crop,
                    mean: [0.485, 0.456, 0.406],
                    std: [0.229, 0.224, 0.225],
                    train: true,
                    augment: vec![
                        exp::spec::Augment::RandomResizedCrop {
                            scale: (0.08, 1.0),
                            ratio: (0.75, 4.0 / 3.0),
                        },
                        exp::spec::Augment::HFlip { p: 0.5 },
                    ],
                    seed: 1,
                    epoch,
                    workers,
                    prefetch: 4,
                    device,
                    drop_last: true,
                    start_batch: 0,
                    channels_last: true,
                    augment_on: exp::data::AugmentOn::Auto,
                    shard: None,
                };
                let mut l = loader(&data, "train", &cfg).expect("loader");
                for b in l.by_ref() {
                    let b = b.expect("batch");
                    n += b.index.len();
                }
                waited += l.wait_time().as_secs_f64();
            }
            if device.is_cuda() {
                tch::Cuda::synchronize(0);
            }
            let secs = t.elapsed().as_secs_f64();
            println!("{n} {secs:.6} {:.3}", waited / secs);
        }
        Some("cache") => {
            let dir = PathBuf::from(arg::<String>(&args, 1, "DIR"));
            let size: u32 = arg(&args, 2, "SIZE");
            let crop: u32 = arg(&args, 3, "CROP");
            let reads: usize = arg(&args, 4, "READS");
            let cache_dir = PathBuf::from(arg::<String>(&args, 5, "CACHE_DIR"));
            let data = prepared(&dir, size, crop, cache_dir);
            let n = data.split_len("train").expect("train split");
            let mut rng = SampleRng::new(7);
            let mut out = vec![0u8; (crop * crop * 3) as usize];
            let t = Instant::now();
            for _ in 0..reads {
                let row = rng.below(n as u64) as usize;
                let v = data.cached_image("train", row).expect("cached");
                let x = rng.below(u64::from(v.w - crop) + 1) as u32;
                let y = rng.below(u64::from(v.h - crop) + 1) as u32;
                let mut img = augment::crop_view(v, x, y, crop, crop);
                if rng.uniform() < 0.5 {
                    augment::hflip(&mut img);
                }
                out.copy_from_slice(&img.data);
                std::hint::black_box(&out);
            }
            println!("{reads} {:.6}", t.elapsed().as_secs_f64());
        }
        _ => {
            eprintln!("usage: data_decode decode DIR SIZE ROUNDS | data_decode cache DIR SIZE CROP READS CACHE_DIR");
            std::process::exit(2);
        }
    }
}

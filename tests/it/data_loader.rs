//! Subsets, augmentation and the loader: subsets depend only on (seed, data,
//! budget); augmented batches are bit-identical for 1 and 4 workers; eval is
//! deterministic and in split order; resume continues where it stopped.

use crate::data_support::*;
use exp::data::{loader, prepare, subset, LoaderConfig, PreparedData};
use exp::spec::Augment;
use tch::{Device, Kind, Tensor};

fn cfg(train: bool, workers: usize, augment: Vec<Augment>) -> LoaderConfig {
    LoaderConfig {
        batch_size: 8,
        image_size: 24,
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
        train,
        augment,
        seed: 42,
        epoch: 3,
        workers,
        prefetch: 2,
        device: Device::Cpu,
        drop_last: train,
        start_batch: 0,
        channels_last: false,
    }
}

fn all_augments() -> Vec<Augment> {
    vec![
        Augment::RandomResizedCrop {
            scale: (0.3, 1.0),
            ratio: (0.75, 4.0 / 3.0),
        },
        Augment::HFlip { p: 0.5 },
        Augment::VFlip { p: 0.5 },
        Augment::Rotate { degrees: 20.0 },
        Augment::ColorJitter {
            brightness: 0.3,
            contrast: 0.3,
            saturation: 0.3,
            hue: 0.1,
        },
        Augment::RandAugment { n: 2, m: 9 },
        Augment::RandomErasing { p: 0.5 },
        Augment::Mixup { alpha: 0.4 },
        Augment::Cutmix { alpha: 1.0 },
    ]
}

/// (images, labels, soft targets, metadata, index) of one batch.
type Parts = (Tensor, Tensor, Option<Tensor>, Tensor, Vec<usize>);

fn collect(d: &PreparedData, split: &str, c: &LoaderConfig) -> Vec<Parts> {
    loader(d, split, c)
        .expect("loader")
        .map(|b| {
            let b = b.expect("batch");
            (b.images, b.labels, b.soft_targets, b.metadata, b.index)
        })
        .collect()
}

fn prepared(t: &std::path::Path) -> PreparedData {
    let s = generated(&t.join("shapes"), &t.join("cache"));
    prepare(&s, &budget(None, None), 1, false).expect("prepare")
}

#[test]
fn augmented_batches_do_not_depend_on_the_thread_count() {
    let t = tempfile::tempdir().expect("tempdir");
    let d = prepared(t.path());
    let one = collect(&d, "train", &cfg(true, 1, all_augments()));
    let four = collect(&d, "train", &cfg(true, 4, all_augments()));
    assert_eq!(one.len(), 6);
    assert_eq!(one.len(), four.len());
    let mut mixed = 0;
    for (a, b) in one.iter().zip(&four) {
        assert_eq!(a.0.size(), vec![8, 3, 24, 24]);
        assert_eq!(a.0.kind(), Kind::Float);
        assert!(a.0.equal(&b.0), "images differ between 1 and 4 workers");
        assert!(a.1.equal(&b.1));
        assert!(a.3.equal(&b.3));
        assert_eq!(a.4, b.4);
        match (&a.2, &b.2) {
            (Some(x), Some(y)) => {
                assert!(x.equal(y));
                assert_eq!(x.size(), vec![8, 3]);
                let rows = x.sum_dim_intlist(1, false, Kind::Float);
                assert!(rows.allclose(
                    &Tensor::ones([8], (Kind::Float, Device::Cpu)),
                    1e-5,
                    1e-5,
                    false
                ));
                mixed += 1;
            }
            (None, None) => {}
            _ => panic!("soft targets present for one thread count only"),
        }
    }
    assert_eq!(mixed, 6, "mixup/cutmix apply to every train batch");
    // Another epoch gives another order and other pixels.
    let mut c = cfg(true, 2, all_augments());
    c.epoch = 4;
    let other = collect(&d, "train", &c);
    assert_ne!(other[0].4, one[0].4);
}

#[test]
fn train_without_augmentation_is_the_eval_crop_in_shuffled_order() {
    let t = tempfile::tempdir().expect("tempdir");
    let d = prepared(t.path());
    let tr = collect(&d, "train", &cfg(true, 2, vec![]));
    let mut idx: Vec<usize> = tr.iter().flat_map(|b| b.4.clone()).collect();
    assert_ne!(idx, (0..48).collect::<Vec<_>>(), "train order is shuffled");
    idx.sort_unstable();
    assert_eq!(
        idx,
        (0..48).collect::<Vec<_>>(),
        "each sample once per epoch"
    );
    assert!(tr.iter().all(|b| b.2.is_none()));
}

#[test]
fn eval_is_deterministic_in_split_order_and_normalised_on_the_device() {
    let t = tempfile::tempdir().expect("tempdir");
    let d = prepared(t.path());
    let a = collect(&d, "val", &cfg(false, 1, all_augments()));
    let b = collect(&d, "val", &cfg(false, 3, vec![]));
    assert_eq!(a.len(), 2, "12 images in batches of 8, last one kept");
    assert_eq!(a[1].0.size()[0], 4);
    for (x, y) in a.iter().zip(&b) {
        assert!(x.0.equal(&y.0));
        assert!(x.2.is_none(), "no mixing in eval");
    }
    let order: Vec<usize> = a.iter().flat_map(|x| x.4.clone()).collect();
    assert_eq!(order, (0..12).collect::<Vec<_>>());
    let labels: Vec<i64> = a
        .iter()
        .flat_map(|x| Vec::<i64>::try_from(&x.1).expect("labels"))
        .collect();
    assert_eq!(labels, d.split_labels("val").expect("labels"));

    // Pixel (0,0) of image 0 equals the cached centre-crop byte, normalised.
    let v = d.cached_image("val", 0).expect("cached");
    let (ox, oy) = ((v.w - 24) / 2, (v.h - 24) / 2);
    let byte = f64::from(v.data[((oy * v.w + ox) * 3) as usize]);
    let want = (byte / 255.0 - 0.485) / 0.229;
    let got = a[0].0.double_value(&[0, 0, 0, 0]);
    assert!((got - want).abs() < 1e-5, "{got} vs {want}");

    // Channels-last output holds the same values.
    let mut c = cfg(false, 1, vec![]);
    c.channels_last = true;
    let cl = collect(&d, "val", &c);
    assert!(cl[0].0.equal(&a[0].0));
    assert_eq!(cl[0].0.stride()[1], 1, "channel stride 1 in channels-last");
    assert_eq!(cl[0].3.size(), vec![8, d.metadata_dim as i64]);
}

#[test]
fn start_batch_resumes_mid_epoch_and_wait_fraction_is_a_fraction() {
    let t = tempfile::tempdir().expect("tempdir");
    let d = prepared(t.path());
    let full = collect(&d, "train", &cfg(true, 2, all_augments()));
    let mut c = cfg(true, 3, all_augments());
    c.start_batch = 4;
    let mut l = loader(&d, "train", &c).expect("loader");
    assert_eq!(l.len(), 6);
    assert_eq!(l.remaining(), 2);
    let tail: Vec<_> = l.by_ref().map(|b| b.expect("batch")).collect();
    assert_eq!(tail.len(), 2);
    assert!(tail[0].images.equal(&full[4].0));
    assert_eq!(tail[1].index, full[5].4);
    let f = l.wait_fraction();
    assert!((0.0..=1.0).contains(&f), "{f}");
    // Dropping a loader mid-epoch stops its workers.
    let mut l = loader(&d, "train", &cfg(true, 4, all_augments())).expect("loader");
    assert!(l.next().is_some());
    drop(l);
    assert!(loader(&d, "nope", &cfg(false, 1, vec![])).is_err());
}

#[test]
fn subsets_depend_only_on_seed_data_and_budget_and_keep_class_shares() {
    let t = tempfile::tempdir().expect("tempdir");
    let mut s = generated(&t.path().join("shapes"), &t.path().join("cache"));
    let b = budget(Some(12), Some(6));
    let a1 = prepare(&s, &b, 17, false).expect("prepare");
    // A different budget name (another recipe or backbone's budget entry) with the same sizes.
    let mut b2 = b.clone();
    b2.name = "other".into();
    b2.finetune_epochs = 9;
    let a2 = prepare(&s, &b2, 17, false).expect("prepare");
    assert_eq!(
        a1.split_ids("train").expect("ids"),
        a2.split_ids("train").expect("ids")
    );
    assert_eq!(
        a1.split_ids("val").expect("ids"),
        a2.split_ids("val").expect("ids")
    );
    assert_eq!(a1.split_len("train").expect("n"), 12);
    assert_eq!(a1.split_len("val").expect("n"), 6);
    assert_eq!(
        a1.split_len("test").expect("n"),
        12,
        "the test split is never subset"
    );
    let a3 = prepare(&s, &b, 18, false).expect("prepare");
    assert_ne!(
        a1.split_ids("train").expect("ids"),
        a3.split_ids("train").expect("ids")
    );

    // Stratified: class shares of the full split (16/16/16 of 48) → 4/4/4 of 12.
    s.stratify = true;
    let st = prepare(&s, &b, 17, false).expect("prepare");
    let labels = st.split_labels("train").expect("labels");
    for k in 0..3 {
        assert_eq!(labels.iter().filter(|&&l| l == k).count(), 4);
    }
    // Uneven classes: 10 / 6 / 4 of 20 → 5 / 3 / 2 of 10.
    let labels: Vec<i64> = [vec![0; 10], vec![1; 6], vec![2; 4]].concat();
    let pick = subset::choose(&labels, 10, 3, true);
    let count = |k: i64| pick.iter().filter(|&&i| labels[i] == k).count();
    assert_eq!((count(0), count(1), count(2)), (5, 3, 2));
    assert!(pick.windows(2).all(|w| w[0] < w[1]), "sorted, distinct");
}

#[test]
#[ignore = "needs a CUDA device: cargo test --test data_loader -- --ignored on a GPU machine"]
fn cuda_batches_match_cpu_batches_and_are_channels_last() {
    assert!(tch::Cuda::is_available(), "this test needs CUDA");
    let t = tempfile::tempdir().expect("tempdir");
    let d = prepared(t.path());
    for train in [true, false] {
        let augs = if train { all_augments() } else { vec![] };
        let cpu = collect(
            &d,
            if train { "train" } else { "val" },
            &cfg(train, 2, augs.clone()),
        );
        let mut c = cfg(train, 4, augs);
        c.device = Device::Cuda(0);
        c.channels_last = true;
        let mut l = loader(&d, if train { "train" } else { "val" }, &c).expect("loader");
        let mut n = 0;
        for (b, want) in l.by_ref().zip(&cpu) {
            let b = b.expect("batch");
            assert_eq!(b.images.device(), Device::Cuda(0));
            assert_eq!(b.images.stride()[1], 1, "channels-last on the device");
            let got = b.images.to_device(Device::Cpu);
            assert!(
                got.allclose(&want.0, 1e-5, 1e-5, false),
                "CUDA batch differs from CPU batch"
            );
            assert!(b.labels.to_device(Device::Cpu).equal(&want.1));
            if let (Some(s), Some(w)) = (&b.soft_targets, &want.2) {
                assert!(s.to_device(Device::Cpu).allclose(w, 1e-6, 1e-6, false));
            }
            n += 1;
        }
        assert_eq!(n, cpu.len());
        let f = l.wait_fraction();
        assert!((0.0..=1.0).contains(&f));
        println!("train={train}: {n} CUDA batches match CPU; wait fraction {f:.3}");
    }
}

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
        augment_on: exp::data::AugmentOn::Auto,
        shard: None,
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
fn rank_shards_of_every_batch_are_the_single_process_batch_in_order() {
    let t = tempfile::tempdir().expect("tempdir");
    let d = prepared(t.path());
    // No batch-level mix: those pair samples within each rank's share.
    let augments: Vec<Augment> = all_augments()
        .into_iter()
        .filter(|a| !matches!(a, Augment::Mixup { .. } | Augment::Cutmix { .. }))
        .collect();
    for train in [true, false] {
        let whole = collect(&d, "train", &cfg(train, 2, augments.clone()));
        let shard = |rank| LoaderConfig {
            shard: Some((rank, 2)),
            ..cfg(train, 2, augments.clone())
        };
        let (a, b) = (
            collect(&d, "train", &shard(0)),
            collect(&d, "train", &shard(1)),
        );
        assert_eq!(a.len(), whole.len());
        for ((w, x), y) in whole.iter().zip(&a).zip(&b) {
            assert_eq!(x.4.len(), 4, "equal halves of a batch of 8");
            assert_eq!(
                [x.4.clone(), y.4.clone()].concat(),
                w.4,
                "indices, train={train}"
            );
            let images = Tensor::cat(&[&x.0, &y.0], 0);
            assert!(images.equal(&w.0), "images, train={train}");
            assert!(Tensor::cat(&[&x.1, &y.1], 0).equal(&w.1), "labels");
        }
    }
    let b = loader(
        &d,
        "train",
        &LoaderConfig {
            shard: Some((1, 2)),
            ..cfg(true, 1, Vec::new())
        },
    )
    .expect("loader")
    .next()
    .expect("a batch")
    .expect("batch");
    assert_eq!((b.index.len(), b.global_len), (4, 8));
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
        // The host path on CUDA; the device path has its own test below.
        c.augment_on = exp::data::AugmentOn::Cpu;
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

/// Random-noise cached images (so a wrong crop box or flip changes almost
/// every pixel), at least 24 px a side.
fn noise_images(n: usize) -> Vec<(u32, u32, Vec<u8>)> {
    let mut g = exp::seeds::SampleRng::new(11);
    (0..n)
        .map(|_| {
            let (w, h) = (24 + g.below(40) as u32, 24 + g.below(40) as u32);
            let data = (0..w * h * 3).map(|_| g.below(256) as u8).collect();
            (w, h, data)
        })
        .collect()
}

/// Per sample: the CPU path's uint8 pixels and the device path's (run on a
/// CPU tensor device), for the same plans.
fn twin_outputs(augs: &[Augment]) -> Vec<(exp::data::augment::SamplePlan, Vec<u8>, Vec<f32>)> {
    use exp::data::augment::{apply_plan, plan_sample, View};
    use exp::data::augment_device::{apply, pack};
    let imgs = noise_images(32);
    let views: Vec<View<'_>> = imgs
        .iter()
        .map(|(w, h, d)| View {
            w: *w,
            h: *h,
            data: d,
        })
        .collect();
    let plans: Vec<_> = (0..views.len() as u64)
        .map(|i| {
            let mut rng = exp::seeds::SampleRng::new(1000 + i);
            plan_sample(views[i as usize].w, views[i as usize].h, 24, augs, &mut rng)
        })
        .collect();
    let cpu: Vec<Vec<u8>> = views
        .iter()
        .zip(&plans)
        .map(|(v, p)| apply_plan(*v, 24, p).expect("cpu").data)
        .collect();
    let t = pack(&views, plans.clone(), 24);
    let tiles =
        Tensor::from_slice(&t.bytes).view([views.len() as i64, t.th as i64, t.tw as i64, 3]);
    let out = apply(&tiles, &t.crops, &t.plans, 24).expect("device path");
    assert_eq!(out.size(), vec![views.len() as i64, 24, 24, 3]);
    plans
        .into_iter()
        .zip(cpu)
        .enumerate()
        .map(|(i, (p, c))| {
            let d = Vec::<f32>::try_from(out.get(i as i64).flatten(0, -1)).expect("f32");
            (p, c, d)
        })
        .collect()
}

fn diff(cpu: &[u8], dev: &[f32]) -> (f32, f32) {
    let d: Vec<f32> = cpu
        .iter()
        .zip(dev)
        .map(|(a, b)| (f32::from(*a) - b).abs())
        .collect();
    let max = d.iter().cloned().fold(0.0, f32::max);
    (max, d.iter().sum::<f32>() / d.len() as f32)
}

#[test]
fn device_augmentation_twin_gives_each_sample_the_cpu_paths_crop_and_flips() {
    use exp::data::augment::{apply_plan, Step, View};
    let flips = vec![Augment::HFlip { p: 0.5 }, Augment::VFlip { p: 0.5 }];
    // Centre crop (no resize) + flips: exactly the CPU path's pixels.
    let (mut h, mut v) = (0, 0);
    for (p, cpu, dev) in twin_outputs(&flips) {
        assert_eq!(diff(&cpu, &dev).0, 0.0, "plan {p:?}");
        h += usize::from(p.steps[0] == Step::HFlip(true));
        v += usize::from(p.steps[1] == Step::VFlip(true));
    }
    assert!(
        h > 4 && h < 28 && v > 4 && v < 28,
        "both flip outcomes drawn: {h} {v}"
    );
    // Random-resized crop + flips: the same box and flips per sample; a crop
    // with no resize is exact, a resized one within the fixed-point filter's rounding.
    let mut rrc = vec![Augment::RandomResizedCrop {
        scale: (0.2, 1.0),
        ratio: (0.75, 4.0 / 3.0),
    }];
    rrc.extend(flips);
    let imgs = noise_images(32);
    let mut resized = Vec::new();
    for (i, (p, cpu, dev)) in twin_outputs(&rrc).into_iter().enumerate() {
        let (max, mean) = diff(&cpu, &dev);
        let (_, _, w, h) = p.crop;
        if w == 24 && h == 24 {
            assert_eq!(max, 0.0, "exact crop {p:?}");
        } else {
            assert!(
                max <= 2.0 && mean < 0.3,
                "sample {i}: max {max} mean {mean} {p:?}"
            );
            resized.push((max, mean));
        }
        // The other horizontal-flip decision would look nothing like it.
        let mut other = p.clone();
        if let Step::HFlip(f) = other.steps[0] {
            other.steps[0] = Step::HFlip(!f);
        }
        let (iw, ih, data) = &imgs[i];
        let view = View {
            w: *iw,
            h: *ih,
            data,
        };
        let alt = apply_plan(view, 24, &other).expect("cpu").data;
        assert!(
            diff(&alt, &dev).1 > 20.0,
            "sample {i}: a flip decision is visible"
        );
    }
    let worst = resized.iter().map(|r| r.0).fold(0.0, f32::max);
    let mean = resized.iter().map(|r| r.1).sum::<f32>() / resized.len().max(1) as f32;
    println!(
        "{} resized crops: max level difference {worst}, mean {mean}",
        resized.len()
    );
}

#[test]
fn device_augmentation_twin_rotates_and_jitters_like_the_cpu_path() {
    let augs = vec![
        Augment::RandomResizedCrop {
            scale: (0.3, 1.0),
            ratio: (0.75, 4.0 / 3.0),
        },
        Augment::HFlip { p: 0.5 },
        Augment::Rotate { degrees: 20.0 },
        Augment::ColorJitter {
            brightness: 0.3,
            contrast: 0.3,
            saturation: 0.3,
            hue: 0.1,
        },
    ];
    let mut means = Vec::new();
    for (i, (p, cpu, dev)) in twin_outputs(&augs).into_iter().enumerate() {
        let (max, mean) = diff(&cpu, &dev);
        assert!(
            max <= 12.0 && mean < 1.5,
            "sample {i}: max {max} mean {mean} {p:?}"
        );
        means.push(mean);
    }
    let avg = means.iter().sum::<f32>() / means.len() as f32;
    println!("mean level difference {avg}");
    assert!(avg < 0.8, "mean level difference {avg}");
}

#[test]
fn device_augmentation_twin_applies_randaugment_like_the_cpu_path() {
    use exp::data::augment::Step;
    let augs = vec![Augment::RandAugment { n: 3, m: 9 }];
    let (mut kinds, mut means) = (std::collections::BTreeSet::new(), Vec::new());
    for (i, (p, cpu, dev)) in twin_outputs(&augs).into_iter().enumerate() {
        let (max, mean) = diff(&cpu, &dev);
        assert!(mean < 2.0, "sample {i}: max {max} mean {mean} {p:?}");
        means.push(mean);
        for st in &p.steps {
            if let Step::RandOp(o) = st {
                kinds.insert(o.op);
            }
        }
    }
    assert!(kinds.len() >= 10, "ops drawn: {kinds:?}");
    let avg = means.iter().sum::<f32>() / means.len() as f32;
    println!("mean level difference {avg}");
    assert!(avg < 0.8, "mean level difference {avg}");
}

#[test]
fn the_loader_runs_the_device_path_when_asked_and_the_host_path_for_cpu() {
    use exp::data::AugmentOn;
    let tmp = tempfile::tempdir().expect("tmp");
    let d = prepared(tmp.path());
    let on = |augment: Vec<Augment>, augment_on: AugmentOn| LoaderConfig {
        augment_on,
        ..cfg(true, 2, augment)
    };
    let recipe = vec![
        Augment::RandomResizedCrop {
            scale: (0.3, 1.0),
            ratio: (0.75, 4.0 / 3.0),
        },
        Augment::HFlip { p: 0.5 },
        Augment::Mixup { alpha: 0.4 },
    ];
    let l = loader(&d, "train", &on(recipe.clone(), AugmentOn::Device)).expect("loader");
    assert_eq!(l.augments_on_device(), Ok(()));
    let auto = loader(&d, "train", &on(recipe.clone(), AugmentOn::Auto)).expect("loader");
    assert_eq!(auto.augments_on_device(), Err("the device is the CPU"));
    let dev = collect(&d, "train", &on(recipe.clone(), AugmentOn::Device));
    let cpu = collect(&d, "train", &on(recipe, AugmentOn::Cpu));
    assert_eq!(dev.len(), cpu.len());
    for (a, b) in dev.iter().zip(&cpu) {
        assert_eq!(a.4, b.4, "same samples in the same order");
        assert!(a.1.equal(&b.1));
        let (x, y) = (a.2.as_ref().expect("mixed"), b.2.as_ref().expect("mixed"));
        assert!(x.equal(y), "same mixup draw");
        // Two levels of 255 in normalised units (std ≥ 0.224).
        let worst = (&a.0 - &b.0).abs().max().double_value(&[]);
        assert!(worst < 2.0 / (255.0 * 0.224) + 1e-4, "{worst}");
    }
    // RandAugment runs on the device too; `Cpu` keeps the host path.
    let ra = vec![
        Augment::HFlip { p: 0.5 },
        Augment::RandAugment { n: 2, m: 9 },
    ];
    let l = loader(&d, "train", &on(ra.clone(), AugmentOn::Device)).expect("loader");
    assert_eq!(l.augments_on_device(), Ok(()));
    let host = loader(&d, "train", &on(ra.clone(), AugmentOn::Cpu)).expect("loader");
    assert_eq!(host.augments_on_device(), Err("augment_on = cpu"));
    let dev = collect(&d, "train", &on(ra.clone(), AugmentOn::Device));
    let cpu = collect(&d, "train", &on(ra, AugmentOn::Cpu));
    for (a, b) in dev.iter().zip(&cpu) {
        let mean = (&a.0 - &b.0).abs().mean(Kind::Float).double_value(&[]) * 255.0 * 0.229;
        assert!(mean < 1.5, "mean level difference {mean}");
    }
}

#[test]
#[ignore = "needs a CUDA device: cargo test --test it data_loader:: -- --ignored on a GPU machine"]
fn cuda_augments_on_the_device_like_its_cpu_twin() {
    assert!(tch::Cuda::is_available(), "this test needs CUDA");
    let t = tempfile::tempdir().expect("tempdir");
    let d = prepared(t.path());
    let augs: Vec<Augment> = all_augments()
        .into_iter()
        .filter(|a| !matches!(a, Augment::RandAugment { .. }))
        .collect();
    let host = collect(&d, "train", &cfg(true, 2, augs.clone()));
    let mut c = cfg(true, 2, augs);
    c.device = Device::Cuda(0);
    c.channels_last = true;
    let mut l = loader(&d, "train", &c).expect("loader");
    assert_eq!(l.augments_on_device(), Ok(()), "automatic on CUDA");
    let mut n = 0;
    for (b, want) in l.by_ref().zip(&host) {
        let b = b.expect("batch");
        assert_eq!(b.images.stride()[1], 1, "channels-last on the device");
        assert_eq!(b.index, want.4);
        // Mean difference in levels of 255 (std ≤ 0.229).
        let mean = (b.images.to_device(Device::Cpu) - &want.0)
            .abs()
            .mean(Kind::Float)
            .double_value(&[])
            * 255.0
            * 0.229;
        assert!(mean < 1.5, "batch {n}: mean level difference {mean}");
        n += 1;
    }
    assert_eq!(n, host.len());
}

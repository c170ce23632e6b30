//! Seeded per-split subsets.
//!
//! The seed is `derive_seed(root, Subset, [data, split, n, stratify])`: it
//! depends only on the pipeline seed, the data set and the budget's sample
//! count, never on the backbone or recipe, so every cell of a sweep trains
//! on the same images. Stratified subsets keep each class's share (largest
//! remainder rounding).

use crate::seeds::{derive_seed, SampleRng, SeedPurpose};

/// The seed of one split's subset.
pub fn subset_seed(root_seed: u64, data: &str, split: &str, n: u64, stratify: bool) -> u64 {
    derive_seed(
        root_seed,
        SeedPurpose::Subset,
        &[&data, &split, &n, &u64::from(stratify)],
    )
}

/// Choose `n` of the positions `0..labels.len()` (all when `n ≥ len`); the
/// result is sorted, so subset order follows the source order.
pub fn choose(labels: &[i64], n: usize, seed: u64, stratify: bool) -> Vec<usize> {
    let len = labels.len();
    if n >= len {
        return (0..len).collect();
    }
    let mut rng = SampleRng::new(seed);
    let mut out = if stratify {
        let mut by_class: std::collections::BTreeMap<i64, Vec<usize>> = Default::default();
        for (i, &l) in labels.iter().enumerate() {
            by_class.entry(l).or_default().push(i);
        }
        // Largest remainder: floor shares, then the biggest fractions get one more.
        let mut quota: Vec<(i64, usize, f64)> = by_class
            .iter()
            .map(|(&c, v)| {
                let exact = v.len() as f64 * n as f64 / len as f64;
                (c, exact.floor() as usize, exact - exact.floor())
            })
            .collect();
        let mut left = n - quota.iter().map(|q| q.1).sum::<usize>();
        let mut order: Vec<usize> = (0..quota.len()).collect();
        order.sort_by(|&a, &b| quota[b].2.total_cmp(&quota[a].2).then(a.cmp(&b)));
        for &i in &order {
            if left == 0 {
                break;
            }
            quota[i].1 += 1;
            left -= 1;
        }
        let mut out = Vec::with_capacity(n);
        for (c, q, _) in quota {
            let mut v = by_class[&c].clone();
            rng.shuffle(&mut v);
            out.extend_from_slice(&v[..q.min(v.len())]);
        }
        out
    } else {
        let mut v: Vec<usize> = (0..len).collect();
        rng.shuffle(&mut v);
        v.truncate(n);
        v
    };
    out.sort_unstable();
    out
}

//! Statistics that say whether a difference between cells is real.
//!
//! - per-cell intervals: exact (Clopper–Pearson) for top-1/top-k, the
//!   percentile bootstrap over test images for macro AUC;
//! - model-level paired comparisons (these two trained networks, test-set
//!   sampling only): McNemar's exact test for top-1 and top-k, DeLong's test
//!   for macro AUC, each with the interval that agrees with it;
//! - configuration-level comparisons (seed-to-seed variance included): a
//!   Welch–Satterthwaite t test on per-seed scores with the test-set variance
//!   added ([`seed_t`]); one seed and nothing to borrow is `single seed`;
//! - Holm's correction across a table;
//! - the factorial decomposition of a two-axis sweep (main effects,
//!   interactions, simple effects) at both levels, with p-values not floored
//!   by the number of resamples;
//! - power: the top-1 interval half-width at a test-set size and the smallest
//!   gain and drop a comparison can resolve.
//!
//! Every random draw comes from [`SampleRng`] seeded by
//! [`derive_seed`]`(root, SeedPurpose::Bootstrap, [label, resample])`, so
//! results are the same for any number of threads.
//! docs/report.md explains each number.

use crate::score::metrics;
use crate::seeds::{derive_seed, SampleRng, SeedPurpose};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use statrs::distribution::{Beta, Binomial, ContinuousCDF, DiscreteCDF, Normal, StudentsT};

/// A metric the statistics know how to resample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stat {
    Top1,
    TopK(u32),
    /// Macro one-vs-rest ROC AUC.
    Auc,
}

impl Stat {
    /// Top-1 and top-k are proportions of images (exact intervals apply).
    pub fn is_proportion(self) -> bool {
        !matches!(self, Stat::Auc)
    }

    pub fn name(self) -> String {
        match self {
            Stat::Top1 => "top1".into(),
            Stat::TopK(k) => format!("top{k}"),
            Stat::Auc => "auc".into(),
        }
    }
}

const POS_BIT: u32 = 1 << 31;
const LAST_BIT: u32 = 1 << 30;
const INDEX_MASK: u32 = LAST_BIT - 1;
/// Most test images a [`Scored`] indexes (image indices share a `u32` with two flags).
pub const MAX_IMAGES: usize = INDEX_MASK as usize;

/// One cell's test predictions, indexed for fast weighted re-evaluation.
#[derive(Debug, Clone)]
pub struct Scored {
    pub n: usize,
    pub num_classes: usize,
    /// Per image: is the label the arg-max.
    pub hit1: Vec<bool>,
    /// Per k: per image, is the label among the `k` best.
    pub hitk: Vec<(u32, Vec<bool>)>,
    labels: Vec<usize>,
    /// Per class: image indices sorted by that class's score, each packed
    /// with two flags: [`POS_BIT`] (the image is a positive of the class) and
    /// [`LAST_BIT`] (the last of a run of equal scores).
    order: Vec<Vec<u32>>,
    /// Per class and image, the score (class-major, for DeLong placements).
    scores: Vec<Vec<f32>>,
}

impl Scored {
    /// Index predictions (`probs` row-major `N × C`, N ≤ [`MAX_IMAGES`]).
    /// Labels outside `0..C` are negatives for every class and misses for
    /// accuracy.
    pub fn new(probs: &[f32], labels: &[i64], num_classes: usize, k: u32) -> Self {
        Self::with_ks(probs, labels, num_classes, &[k])
    }

    /// As [`Scored::new`] for several top-k metrics at once.
    pub fn with_ks(probs: &[f32], labels: &[i64], num_classes: usize, ks: &[u32]) -> Self {
        let n = labels.len();
        let hit1 = metrics::top_k_hits(probs, labels, num_classes, 1);
        let hitk = ks
            .iter()
            .map(|&k| {
                (
                    k,
                    metrics::top_k_hits(probs, labels, num_classes, k as usize),
                )
            })
            .collect();
        let labels: Vec<usize> = labels
            .iter()
            .map(|&l| {
                usize::try_from(l)
                    .ok()
                    .filter(|&l| l < num_classes)
                    .unwrap_or(usize::MAX)
            })
            .collect();
        let mut order = Vec::with_capacity(num_classes);
        let mut scores = Vec::with_capacity(num_classes);
        for c in 0..num_classes {
            let s: Vec<f32> = (0..n).map(|i| probs[i * num_classes + c]).collect();
            let mut idx: Vec<u32> = (0..n as u32).collect();
            idx.sort_by(|&a, &b| s[a as usize].total_cmp(&s[b as usize]));
            let packed: Vec<u32> = (0..n)
                .map(|j| {
                    let i = idx[j];
                    let pos = if labels[i as usize] == c { POS_BIT } else { 0 };
                    let last = if j + 1 == n || s[idx[j + 1] as usize] != s[i as usize] {
                        LAST_BIT
                    } else {
                        0
                    };
                    i | pos | last
                })
                .collect();
            order.push(packed);
            scores.push(s);
        }
        Self {
            n,
            num_classes,
            hit1,
            hitk,
            labels,
            order,
            scores,
        }
    }

    /// Per-image hits of a top-k metric (None for AUC or a k not indexed).
    pub fn hits(&self, stat: Stat) -> Option<&[bool]> {
        match stat {
            Stat::Top1 => Some(&self.hit1),
            Stat::TopK(k) => self
                .hitk
                .iter()
                .find(|(kk, _)| *kk == k)
                .map(|(_, h)| h.as_slice()),
            Stat::Auc => None,
        }
    }

    /// The metric with every image weighted by `w` (bootstrap counts); `None`
    /// weights = all ones.
    pub fn weighted(&self, stat: Stat, w: Option<&[u32]>) -> f64 {
        match stat {
            Stat::Top1 => weighted_mean(&self.hit1, w),
            Stat::TopK(_) => self.hits(stat).map_or(f64::NAN, |h| weighted_mean(h, w)),
            Stat::Auc => self.weighted_macro_auc(w),
        }
    }

    fn weighted_macro_auc(&self, w: Option<&[u32]>) -> f64 {
        match w {
            Some(w) => self.macro_auc_by(|i| u64::from(w[i])),
            None => self.macro_auc_by(|_| 1),
        }
    }

    /// Weighted Mann–Whitney sweep in integers (exact): per run of equal
    /// scores, positives × (negatives below + ½ negatives tied), doubled.
    #[inline]
    fn macro_auc_by(&self, wt: impl Fn(usize) -> u64) -> f64 {
        let mut sum = 0.0;
        let mut used = 0usize;
        for packed in &self.order {
            let (mut below_neg, mut acc2, mut wpos) = (0u64, 0u64, 0u64);
            let (mut gp, mut gt) = (0u64, 0u64);
            for &e in packed {
                let wi = wt((e & INDEX_MASK) as usize);
                gp += wi * u64::from(e >> 31);
                gt += wi;
                if e & LAST_BIT != 0 {
                    let gn = gt - gp;
                    // Why ½ (here: 2 × acc): a positive tied with a negative is a coin flip.
                    acc2 += gp * (2 * below_neg + gn);
                    below_neg += gn;
                    wpos += gp;
                    gp = 0;
                    gt = 0;
                }
            }
            if wpos > 0 && below_neg > 0 {
                sum += acc2 as f64 / (2.0 * wpos as f64 * below_neg as f64);
                used += 1;
            }
        }
        if used == 0 {
            f64::NAN
        } else {
            sum / used as f64
        }
    }

    /// Per-image influence of each image on the macro AUC (the DeLong
    /// placements, centred and scaled), and the classes that take part.
    fn auc_influence(&self) -> Vec<f64> {
        let n = self.n;
        let mut phi = vec![0.0; n];
        let mut k_used = 0usize;
        for c in 0..self.num_classes {
            let pos: Vec<usize> = (0..n).filter(|&i| self.labels[i] == c).collect();
            let neg: Vec<usize> = (0..n).filter(|&i| self.labels[i] != c).collect();
            if pos.is_empty() || neg.is_empty() {
                continue;
            }
            k_used += 1;
            let s = &self.scores[c];
            let neg_s: Vec<f32> = neg.iter().map(|&i| s[i]).collect();
            let pos_s: Vec<f32> = pos.iter().map(|&i| s[i]).collect();
            let v10 = placements(&pos_s, &neg_s, false);
            let v01 = placements(&neg_s, &pos_s, true);
            let auc = v10.iter().sum::<f64>() / pos.len() as f64;
            for (j, &i) in pos.iter().enumerate() {
                phi[i] += (v10[j] - auc) / pos.len() as f64;
            }
            for (j, &i) in neg.iter().enumerate() {
                phi[i] += (v01[j] - auc) / neg.len() as f64;
            }
        }
        if k_used > 0 {
            for p in &mut phi {
                *p /= k_used as f64;
            }
        }
        phi
    }
}

/// For each `x`, the fraction of `other` it beats (ties ½); with `reverse`,
/// the fraction of `other` that beats it.
fn placements(x: &[f32], other: &[f32], reverse: bool) -> Vec<f64> {
    let mut o: Vec<f32> = other.to_vec();
    o.sort_by(f32::total_cmp);
    let m = o.len() as f64;
    x.iter()
        .map(|&v| {
            let less = o.partition_point(|&q| q < v) as f64;
            let leq = o.partition_point(|&q| q <= v) as f64;
            let ties = leq - less;
            if reverse {
                (m - leq + 0.5 * ties) / m
            } else {
                (less + 0.5 * ties) / m
            }
        })
        .collect()
}

fn weighted_mean(x: &[bool], w: Option<&[u32]>) -> f64 {
    match w {
        None => x.iter().filter(|&&b| b).count() as f64 / x.len() as f64,
        Some(w) => {
            let (mut hit, mut tot) = (0u64, 0u64);
            for (&b, &wi) in x.iter().zip(w) {
                tot += u64::from(wi);
                if b {
                    hit += u64::from(wi);
                }
            }
            hit as f64 / tot as f64
        }
    }
}

/// Bootstrap counts: `n` draws with replacement from `n` images.
pub fn resample_counts(n: usize, rng: &mut SampleRng) -> Vec<u32> {
    let mut w = vec![0u32; n];
    for _ in 0..n {
        w[rng.below(n as u64) as usize] += 1;
    }
    w
}

fn resample_rng(root: u64, label: &str, r: u32) -> SampleRng {
    SampleRng::new(derive_seed(root, SeedPurpose::Bootstrap, &[&label, &r]))
}

/// Quantile with linear interpolation between order statistics (numpy's
/// default), on sorted data.
pub fn quantile_sorted(x: &[f64], q: f64) -> f64 {
    if x.is_empty() {
        return f64::NAN;
    }
    let h = (x.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(x.len() - 1);
    x[lo] + (h - lo as f64) * (x[hi] - x[lo])
}

/// A point estimate with a two-sided interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
}

fn percentile_interval(estimate: f64, mut draws: Vec<f64>, confidence: f64) -> Interval {
    draws.retain(|d| d.is_finite());
    draws.sort_by(f64::total_cmp);
    let a = (1.0 - confidence) / 2.0;
    Interval {
        estimate,
        lo: quantile_sorted(&draws, a),
        hi: quantile_sorted(&draws, 1.0 - a),
    }
}

/// Where the bootstrap draws come from: a root seed and a label (cell id)
/// that keeps streams of different cells apart.
#[derive(Debug, Clone, Copy)]
pub struct BootstrapPlan<'a> {
    pub seed: u64,
    pub label: &'a str,
    pub resamples: u32,
    pub confidence: f64,
}

/// Percentile bootstrap intervals of each metric of one cell.
pub fn bootstrap_cell(cell: &Scored, stats: &[Stat], plan: BootstrapPlan<'_>) -> Vec<Interval> {
    let draws: Vec<Vec<f64>> = (0..plan.resamples)
        .into_par_iter()
        .map(|r| {
            let w = resample_counts(cell.n, &mut resample_rng(plan.seed, plan.label, r));
            stats.iter().map(|&s| cell.weighted(s, Some(&w))).collect()
        })
        .collect();
    stats
        .iter()
        .enumerate()
        .map(|(j, &s)| {
            let d = draws.iter().map(|v| v[j]).collect();
            percentile_interval(cell.weighted(s, None), d, plan.confidence)
        })
        .collect()
}

/// The interval printed for one cell's metric: exact (Clopper–Pearson) for
/// top-1 and top-k, which are proportions and may sit at 0 or 1 where a
/// percentile bootstrap collapses; the percentile bootstrap of `draws` for
/// macro AUC.
pub fn cell_interval(cell: &Scored, stat: Stat, draws: &[f64], confidence: f64) -> Interval {
    let estimate = cell.weighted(stat, None);
    match cell.hits(stat) {
        Some(h) => {
            let k = h.iter().filter(|&&x| x).count() as u64;
            let (lo, hi) = clopper_pearson(k, h.len() as u64, confidence);
            Interval { estimate, lo, hi }
        }
        None => percentile_interval(estimate, draws.to_vec(), confidence),
    }
}

/// Clopper–Pearson (exact) interval of a proportion `k / n`.
pub fn clopper_pearson(k: u64, n: u64, confidence: f64) -> (f64, f64) {
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let a = (1.0 - confidence) / 2.0;
    let q = |x: f64, y: f64, p: f64| Beta::new(x, y).map_or(f64::NAN, |b| b.inverse_cdf(p));
    let lo = if k == 0 {
        0.0
    } else {
        q(k as f64, (n - k + 1) as f64, a)
    };
    let hi = if k >= n {
        1.0
    } else {
        q((k + 1) as f64, (n - k) as f64, 1.0 - a)
    };
    (lo, hi)
}

/// Which question a comparison answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// These two trained networks on this test set: test-set sampling only.
    Model,
    /// These configurations (backbone, recipe, ...): seed-to-seed variance
    /// included.
    Configuration,
}

/// The test behind a comparison's p-value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Test {
    McNemarExact,
    DeLong,
    /// z test with the standard error of the paired bootstrap over images
    /// (factorial contrasts at model level).
    BootstrapZ,
    /// Welch–Satterthwaite t test on per-seed scores, with the test-set
    /// variance of the seed means added ([`seed_t`]).
    SeedT,
}

/// A paired comparison of one metric: `delta` = cell − baseline, with the
/// interval of the same test as `p` (unadjusted).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub stat: Stat,
    pub delta: Interval,
    pub test: Test,
    pub p: f64,
    /// Degrees of freedom of a t test; None for exact and normal tests.
    pub df: Option<f64>,
}

/// McNemar's exact test: `b`, `c` are the discordant counts (one right and
/// the other wrong, each way); two-sided binomial p-value, capped at 1, as
/// statsmodels' `mcnemar(exact=True)`.
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    match Binomial::new(0.5, n) {
        Ok(d) => (2.0 * d.cdf(b.min(c))).min(1.0),
        Err(_) => f64::NAN,
    }
}

/// The interval of Δ = (b − c)/n that agrees with McNemar's exact test:
/// conditional on the b + c discordant images, the Clopper–Pearson interval
/// of b/(b + c) mapped to Δ. It excludes 0 exactly when the exact p-value is
/// below 1 − confidence.
pub fn mcnemar_interval(b: u64, c: u64, n: usize, confidence: f64) -> Interval {
    let m = b + c;
    let estimate = (b as f64 - c as f64) / n as f64;
    if m == 0 || n == 0 {
        return Interval {
            estimate,
            lo: estimate,
            hi: estimate,
        };
    }
    let (lo, hi) = clopper_pearson(b, m, confidence);
    let to_delta = |pi: f64| m as f64 * (2.0 * pi - 1.0) / n as f64;
    Interval {
        estimate,
        lo: to_delta(lo),
        hi: to_delta(hi),
    }
}

/// Discordant counts of two hit vectors: (a right & b wrong, a wrong & b right).
pub fn discordant(a: &[bool], b: &[bool]) -> (u64, u64) {
    let mut bc = (0, 0);
    for (&x, &y) in a.iter().zip(b) {
        match (x, y) {
            (true, false) => bc.0 += 1,
            (false, true) => bc.1 += 1,
            _ => {}
        }
    }
    bc
}

/// DeLong's test of macro AUC(a) − AUC(b) on the same images: the variance of
/// the difference from the per-image placements, stratified by label (for two
/// classes this is DeLong, DeLong & Clarke-Pearson 1988). Returns
/// (difference, standard error, two-sided p).
pub fn delong_macro(a: &Scored, b: &Scored) -> (f64, f64, f64) {
    let d = a.weighted(Stat::Auc, None) - b.weighted(Stat::Auc, None);
    let pa = a.auc_influence();
    let pb = b.auc_influence();
    let phi: Vec<f64> = pa.iter().zip(&pb).map(|(x, y)| x - y).collect();
    let mut var = 0.0;
    for c in 0..a.num_classes.max(1) {
        let g: Vec<f64> = (0..a.n)
            .filter(|&i| a.labels[i] == c)
            .map(|i| phi[i])
            .collect();
        var += stratum_var(&g);
    }
    let other: Vec<f64> = (0..a.n)
        .filter(|&i| a.labels[i] >= a.num_classes)
        .map(|i| phi[i])
        .collect();
    var += stratum_var(&other);
    let se = var.max(0.0).sqrt();
    (d, se, z_p(d, se))
}

/// Two-sided normal p-value of `estimate / se` (1 when both are 0, 0 when
/// only the estimate is).
fn z_p(estimate: f64, se: f64) -> f64 {
    if se > 0.0 {
        // Why sf: 1 − cdf rounds to 0 for |z| > 8.
        2.0 * std_normal().sf((estimate / se).abs())
    } else if estimate == 0.0 {
        1.0
    } else {
        0.0
    }
}

fn stratum_var(g: &[f64]) -> f64 {
    if g.len() < 2 {
        return 0.0;
    }
    let m = g.iter().sum::<f64>() / g.len() as f64;
    let ss: f64 = g.iter().map(|x| (x - m).powi(2)).sum();
    ss * g.len() as f64 / (g.len() - 1) as f64
}

fn std_normal() -> Normal {
    // Invariant: mean 0, sd 1 are valid parameters.
    Normal::new(0.0, 1.0).expect("standard normal")
}

/// Bootstrap values of every cell's metrics with one set of image counts per
/// resample shared by all cells (so any difference of two cells is paired):
/// `out[cell][stat][resample]`. Every cell must index the same images.
pub fn shared_draws(
    cells: &[&Scored],
    stats: &[Stat],
    plan: BootstrapPlan<'_>,
) -> Vec<Vec<Vec<f64>>> {
    let n = cells.first().map_or(0, |c| c.n);
    let per_r: Vec<Vec<Vec<f64>>> = (0..plan.resamples)
        .into_par_iter()
        .map(|r| {
            let w = resample_counts(n, &mut resample_rng(plan.seed, plan.label, r));
            cells
                .iter()
                .map(|c| stats.iter().map(|&s| c.weighted(s, Some(&w))).collect())
                .collect()
        })
        .collect();
    (0..cells.len())
        .map(|ci| {
            (0..stats.len())
                .map(|si| per_r.iter().map(|v| v[ci][si]).collect())
                .collect()
        })
        .collect()
}

/// Percentile interval of bootstrap `draws` around `estimate`.
pub fn interval(estimate: f64, draws: &[f64], confidence: f64) -> Interval {
    percentile_interval(estimate, draws.to_vec(), confidence)
}

/// Sample variance (n − 1) of the finite values; 0 below two.
pub fn variance(x: &[f64]) -> f64 {
    let v: Vec<f64> = x.iter().copied().filter(|d| d.is_finite()).collect();
    if v.len() < 2 {
        return 0.0;
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    v.iter().map(|d| (d - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64
}

/// The model-level paired test of one metric, with the interval that agrees
/// with it: McNemar's exact test and its conditional Clopper–Pearson
/// interval for top-1/top-k, DeLong's test and Δ ± z·se for macro AUC.
pub fn paired_test(cell: &Scored, base: &Scored, stat: Stat, confidence: f64) -> Comparison {
    match stat {
        Stat::Top1 | Stat::TopK(_) => {
            let (delta, p) = match (cell.hits(stat), base.hits(stat)) {
                (Some(a), Some(b)) => {
                    let (b_, c_) = discordant(a, b);
                    (
                        mcnemar_interval(b_, c_, cell.n, confidence),
                        mcnemar_exact(b_, c_),
                    )
                }
                _ => (nan_interval(), f64::NAN),
            };
            Comparison {
                stat,
                delta,
                test: Test::McNemarExact,
                p,
                df: None,
            }
        }
        Stat::Auc => {
            let (d, se, p) = delong_macro(cell, base);
            let h = z_two_sided(confidence) * se;
            Comparison {
                stat,
                delta: Interval {
                    estimate: d,
                    lo: d - h,
                    hi: d + h,
                },
                test: Test::DeLong,
                p,
                df: None,
            }
        }
    }
}

fn nan_interval() -> Interval {
    Interval {
        estimate: f64::NAN,
        lo: f64::NAN,
        hi: f64::NAN,
    }
}

/// Paired comparison of `cell` against `base` (same images, same order) at
/// model level: [`paired_test`] for each metric.
pub fn paired_compare(
    cell: &Scored,
    base: &Scored,
    stats: &[Stat],
    confidence: f64,
) -> Vec<Comparison> {
    stats
        .iter()
        .map(|&s| paired_test(cell, base, s, confidence))
        .collect()
}

/// Paired percentile-bootstrap intervals of Δ = cell − base (one set of image
/// counts for both per resample).
pub fn paired_bootstrap(
    cell: &Scored,
    base: &Scored,
    stats: &[Stat],
    plan: BootstrapPlan<'_>,
) -> Vec<Interval> {
    let d = shared_draws(&[cell, base], stats, plan);
    stats
        .iter()
        .enumerate()
        .map(|(j, &s)| {
            let est = cell.weighted(s, None) - base.weighted(s, None);
            let diff: Vec<f64> = d[0][j].iter().zip(&d[1][j]).map(|(a, b)| a - b).collect();
            percentile_interval(est, diff, plan.confidence)
        })
        .collect()
}

/// Holm's step-down adjusted p-values (as statsmodels
/// `multipletests(method="holm")`): sort ascending, multiply the i-th
/// smallest by (m − i), take the running maximum, cap at 1.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut idx: Vec<usize> = (0..m).collect();
    idx.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in idx.iter().enumerate() {
        let adj = ((m - rank) as f64 * p[i]).min(1.0);
        running = running.max(adj);
        out[i] = running;
    }
    out
}

/// What a comparison says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Better,
    Worse,
    WithinNoise,
    /// A configuration-level question with one seed on a side and no seed
    /// spread to borrow: the data cannot answer it.
    SingleSeed,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::WithinNoise => "within noise",
            Verdict::SingleSeed => "single seed",
        }
    }

    /// `better`/`worse` when the Holm-adjusted p-value is below
    /// `1 − confidence`, by the sign of Δ; otherwise `within noise`.
    pub fn from(delta: f64, p_holm: f64, confidence: f64) -> Self {
        if p_holm < 1.0 - confidence && delta != 0.0 {
            if delta > 0.0 {
                Verdict::Better
            } else {
                Verdict::Worse
            }
        } else {
            Verdict::WithinNoise
        }
    }
}

/// Verdicts for a family of comparisons with Holm's correction across all of
/// them; returns (adjusted p, verdict) in input order.
pub fn verdicts(comparisons: &[Comparison], confidence: f64) -> Vec<(f64, Verdict)> {
    let p: Vec<f64> = comparisons.iter().map(|c| c.p).collect();
    holm(&p)
        .into_iter()
        .zip(comparisons)
        .map(|(adj, c)| (adj, Verdict::from(c.delta.estimate, adj, confidence)))
        .collect()
}

/// Mean and sample standard deviation (n − 1); sd is NaN below two values.
pub fn mean_sd(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    if x.len() < 2 {
        return (m, f64::NAN);
    }
    let v = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, v.sqrt())
}

/// A seed-to-seed variance estimate of a metric and its degrees of freedom.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub var: f64,
    pub df: f64,
}

impl Spread {
    /// The sample variance of per-seed values; None below two seeds.
    pub fn of(values: &[f64]) -> Option<Spread> {
        (values.len() >= 2).then(|| Spread {
            var: variance(values),
            df: (values.len() - 1) as f64,
        })
    }

    /// Pooled over groups (configurations): Σ (n − 1) s² / Σ (n − 1), with
    /// Σ (n − 1) degrees of freedom; None when no group has two seeds.
    pub fn pooled(groups: &[&[f64]]) -> Option<Spread> {
        let (mut ss, mut df) = (0.0, 0.0);
        for g in groups.iter().filter(|g| g.len() >= 2) {
            let d = (g.len() - 1) as f64;
            ss += d * variance(g);
            df += d;
        }
        (df > 0.0).then(|| Spread { var: ss / df, df })
    }
}

/// The configuration-level t test of a contrast with estimate `estimate`:
/// Var = Σ wᵢ · spreadᵢ.var (the seed part; terms with the same spread are
/// one estimate and are merged) + `test_var` (the test-set part, from the
/// bootstrap over images, treated as known). Degrees of freedom by
/// Welch–Satterthwaite, Var² / Σ (wᵢ spreadᵢ.var)² / dfᵢ, capped at Σ dfᵢ.
/// The interval is
/// Δ ± t · √Var, so it agrees with the p-value.
pub fn seed_t(
    stat: Stat,
    estimate: f64,
    seed_terms: &[(f64, Spread)],
    test_var: f64,
    confidence: f64,
) -> Comparison {
    let mut merged: Vec<(f64, Spread)> = Vec::new();
    for &(w, s) in seed_terms {
        match merged.iter_mut().find(|(_, m)| *m == s) {
            Some((mw, _)) => *mw += w,
            None => merged.push((w, s)),
        }
    }
    let parts: Vec<(f64, f64)> = merged.iter().map(|(w, s)| (w * s.var, s.df)).collect();
    let var = parts.iter().map(|p| p.0).sum::<f64>() + test_var.max(0.0);
    // Welch–Satterthwaite, capped at the seed parts' total df. Why the cap:
    // the known test-set part pushes Satterthwaite's df past the seed
    // information, and in simulation one seed borrowing a 3-seed spread then
    // got 7.5 % false verdicts; the smallest df (1 for 2 seeds) was far too
    // conservative (no power at all).
    let est: Vec<(f64, f64)> = parts
        .iter()
        .copied()
        .filter(|(v, df)| *v > 0.0 && df.is_finite())
        .collect();
    let denom: f64 = est.iter().map(|(v, df)| v * v / df).sum();
    let cap: f64 = est.iter().map(|(_, df)| df).sum();
    let df = if denom > 0.0 {
        (var * var / denom).min(cap)
    } else {
        f64::INFINITY
    };
    let se = var.sqrt();
    // Why the normal above 10^4 degrees of freedom: the t quantile is then
    // within 0.0002 of it, and statrs' incomplete beta slows to a crawl for
    // the huge df a nearly-known seed variance gives.
    let (p, q) = if df < 1e4 {
        match StudentsT::new(0.0, 1.0, df) {
            Ok(t) => (
                if se > 0.0 {
                    2.0 * t.sf((estimate / se).abs())
                } else {
                    z_p(estimate, se)
                },
                t.inverse_cdf(1.0 - (1.0 - confidence) / 2.0),
            ),
            Err(_) => (f64::NAN, f64::NAN),
        }
    } else {
        (z_p(estimate, se), z_two_sided(confidence))
    };
    Comparison {
        stat,
        delta: Interval {
            estimate,
            lo: estimate - q * se,
            hi: estimate + q * se,
        },
        test: Test::SeedT,
        p,
        df: df.is_finite().then_some(df),
    }
}

/// The configuration-level comparison of two configurations from their
/// per-seed values of one metric (`arm` − `base`): [`seed_t`] on the
/// difference of seed means, each side's spread its own sample variance,
/// or `borrowed` (the baseline configuration's spread, e.g. from
/// `replicates`) for a side with one seed. None when a side has one seed
/// and there is nothing to borrow: the verdict is `single seed`.
pub fn configuration_compare(
    stat: Stat,
    arm: &[f64],
    base: &[f64],
    borrowed: Option<Spread>,
    test_var: f64,
    confidence: f64,
) -> Option<Comparison> {
    if arm.is_empty() || base.is_empty() {
        return None;
    }
    let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len() as f64;
    let mut terms = Vec::new();
    for x in [arm, base] {
        let w = 1.0 / x.len() as f64;
        terms.push((w, Spread::of(x).or(borrowed)?));
    }
    Some(seed_t(
        stat,
        mean(arm) - mean(base),
        &terms,
        test_var,
        confidence,
    ))
}

/// One effect of a factorial decomposition, at both levels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    /// `main`, `interaction` or `simple`.
    pub kind: String,
    /// e.g. `recipe: rmsprop → adamw` or `backbone × recipe: convnext with adamw`.
    pub name: String,
    /// For a simple effect, the level of the other axis it is measured at,
    /// e.g. `at backbone resnet50`.
    pub condition: Option<String>,
    pub stat: Stat,
    /// Model level: these trained networks, test-set sampling only (z test
    /// with the paired bootstrap's standard error, not floored by the
    /// number of resamples).
    pub model: Comparison,
    /// Configuration level: seed spread pooled over the grid's cells plus
    /// the test-set variance ([`seed_t`]); None when no cell has two seeds.
    pub configuration: Option<Comparison>,
}

impl Effect {
    /// The name with its condition: `recipe: a → b, at backbone x`.
    pub fn label(&self) -> String {
        match &self.condition {
            Some(c) => format!("{}, {c}", self.name),
            None => self.name.clone(),
        }
    }
}

/// A two-axis grid: `cells[i][j]` = the seeds of level i of axis A and level
/// j of axis B (level 0 = the reference). Every cell must share test images.
pub struct Grid<'a> {
    pub axis_a: &'a str,
    pub axis_b: &'a str,
    pub levels_a: Vec<String>,
    pub levels_b: Vec<String>,
    pub cells: Vec<Vec<Vec<&'a Scored>>>,
}

/// Main effects and interactions, and the simple effects (each axis's
/// effect at every level of the other).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decomposition {
    pub effects: Vec<Effect>,
    pub simple_effects: Vec<Effect>,
}

/// A contrast: coefficients on the table of cell means `m[i][j]`.
struct Contrast {
    kind: &'static str,
    name: String,
    condition: Option<String>,
    coef: Vec<Vec<f64>>,
}

fn contrasts(grid: &Grid<'_>) -> (Vec<Contrast>, Vec<Contrast>) {
    let (na, nb) = (grid.levels_a.len(), grid.levels_b.len());
    let (la, lb) = (&grid.levels_a, &grid.levels_b);
    let zero = || vec![vec![0.0; nb]; na];
    let mut main = Vec::new();
    for i in 1..na {
        let mut c = zero();
        c[i] = vec![1.0 / nb as f64; nb];
        c[0] = vec![-1.0 / nb as f64; nb];
        let name = format!("{}: {} → {}", grid.axis_a, la[0], la[i]);
        main.push(Contrast {
            kind: "main",
            name,
            condition: None,
            coef: c,
        });
    }
    for j in 1..nb {
        let mut c = zero();
        for row in c.iter_mut() {
            row[j] += 1.0 / na as f64;
            row[0] -= 1.0 / na as f64;
        }
        let name = format!("{}: {} → {}", grid.axis_b, lb[0], lb[j]);
        main.push(Contrast {
            kind: "main",
            name,
            condition: None,
            coef: c,
        });
    }
    for i in 1..na {
        for j in 1..nb {
            let mut c = zero();
            c[i][j] += 1.0;
            c[0][j] -= 1.0;
            c[i][0] -= 1.0;
            c[0][0] += 1.0;
            let name = format!(
                "{} × {}: {} with {}",
                grid.axis_a, grid.axis_b, la[i], lb[j]
            );
            main.push(Contrast {
                kind: "interaction",
                name,
                condition: None,
                coef: c,
            });
        }
    }
    let mut simple = Vec::new();
    for i in 1..na {
        for j in 0..nb {
            let mut c = zero();
            c[i][j] += 1.0;
            c[0][j] -= 1.0;
            simple.push(Contrast {
                kind: "simple",
                name: format!("{}: {} → {}", grid.axis_a, la[0], la[i]),
                condition: Some(format!("at {} {}", grid.axis_b, lb[j])),
                coef: c,
            });
        }
    }
    for j in 1..nb {
        for i in 0..na {
            let mut c = zero();
            c[i][j] += 1.0;
            c[i][0] -= 1.0;
            simple.push(Contrast {
                kind: "simple",
                name: format!("{}: {} → {}", grid.axis_b, lb[0], lb[j]),
                condition: Some(format!("at {} {}", grid.axis_a, la[i])),
                coef: c,
            });
        }
    }
    (main, simple)
}

/// [`Decomposition`] of a grid from per-cell draws made with shared image
/// counts ([`shared_draws`]), given in the grid's cell order (row by row,
/// seeds within a grid cell in order). Each contrast of the cell means gets
/// a model-level z test (bootstrap standard error over images) and, when
/// some grid cell has two seeds, a configuration-level [`seed_t`] with the
/// seed spread pooled over the grid's cells.
pub fn factorial_from_draws(
    grid: &Grid<'_>,
    stats: &[Stat],
    d: &[&Vec<Vec<f64>>],
    confidence: f64,
) -> Decomposition {
    let resamples = d
        .iter()
        .flat_map(|c| c.iter().map(Vec::len))
        .min()
        .unwrap_or(0);
    let (main, simple) = contrasts(grid);
    let z = z_two_sided(confidence);
    let mut out = Decomposition {
        effects: Vec::new(),
        simple_effects: Vec::new(),
    };
    for (si, &stat) in stats.iter().enumerate() {
        // Per grid cell: per-seed values and per-resample seed means.
        let mut values: Vec<Vec<Vec<f64>>> = Vec::new();
        let mut means_r: Vec<Vec<Vec<f64>>> = Vec::new();
        let mut k = 0;
        for row in &grid.cells {
            let mut vrow = Vec::new();
            let mut mrow = Vec::new();
            for seeds in row {
                vrow.push(seeds.iter().map(|c| c.weighted(stat, None)).collect());
                let m: Vec<f64> = (0..resamples)
                    .map(|r| {
                        (0..seeds.len()).map(|j| d[k + j][si][r]).sum::<f64>() / seeds.len() as f64
                    })
                    .collect();
                k += seeds.len();
                mrow.push(m);
            }
            values.push(vrow);
            means_r.push(mrow);
        }
        let groups: Vec<&[f64]> = values.iter().flatten().map(Vec::as_slice).collect();
        let pooled = Spread::pooled(&groups);
        let effect = |c: &Contrast| -> Effect {
            let mut est = 0.0;
            let mut w = 0.0;
            let mut draws = vec![0.0; resamples];
            for (i, row) in c.coef.iter().enumerate() {
                for (j, &a) in row.iter().enumerate() {
                    if a == 0.0 {
                        continue;
                    }
                    let v = &values[i][j];
                    est += a * v.iter().sum::<f64>() / v.len() as f64;
                    w += a * a / v.len() as f64;
                    for (r, x) in draws.iter_mut().enumerate() {
                        *x += a * means_r[i][j][r];
                    }
                }
            }
            let test_var = variance(&draws);
            let se = test_var.sqrt();
            Effect {
                kind: c.kind.into(),
                name: c.name.clone(),
                condition: c.condition.clone(),
                stat,
                model: Comparison {
                    stat,
                    delta: Interval {
                        estimate: est,
                        lo: est - z * se,
                        hi: est + z * se,
                    },
                    test: Test::BootstrapZ,
                    p: z_p(est, se),
                    df: None,
                },
                configuration: pooled.map(|s| seed_t(stat, est, &[(w, s)], test_var, confidence)),
            }
        };
        out.effects.extend(main.iter().map(&effect));
        out.simple_effects.extend(simple.iter().map(&effect));
    }
    out
}

fn z_two_sided(confidence: f64) -> f64 {
    std_normal().inverse_cdf(1.0 - (1.0 - confidence) / 2.0)
}

/// Half-width of the normal-approximation interval of a top-1 accuracy `p`
/// measured on `n` test images: z · √(p(1 − p)/n).
pub fn top1_half_width(n: u64, p: f64, confidence: f64) -> f64 {
    if n == 0 {
        return f64::INFINITY;
    }
    z_two_sided(confidence) * (p * (1.0 - p) / n as f64).sqrt()
}

/// The smallest top-1 gain and drop from a baseline accuracy `p` that a
/// two-sided test at `confidence` detects with probability `power`, on `n`
/// test images; None where no such change fits in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Resolvable {
    pub gain: Option<f64>,
    pub drop: Option<f64>,
}

/// [`Resolvable`] on the arcsine scale (Cohen's h, where a proportion's
/// variance is 1/n whatever p, so gains and drops near 0 or 1 come out
/// asymmetric): |2 asin √p₂ − 2 asin √p| ≥ (z₁₋α/₂ + z_power) · √V with
/// V = 2/n for two cells on unpaired images, plus 2σ²/(k · p(1 − p)) for a
/// seed spread σ with k seeds per configuration (`seeds`). Unpaired, so
/// conservative: pairing on the same images only lowers it.
pub fn resolvable(
    n: u64,
    p: f64,
    confidence: f64,
    power: f64,
    seeds: Option<(f64, u32)>,
) -> Resolvable {
    if n == 0 || !p.is_finite() {
        return Resolvable {
            gain: None,
            drop: None,
        };
    }
    let pq = (p * (1.0 - p)).max(0.25 / n as f64);
    let mut v = 2.0 / n as f64;
    if let Some((sd, k)) = seeds {
        v += 2.0 * sd * sd / (f64::from(k.max(1)) * pq);
    }
    let h_need = (z_two_sided(confidence) + std_normal().inverse_cdf(power)) * v.sqrt();
    let h = 2.0 * p.clamp(0.0, 1.0).sqrt().asin();
    let back = |h2: f64| (h2 / 2.0).sin().powi(2);
    let up = h + h_need;
    let down = h - h_need;
    Resolvable {
        gain: (up <= std::f64::consts::PI).then(|| back(up) - p),
        drop: (down >= 0.0).then(|| p - back(down)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn toy() -> (Vec<f32>, Vec<i64>) {
        let probs = vec![0.7, 0.2, 0.1, 0.3, 0.3, 0.4, 0.5, 0.5, 0.0, 0.1, 0.6, 0.3];
        (probs, vec![0, 1, 1, 2])
    }

    #[test]
    fn weighted_metrics_match_exact_ones_with_unit_weights() {
        let (p, l) = toy();
        let s = Scored::new(&p, &l, 3, 2);
        assert_eq!(s.weighted(Stat::Top1, None), metrics::top_k(&p, &l, 3, 1));
        assert_eq!(
            s.weighted(Stat::TopK(2), None),
            metrics::top_k(&p, &l, 3, 2)
        );
        assert_eq!(s.weighted(Stat::Auc, None), metrics::macro_auc(&p, &l, 3));
        // Weight 2 on a row equals duplicating the row.
        let w = [2, 1, 1, 1];
        let mut p2 = p.clone();
        p2.extend_from_slice(&p[..3]);
        let mut l2 = l.clone();
        l2.push(0);
        let auc2 = metrics::macro_auc(&p2, &l2, 3);
        assert!((s.weighted(Stat::Auc, Some(&w)) - auc2).abs() < 1e-12);
    }

    #[test]
    fn mcnemar_and_holm_small_cases() {
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // 2 · P(X ≤ 1 | n = 10) = 2 · 11/1024.
        assert!((mcnemar_exact(1, 9) - 22.0 / 1024.0).abs() < 1e-12);
        assert_eq!(holm(&[0.01, 0.04, 0.03]), vec![0.03, 0.06, 0.06]);
    }

    #[test]
    fn mcnemar_interval_agrees_with_the_exact_test() {
        // The case: 4 discordant images all one way on 400, p = 0.125:
        // the interval must include 0.
        let i = mcnemar_interval(0, 4, 400, 0.95);
        assert!((mcnemar_exact(0, 4) - 0.125).abs() < 1e-12);
        assert!(i.lo < 0.0 && i.hi >= 0.0, "{i:?}");
        assert_eq!(i.estimate, -0.01);
        // Over many (b, c): the interval excludes 0 iff p < 0.05.
        for b in 0..30u64 {
            for c in 0..30u64 {
                let i = mcnemar_interval(b, c, 1000, 0.95);
                let excl = i.lo > 0.0 || i.hi < 0.0;
                assert_eq!(excl, mcnemar_exact(b, c) < 0.05, "b {b} c {c} {i:?}");
            }
        }
    }

    #[test]
    fn clopper_pearson_at_the_edges() {
        // 400/400: not [1, 1].
        let (lo, hi) = clopper_pearson(400, 400, 0.95);
        assert_eq!(hi, 1.0);
        assert!((lo - 0.025f64.powf(1.0 / 400.0)).abs() < 1e-9, "{lo}");
        let (lo, hi) = clopper_pearson(0, 10, 0.95);
        assert_eq!(lo, 0.0);
        assert!((hi - (1.0 - 0.025f64.powf(0.1))).abs() < 1e-9, "{hi}");
        // A middle case: the p where P(X ≥ 7 | 20, p) = 0.025 and where
        // P(X ≤ 7 | 20, p) = 0.025, found by bisection on the binomial sums.
        let (lo, hi) = clopper_pearson(7, 20, 0.95);
        assert!((lo - 0.153_909_205).abs() < 1e-7, "{lo}");
        assert!((hi - 0.592_188_535).abs() < 1e-7, "{hi}");
    }

    #[test]
    fn seed_t_is_welch_with_the_test_set_variance_added() {
        // Welch by hand: a = [1, 2, 3], b = [2, 4]: means 2, 3; s² 1, 2;
        // V = 1/3 + 2/2 = 4/3; df = V² / ((1/3)²/2 + 1²/1) = 1.6842.
        let c = configuration_compare(Stat::Top1, &[1.0, 2.0, 3.0], &[2.0, 4.0], None, 0.0, 0.95)
            .unwrap();
        assert_eq!(c.delta.estimate, -1.0);
        let df = c.df.unwrap();
        assert!(
            (df - (16.0 / 9.0) / (1.0 / 18.0 + 1.0)).abs() < 1e-12,
            "{df}"
        );
        // Two-sided P(|T| > 1/√(4/3)) for df 1.6842 (numerical integration
        // of the t density).
        assert!((c.p - 0.492_096).abs() < 1e-5, "{}", c.p);
        // One seed on a side and nothing to borrow: no test.
        assert!(configuration_compare(Stat::Top1, &[1.0], &[2.0, 4.0], None, 0.0, 0.95).is_none());
        // Borrowing the base's own spread merges into one estimate (df 1).
        let s = Spread::of(&[2.0, 4.0]);
        let c = configuration_compare(Stat::Top1, &[1.0], &[2.0, 4.0], s, 0.0, 0.95).unwrap();
        assert_eq!(c.df, Some(1.0));
        // A known test-set variance widens the interval.
        let wide =
            configuration_compare(Stat::Top1, &[1.0, 2.0, 3.0], &[2.0, 4.0], None, 1.0, 0.95)
                .unwrap();
        assert!(wide.p > 0.4634 && wide.delta.hi - wide.delta.lo > 0.0);
    }

    #[test]
    fn resolvable_changes_are_asymmetric_near_one() {
        // The case: 400 images at 0.985: a gain can be at most
        // 1.5 pt, a drop needs about 3.3 pt.
        let r = resolvable(400, 0.985, 0.95, 0.8, None);
        let (g, d) = (r.gain.unwrap(), r.drop.unwrap());
        assert!(g < 0.015 && g > 0.01, "{g}");
        assert!(d > 0.03 && d < 0.035, "{d}");
        // At 0.5 both directions match the textbook (2.80 √(2/n) / 2 ≈ …).
        let r = resolvable(16_380, 0.68, 0.95, 0.8, None);
        let (g, d) = (r.gain.unwrap(), r.drop.unwrap());
        assert!(
            (g - 0.0144).abs() < 3e-4 && (d - 0.0144).abs() < 3e-4,
            "{g} {d}"
        );
        // Seeds widen it.
        let s = resolvable(16_380, 0.68, 0.95, 0.8, Some((0.005, 3)));
        assert!(s.gain.unwrap() > g);
        // No gain past 1.
        assert!(resolvable(50, 0.99, 0.95, 0.8, None).gain.is_none());
    }

    #[test]
    fn power_numbers() {
        // 16,380 images at 68 %: ±0.71 pt.
        let h = top1_half_width(16_380, 0.68, 0.95);
        assert!((h - 0.00714).abs() < 1e-4, "{h}");
        // 250 images: about ±5.8 pt — the story's spurious tie.
        assert!(top1_half_width(250, 0.6, 0.95) > 0.05);
    }
}

//! Statistics that say whether a difference between cells is real.
//!
//! - per-cell percentile bootstrap intervals over test images;
//! - paired comparisons against a baseline on the same test images: Δ with a
//!   paired-bootstrap interval, McNemar's exact test for top-1 and top-k,
//!   DeLong's test for macro AUC, Holm's correction across comparisons;
//! - seed summaries and a hierarchical bootstrap (seeds, then images);
//! - the factorial decomposition of a two-axis sweep (main effects and
//!   interaction) with paired-bootstrap intervals;
//! - power: the top-1 interval half-width at a test-set size and the smallest
//!   difference a comparison can resolve.
//!
//! Every random draw comes from [`SampleRng`] seeded by
//! [`derive_seed`]`(root, SeedPurpose::Bootstrap, [label, resample])`, so
//! results are the same for any number of threads.
//! docs/report.md explains each number.

use crate::plan::seeds::{derive_seed, SampleRng, SeedPurpose};
use crate::score::metrics;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use statrs::distribution::{Binomial, ContinuousCDF, DiscreteCDF, Normal};

/// A metric the statistics know how to resample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stat {
    Top1,
    TopK(u32),
    /// Macro one-vs-rest ROC AUC.
    Auc,
}

impl Stat {
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

/// The test behind a comparison's p-value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Test {
    McNemarExact,
    DeLong,
    /// Two-sided bootstrap p-value (hierarchical comparisons).
    Bootstrap,
}

/// A paired comparison of one metric: `delta` = cell − baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub stat: Stat,
    pub delta: Interval,
    pub test: Test,
    pub p: f64,
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
    let p = if se > 0.0 {
        // Why sf: 1 − cdf rounds to 0 for |z| > 8.
        2.0 * std_normal().sf((d / se).abs())
    } else if d == 0.0 {
        1.0
    } else {
        0.0
    };
    (d, se, p)
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

/// The paired test of one metric: McNemar's exact test for top-1/top-k,
/// DeLong's test for macro AUC.
pub fn paired_test(cell: &Scored, base: &Scored, stat: Stat) -> (Test, f64) {
    match stat {
        Stat::Top1 | Stat::TopK(_) => match (cell.hits(stat), base.hits(stat)) {
            (Some(a), Some(b)) => {
                let (b, c) = discordant(a, b);
                (Test::McNemarExact, mcnemar_exact(b, c))
            }
            _ => (Test::McNemarExact, f64::NAN),
        },
        Stat::Auc => (Test::DeLong, delong_macro(cell, base).2),
    }
}

/// A paired comparison from draws made with shared counts ([`shared_draws`]).
pub fn paired_from_draws(
    cell: &Scored,
    base: &Scored,
    stat: Stat,
    cell_draws: &[f64],
    base_draws: &[f64],
    confidence: f64,
) -> Comparison {
    let est = cell.weighted(stat, None) - base.weighted(stat, None);
    let d: Vec<f64> = cell_draws
        .iter()
        .zip(base_draws)
        .map(|(a, b)| a - b)
        .collect();
    let (test, p) = paired_test(cell, base, stat);
    Comparison {
        stat,
        delta: percentile_interval(est, d, confidence),
        test,
        p,
    }
}

/// Paired comparison of `cell` against `base` (same images, same order):
/// Δ with a paired-bootstrap interval (one set of counts for both), and the
/// p-value of McNemar's exact test (top-1, top-k) or DeLong's test (AUC).
pub fn paired_compare(
    cell: &Scored,
    base: &Scored,
    stats: &[Stat],
    plan: BootstrapPlan<'_>,
) -> Vec<Comparison> {
    let d = shared_draws(&[cell, base], stats, plan);
    stats
        .iter()
        .enumerate()
        .map(|(j, &s)| paired_from_draws(cell, base, s, &d[0][j], &d[1][j], plan.confidence))
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
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::WithinNoise => "within noise",
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

/// Two-sided bootstrap p-value of "Δ = 0" from draws of Δ: twice the smaller
/// tail, with the +1 correction so it is never 0.
pub fn bootstrap_p(draws: &[f64]) -> f64 {
    let b = draws.len() as f64;
    let le = draws.iter().filter(|&&d| d <= 0.0).count() as f64;
    let ge = draws.iter().filter(|&&d| d >= 0.0).count() as f64;
    (2.0 * (le.min(ge) + 1.0) / (b + 1.0)).min(1.0)
}

/// Hierarchical bootstrap of mean(arm) − mean(base arm), where each arm is
/// several seeds of one configuration on the same test images: each resample
/// draws seeds with replacement within each arm, then one set of image counts
/// shared by every cell (the images are paired). Δ's interval and p-value
/// so carry both seed-to-seed and image-to-image variation.
pub fn hierarchical_compare(
    arm: &[&Scored],
    base: &[&Scored],
    stat: Stat,
    plan: BootstrapPlan<'_>,
) -> Comparison {
    let cells: Vec<&Scored> = arm.iter().chain(base).copied().collect();
    let d = shared_draws(&cells, &[stat], plan);
    let draws: Vec<&[f64]> = d.iter().map(|v| v[0].as_slice()).collect();
    let (da, db) = draws.split_at(arm.len());
    hierarchical_from_draws(arm, da, base, db, stat, plan)
}

/// [`hierarchical_compare`] from per-cell draws made with shared image
/// counts ([`shared_draws`]); the seed draws come from their own stream
/// (`plan.label` + `/seeds`).
pub fn hierarchical_from_draws(
    arm: &[&Scored],
    arm_draws: &[&[f64]],
    base: &[&Scored],
    base_draws: &[&[f64]],
    stat: Stat,
    plan: BootstrapPlan<'_>,
) -> Comparison {
    if arm.is_empty()
        || base.is_empty()
        || arm_draws.len() != arm.len()
        || base_draws.len() != base.len()
    {
        let nan = Interval {
            estimate: f64::NAN,
            lo: f64::NAN,
            hi: f64::NAN,
        };
        return Comparison {
            stat,
            delta: nan,
            test: Test::Bootstrap,
            p: f64::NAN,
        };
    }
    let mean_of = |cells: &[&Scored]| {
        cells.iter().map(|c| c.weighted(stat, None)).sum::<f64>() / cells.len() as f64
    };
    let est = mean_of(arm) - mean_of(base);
    let label = format!("{}/seeds", plan.label);
    let resamples = arm_draws
        .iter()
        .chain(base_draws)
        .map(|d| d.len())
        .min()
        .unwrap_or(0);
    let draws: Vec<f64> = (0..resamples)
        .map(|r| {
            let mut rng = resample_rng(plan.seed, &label, r as u32);
            let mut pick_mean = |d: &[&[f64]]| -> f64 {
                (0..d.len())
                    .map(|_| d[rng.below(d.len() as u64) as usize][r])
                    .sum::<f64>()
                    / d.len() as f64
            };
            let ma = pick_mean(arm_draws);
            let mb = pick_mean(base_draws);
            ma - mb
        })
        .collect();
    let p = bootstrap_p(&draws);
    Comparison {
        stat,
        delta: percentile_interval(est, draws, plan.confidence),
        test: Test::Bootstrap,
        p,
    }
}

/// One effect of a factorial decomposition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    /// `main` or `interaction`.
    pub kind: String,
    /// e.g. `recipe: rmsprop → adamw` or `backbone × recipe: convnext, adamw`.
    pub name: String,
    pub stat: Stat,
    pub delta: Interval,
    /// Two-sided bootstrap p-value of "no effect" ([`bootstrap_p`]).
    pub p: f64,
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

/// Main effects (level vs the reference level, averaged over the other
/// axis's levels) and interactions (difference of differences against both
/// reference levels), each with a paired-bootstrap interval over images.
pub fn factorial(grid: &Grid<'_>, stats: &[Stat], plan: BootstrapPlan<'_>) -> Vec<Effect> {
    let flat: Vec<&Scored> = grid.cells.iter().flatten().flatten().copied().collect();
    let d = shared_draws(&flat, stats, plan);
    let refs: Vec<&Vec<Vec<f64>>> = d.iter().collect();
    factorial_from_draws(grid, stats, &refs, plan.confidence)
}

/// [`factorial`] from per-cell draws made with shared image counts
/// ([`shared_draws`]), given in the grid's cell order (row by row, seeds
/// within a grid cell in order).
pub fn factorial_from_draws(
    grid: &Grid<'_>,
    stats: &[Stat],
    d: &[&Vec<Vec<f64>>],
    confidence: f64,
) -> Vec<Effect> {
    let (na, nb) = (grid.levels_a.len(), grid.levels_b.len());
    let resamples = d
        .iter()
        .flat_map(|c| c.iter().map(Vec::len))
        .min()
        .unwrap_or(0);
    // The contrasts as functions of the cell-mean table m[i][j].
    let contrasts = |m: &[Vec<f64>]| -> Vec<f64> {
        let mut out = Vec::new();
        for i in 1..na {
            out.push((0..nb).map(|j| m[i][j] - m[0][j]).sum::<f64>() / nb as f64);
        }
        for j in 1..nb {
            out.push((0..na).map(|i| m[i][j] - m[i][0]).sum::<f64>() / na as f64);
        }
        for i in 1..na {
            for j in 1..nb {
                out.push(m[i][j] - m[0][j] - m[i][0] + m[0][0]);
            }
        }
        out
    };
    // Cell-mean table of stat `si` at resample `r` (None = the estimate).
    let table = |si: usize, r: Option<usize>| -> Vec<Vec<f64>> {
        let mut k = 0;
        grid.cells
            .iter()
            .map(|row| {
                row.iter()
                    .map(|seeds| {
                        let m = seeds
                            .iter()
                            .enumerate()
                            .map(|(j, c)| {
                                r.map_or_else(|| c.weighted(stats[si], None), |r| d[k + j][si][r])
                            })
                            .sum::<f64>()
                            / seeds.len() as f64;
                        k += seeds.len();
                        m
                    })
                    .collect()
            })
            .collect()
    };
    let draws: Vec<Vec<Vec<f64>>> = (0..resamples)
        .map(|r| {
            (0..stats.len())
                .map(|si| contrasts(&table(si, Some(r))))
                .collect()
        })
        .collect();
    let mut names = Vec::new();
    for i in 1..na {
        names.push((
            "main",
            format!(
                "{}: {} → {}",
                grid.axis_a, grid.levels_a[0], grid.levels_a[i]
            ),
        ));
    }
    for j in 1..nb {
        names.push((
            "main",
            format!(
                "{}: {} → {}",
                grid.axis_b, grid.levels_b[0], grid.levels_b[j]
            ),
        ));
    }
    for i in 1..na {
        for j in 1..nb {
            names.push((
                "interaction",
                format!(
                    "{} × {}: {} with {}",
                    grid.axis_a, grid.axis_b, grid.levels_a[i], grid.levels_b[j]
                ),
            ));
        }
    }
    let mut out = Vec::new();
    for (si, &s) in stats.iter().enumerate() {
        let est = contrasts(&table(si, None));
        for (ci, (kind, name)) in names.iter().enumerate() {
            let d: Vec<f64> = draws.iter().map(|v| v[si][ci]).collect();
            let p = bootstrap_p(&d);
            out.push(Effect {
                kind: (*kind).into(),
                name: name.clone(),
                stat: s,
                delta: percentile_interval(est[ci], d, confidence),
                p,
            });
        }
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

/// Smallest top-1 difference between two cells of accuracy about `p` on
/// `n` test images that a two-sided test at `confidence` detects with
/// probability `power`: (z₁₋α/₂ + z_power) · √(2p(1 − p)/n). Treats the cells
/// as unpaired, so it is conservative: pairing on the same images only
/// lowers it.
pub fn min_detectable_difference(n: u64, p: f64, confidence: f64, power: f64) -> f64 {
    if n == 0 {
        return f64::INFINITY;
    }
    let z = z_two_sided(confidence) + std_normal().inverse_cdf(power);
    z * (2.0 * p * (1.0 - p) / n as f64).sqrt()
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
        assert!((s.weighted(Stat::Auc, None) - metrics::macro_auc(&p, &l, 3)).abs() < 1e-12);
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
    fn power_numbers() {
        // 16,380 images at 68 %: ±0.71 pt.
        let h = top1_half_width(16_380, 0.68, 0.95);
        assert!((h - 0.00714).abs() < 1e-4, "{h}");
        // 250 images: about ±5.8 pt — the story's spurious tie.
        assert!(top1_half_width(250, 0.6, 0.95) > 0.05);
        let d = min_detectable_difference(16_380, 0.68, 0.95, 0.8);
        assert!((d - 0.0144).abs() < 2e-4, "{d}");
    }
}

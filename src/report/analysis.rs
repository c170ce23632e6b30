//! Every number of the report, computed once from the loaded sweep and
//! serialised as `report.json`; the markdown, HTML and terminal renderings
//! only format this.

use super::load::{CellData, Divergence, EpochRow, Instability, SweepData};
use crate::score::metrics;
use crate::score::stats::{
    self, BootstrapPlan, Comparison, Effect, Grid, Interval, Level, Scored, Spread, Stat, Test,
    Verdict,
};
use serde::Serialize;
use std::collections::BTreeMap;

/// A cell whose mean data-wait fraction is above this is IO-bound.
pub const IO_BOUND_WAIT: f64 = 0.3;
/// Power used for the smallest resolvable gain and drop.
pub const POWER: f64 = 0.8;
/// The fewest bootstrap resamples the report uses, whatever the score spec says.
pub const MIN_RESAMPLES: u32 = 1000;

#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub sweep: String,
    pub axes: Vec<String>,
    /// The cell comparisons are made against.
    pub baseline: Option<String>,
    /// False when no baseline was declared and the first scored cell stands in.
    pub baseline_declared: bool,
    pub confidence: f64,
    pub resamples: u32,
    pub split: Option<String>,
    /// Test images (of the reference cell).
    pub n_test: Option<usize>,
    pub classes: Vec<String>,
    pub metrics: Vec<String>,
    pub power: Option<Power>,
    pub cells: Vec<CellReport>,
    /// Level `model`: each cell against the baseline configuration's cell at
    /// the same seed (else the baseline cell), then the sweep's `compare`
    /// pairs; one Holm family.
    pub comparisons: Vec<ComparisonRow>,
    pub seed_groups: Vec<SeedGroup>,
    /// Level `configuration`: each configuration against the baseline's,
    /// then the sweep's `compare` pairs; one Holm family. The verdicts of
    /// results.csv and the terminal table.
    pub configuration_comparisons: Vec<ComparisonRow>,
    /// Where the seed spread of single-seed configurations comes from, when
    /// the baseline configuration has several seeds.
    pub borrowed_spread: Option<BorrowedSpread>,
    pub factorial: Option<Factorial>,
    pub correction: String,
    pub notes: Vec<String>,
    pub exp_version: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BorrowedSpread {
    pub configuration: String,
    pub seeds: usize,
    /// Metric name → seed standard deviation.
    pub sd: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Power {
    pub n: usize,
    /// Top-1 of the baseline, the accuracy the formulas are evaluated at.
    pub top1: f64,
    pub half_width: f64,
    pub power: f64,
    /// Model level (test set only): smallest resolvable top-1 gain and drop;
    /// None where none fits in [0, 1].
    pub gain: Option<f64>,
    pub drop: Option<f64>,
    /// Configuration level, when the seed spread of top-1 is known: the
    /// pooled seed standard deviation, the seeds per configuration assumed,
    /// and the smallest resolvable gain and drop.
    pub seed_sd: Option<f64>,
    pub seeds: Option<u32>,
    pub configuration_gain: Option<f64>,
    pub configuration_drop: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub mean_img_per_s: f64,
    pub mean_data_wait: f64,
    /// Mean MFU of the epochs that have one (GPU runs on a GPU of known peak).
    pub mean_mfu: Option<f64>,
    /// `IO-bound` or `compute-bound`.
    pub verdict: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CellReport {
    pub id: String,
    pub status: String,
    pub axis_values: BTreeMap<String, String>,
    /// The configuration the cell is a seed of (`axis=value, ...`).
    pub configuration: String,
    pub seed: Option<u64>,
    pub n: usize,
    /// Metric name → estimate with its interval (Clopper–Pearson for
    /// top-k, percentile bootstrap for AUC).
    pub metrics: BTreeMap<String, Interval>,
    pub best_epoch: Option<u32>,
    pub diverged: Option<Divergence>,
    pub unstable: Option<Instability>,
    pub throughput: Option<Throughput>,
    pub per_class_accuracy: Vec<Option<f64>>,
    pub confusion: Vec<Vec<u64>>,
    pub epochs: Vec<EpochRow>,
    /// Whether the cell's predictions are on the reference test images (so it
    /// takes part in comparisons).
    pub comparable: bool,
    pub notes: Vec<String>,
}

/// The result of one test at one level, with its Holm-adjusted p and verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Tested {
    pub level: Level,
    /// Δ with the unadjusted interval of the same test as `p`.
    pub delta: Interval,
    /// None: no test (`single seed`).
    pub test: Option<Test>,
    pub p: f64,
    pub df: Option<f64>,
    /// Holm-adjusted across the family (the table the row is in).
    pub p_holm: f64,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComparisonRow {
    /// A cell id (level `model`) or a configuration (level `configuration`).
    pub cell: String,
    pub baseline: String,
    pub metric: String,
    #[serde(flatten)]
    pub result: Tested,
    /// Level `configuration`: scored seeds on each side.
    pub seeds: Option<[usize; 2]>,
    /// Level `configuration`: `own` (each side's seeds), `baseline` (a
    /// single-seed side borrows the baseline configuration's spread).
    pub spread: Option<String>,
    /// From the sweep's `compare` field rather than the baseline.
    pub pair: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct MeanSd {
    pub mean: f64,
    pub sd: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeedGroup {
    /// The axis values the seeds share, `axis=value` joined by `, `.
    pub config: String,
    pub cells: Vec<String>,
    pub metrics: BTreeMap<String, MeanSd>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EffectRow {
    /// `main`, `interaction` or `simple`.
    pub kind: String,
    pub name: String,
    /// Simple effects: the level of the other axis, `at backbone resnet50`.
    pub condition: Option<String>,
    pub metric: String,
    pub model: Tested,
    pub configuration: Tested,
}

impl EffectRow {
    pub fn label(&self) -> String {
        match &self.condition {
            Some(c) => format!("{}, {c}", self.name),
            None => self.name.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Factorial {
    pub axis_a: String,
    pub axis_b: String,
    pub levels_a: Vec<String>,
    pub levels_b: Vec<String>,
    /// Main effects and interactions; Holm across them, per level.
    pub effects: Vec<EffectRow>,
    /// Each axis's effect at every level of the other; Holm across them,
    /// per level.
    pub simple_effects: Vec<EffectRow>,
}
fn stats_for(data: &SweepData) -> Vec<Stat> {
    let mut ks: Vec<u32> = vec![3];
    for sc in data
        .cells
        .iter()
        .filter_map(|c| c.cell.as_ref()?.score.as_ref())
    {
        for m in &sc.metrics {
            if let crate::spec::Metric::TopK(k) = m {
                if !ks.contains(k) {
                    ks.push(*k);
                }
            }
        }
    }
    ks.sort_unstable();
    let mut s = vec![Stat::Top1];
    s.extend(ks.into_iter().map(Stat::TopK));
    s.push(Stat::Auc);
    s
}

fn config_label(key: &BTreeMap<String, String>) -> String {
    if key.is_empty() {
        return "(all)".into();
    }
    key.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows of `p` reordered to `order` (ids); None when the id sets differ.
fn align(p: &super::load::Preds, order: &[String]) -> Option<(Vec<f32>, Vec<i64>)> {
    if p.ids.len() != order.len() {
        return None;
    }
    if p.ids == order {
        return Some((p.probs.clone(), p.labels.clone()));
    }
    let index: BTreeMap<&str, usize> = p
        .ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let c = p.num_classes;
    let mut probs = Vec::with_capacity(p.probs.len());
    let mut labels = Vec::with_capacity(order.len());
    for id in order {
        let &i = index.get(id.as_str())?;
        probs.extend_from_slice(&p.probs[i * c..(i + 1) * c]);
        labels.push(p.labels[i]);
    }
    Some((probs, labels))
}

fn throughput(epochs: &[EpochRow]) -> Option<Throughput> {
    if epochs.is_empty() {
        return None;
    }
    let n = epochs.len() as f64;
    let mean_img_per_s = epochs.iter().map(|e| e.img_per_s).sum::<f64>() / n;
    let mean_data_wait = epochs.iter().map(|e| e.data_wait).sum::<f64>() / n;
    let mfus: Vec<f64> = epochs
        .iter()
        .map(|e| e.mfu)
        .filter(|m| m.is_finite())
        .collect();
    let mean_mfu = (!mfus.is_empty()).then(|| mfus.iter().sum::<f64>() / mfus.len() as f64);
    let verdict = if mean_data_wait > IO_BOUND_WAIT {
        "IO-bound"
    } else {
        "compute-bound"
    };
    Some(Throughput {
        mean_img_per_s,
        mean_data_wait,
        mean_mfu,
        verdict: verdict.into(),
    })
}

/// Per-resample seed means of a configuration's cells minus another's: the
/// test-set variation of a difference of configurations.
fn test_var(
    draws: &BTreeMap<&str, &Vec<Vec<f64>>>,
    arm: &[String],
    base: &[String],
    si: usize,
) -> f64 {
    let r = arm
        .iter()
        .chain(base)
        .map(|id| draws[id.as_str()][si].len())
        .min()
        .unwrap_or(0);
    let mean = |ids: &[String], k: usize| {
        ids.iter().map(|id| draws[id.as_str()][si][k]).sum::<f64>() / ids.len() as f64
    };
    let d: Vec<f64> = (0..r).map(|k| mean(arm, k) - mean(base, k)).collect();
    stats::variance(&d)
}

/// A comparison before Holm: what it compares and its test (None: no test).
struct Raw {
    cell: String,
    baseline: String,
    stat: Stat,
    estimate: f64,
    cmp: Option<Comparison>,
    seeds: Option<[usize; 2]>,
    spread: Option<String>,
    pair: bool,
}

fn tested(
    level: Level,
    estimate: f64,
    cmp: Option<&Comparison>,
    p_holm: f64,
    confidence: f64,
) -> Tested {
    match cmp {
        Some(c) => Tested {
            level,
            delta: c.delta,
            test: Some(c.test),
            p: c.p,
            df: c.df,
            p_holm,
            verdict: Verdict::from(c.delta.estimate, p_holm, confidence),
        },
        None => Tested {
            level,
            delta: Interval {
                estimate,
                lo: f64::NAN,
                hi: f64::NAN,
            },
            test: None,
            p: f64::NAN,
            df: None,
            p_holm: f64::NAN,
            verdict: Verdict::SingleSeed,
        },
    }
}

/// Holm across the rows that have a test; rows without one are `single seed`.
fn holm_family(level: Level, items: &[(f64, Option<&Comparison>)], confidence: f64) -> Vec<Tested> {
    let p: Vec<f64> = items.iter().filter_map(|(_, c)| c.map(|c| c.p)).collect();
    let mut adj = stats::holm(&p).into_iter();
    items
        .iter()
        .map(|(est, c)| {
            let a = if c.is_some() {
                adj.next().unwrap_or(f64::NAN)
            } else {
                f64::NAN
            };
            tested(level, *est, *c, a, confidence)
        })
        .collect()
}

fn rows(level: Level, raw: Vec<Raw>, confidence: f64) -> Vec<ComparisonRow> {
    let items: Vec<(f64, Option<&Comparison>)> =
        raw.iter().map(|r| (r.estimate, r.cmp.as_ref())).collect();
    let results = holm_family(level, &items, confidence);
    raw.into_iter()
        .zip(results)
        .map(|(r, result)| ComparisonRow {
            cell: r.cell,
            baseline: r.baseline,
            metric: r.stat.name(),
            result,
            seeds: r.seeds,
            spread: r.spread,
            pair: r.pair,
        })
        .collect()
}

pub fn analyse(data: &SweepData) -> Analysis {
    let stat_list = stats_for(data);
    let spec = data
        .cells
        .iter()
        .find_map(|c| c.cell.as_ref()?.score.clone());
    let confidence = spec.as_ref().map_or(0.95, |s| s.confidence);
    let resamples = spec
        .as_ref()
        .map_or(crate::spec::DEFAULT_RESAMPLES, |s| s.bootstrap)
        .max(MIN_RESAMPLES);
    let mut notes = Vec::new();
    let root = 0u64;

    // Reference test images: the baseline's, else the first cell with predictions.
    let declared = data.baseline_id();
    let has_preds = |id: &str| data.cells.iter().any(|c| c.id == id && c.preds.is_some());
    let baseline = match &declared {
        Some(b) if has_preds(b) => Some(b.clone()),
        Some(b) => {
            notes.push(format!(
                "baseline `{b}` has no predictions; comparisons use the first scored cell"
            ));
            data.cells
                .iter()
                .find(|c| c.preds.is_some())
                .map(|c| c.id.clone())
        }
        None => data
            .cells
            .iter()
            .find(|c| c.preds.is_some())
            .map(|c| c.id.clone()),
    };
    let baseline_declared = declared.is_some() && declared == baseline;
    if declared.is_none() && baseline.is_some() {
        notes.push("no baseline declared: comparisons are against the first scored cell".into());
    }
    let reference = baseline
        .as_ref()
        .and_then(|b| data.cells.iter().find(|c| &c.id == b))
        .and_then(|c| c.preds.as_ref());
    let order: Vec<String> = reference.map(|p| p.ids.clone()).unwrap_or_default();
    let classes = data
        .cells
        .iter()
        .find_map(|c| {
            c.scores
                .as_ref()
                .filter(|s| !s.classes.is_empty())
                .map(|s| s.classes.clone())
        })
        .unwrap_or_default();
    let split = data
        .cells
        .iter()
        .find_map(|c| c.scores.as_ref().and_then(|s| s.split.clone()));

    // Index every cell's predictions on the reference order.
    let mut scored: BTreeMap<String, Scored> = BTreeMap::new();
    let mut cells = Vec::new();
    for c in &data.cells {
        cells.push(cell_report(
            c,
            &stat_list,
            confidence,
            resamples,
            root,
            &data.file.sweep,
            &order,
            &mut scored,
        ));
    }

    // One set of image counts per resample for every comparable cell: each
    // cell's AUC interval, the test-set variance of every configuration
    // comparison and the decomposition all read these draws.
    let ids: Vec<String> = data
        .cells
        .iter()
        .filter(|c| scored.contains_key(&c.id))
        .map(|c| c.id.clone())
        .collect();
    let refs: Vec<&Scored> = ids.iter().map(|i| &scored[i]).collect();
    let label = format!("{}/draws", data.file.sweep);
    let plan = BootstrapPlan {
        seed: root,
        label: &label,
        resamples,
        confidence,
    };
    let all = stats::shared_draws(&refs, &stat_list, plan);
    let draws: BTreeMap<&str, &Vec<Vec<f64>>> =
        ids.iter().map(String::as_str).zip(all.iter()).collect();
    for c in cells.iter_mut().filter(|c| c.comparable) {
        for (si, &st) in stat_list.iter().enumerate() {
            c.metrics.insert(
                st.name(),
                stats::cell_interval(&scored[&c.id], st, &draws[c.id.as_str()][si], confidence),
            );
        }
    }

    // Seed groups: the scored cells of each configuration.
    let mut groups: Vec<(BTreeMap<String, String>, Vec<String>)> = Vec::new();
    for c in data.cells.iter().filter(|c| scored.contains_key(&c.id)) {
        let k = c.config_key();
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, ids)) => ids.push(c.id.clone()),
            None => groups.push((k, vec![c.id.clone()])),
        }
    }
    let values = |ids: &[String], s: Stat| -> Vec<f64> {
        ids.iter().map(|id| scored[id].weighted(s, None)).collect()
    };
    let base_key = baseline
        .as_ref()
        .and_then(|b| data.cells.iter().find(|c| &c.id == b))
        .map(CellData::config_key);
    let base_ids: Vec<String> = base_key
        .as_ref()
        .and_then(|bk| groups.iter().find(|(g, _)| g == bk))
        .map(|(_, ids)| ids.clone())
        .unwrap_or_default();
    let borrowed_spread = (base_ids.len() >= 2).then(|| BorrowedSpread {
        configuration: base_key.as_ref().map(config_label).unwrap_or_default(),
        seeds: base_ids.len(),
        sd: stat_list
            .iter()
            .map(|&s| (s.name(), stats::mean_sd(&values(&base_ids, s)).1))
            .collect(),
    });
    let seed_groups: Vec<SeedGroup> = groups
        .iter()
        .map(|(k, ids)| SeedGroup {
            config: config_label(k),
            cells: ids.clone(),
            metrics: stat_list
                .iter()
                .map(|&s| {
                    let (mean, sd) = stats::mean_sd(&values(ids, s));
                    (s.name(), MeanSd { mean, sd })
                })
                .collect(),
        })
        .collect();

    // The pairs to compare: (arm configuration, base configuration, from `compare`).
    type Pair = (BTreeMap<String, String>, BTreeMap<String, String>, bool);
    let mut config_pairs: Vec<Pair> = Vec::new();
    if let Some(bk) = &base_key {
        for (k, _) in groups.iter().filter(|(g, _)| g != bk) {
            config_pairs.push((k.clone(), bk.clone(), false));
        }
    }
    for (a, b) in &data.file.compare {
        let found = |k: &BTreeMap<String, String>| groups.iter().any(|(g, _)| g == k);
        if found(a) && found(b) {
            config_pairs.push((a.clone(), b.clone(), true));
        } else {
            notes.push(format!(
                "compare {} vs {}: a side has no scored cell",
                config_label(a),
                config_label(b)
            ));
        }
    }
    let ids_of = |k: &BTreeMap<String, String>| -> Vec<String> {
        groups
            .iter()
            .find(|(g, _)| g == k)
            .map(|(_, ids)| ids.clone())
            .unwrap_or_default()
    };
    let seed_of = |id: &str| {
        data.cells
            .iter()
            .find(|c| c.id == id)
            .and_then(|c| c.cell.as_ref().map(|x| x.seed))
    };

    // Model level: each cell of the arm against the base configuration's
    // cell at the same seed, else the base configuration's first cell (the
    // baseline itself for the baseline configuration).
    let mut model_raw = Vec::new();
    let mut config_raw = Vec::new();
    for (ak, bk, pair) in &config_pairs {
        let (arm, base) = (ids_of(ak), ids_of(bk));
        let first = if base.contains(baseline.as_ref().unwrap_or(&String::new())) && !pair {
            baseline.clone().unwrap_or_default()
        } else {
            base[0].clone()
        };
        for id in &arm {
            let against = base
                .iter()
                .find(|b| seed_of(b) == seed_of(id))
                .cloned()
                .unwrap_or_else(|| first.clone());
            for &st in &stat_list {
                let cmp = stats::paired_test(&scored[id], &scored[&against], st, confidence);
                model_raw.push(Raw {
                    cell: id.clone(),
                    baseline: against.clone(),
                    stat: st,
                    estimate: cmp.delta.estimate,
                    cmp: Some(cmp),
                    seeds: None,
                    spread: None,
                    pair: *pair,
                });
            }
        }
        // Configuration level.
        let borrowed = |s: Stat| Spread::of(&values(&base_ids, s));
        for (si, &st) in stat_list.iter().enumerate() {
            let (va, vb) = (values(&arm, st), values(&base, st));
            let tv = test_var(&draws, &arm, &base, si);
            let cmp = stats::configuration_compare(st, &va, &vb, borrowed(st), tv, confidence);
            let spread = cmp.as_ref().map(|_| {
                if va.len() >= 2 && vb.len() >= 2 {
                    "own".to_string()
                } else {
                    "baseline".to_string()
                }
            });
            let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len() as f64;
            config_raw.push(Raw {
                cell: config_label(ak),
                baseline: config_label(bk),
                stat: st,
                estimate: mean(&va) - mean(&vb),
                cmp,
                seeds: Some([va.len(), vb.len()]),
                spread,
                pair: *pair,
            });
        }
    }
    let comparisons = rows(Level::Model, model_raw, confidence);
    let configuration_comparisons = rows(Level::Configuration, config_raw, confidence);
    if configuration_comparisons
        .iter()
        .any(|r| r.result.verdict == Verdict::SingleSeed)
    {
        notes.push(
            "one seed per configuration: configuration-level verdicts say `single seed`; \
             add `seeds = [...]` or `replicates = N` to the sweep to estimate the seed spread"
                .into(),
        );
    }

    let factorial = factorial(
        data,
        &scored,
        &draws,
        baseline.as_deref(),
        &stat_list,
        confidence,
        &mut notes,
    );

    let n_test = (!order.is_empty()).then_some(order.len());
    let top1_groups: Vec<Vec<f64>> = groups
        .iter()
        .map(|(_, ids)| values(ids, Stat::Top1))
        .collect();
    let group_refs: Vec<&[f64]> = top1_groups.iter().map(Vec::as_slice).collect();
    let spread = Spread::pooled(&group_refs);
    let power = baseline.as_ref().and_then(|b| scored.get(b)).map(|s| {
        let p = s.weighted(Stat::Top1, None);
        let n = s.n as u64;
        let model = stats::resolvable(n, p, confidence, POWER, None);
        // Seeds per side: the harmonic mean of the baseline's and the
        // other configurations' typical count.
        let k = spread.map(|_| {
            let others: Vec<usize> = groups
                .iter()
                .filter(|(g, _)| Some(g) != base_key.as_ref())
                .map(|(_, ids)| ids.len())
                .collect();
            let ka = others
                .iter()
                .min()
                .copied()
                .unwrap_or(base_ids.len())
                .max(1) as f64;
            let kb = base_ids.len().max(1) as f64;
            (2.0 / (1.0 / ka + 1.0 / kb)).floor().max(1.0) as u32
        });
        let conf = spread
            .zip(k)
            .map(|(sp, k)| stats::resolvable(n, p, confidence, POWER, Some((sp.var.sqrt(), k))));
        Power {
            n: s.n,
            top1: p,
            half_width: stats::top1_half_width(n, p, confidence),
            power: POWER,
            gain: model.gain,
            drop: model.drop,
            seed_sd: spread.map(|s| s.var.sqrt()),
            seeds: k,
            configuration_gain: conf.and_then(|c| c.gain),
            configuration_drop: conf.and_then(|c| c.drop),
        }
    });

    Analysis {
        sweep: data.file.sweep.clone(),
        axes: data.file.axes.clone(),
        baseline,
        baseline_declared,
        confidence,
        resamples,
        split,
        n_test,
        classes,
        metrics: stat_list.iter().map(|s| s.name()).collect(),
        power,
        cells,
        comparisons,
        seed_groups,
        configuration_comparisons,
        borrowed_spread,
        factorial,
        correction: "Holm (step-down) across all comparisons of each table and level".into(),
        notes,
        exp_version: crate::VERSION.into(),
    }
}

#[allow(clippy::too_many_arguments)]
fn cell_report(
    c: &CellData,
    stat_list: &[Stat],
    confidence: f64,
    resamples: u32,
    root: u64,
    sweep: &str,
    order: &[String],
    scored: &mut BTreeMap<String, Scored>,
) -> CellReport {
    let mut notes = c.notes.clone();
    let mut report = CellReport {
        id: c.id.clone(),
        status: c.status(),
        axis_values: c
            .cell
            .as_ref()
            .map(|x| x.axis_values.clone())
            .unwrap_or_default(),
        configuration: config_label(&c.config_key()),
        seed: c.cell.as_ref().map(|x| x.seed),
        n: 0,
        metrics: BTreeMap::new(),
        best_epoch: c.scores.as_ref().and_then(|s| s.best_epoch),
        diverged: c.scores.as_ref().and_then(|s| s.diverged.clone()),
        unstable: c.scores.as_ref().and_then(|s| s.unstable.clone()),
        throughput: throughput(&c.epochs),
        per_class_accuracy: vec![],
        confusion: vec![],
        epochs: c.epochs.clone(),
        comparable: false,
        notes: vec![],
    };
    let Some(p) = &c.preds else {
        report.notes = notes;
        return report;
    };
    if p.labels.len() > stats::MAX_IMAGES {
        notes.push(format!(
            "{} test images: more than the {} the statistics index",
            p.labels.len(),
            stats::MAX_IMAGES
        ));
        report.notes = notes;
        return report;
    }
    if let Err(e) = metrics::check_inputs(&p.probs, &p.labels, p.num_classes) {
        notes.push(format!("predictions rejected: {e}"));
        report.notes = notes;
        return report;
    }
    let ks: Vec<u32> = stat_list
        .iter()
        .filter_map(|s| {
            if let Stat::TopK(k) = s {
                Some(*k)
            } else {
                None
            }
        })
        .collect();
    let aligned = align(p, order);
    let s = match &aligned {
        Some((probs, labels)) => Scored::with_ks(probs, labels, p.num_classes, &ks),
        None => {
            notes.push("different test images from the baseline: not compared".into());
            Scored::with_ks(&p.probs, &p.labels, p.num_classes, &ks)
        }
    };
    report.n = s.n;
    report.per_class_accuracy = metrics::per_class_accuracy(&p.probs, &p.labels, p.num_classes);
    report.confusion = metrics::confusion(&p.probs, &p.labels, p.num_classes);
    report.comparable = aligned.is_some();
    report.notes = notes;
    if !report.comparable {
        // Why its own stream: its images differ, so it cannot share counts.
        let label = format!("{sweep}/{}", c.id);
        let plan = BootstrapPlan {
            seed: root,
            label: &label,
            resamples,
            confidence,
        };
        for (st, iv) in stat_list
            .iter()
            .zip(stats::bootstrap_cell(&s, stat_list, plan))
        {
            // Why not the bootstrap for top-k: a proportion gets its exact interval.
            let iv = if st.is_proportion() {
                stats::cell_interval(&s, *st, &[], confidence)
            } else {
                iv
            };
            report.metrics.insert(st.name(), iv);
        }
        return report;
    }
    scored.insert(c.id.clone(), s);
    report
}

#[allow(clippy::too_many_arguments)]
fn factorial(
    data: &SweepData,
    scored: &BTreeMap<String, Scored>,
    draws: &BTreeMap<&str, &Vec<Vec<f64>>>,
    baseline: Option<&str>,
    stat_list: &[Stat],
    confidence: f64,
    notes: &mut Vec<String>,
) -> Option<Factorial> {
    let mut flat: Vec<&Vec<Vec<f64>>> = Vec::new();
    let axes: Vec<&String> = data
        .file
        .axes
        .iter()
        .filter(|a| a.as_str() != "seed")
        .collect();
    if axes.len() != 2 {
        return None;
    }
    let (a, b) = (axes[0].as_str(), axes[1].as_str());
    let base = baseline.and_then(|id| data.cells.iter().find(|c| c.id == id));
    let levels = |axis: &str| -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for c in &data.cells {
            if let Some(x) = c.axis_value(axis) {
                if !v.contains(&x) {
                    v.push(x);
                }
            }
        }
        // The baseline's level is the reference (first).
        if let Some(r) = base.and_then(|c| c.axis_value(axis)) {
            if let Some(i) = v.iter().position(|x| *x == r) {
                let r = v.remove(i);
                v.insert(0, r);
            }
        }
        v
    };
    let (la, lb) = (levels(a), levels(b));
    if la.len() < 2 || lb.len() < 2 {
        return None;
    }
    let mut cells = Vec::new();
    for x in &la {
        let mut row = Vec::new();
        for y in &lb {
            let ids: Vec<&str> = data
                .cells
                .iter()
                .filter(|c| {
                    c.axis_value(a).as_ref() == Some(x) && c.axis_value(b).as_ref() == Some(y)
                })
                .filter(|c| scored.contains_key(&c.id))
                .map(|c| c.id.as_str())
                .collect();
            flat.extend(ids.iter().map(|i| draws[i]));
            let seeds: Vec<&Scored> = ids.iter().map(|i| &scored[*i]).collect();
            if seeds.is_empty() {
                notes.push(format!(
                    "factorial decomposition left out: no scored cell with {a}={x}, {b}={y}"
                ));
                return None;
            }
            row.push(seeds);
        }
        cells.push(row);
    }
    let grid = Grid {
        axis_a: a,
        axis_b: b,
        levels_a: la.clone(),
        levels_b: lb.clone(),
        cells,
    };
    let d = stats::factorial_from_draws(&grid, stat_list, &flat, confidence);
    Some(Factorial {
        axis_a: a.into(),
        axis_b: b.into(),
        levels_a: la,
        levels_b: lb,
        effects: effect_rows(&d.effects, confidence),
        simple_effects: effect_rows(&d.simple_effects, confidence),
    })
}

/// Rows of a family of effects, Holm-corrected across the family at each level.
fn effect_rows(effects: &[Effect], confidence: f64) -> Vec<EffectRow> {
    let model: Vec<(f64, Option<&Comparison>)> = effects
        .iter()
        .map(|e| (e.model.delta.estimate, Some(&e.model)))
        .collect();
    let config: Vec<(f64, Option<&Comparison>)> = effects
        .iter()
        .map(|e| (e.model.delta.estimate, e.configuration.as_ref()))
        .collect();
    let m = holm_family(Level::Model, &model, confidence);
    let c = holm_family(Level::Configuration, &config, confidence);
    effects
        .iter()
        .zip(m.into_iter().zip(c))
        .map(|(e, (model, configuration))| EffectRow {
            kind: e.kind.clone(),
            name: e.name.clone(),
            condition: e.condition.clone(),
            metric: e.stat.name(),
            model,
            configuration,
        })
        .collect()
}

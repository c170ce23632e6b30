//! Every number of the report, computed once from the loaded sweep and
//! serialised as `report.json`; the markdown, HTML and terminal renderings
//! only format this.

use super::load::{CellData, Divergence, EpochRow, Instability, SweepData};
use crate::score::metrics;
use crate::score::stats::{
    self, BootstrapPlan, Comparison, Effect, Grid, Interval, Scored, Stat, Test, Verdict,
};
use serde::Serialize;
use std::collections::BTreeMap;

/// A cell whose mean data-wait fraction is above this is IO-bound.
pub const IO_BOUND_WAIT: f64 = 0.3;
/// Power used for the smallest detectable difference.
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
    pub comparisons: Vec<ComparisonRow>,
    pub seed_groups: Vec<SeedGroup>,
    pub group_comparisons: Vec<ComparisonRow>,
    pub factorial: Option<Factorial>,
    pub correction: String,
    pub notes: Vec<String>,
    pub exp_version: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Power {
    pub n: usize,
    /// Top-1 of the baseline, the accuracy the formulas are evaluated at.
    pub top1: f64,
    pub half_width: f64,
    pub min_detectable_difference: f64,
    pub power: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub mean_img_per_s: f64,
    pub mean_data_wait: f64,
    /// `IO-bound` or `compute-bound`.
    pub verdict: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CellReport {
    pub id: String,
    pub status: String,
    pub axis_values: BTreeMap<String, String>,
    pub seed: Option<u64>,
    pub n: usize,
    /// Metric name → estimate with its bootstrap interval.
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

#[derive(Debug, Clone, Serialize)]
pub struct ComparisonRow {
    pub cell: String,
    pub baseline: String,
    pub metric: String,
    pub delta: Interval,
    pub test: Test,
    pub p: f64,
    /// Holm-adjusted across the family (all rows of this table).
    pub p_holm: f64,
    pub verdict: Verdict,
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
pub struct Factorial {
    pub axis_a: String,
    pub axis_b: String,
    pub levels_a: Vec<String>,
    pub levels_b: Vec<String>,
    pub effects: Vec<Effect>,
    /// Per effect (same order): Holm-adjusted p across all effects and the verdict.
    pub verdicts: Vec<(f64, Verdict)>,
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
    let verdict = if mean_data_wait > IO_BOUND_WAIT {
        "IO-bound"
    } else {
        "compute-bound"
    };
    Some(Throughput {
        mean_img_per_s,
        mean_data_wait,
        verdict: verdict.into(),
    })
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
        .map_or(MIN_RESAMPLES, |s| s.bootstrap)
        .max(MIN_RESAMPLES);
    let mut notes = Vec::new();
    let root = 0u64;

    // Reference test images: the baseline's, else the first cell with predictions.
    let declared = data
        .file
        .baseline
        .as_ref()
        .map(|b| b.split_once('/').map_or(b.as_str(), |(_, r)| r).to_string());
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
    // cell's interval, each paired Δ, the seed groups and the decomposition
    // all read these draws.
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
            let est = scored[&c.id].weighted(st, None);
            c.metrics.insert(
                st.name(),
                stats::interval(est, &draws[c.id.as_str()][si], confidence),
            );
        }
    }

    // Paired comparisons, cell by cell, against the baseline configuration
    // at the same seed where there is one.
    let base_key = baseline
        .as_ref()
        .and_then(|b| data.cells.iter().find(|c| &c.id == b))
        .map(CellData::config_key);
    let mut raw: Vec<(String, String, Comparison)> = Vec::new();
    if let (Some(b), Some(bk)) = (&baseline, &base_key) {
        for c in &data.cells {
            if &c.id == b || !scored.contains_key(&c.id) || &c.config_key() == bk {
                continue;
            }
            let seed = c.cell.as_ref().map(|x| x.seed);
            let against = data
                .cells
                .iter()
                .find(|o| {
                    &o.config_key() == bk
                        && o.cell.as_ref().map(|x| x.seed) == seed
                        && scored.contains_key(&o.id)
                })
                .map_or(b.clone(), |o| o.id.clone());
            for (si, &st) in stat_list.iter().enumerate() {
                let (cd, bd) = (&draws[c.id.as_str()][si], &draws[against.as_str()][si]);
                let cmp = stats::paired_from_draws(
                    &scored[&c.id],
                    &scored[&against],
                    st,
                    cd,
                    bd,
                    confidence,
                );
                raw.push((c.id.clone(), against.clone(), cmp));
            }
        }
    }
    let comparisons = with_verdicts(raw, confidence);

    // Seed groups.
    let mut groups: Vec<(BTreeMap<String, String>, Vec<String>)> = Vec::new();
    for c in data.cells.iter().filter(|c| scored.contains_key(&c.id)) {
        let k = c.config_key();
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, ids)) => ids.push(c.id.clone()),
            None => groups.push((k, vec![c.id.clone()])),
        }
    }
    let multi_seed = groups.iter().any(|(_, ids)| ids.len() > 1);
    let mut seed_groups = Vec::new();
    let mut group_raw = Vec::new();
    if multi_seed {
        for (k, ids) in &groups {
            let mut m = BTreeMap::new();
            for &s in &stat_list {
                let v: Vec<f64> = ids.iter().map(|id| scored[id].weighted(s, None)).collect();
                let (mean, sd) = stats::mean_sd(&v);
                m.insert(s.name(), MeanSd { mean, sd });
            }
            seed_groups.push(SeedGroup {
                config: config_label(k),
                cells: ids.clone(),
                metrics: m,
            });
        }
        if let Some(bk) = &base_key {
            if let Some((_, base_ids)) = groups.iter().find(|(g, _)| g == bk) {
                let base: Vec<&Scored> = base_ids.iter().map(|i| &scored[i]).collect();
                for (k, ids) in groups.iter().filter(|(g, _)| g != bk) {
                    let arm: Vec<&Scored> = ids.iter().map(|i| &scored[i]).collect();
                    let label = format!("{}/group/{}", data.file.sweep, config_label(k));
                    let plan = BootstrapPlan {
                        seed: root,
                        label: &label,
                        resamples,
                        confidence,
                    };
                    for &s in &stat_list {
                        group_raw.push((
                            config_label(k),
                            config_label(bk),
                            stats::hierarchical_compare(&arm, &base, s, plan),
                        ));
                    }
                }
            }
        }
    }
    let group_comparisons = with_verdicts(group_raw, confidence);

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
    let power = baseline.as_ref().and_then(|b| scored.get(b)).map(|s| {
        let p = s.weighted(Stat::Top1, None);
        Power {
            n: s.n,
            top1: p,
            half_width: stats::top1_half_width(s.n as u64, p, confidence),
            min_detectable_difference: stats::min_detectable_difference(
                s.n as u64, p, confidence, POWER,
            ),
            power: POWER,
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
        group_comparisons,
        factorial,
        correction: "Holm (step-down) across all comparisons of each table".into(),
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
            report.metrics.insert(st.name(), iv);
        }
        return report;
    }
    scored.insert(c.id.clone(), s);
    report
}

fn with_verdicts(raw: Vec<(String, String, Comparison)>, confidence: f64) -> Vec<ComparisonRow> {
    let cmps: Vec<Comparison> = raw.iter().map(|(_, _, c)| *c).collect();
    stats::verdicts(&cmps, confidence)
        .into_iter()
        .zip(raw)
        .map(|((p_holm, verdict), (cell, baseline, c))| ComparisonRow {
            cell,
            baseline,
            metric: c.stat.name(),
            delta: c.delta,
            test: c.test,
            p: c.p,
            p_holm,
            verdict,
        })
        .collect()
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
    let effects = stats::factorial_from_draws(&grid, stat_list, &flat, confidence);
    let p: Vec<f64> = effects.iter().map(|e| e.p).collect();
    let verdicts = stats::holm(&p)
        .into_iter()
        .zip(&effects)
        .map(|(adj, e)| (adj, Verdict::from(e.delta.estimate, adj, confidence)))
        .collect();
    Some(Factorial {
        axis_a: a.into(),
        axis_b: b.into(),
        levels_a: la,
        levels_b: lb,
        effects,
        verdicts,
    })
}

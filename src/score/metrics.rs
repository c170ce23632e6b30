//! Classification metrics on predicted probabilities, computed exactly.
//!
//! `probs` is row-major `N × C` (row = image, column = class), `labels` holds
//! class indices. Conventions shared by every function here:
//! - the prediction of a row is its arg-max, ties broken by the lower class
//!   index (the same rule as `top_k`);
//! - a label outside `0..C` counts as a miss for accuracy, is left out of the
//!   per-class accuracy and the confusion matrix, and is a negative for every
//!   class in the AUC; [`check_inputs`] reports such rows as errors for
//!   callers that prefer to refuse them;
//! - macro AUC is the mean of the one-vs-rest Mann–Whitney AUCs over the
//!   classes that have at least one positive and one negative row; ties
//!   between a positive and a negative score count ½. This equals
//!   scikit-learn's `roc_auc_score(multi_class="ovr", average="macro")` when
//!   every class is present.

use thiserror::Error;

/// Bad metric inputs, with the row that shows the problem.
#[derive(Debug, Error, miette::Diagnostic, PartialEq)]
pub enum MetricsError {
    #[error("{probs} probabilities do not form {rows} rows of {classes} classes")]
    #[diagnostic(
        code(exp::score::shape),
        help("predictions must hold one probability per class for every image")
    )]
    Shape { probs: usize, rows: usize, classes: usize },
    #[error("row {row}: label {label} is not a class index in 0..{classes}")]
    #[diagnostic(
        code(exp::score::label),
        help("labels must be class indices of the data set the model was trained on")
    )]
    Label { row: usize, label: i64, classes: usize },
    #[error("row {row}: probability of class {class} is not finite")]
    #[diagnostic(
        code(exp::score::non_finite),
        help("the model produced NaN or infinite outputs; the cell probably diverged")
    )]
    NonFinite { row: usize, class: usize },
}

/// Check shapes, label range and finiteness; the metrics themselves never fail.
pub fn check_inputs(probs: &[f32], labels: &[i64], num_classes: usize) -> Result<(), MetricsError> {
    if num_classes == 0 || probs.len() != labels.len() * num_classes {
        return Err(MetricsError::Shape {
            probs: probs.len(),
            rows: labels.len(),
            classes: num_classes,
        });
    }
    for (row, &label) in labels.iter().enumerate() {
        if label < 0 || label as usize >= num_classes {
            return Err(MetricsError::Label { row, label, classes: num_classes });
        }
        if let Some(class) = probs[row * num_classes..(row + 1) * num_classes]
            .iter()
            .position(|p| !p.is_finite())
        {
            return Err(MetricsError::NonFinite { row, class });
        }
    }
    Ok(())
}

fn rows(probs: &[f32], num_classes: usize) -> impl Iterator<Item = &[f32]> {
    probs.chunks_exact(num_classes.max(1))
}

/// Index of the largest probability, ties to the lower index.
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &p) in row.iter().enumerate().skip(1) {
        if p > row[best] {
            best = j;
        }
    }
    best
}

/// Rank (0 = best) of `label` in `row`: the number of classes that beat it,
/// counting equal scores of lower-index classes as beating it.
fn rank_of(row: &[f32], label: usize) -> usize {
    let p = row[label];
    row.iter()
        .enumerate()
        .filter(|&(j, &q)| q > p || (q == p && j < label))
        .count()
}

fn label_index(label: i64, num_classes: usize) -> Option<usize> {
    usize::try_from(label).ok().filter(|&l| l < num_classes)
}

/// Per-row hit of top-`k` accuracy (the bootstrap resamples these).
pub fn top_k_hits(probs: &[f32], labels: &[i64], num_classes: usize, k: usize) -> Vec<bool> {
    rows(probs, num_classes)
        .zip(labels)
        .map(|(row, &l)| label_index(l, num_classes).is_some_and(|l| rank_of(row, l) < k))
        .collect()
}

/// Fraction of rows whose label is among the `k` highest probabilities
/// (ties broken by lower class index). 0 rows give NaN.
pub fn top_k(probs: &[f32], labels: &[i64], num_classes: usize, k: usize) -> f64 {
    let hits = top_k_hits(probs, labels, num_classes, k);
    if hits.is_empty() {
        return f64::NAN;
    }
    hits.iter().filter(|&&h| h).count() as f64 / hits.len() as f64
}

/// One-vs-rest ROC AUC of one class: Mann–Whitney U / (n₊ n₋) with
/// mid-ranks, so a tie between a positive and a negative counts ½.
/// None when the class has no positive or no negative row.
pub fn class_auc(probs: &[f32], labels: &[i64], num_classes: usize, class: usize) -> Option<f64> {
    let n = labels.len();
    let scores: Vec<f32> = (0..n).map(|i| probs[i * num_classes + class]).collect();
    let positive: Vec<bool> = labels.iter().map(|&l| label_index(l, num_classes) == Some(class)).collect();
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = n - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let ranks = midranks(&scores);
    let rank_sum: f64 = ranks.iter().zip(&positive).filter(|(_, &p)| p).map(|(r, _)| r).sum();
    let u = rank_sum - (n_pos * (n_pos + 1)) as f64 / 2.0;
    Some(u / (n_pos as f64 * n_neg as f64))
}

/// 1-based mid-ranks: tied values share the mean of the ranks they span.
pub fn midranks(x: &[f32]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut ranks = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        // Positions i..=j (0-based) hold ranks i+1..=j+1; their mean:
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            ranks[o] = r;
        }
        i = j + 1;
    }
    ranks
}

/// One-vs-rest AUC of every class (None where it is undefined).
pub fn per_class_auc(probs: &[f32], labels: &[i64], num_classes: usize) -> Vec<Option<f64>> {
    (0..num_classes).map(|c| class_auc(probs, labels, num_classes, c)).collect()
}

/// Macro one-vs-rest ROC AUC, exact (Mann–Whitney with ties counted ½);
/// classes with no positive or no negative row are left out of the mean.
/// NaN when no class qualifies.
pub fn macro_auc(probs: &[f32], labels: &[i64], num_classes: usize) -> f64 {
    let aucs: Vec<f64> = per_class_auc(probs, labels, num_classes).into_iter().flatten().collect();
    if aucs.is_empty() {
        return f64::NAN;
    }
    aucs.iter().sum::<f64>() / aucs.len() as f64
}

/// Accuracy of each class (None when the class has no rows).
pub fn per_class_accuracy(probs: &[f32], labels: &[i64], num_classes: usize) -> Vec<Option<f64>> {
    let cm = confusion(probs, labels, num_classes);
    cm.iter()
        .enumerate()
        .map(|(c, row)| {
            let total: u64 = row.iter().sum();
            (total > 0).then(|| row[c] as f64 / total as f64)
        })
        .collect()
}

/// `confusion[true][pred]` counts.
pub fn confusion(probs: &[f32], labels: &[i64], num_classes: usize) -> Vec<Vec<u64>> {
    let mut cm = vec![vec![0u64; num_classes]; num_classes];
    for (row, &l) in rows(probs, num_classes).zip(labels) {
        if let Some(l) = label_index(l, num_classes) {
            cm[l][argmax(row)] += 1;
        }
    }
    cm
}

#[cfg(test)]
mod tests {
    use super::*;

    // 4 rows × 3 classes, hand-checked.
    const P: [f32; 12] = [
        0.7, 0.2, 0.1, //
        0.3, 0.3, 0.4, //
        0.5, 0.5, 0.0, //
        0.1, 0.6, 0.3,
    ];
    const L: [i64; 4] = [0, 1, 1, 2];

    #[test]
    fn top_k_breaks_ties_by_lower_index() {
        // Row 2: classes 0 and 1 tie; class 0 wins, so label 1 has rank 1.
        assert_eq!(top_k(&P, &L, 3, 1), 0.25);
        // top-2: row 1 misses (class 2 beats its label, class 0 ties it at a
        // lower index → rank 2); rows 0, 2, 3 hit.
        assert_eq!(top_k(&P, &L, 3, 2), 0.75);
        assert_eq!(top_k(&P, &L, 3, 3), 1.0);
    }

    #[test]
    fn auc_counts_ties_half() {
        // Class 0 scores: pos {0.7}, neg {0.3, 0.5, 0.1} → 1.0.
        assert_eq!(class_auc(&P, &L, 3, 0), Some(1.0));
        // Class 1: pos {0.3, 0.5}, neg {0.2, 0.6}: pairs (0.3>0.2)=1,
        // (0.3<0.6)=0, (0.5>0.2)=1, (0.5<0.6)=0 → 2/4.
        assert_eq!(class_auc(&P, &L, 3, 1), Some(0.5));
        // Class 2: pos {0.3}, neg {0.1, 0.4, 0.0} → 2/3.
        let a2 = class_auc(&P, &L, 3, 2).unwrap();
        assert!((a2 - 2.0 / 3.0).abs() < 1e-12);
        let tie = [0.5f32, 0.5, 0.5, 0.5];
        assert_eq!(class_auc(&tie, &[0, 1], 2, 0), Some(0.5));
        assert!((macro_auc(&P, &L, 3) - (1.0 + 0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn classes_without_positives_are_skipped() {
        let p = [0.9f32, 0.1, 0.0, 0.2, 0.8, 0.0];
        assert_eq!(per_class_auc(&p, &[0, 1], 3), vec![Some(1.0), Some(1.0), None]);
        assert_eq!(macro_auc(&p, &[0, 1], 3), 1.0);
        assert!(macro_auc(&p[..3], &[0], 3).is_nan());
    }

    #[test]
    fn confusion_and_per_class() {
        let cm = confusion(&P, &L, 3);
        assert_eq!(cm, vec![vec![1, 0, 0], vec![1, 0, 1], vec![0, 1, 0]]);
        assert_eq!(per_class_accuracy(&P, &L, 3), vec![Some(1.0), Some(0.0), Some(0.0)]);
        let p = [0.9f32, 0.1, 0.0];
        assert_eq!(per_class_accuracy(&p, &[0], 3), vec![Some(1.0), None, None]);
    }

    #[test]
    fn bad_inputs_are_reported_not_panicked() {
        assert!(matches!(check_inputs(&P, &L[..3], 3), Err(MetricsError::Shape { .. })));
        assert_eq!(
            check_inputs(&P, &[0, 1, 7, 2], 3),
            Err(MetricsError::Label { row: 2, label: 7, classes: 3 })
        );
        let mut p = P;
        p[4] = f32::NAN;
        assert_eq!(check_inputs(&p, &L, 3), Err(MetricsError::NonFinite { row: 1, class: 1 }));
        assert!(check_inputs(&P, &L, 3).is_ok());
        // The metrics still answer: a bad label is a miss.
        assert_eq!(top_k(&P, &[0, 1, 7, 2], 3, 3), 0.75);
    }
}

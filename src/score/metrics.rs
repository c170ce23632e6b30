//! Classification metrics on predicted probabilities. (Being built: issue 5/7;
//! the signatures below are the contract.) `probs` is row-major `N × C`.

/// Fraction of rows whose label is among the `k` highest probabilities
/// (ties broken by lower class index).
pub fn top_k(_probs: &[f32], _labels: &[i64], _num_classes: usize, _k: usize) -> f64 {
    unimplemented!()
}

/// Macro one-vs-rest ROC AUC, exact (Mann–Whitney with ties counted ½);
/// classes with no positive or no negative row are left out of the mean.
pub fn macro_auc(_probs: &[f32], _labels: &[i64], _num_classes: usize) -> f64 {
    unimplemented!()
}

/// Accuracy of each class (None when the class has no rows).
pub fn per_class_accuracy(_probs: &[f32], _labels: &[i64], _num_classes: usize) -> Vec<Option<f64>> {
    unimplemented!()
}

/// `confusion[true][pred]` counts.
pub fn confusion(_probs: &[f32], _labels: &[i64], _num_classes: usize) -> Vec<Vec<u64>> {
    unimplemented!()
}

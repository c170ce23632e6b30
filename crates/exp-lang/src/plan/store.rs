//! The stage store: content-addressed records of finished stages.
//!
//! Every stage of a cell (decode, subset, train.frozen, train.finetune,
//! score) and of a sweep (compare) has a key: a BLAKE3 hash of exactly the
//! settings the stage reads, the keys of the stages it consumes and the `exp`
//! version. A finished stage leaves `DIR/.exp/stages/<key>.json` naming the
//! cell directory that holds its outputs. The cell directory in turn records
//! which keys its current files belong to (`.exp-keys.json`), so a marker whose
//! files were since overwritten by a different configuration reads as pending.
//!
//! What re-runs when (docs/sweeps.md has the table): a change of backbone,
//! recipe, epochs, seed, subset size or data re-trains; a change of the score
//! split or metrics re-scores from `best.safetensors` only; a change of the
//! bootstrap/confidence settings only re-compares.

use crate::atomic_file as atomic;
use crate::spec::{Cell, SweepSpec};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Stage names as shown by `exp plan`.
pub const DECODE: &str = "decode";
pub const SUBSET: &str = "subset";
pub const TRAIN_FROZEN: &str = "train.frozen";
pub const TRAIN_FINETUNE: &str = "train.finetune";
pub const SCORE: &str = "score";
pub const COMPARE: &str = "compare";

/// Whether a stage's outputs can be reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageState {
    Cached,
    Pending,
}

/// The keys of one cell's stages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellStages {
    pub decode: String,
    pub subset: String,
    pub train_frozen: String,
    pub train_finetune: String,
    pub score: String,
}

impl CellStages {
    /// `(stage name, key)` in execution order.
    pub fn list(&self) -> [(&'static str, &str); 5] {
        [
            (DECODE, &self.decode),
            (SUBSET, &self.subset),
            (TRAIN_FROZEN, &self.train_frozen),
            (TRAIN_FINETUNE, &self.train_finetune),
            (SCORE, &self.score),
        ]
    }
}

/// The stage keys of a cell: the hashes of the plan's stage chain, so
/// `exp plan` and the store always agree on what is cached.
pub fn cell_stages(cell: &Cell) -> CellStages {
    let [decode, subset, frozen, finetune, score] = crate::plan::graph::cell_chain(cell);
    CellStages {
        decode: decode.hash,
        subset: subset.hash,
        train_frozen: frozen.hash,
        train_finetune: finetune.hash,
        score: score.hash,
    }
}

/// The key of a sweep's compare stage (statistics over all its cells' scores).
pub fn compare_key(sweep: &SweepSpec) -> String {
    let scores: Vec<_> = sweep
        .cells
        .iter()
        .map(|c| {
            let [.., score] = crate::plan::graph::cell_chain(c);
            score
        })
        .collect();
    crate::plan::graph::compare_stage(sweep, &scores).hash
}

/// A finished-stage record, `DIR/.exp/stages/<key>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageMarker {
    pub stage: String,
    pub key: String,
    /// Cell id (or sweep name for `compare`).
    pub owner: String,
    /// Directory holding the outputs, relative to the output directory.
    pub location: PathBuf,
    pub exp_version: String,
    /// Stage-specific facts (the training outcome for train stages).
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// Which stage keys a cell directory's current files belong to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DirKeys {
    /// `train.finetune` key of `best.safetensors`, `metrics.csv` and `ckpt/`.
    pub train: Option<String>,
    /// `score` key of `scores.json` and `predictions.csv`.
    pub score: Option<String>,
}

pub fn stages_dir(out_dir: &Path) -> PathBuf {
    out_dir.join(".exp").join("stages")
}

pub fn marker_path(out_dir: &Path, key: &str) -> PathBuf {
    stages_dir(out_dir).join(format!("{key}.json"))
}

pub fn dir_keys_path(cell_dir: &Path) -> PathBuf {
    cell_dir.join(".exp-keys.json")
}

pub fn read_dir_keys(cell_dir: &Path) -> DirKeys {
    std::fs::read(dir_keys_path(cell_dir))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

pub fn write_dir_keys(cell_dir: &Path, keys: &DirKeys) -> std::io::Result<()> {
    atomic::write_json(&dir_keys_path(cell_dir), keys)
}

pub fn read_marker(out_dir: &Path, key: &str) -> Option<StageMarker> {
    let bytes = std::fs::read(marker_path(out_dir, key)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

pub fn write_marker(out_dir: &Path, marker: &StageMarker) -> std::io::Result<()> {
    atomic::write_json(&marker_path(out_dir, &marker.key), marker)
}

/// Record a finished stage.
pub fn mark_done(
    out_dir: &Path,
    stage: &str,
    key: &str,
    owner: &str,
    location: &Path,
    detail: serde_json::Value,
) -> std::io::Result<()> {
    let location = location
        .strip_prefix(out_dir)
        .unwrap_or(location)
        .to_path_buf();
    write_marker(
        out_dir,
        &StageMarker {
            stage: stage.into(),
            key: key.into(),
            owner: owner.into(),
            location,
            exp_version: crate::VERSION.into(),
            detail,
        },
    )
}

/// Cached when a marker for `hash` exists under `out_dir` and the files it
/// points to still belong to it. This is what `exp plan --out DIR` shows.
pub fn stage_state(out_dir: &Path, hash: &str) -> StageState {
    let Some(m) = read_marker(out_dir, hash) else {
        return StageState::Pending;
    };
    let dir = out_dir.join(&m.location);
    let valid = match m.stage.as_str() {
        TRAIN_FROZEN | TRAIN_FINETUNE => {
            let train_key = m
                .detail
                .get("train_key")
                .and_then(|v| v.as_str())
                .unwrap_or(&m.key);
            // Why: a cell that diverged before its first checkpoint has no
            // weights, and that is its final result, not a missing file.
            let diverged = m.detail.pointer("/outcome/status/Diverged").is_some();
            read_dir_keys(&dir).train.as_deref() == Some(train_key)
                && (diverged || dir.join("best.safetensors").exists())
        }
        SCORE => score_in_place(&dir, hash),
        // Why check the cells too: the compare stage consumes every cell's
        // scores; a deleted or re-scored cell makes the report stale.
        COMPARE => {
            let cells_ok = m
                .detail
                .get("scores")
                .and_then(|v| v.as_array())
                .is_none_or(|list| {
                    list.iter().all(|e| {
                        match (
                            e.get(0).and_then(|v| v.as_str()),
                            e.get(1).and_then(|v| v.as_str()),
                        ) {
                            (Some(loc), Some(key)) => score_in_place(&out_dir.join(loc), key),
                            _ => false,
                        }
                    })
                });
            dir.join("report.json").exists() && cells_ok
        }
        _ => true,
    };
    if valid {
        StageState::Cached
    } else {
        StageState::Pending
    }
}

/// Whether `dir` holds the scores of score key `key`.
fn score_in_place(dir: &Path, key: &str) -> bool {
    read_dir_keys(dir).score.as_deref() == Some(key) && dir.join("scores.json").exists()
}

/// The compare marker's detail: each cell's directory (relative to the
/// output directory) and score key, so `stage_state` can re-check them.
pub fn compare_detail(out_dir: &Path, sweep: &SweepSpec) -> serde_json::Value {
    let scores: Vec<serde_json::Value> = sweep
        .cells
        .iter()
        .map(|c| {
            let dir = cell_dir(out_dir, c);
            let rel = dir.strip_prefix(out_dir).unwrap_or(&dir).to_path_buf();
            serde_json::json!([rel, cell_stages(c).score])
        })
        .collect();
    serde_json::json!({ "scores": scores })
}

/// The directory of a cell's outputs: `DIR/<sweep>/<cell id>`.
pub fn cell_dir(out_dir: &Path, cell: &Cell) -> PathBuf {
    out_dir.join(&cell.sweep).join(cell.short_id())
}

pub fn sweep_dir(out_dir: &Path, sweep: &str) -> PathBuf {
    out_dir.join(sweep)
}

/// A fixture the runtime's executor tests share (why not `cfg(test)`:
/// another crate's tests cannot see that).
#[doc(hidden)]
pub mod testing {
    use crate::spec::*;
    use std::collections::BTreeMap;

    /// A complete cell with tiny settings, for tests of the executor.
    pub fn sample_cell(sweep: &str, backbone: &str, recipe: &str, seed: u64) -> Cell {
        let data = DataSpec {
            name: "gen".into(),
            source: DataSource::Generated(GeneratedSpec {
                root: "data/gen".into(),
                classes: 3,
                train: 30,
                val: 9,
                test: 9,
                size: 16,
                seed: 1,
                image_signal: 1.0,
                metadata_signal: 0.5,
            }),
            image_size: 16,
            cache_size: 18,
            metadata: vec![],
            columns: Columns::default(),
            stratify: true,
            on_bad_image: BadImagePolicy::Fail,
            cache_dir: None,
            content: None,
            near_duplicates: false,
            metadata_types: Default::default(),
        };
        let backbone_spec = BackboneSpec {
            name: backbone.into(),
            arch: "resnet_test".into(),
            pretrained: None,
            drop_path: 0.0,
            input_size: 16,
            mean: [0.5; 3],
            std: [0.5; 3],
            family: Family::Tiny,
        };
        let recipe_spec = RecipeSpec {
            name: recipe.into(),
            optimizer: OptimizerSpec {
                kind: OptimizerKind::AdamW {
                    beta1: 0.9,
                    beta2: 0.999,
                    eps: 1e-8,
                },
                lr: 1e-3,
                finetune_lr: 1e-4,
                weight_decay: 0.05,
            },
            schedule: Schedule::Cosine { min_lr_ratio: 0.0 },
            warmup: Warmup::None,
            batch: 8,
            accumulate: 1,
            augment: vec![],
            dropout: Dropout {
                head: 0.0,
                metadata: 0.0,
            },
            label_smoothing: 0.0,
            early_stop: None,
            monitor: Monitor::ValLoss,
            select_split: "val".into(),
            precision: Precision::Auto,
            grad_clip: None,
            ema: None,
            layer_decay: None,
            metadata_hidden: 8,
            diverge_factor: 10.0,
            val_loss_factor: 10.0,
            on_unstable: crate::spec::OnUnstable::Continue,
            cuda_graphs: crate::spec::CudaGraphs::Auto,
            sync_bn: false,
        };
        let budget = BudgetSpec {
            name: "tiny".into(),
            train_samples: None,
            val_samples: None,
            frozen_epochs: 1,
            finetune_epochs: 1,
            time_limit_s: None,
            max_samples: None,
            checkpoint_every_steps: None,
        };
        let score = ScoreSpec {
            name: "test".into(),
            split: "test".into(),
            metrics: vec![Metric::Top1, Metric::TopK(3), Metric::Auc],
            confidence: 0.95,
            bootstrap: 100,
        };
        let mut axis_values = BTreeMap::new();
        axis_values.insert("backbone".into(), backbone.into());
        axis_values.insert("recipe".into(), recipe.into());
        Cell {
            id: format!("{sweep}/{backbone}-{recipe}-s{seed}"),
            sweep: sweep.into(),
            seed,
            data,
            backbone: backbone_spec,
            recipe: recipe_spec,
            budget,
            score,
            axis_values,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::testing::sample_cell;
    use super::*;

    #[test]
    fn score_split_changes_only_the_score_key() {
        let a = sample_cell("r", "b1", "adamw", 0);
        let mut b = a.clone();
        b.score.split = "val".into();
        let (ka, kb) = (cell_stages(&a), cell_stages(&b));
        assert_eq!(ka.train_finetune, kb.train_finetune);
        assert_ne!(ka.score, kb.score);
    }

    #[test]
    fn backbone_changes_training_but_not_the_data_stages() {
        let a = sample_cell("r", "b1", "adamw", 0);
        let b = sample_cell("r", "b2", "adamw", 0);
        let (ka, kb) = (cell_stages(&a), cell_stages(&b));
        assert_eq!(
            (ka.decode.as_str(), ka.subset.as_str()),
            (kb.decode.as_str(), kb.subset.as_str())
        );
        assert_ne!(ka.train_frozen, kb.train_frozen);
        assert_ne!(ka.score, kb.score);
    }

    #[test]
    fn finetune_epochs_keep_the_frozen_key() {
        let a = sample_cell("r", "b1", "adamw", 0);
        let mut b = a.clone();
        b.budget.finetune_epochs = 5;
        let (ka, kb) = (cell_stages(&a), cell_stages(&b));
        assert_eq!(ka.train_frozen, kb.train_frozen);
        assert_ne!(ka.train_finetune, kb.train_finetune);
    }

    #[test]
    fn marker_is_cached_only_while_the_directory_still_belongs_to_it() {
        let out = tempfile::tempdir().unwrap();
        let cell = sample_cell("r", "b1", "adamw", 0);
        let keys = cell_stages(&cell);
        let dir = out.path().join("r/b1-adamw-s0");
        assert_eq!(
            stage_state(out.path(), &keys.train_finetune),
            StageState::Pending
        );
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("best.safetensors"), b"w").unwrap();
        write_dir_keys(
            &dir,
            &DirKeys {
                train: Some(keys.train_finetune.clone()),
                score: None,
            },
        )
        .unwrap();
        let detail = serde_json::json!({ "train_key": keys.train_finetune });
        mark_done(
            out.path(),
            TRAIN_FINETUNE,
            &keys.train_finetune,
            &cell.id,
            &dir,
            detail.clone(),
        )
        .unwrap();
        mark_done(
            out.path(),
            TRAIN_FROZEN,
            &keys.train_frozen,
            &cell.id,
            &dir,
            detail,
        )
        .unwrap();
        assert_eq!(
            stage_state(out.path(), &keys.train_finetune),
            StageState::Cached
        );
        assert_eq!(
            stage_state(out.path(), &keys.train_frozen),
            StageState::Cached
        );
        assert_eq!(stage_state(out.path(), &keys.score), StageState::Pending);
        // The directory is retrained under another configuration: old marker is stale.
        write_dir_keys(
            &dir,
            &DirKeys {
                train: Some("other".into()),
                score: None,
            },
        )
        .unwrap();
        assert_eq!(
            stage_state(out.path(), &keys.train_finetune),
            StageState::Pending
        );
    }
}

//! The stage graph: every cell of every sweep as a chain of stages that share
//! work where their inputs are equal.
//!
//! ```text
//! decode(data) ─ subset(data, budget, seed) ─ train.frozen(cell) ─ train.finetune(cell) ─ score(cell) ─ compare(sweep)
//! ```
//!
//! A stage's hash covers exactly the settings it reads plus its dependencies'
//! hashes and [`crate::VERSION`], so re-running a sweep skips finished stages
//! (same hash) and adding a backbone adds only the new cells' stages.

use super::hash::StageHasher;
use crate::spec::{Cell, Pipeline};
use serde::Serialize;
use std::collections::BTreeMap;

/// What a stage does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum StageKind {
    /// Open, validate and decode-cache a data set.
    #[serde(rename = "decode")]
    Decode,
    /// Draw the seeded per-split subsets of a (data, budget, seed).
    #[serde(rename = "subset")]
    Subset,
    /// Train head and metadata branch on a frozen backbone.
    #[serde(rename = "train.frozen")]
    TrainFrozen,
    /// Finetune every parameter; keeps the best checkpoint.
    #[serde(rename = "train.finetune")]
    TrainFinetune,
    /// Predict the scored split with the best checkpoint and compute metrics.
    #[serde(rename = "score")]
    Score,
    /// Paired comparison of a sweep's cells against its baseline.
    #[serde(rename = "compare")]
    Compare,
}

impl StageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StageKind::Decode => "decode",
            StageKind::Subset => "subset",
            StageKind::TrainFrozen => "train.frozen",
            StageKind::TrainFinetune => "train.finetune",
            StageKind::Score => "score",
            StageKind::Compare => "compare",
        }
    }
}

/// One stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    /// Readable id: `decode/derm`, `subset/derm-screen-s17`,
    /// `train.frozen/round1/resnet50-adamw_cosine-s17`, `compare/round1`.
    pub id: String,
    pub kind: StageKind,
    /// The cell id for per-cell stages.
    pub cell: Option<String>,
    /// Ids of the stages this one reads.
    pub deps: Vec<String>,
    /// Hex blake3 identity (the stage store's key).
    pub hash: String,
}

/// Every stage of a pipeline, dependencies before dependents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StageGraph {
    pub stages: Vec<Stage>,
}

impl StageGraph {
    /// Build the graph of every sweep of `p`.
    pub fn build(p: &Pipeline) -> StageGraph {
        let mut g = Builder::default();
        for sweep in p.sweeps.values() {
            let mut scores = Vec::new();
            for cell in &sweep.cells {
                scores.push(g.cell(cell));
            }
            let mut h = StageHasher::new("compare");
            h.setting("sweep", &sweep.name)
                .setting("baseline", &sweep.baseline);
            let cells: Vec<&str> = sweep.cells.iter().map(|c| c.id.as_str()).collect();
            h.setting("cells", &cells);
            let score_specs: BTreeMap<&str, _> = sweep
                .cells
                .iter()
                .map(|c| (c.score.name.as_str(), &c.score))
                .collect();
            h.setting("scores", &score_specs);
            let mut deps = Vec::new();
            for (id, hash) in &scores {
                h.dep(hash);
                deps.push(id.clone());
            }
            g.push(Stage {
                id: format!("compare/{}", sweep.name),
                kind: StageKind::Compare,
                cell: None,
                deps,
                hash: h.finish(),
            });
        }
        StageGraph { stages: g.stages }
    }

    pub fn get(&self, id: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.id == id)
    }

    /// The stages of one cell, in order.
    pub fn cell_stages<'a>(&'a self, cell: &'a str) -> impl Iterator<Item = &'a Stage> + 'a {
        self.stages
            .iter()
            .filter(move |s| s.cell.as_deref() == Some(cell))
    }
}

#[derive(Default)]
struct Builder {
    stages: Vec<Stage>,
    /// id → hash of shared stages already added.
    shared: BTreeMap<String, String>,
}

impl Builder {
    fn push(&mut self, s: Stage) {
        self.stages.push(s);
    }

    fn shared(
        &mut self,
        id: String,
        kind: StageKind,
        deps: Vec<String>,
        hash: String,
    ) -> (String, String) {
        if !self.shared.contains_key(&id) {
            self.shared.insert(id.clone(), hash.clone());
            self.push(Stage {
                id: id.clone(),
                kind,
                cell: None,
                deps,
                hash: hash.clone(),
            });
        }
        let hash = self.shared.get(&id).cloned().unwrap_or(hash);
        (id, hash)
    }

    /// Add a cell's stages; returns the (id, hash) of its score stage.
    fn cell(&mut self, c: &Cell) -> (String, String) {
        let d = &c.data;
        let mut h = StageHasher::new("decode");
        h.setting("source", &d.source)
            .setting("cache_size", &d.cache_size)
            .setting("columns", &d.columns)
            .setting("on_bad_image", &d.on_bad_image);
        let (decode_id, decode_hash) = self.shared(
            format!("decode/{}", d.name),
            StageKind::Decode,
            Vec::new(),
            h.finish(),
        );

        let b = &c.budget;
        let mut h = StageHasher::new("subset");
        h.dep(&decode_hash)
            .setting("seed", &c.seed)
            .setting("train_samples", &b.train_samples)
            .setting("val_samples", &b.val_samples)
            .setting("stratify", &d.stratify);
        let subset_id = format!("subset/{}-{}-s{}", d.name, b.name, c.seed);
        let (subset_id, subset_hash) =
            self.shared(subset_id, StageKind::Subset, vec![decode_id], h.finish());

        // Settings every training phase reads.
        let train_settings = |h: &mut StageHasher| {
            h.setting("cell", &c.id)
                .setting("seed", &c.seed)
                .setting("image_size", &d.image_size)
                .setting("metadata", &d.metadata)
                .setting("backbone", &c.backbone)
                .setting("recipe", &c.recipe)
                .setting("max_samples", &b.max_samples)
                .setting("time_limit_s", &b.time_limit_s)
                .setting("checkpoint_every_steps", &b.checkpoint_every_steps);
        };
        let (mut prev_id, mut prev_hash) = (subset_id, subset_hash);
        if b.frozen_epochs > 0 {
            let mut h = StageHasher::new("train.frozen");
            h.dep(&prev_hash).setting("frozen_epochs", &b.frozen_epochs);
            train_settings(&mut h);
            let id = format!("train.frozen/{}", c.id);
            let hash = h.finish();
            self.push(Stage {
                id: id.clone(),
                kind: StageKind::TrainFrozen,
                cell: Some(c.id.clone()),
                deps: vec![prev_id],
                hash: hash.clone(),
            });
            (prev_id, prev_hash) = (id, hash);
        }
        if b.finetune_epochs > 0 {
            let mut h = StageHasher::new("train.finetune");
            h.dep(&prev_hash)
                .setting("finetune_epochs", &b.finetune_epochs);
            train_settings(&mut h);
            let id = format!("train.finetune/{}", c.id);
            let hash = h.finish();
            self.push(Stage {
                id: id.clone(),
                kind: StageKind::TrainFinetune,
                cell: Some(c.id.clone()),
                deps: vec![prev_id],
                hash: hash.clone(),
            });
            (prev_id, prev_hash) = (id, hash);
        }
        let mut h = StageHasher::new("score");
        h.dep(&prev_hash).setting("score", &c.score);
        let id = format!("score/{}", c.id);
        let hash = h.finish();
        self.push(Stage {
            id: id.clone(),
            kind: StageKind::Score,
            cell: Some(c.id.clone()),
            deps: vec![prev_id],
            hash: hash.clone(),
        });
        (id, hash)
    }
}

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
use crate::spec::{Cell, Pipeline, SweepSpec};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

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
            let scores: Vec<Stage> = sweep.cells.iter().map(|c| g.cell(c)).collect();
            g.push(compare_stage(sweep, &scores));
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

/// The compare stage of a sweep, reading its cells' score stages.
pub fn compare_stage(sweep: &SweepSpec, scores: &[Stage]) -> Stage {
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
    for s in scores {
        h.dep(&s.hash);
    }
    Stage {
        id: format!("compare/{}", sweep.name),
        kind: StageKind::Compare,
        cell: None,
        deps: scores.iter().map(|s| s.id.clone()).collect(),
        hash: h.finish(),
    }
}

/// The chain of one cell: decode, subset, train.frozen, train.finetune, score.
///
/// This is the one definition of stage identity: `exp plan` shows these
/// hashes and the stage store (`exec::store`) keys finished work by them.
/// Why both training stages even at 0 epochs: a phase with no epochs is a
/// no-op whose identity still records that, so the chain has one shape.
pub fn cell_chain(c: &Cell) -> [Stage; 5] {
    let d = &c.data;
    let mut h = StageHasher::new("decode");
    match &d.content {
        // Why no paths when the content is known: see `DataSource::identity`.
        Some(content) => h
            .setting("source", &d.source.identity())
            .setting("content", content),
        // Unread data (a plan without its files, a unit test): the paths are
        // all that tells two data sets apart.
        None => h.setting("source", &d.source),
    }
    .setting("cache_size", &d.cache_size)
    .setting("columns", &d.columns)
    .setting("on_bad_image", &d.on_bad_image);
    let decode = Stage {
        id: format!("decode/{}", d.name),
        kind: StageKind::Decode,
        cell: None,
        deps: Vec::new(),
        hash: h.finish(),
    };

    let b = &c.budget;
    let mut h = StageHasher::new("subset");
    h.dep(&decode.hash)
        .setting("seed", &c.seed)
        .setting("train_samples", &b.train_samples)
        .setting("val_samples", &b.val_samples)
        .setting("stratify", &d.stratify);
    let subset = Stage {
        id: format!("subset/{}-{}-s{}", d.name, b.name, c.seed),
        kind: StageKind::Subset,
        cell: None,
        deps: vec![decode.id.clone()],
        hash: h.finish(),
    };

    // Settings every training phase reads.
    let train_settings = |h: &mut StageHasher| {
        h.setting("cell", &c.id)
            .setting("seed", &c.seed)
            .setting("image_size", &d.image_size)
            .setting("metadata", &d.metadata)
            .setting("backbone", &c.backbone)
            .setting("recipe", &c.recipe)
            .setting("max_samples", &b.max_samples)
            .setting("time_limit_s", &b.time_limit_s);
        // Why not the checkpoint interval: resuming is bit-identical, so
        // how often a cell checkpoints never changes its result.
    };
    let per_cell = |kind: StageKind, dep: &Stage, h: &StageHasher| Stage {
        id: format!("{}/{}", kind.as_str(), c.id),
        kind,
        cell: Some(c.id.clone()),
        deps: vec![dep.id.clone()],
        hash: h.finish(),
    };
    let mut h = StageHasher::new("train.frozen");
    h.dep(&subset.hash)
        .setting("frozen_epochs", &b.frozen_epochs);
    train_settings(&mut h);
    let frozen = per_cell(StageKind::TrainFrozen, &subset, &h);

    let mut h = StageHasher::new("train.finetune");
    h.dep(&frozen.hash)
        .setting("finetune_epochs", &b.finetune_epochs);
    train_settings(&mut h);
    let finetune = per_cell(StageKind::TrainFinetune, &frozen, &h);

    let mut h = StageHasher::new("score");
    h.dep(&finetune.hash).setting("score", &c.score);
    let score = per_cell(StageKind::Score, &finetune, &h);
    [decode, subset, frozen, finetune, score]
}

#[derive(Default)]
struct Builder {
    stages: Vec<Stage>,
    /// Ids of shared stages already added.
    seen: BTreeSet<String>,
}

impl Builder {
    fn push(&mut self, s: Stage) {
        self.stages.push(s);
    }

    /// Add a cell's stages (shared ones once); returns its score stage.
    fn cell(&mut self, c: &Cell) -> Stage {
        let [decode, subset, frozen, finetune, score] = cell_chain(c);
        for shared in [decode, subset] {
            if !self.seen.contains(&shared.id) {
                self.seen.insert(shared.id.clone());
                self.push(shared);
            }
        }
        self.push(frozen);
        self.push(finetune);
        self.push(score.clone());
        score
    }
}

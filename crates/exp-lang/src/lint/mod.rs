//! Lints: checks of a well-typed pipeline against what the field knows
//! (recipes that diverge, leaking splits, test sets too small to rank...).
//! One module per rule; each has a stable code, What / Why / Example docs
//! (`exp explain CODE`) and a `check` function.
//!
//! Severity: warnings, except `split_leakage`, `image_size_for_arch`,
//! `subset_exceeds_split`, `unknown_column`, `missing_weights`,
//! `missing_images`, `missing_split`, `same_image_in_splits` and
//! `label_in_metadata`, which are errors because the run would be
//! meaningless or fail (see docs/diagnostics.md).

pub mod data_rules;
pub mod diverging_recipe;
pub mod image_size_for_arch;
pub mod label_in_metadata;
pub mod layer_decay_on_cnn;
pub mod mixed_init;
pub mod split_leakage;
pub mod unused_declaration;
pub mod warmup_exceeds_budget;

use crate::lang::ast::ExprKind;
use crate::lang::check::Checked;
use crate::lang::diag::Diag;
use crate::lang::resolve::Env;
use crate::lang::span::Span;
use miette::{Diagnostic, SourceSpan};
use thiserror::Error;

/// What every rule sees.
pub struct LintCtx<'a> {
    pub env: &'a Env,
    pub checked: &'a Checked,
}

impl LintCtx<'_> {
    /// Span of the value of `field` in declaration `decl`, else its name.
    pub fn field_span(&self, decl: &str, field: &str) -> Option<Span> {
        let info = self.checked.info.get(decl)?;
        Some(info.fields.get(field).copied().unwrap_or(info.name_span))
    }

    /// Span of the reference `name` inside sweep field `field` (the list item),
    /// else of the whole field value.
    pub fn sweep_ref_span(&self, sweep: &str, field: &str, name: &str) -> Option<Span> {
        let m = self.env.merged.get(sweep)?;
        let f = m.field(field)?;
        let found = match &f.value.kind {
            ExprKind::List(items) => items.iter().find_map(|i| match &i.kind {
                ExprKind::Ref(id) if id.name == name => Some(id.span),
                _ => None,
            }),
            ExprKind::Ref(id) if id.name == name => Some(id.span),
            _ => None,
        };
        Some(found.unwrap_or(f.value.span))
    }

    /// Every cell of the user's sweeps, with its sweep.
    pub fn user_cells(
        &self,
    ) -> impl Iterator<Item = (&crate::spec::SweepSpec, &crate::spec::Cell)> {
        self.user_sweeps()
            .flat_map(|s| s.cells.iter().map(move |c| (s, c)))
    }

    /// The sweeps whose declaration is not in the standard library.
    pub fn user_sweeps(&self) -> impl Iterator<Item = &crate::spec::SweepSpec> {
        self.checked
            .pipeline
            .sweeps
            .values()
            .filter(|s| self.checked.info.get(&s.name).is_some_and(|i| !i.is_std))
    }
}

/// The lint diagnostics: one variant per rule.
#[derive(Debug, Error, Diagnostic)]
pub enum LintWarning {
    #[error("recipe `{recipe}` is known to diverge on `{backbone}` ({family}): RMSprop at finetune_lr {lr}")]
    #[diagnostic(code(exp::lint::diverging_recipe), severity(Warning), help("{help}"))]
    DivergingRecipe {
        recipe: String,
        backbone: String,
        family: String,
        lr: String,
        #[label("this recipe × `{backbone}`")]
        span: SourceSpan,
        help: String,
    },
    #[error("image_size {size} of data `{data}` does not suit backbone `{backbone}`: {reason}")]
    #[diagnostic(code(exp::lint::image_size_for_arch), severity(Error), help("{help}"))]
    ImageSizeForArch {
        size: u32,
        data: String,
        backbone: String,
        reason: String,
        #[label("{label}")]
        span: SourceSpan,
        label: String,
        help: String,
    },
    #[error("warmup of recipe `{recipe}` ({warmup}) is as long as the whole budget `{budget}` ({total})")]
    #[diagnostic(
        code(exp::lint::warmup_exceeds_budget),
        severity(Warning),
        help("{help}")
    )]
    WarmupExceedsBudget {
        recipe: String,
        warmup: String,
        budget: String,
        total: String,
        #[label("warmup never finishes")]
        span: SourceSpan,
        help: String,
    },
    #[error("recipe `{recipe}` selects checkpoints on split \"{split}\", which score `{score}` reports on")]
    #[diagnostic(code(exp::lint::split_leakage), severity(Error), help("{help}"))]
    SplitLeakage {
        recipe: String,
        score: String,
        split: String,
        #[label("selection / early stopping on the scored split")]
        span: SourceSpan,
        help: String,
    },
    #[error("recipe `{recipe}` sets layer_decay, but `{backbone}` is a CNN")]
    #[diagnostic(code(exp::lint::layer_decay_on_cnn), severity(Warning), help("{help}"))]
    LayerDecayOnCnn {
        recipe: String,
        backbone: String,
        #[label("layer-wise lr decay")]
        span: SourceSpan,
        help: String,
    },
    #[error("sweep `{sweep}` mixes pretrained and from-scratch backbones: `{backbone}` starts from random weights, {pretrained} from pretrained ones")]
    #[diagnostic(code(exp::lint::mixed_init), severity(Warning), help("{help}"))]
    MixedInit {
        sweep: String,
        backbone: String,
        pretrained: String,
        #[label("trains from scratch")]
        span: SourceSpan,
        help: String,
    },
    #[error("{kind} `{name}` is not used by any sweep")]
    #[diagnostic(code(exp::lint::unused_declaration), severity(Warning), help("{help}"))]
    UnusedDeclaration {
        kind: String,
        name: String,
        #[label("declared here, never used")]
        span: SourceSpan,
        help: String,
    },
    #[error("budget `{budget}` asks for {asked} {split} samples, but data `{data}` has {have}")]
    #[diagnostic(code(exp::lint::subset_exceeds_split), severity(Error), help("{help}"))]
    SubsetExceedsSplit {
        budget: String,
        data: String,
        split: String,
        asked: u64,
        have: usize,
        #[label("larger than the split")]
        span: SourceSpan,
        help: String,
    },
    #[error("data `{data}`: {message} ({location})")]
    #[diagnostic(code(exp::lint::missing_images), severity(Error), help("{help}"))]
    MissingImages {
        data: String,
        message: String,
        location: String,
        #[label("{problem_code}")]
        span: SourceSpan,
        problem_code: String,
        help: String,
    },
    #[error("data `{data}`: {count} image(s) appear in two splits with the same content: {pairs}")]
    #[diagnostic(code(exp::lint::same_image_in_splits), severity(Error), help("{help}"))]
    SameImageInSplits {
        data: String,
        count: usize,
        pairs: String,
        #[label("training images would be scored")]
        span: SourceSpan,
        help: String,
    },
    #[error("data `{data}`: {count} pair(s) of near-duplicate images across splits: {pairs}")]
    #[diagnostic(code(exp::lint::near_duplicates), severity(Warning), help("{help}"))]
    NearDuplicates {
        data: String,
        count: usize,
        pairs: String,
        #[label("look alike (perceptual hash)")]
        span: SourceSpan,
        help: String,
    },
    #[error("data `{data}`: metadata column `{column}` {why}")]
    #[diagnostic(code(exp::lint::label_in_metadata), severity(Error), help("{help}"))]
    LabelInMetadata {
        data: String,
        column: String,
        why: String,
        #[label("the model would read the answer here")]
        span: SourceSpan,
        help: String,
    },
    #[error("data `{data}`: {summary}")]
    #[diagnostic(code(exp::lint::ignored_files), severity(Warning), help("{help}"))]
    IgnoredFiles {
        data: String,
        summary: String,
        #[label("not every file here is used")]
        span: SourceSpan,
        help: String,
    },
    #[error("data `{data}` has no split `{split}`, which {who} needs (splits: {found})")]
    #[diagnostic(code(exp::lint::missing_split), severity(Error), help("{help}"))]
    MissingSplit {
        data: String,
        split: String,
        who: String,
        found: String,
        #[label("no such split in the data")]
        span: SourceSpan,
        help: String,
    },
    #[error("pretrained weights of backbone `{backbone}` are not on this machine: {problem}")]
    #[diagnostic(code(exp::lint::missing_weights), severity(Error), help("{help}"))]
    MissingWeights {
        backbone: String,
        problem: String,
        #[label("not found")]
        span: SourceSpan,
        help: String,
    },
    #[error("column `{column}` is not in the manifest of data `{data}`")]
    #[diagnostic(code(exp::lint::unknown_column), severity(Error), help("{help}"))]
    UnknownColumn {
        column: String,
        data: String,
        #[label("no such column")]
        span: SourceSpan,
        help: String,
    },
    #[error("the {split} split of `{data}` has {n} images: top-1 is only known to ±{half_width} points (95%)")]
    #[diagnostic(code(exp::lint::test_split_power), severity(Warning), help("{help}"))]
    TestSplitPower {
        split: String,
        data: String,
        n: usize,
        half_width: String,
        #[label("too small to rank {cells} cells")]
        span: SourceSpan,
        cells: usize,
        help: String,
    },
}

/// A lint rule's documentation.
pub struct RuleDoc {
    pub code: &'static str,
    /// What it does / Why is this bad / Example, in Markdown.
    pub doc: &'static str,
}

/// Every rule, for `exp explain` and docs.
pub const RULES: &[RuleDoc] = &[
    RuleDoc {
        code: diverging_recipe::CODE,
        doc: diverging_recipe::DOC,
    },
    RuleDoc {
        code: image_size_for_arch::CODE,
        doc: image_size_for_arch::DOC,
    },
    RuleDoc {
        code: warmup_exceeds_budget::CODE,
        doc: warmup_exceeds_budget::DOC,
    },
    RuleDoc {
        code: split_leakage::CODE,
        doc: split_leakage::DOC,
    },
    RuleDoc {
        code: layer_decay_on_cnn::CODE,
        doc: layer_decay_on_cnn::DOC,
    },
    RuleDoc {
        code: mixed_init::CODE,
        doc: mixed_init::DOC,
    },
    RuleDoc {
        code: unused_declaration::CODE,
        doc: unused_declaration::DOC,
    },
    RuleDoc {
        code: data_rules::SUBSET_CODE,
        doc: data_rules::SUBSET_DOC,
    },
    RuleDoc {
        code: data_rules::MISSING_CODE,
        doc: data_rules::MISSING_DOC,
    },
    RuleDoc {
        code: data_rules::COLUMN_CODE,
        doc: data_rules::COLUMN_DOC,
    },
    RuleDoc {
        code: data_rules::POWER_CODE,
        doc: data_rules::POWER_DOC,
    },
    RuleDoc {
        code: data_rules::WEIGHTS_CODE,
        doc: data_rules::WEIGHTS_DOC,
    },
    RuleDoc {
        code: label_in_metadata::CODE,
        doc: label_in_metadata::DOC,
    },
    RuleDoc {
        code: data_rules::SAME_CODE,
        doc: data_rules::SAME_DOC,
    },
    RuleDoc {
        code: data_rules::NEAR_CODE,
        doc: data_rules::NEAR_DOC,
    },
    RuleDoc {
        code: data_rules::IGNORED_CODE,
        doc: data_rules::IGNORED_DOC,
    },
    RuleDoc {
        code: data_rules::SPLIT_CODE,
        doc: data_rules::SPLIT_DOC,
    },
];

/// Rules that need more than the text (the data sets on disk): run after
/// the text rules when given.
pub type ExtraRules = fn(&LintCtx) -> Vec<Diag>;

/// Run every rule (`extra`: the data rules of `exp check --data`).
pub fn run(env: &Env, checked: &Checked, extra: Option<ExtraRules>) -> Vec<Diag> {
    let ctx = LintCtx { env, checked };
    let mut out = Vec::new();
    out.extend(diverging_recipe::check(&ctx));
    out.extend(image_size_for_arch::check(&ctx));
    out.extend(warmup_exceeds_budget::check(&ctx));
    out.extend(split_leakage::check(&ctx));
    out.extend(layer_decay_on_cnn::check(&ctx));
    out.extend(mixed_init::check(&ctx));
    out.extend(unused_declaration::check(&ctx));
    out.extend(label_in_metadata::check(&ctx));
    if let Some(extra) = extra {
        out.extend(extra(&ctx));
    }
    out
}

/// Documentation of a code: a lint rule's full docs, a front-end error's
/// entry or a runtime error's ([`crate::runtime_codes`]).
pub fn explain(code: &str) -> Option<String> {
    let code = code.trim();
    let full = if code.starts_with("exp::") {
        code.to_string()
    } else {
        format!("exp::lint::{code}")
    };
    if let Some(r) = RULES.iter().find(|r| r.code == full) {
        return Some(format!("{}\n\n{}", r.code, r.doc.trim()));
    }
    let full = code;
    crate::lang::error::ERROR_DOCS
        .iter()
        .chain(crate::runtime_codes::RUNTIME_DOCS)
        .find(|(c, _)| *c == full || c.rsplit("::").next() == Some(full))
        .map(|(c, d)| format!("{c}\n\n{}", d.trim()))
}

/// Every documented code (lints and errors).
pub fn all_codes() -> Vec<&'static str> {
    let mut v: Vec<&str> = crate::lang::error::ERROR_DOCS
        .iter()
        .map(|(c, _)| *c)
        .collect();
    v.extend(RULES.iter().map(|r| r.code));
    v.extend(crate::runtime_codes::RUNTIME_DOCS.iter().map(|(c, _)| *c));
    v
}

/// Deduplicate on a key: rules report each (recipe, backbone) pair once.
pub fn once<K: Ord + Clone>(seen: &mut std::collections::BTreeSet<K>, k: K) -> bool {
    seen.insert(k)
}

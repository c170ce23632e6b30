//! `exp::lint::diverging_recipe`: RMSprop with a large finetune learning rate
//! on ConvNeXt-V2 / ViT (DINOv2) backbones.

use super::{once, LintCtx, LintWarning};
use crate::lang::diag::Diag;
use crate::spec::{Family, OptimizerKind};
use std::collections::BTreeSet;

pub const CODE: &str = "exp::lint::diverging_recipe";
pub const DOC: &str = r#"
## What it does
Warns when a sweep cell finetunes a ConvNeXt-V2 or ViT (DINOv2) backbone with
RMSprop at `finetune_lr` ≥ 1e-3.

## Why is this bad
In the backbone report, RMSprop at finetune_lr 1e-3 destabilised the modern
backbones: their validation loss climbed after the first finetune epoch and
the saved "best" checkpoint was effectively the frozen-phase one. The
ranking then compares a diverged ConvNeXt against a healthy ResNet. AdamW at
1e-4 with a cosine schedule trains all of them stably.

## Example
```
sweep round1 {
  backbone = [resnet50, convnextv2_tiny]
  recipe   = rmsprop_baseline        // warns for convnextv2_tiny
  ...
}
```
Use `adamw_cosine` for the modern backbones, or lower `finetune_lr` to 1e-4.
"#;

/// Learning rate at and above which the report saw divergence.
const LR_LIMIT: f64 = 1e-3;

pub fn check(ctx: &LintCtx) -> Vec<Diag> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (sweep, cell) in ctx.user_cells() {
        let r = &cell.recipe;
        let b = &cell.backbone;
        // Why: the report's evidence is about pretrained modern backbones;
        // the tiny `*_test` networks exist for smoke tests.
        if b.arch.ends_with("_test") {
            continue;
        }
        let family = match b.family {
            Family::ConvNeXtV2 => "ConvNeXt-V2",
            Family::Vit => "ViT / DINOv2",
            _ => continue,
        };
        if !matches!(r.optimizer.kind, OptimizerKind::RmsProp { .. })
            || r.optimizer.finetune_lr < LR_LIMIT
            || cell.budget.finetune_epochs == 0
        {
            continue;
        }
        if !once(
            &mut seen,
            (sweep.name.clone(), r.name.clone(), b.name.clone()),
        ) {
            continue;
        }
        let Some(span) = ctx.sweep_ref_span(&sweep.name, "recipe", &r.name) else {
            continue;
        };
        out.push(Diag::new(
                span.file,
                LintWarning::DivergingRecipe {
                    recipe: r.name.clone(),
                    backbone: b.name.clone(),
                    family: family.into(),
                    lr: format!("{}", r.optimizer.finetune_lr),
                    span: span.into(),
                    help: format!(
                        "finetune `{}` with AdamW at ~1e-4 and a cosine schedule (std.recipes `adamw_cosine`), or exclude this cell: `exclude = [{{ backbone = {}, recipe = {} }}]`",
                        b.name, b.name, r.name
                    ),
                },
            ));
    }
    out
}

//! `exp::lint::layer_decay_on_cnn`: layer-wise lr decay on a CNN.

use super::{once, LintCtx, LintWarning};
use crate::lang::diag::Diag;
use std::collections::BTreeSet;

pub const CODE: &str = "exp::lint::layer_decay_on_cnn";
pub const DOC: &str = r#"
## What it does
Warns when a recipe with `layer_decay` trains a CNN backbone (ResNet,
ConvNeXt-V2, EfficientNetV2).

## Why is this bad
Layer-wise learning-rate decay is a ViT finetuning recipe (BEiT, DINOv2):
blocks of a transformer are uniform, so "depth" is well defined. On a CNN
the layer ids are stage-based and the decay mostly freezes the stem and
early stages, which is rarely what was meant — and it makes the CNN's
recipe differ from the ViT's in a way the sweep does not show.

## Example
```
recipe vit_ft extends adamw_cosine { layer_decay = 0.75 }
sweep s { backbone = [dinov2_vits14, resnet50]  recipe = vit_ft ... }   // warns for resnet50
```
Use a separate recipe without `layer_decay` for the CNNs.
"#;

pub fn check(ctx: &LintCtx) -> Vec<Diag> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (_, cell) in ctx.user_cells() {
        let r = &cell.recipe;
        if r.layer_decay.is_none() || !cell.backbone.family.is_cnn() {
            continue;
        }
        if !once(&mut seen, (r.name.clone(), cell.backbone.name.clone())) {
            continue;
        }
        let Some(span) = ctx.field_span(&r.name, "layer_decay") else {
            continue;
        };
        out.push(Diag::new(
            span.file,
            LintWarning::LayerDecayOnCnn {
                recipe: r.name.clone(),
                backbone: cell.backbone.name.clone(),
                span: span.into(),
                help: format!(
                    "drop `layer_decay` for `{}`: give CNNs a recipe without it",
                    cell.backbone.name
                ),
            },
        ));
    }
    out
}

//! `exp::lint::dinov2_image_size`: ViT / DINOv2 input not a multiple of the
//! 14-pixel patch.

use super::{once, LintCtx, LintWarning};
use crate::lang::diag::Diag;
use crate::spec::Family;
use std::collections::BTreeSet;

pub const CODE: &str = "exp::lint::dinov2_image_size";
pub const DOC: &str = r#"
## What it does
Warns when a ViT-family backbone (DINOv2 `dinov2_vits14`, `vit_test`) is fed
images whose size is not a multiple of its 14-pixel patch.

## Why is this bad
The patch embedding is a stride-14 convolution: a 224-pixel image gives
16 patches per side and drops the last 0 pixels, but 225 silently crops 1 pixel
and interpolates position embeddings for a grid the model never saw in
pretraining. Sizes like 224 (= 16 × 14) or 518 (= 37 × 14) avoid it.

## Example
```
data derm { manifest = "m.csv"  image_size = 256 }   // 256 = 18.3 × 14: warns
```
Use `image_size = 252` or `224`.
"#;

pub fn check(ctx: &LintCtx) -> Vec<Diag> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for sweep in ctx.user_sweeps() {
        for cell in &sweep.cells {
            if cell.backbone.family != Family::Vit || cell.data.image_size % 14 == 0 {
                continue;
            }
            if !once(
                &mut seen,
                (cell.data.name.clone(), cell.backbone.name.clone()),
            ) {
                continue;
            }
            let Some(span) = ctx.field_span(&cell.data.name, "image_size") else {
                continue;
            };
            let size = cell.data.image_size;
            let lo = size / 14 * 14;
            out.push(Diag::new(
                span.file,
                LintWarning::Dinov2ImageSize {
                    size,
                    data: cell.data.name.clone(),
                    backbone: cell.backbone.name.clone(),
                    span: span.into(),
                    help: format!("use image_size = {} or {}", lo.max(14), lo + 14),
                },
            ));
        }
    }
    out
}

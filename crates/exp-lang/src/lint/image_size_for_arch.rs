//! `exp::lint::image_size_for_arch`: an input size the backbone cannot run
//! (below its smallest input, or not a multiple of a ViT's patch).

use super::{once, LintCtx, LintWarning};
use crate::catalog::{self, SizeProblem};
use crate::lang::diag::Diag;
use std::collections::BTreeSet;

pub const CODE: &str = "exp::lint::image_size_for_arch";
pub const DOC: &str = r#"
## What it does
Reports, as an error, a data set whose `image_size` the sweep's backbone
cannot take: a ViT (DINOv2 `dinov2_vits14`, `vit_test`) needs a multiple of
its 14-pixel patch, and ConvNeXt-V2 needs at least 32 pixels (its unpadded
4× stem and three 2× downsamplings leave nothing below that). The rule is the
model zoo's own (`exp run` refuses the same sizes), checked before anything
trains.

## Why is this bad
The cell would fail when it starts, after the cells before it have trained,
and a sweep with that data × backbone pair could never finish. A ViT fed
225 pixels would also need position embeddings for a grid it never saw.

## Example
```
data derm { manifest = "m.csv"  image_size = 256 }   // with dinov2_vits14: 256 = 18.3 × 14
```
Use `image_size = 252` or `266` (or `224` = 16 × 14).
"#;

pub fn check(ctx: &LintCtx) -> Vec<Diag> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (_, cell) in ctx.user_cells() {
        let size = cell.data.image_size;
        let (reason, label, help) = match catalog::check_image_size(&cell.backbone.arch, size) {
                Ok(()) => continue,
                Err(SizeProblem::NotMultiple { arch, multiple }) => {
                    let lo = size / multiple * multiple;
                    (
                        format!("`{arch}` takes multiples of its {multiple}-pixel patch"),
                        format!("not a multiple of {multiple}"),
                        format!("use image_size = {} or {}", lo.max(multiple), lo + multiple),
                    )
                }
                Err(SizeProblem::TooSmall { arch, min }) => (
                    format!("`{arch}` needs at least {min} pixels"),
                    format!("below {min}"),
                    format!("use image_size = {min} or more, or a backbone with padded convolutions (resnet, efficientnetv2)"),
                ),
                // An unknown arch is the checker's own error.
                Err(_) => continue,
            };
        if !once(
            &mut seen,
            (cell.data.name.clone(), cell.backbone.name.clone()),
        ) {
            continue;
        }
        let Some(span) = ctx.field_span(&cell.data.name, "image_size") else {
            continue;
        };
        out.push(Diag::new(
            span.file,
            LintWarning::ImageSizeForArch {
                size,
                data: cell.data.name.clone(),
                backbone: cell.backbone.name.clone(),
                reason,
                span: span.into(),
                label,
                help,
            },
        ));
    }
    out
}

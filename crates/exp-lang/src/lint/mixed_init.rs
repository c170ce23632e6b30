//! `exp::lint::mixed_init`: a sweep whose backbone axis mixes pretrained and
//! from-scratch backbones.

use super::{LintCtx, LintWarning};
use crate::lang::diag::Diag;

pub const CODE: &str = "exp::lint::mixed_init";
pub const DOC: &str = r#"
## What it does
Warns when the backbones of one sweep do not start alike: some load
`pretrained` weights and some train from random initialisation. The label
is on each from-scratch backbone in the sweep's `backbone` list.

## Why is this bad
A bake-off compares architectures. A randomly initialised network trained
for a few epochs loses to a pretrained one whatever its architecture, so
the ranking (and every effect and p-value in the report) then measures the
initialisation, not the backbone. The backbone report's EfficientNetV2-S
was timm's ImageNet-21k → 1k checkpoint; a copy of its Round 1 that trained
it from scratch would call it worse for the wrong reason.

## Example
```
backbone effnet_scratch { arch = "efficientnetv2_s" }           // no weights
sweep round1 { backbone = [resnet50, effnet_scratch] ... }      // warns at effnet_scratch
```
Give the from-scratch backbone weights (`pretrained = hf("org/name")` or a
`.safetensors` file; `std.backbones.efficientnetv2_s` has them), or train
every backbone of the sweep from scratch (`pretrained = none`) if that is
the question.
"#;

pub fn check(ctx: &LintCtx) -> Vec<Diag> {
    let mut out = Vec::new();
    for sweep in ctx.user_sweeps() {
        // Distinct backbones in cell order.
        let mut backbones: Vec<&crate::spec::BackboneSpec> = Vec::new();
        for c in &sweep.cells {
            if !backbones.iter().any(|b| b.name == c.backbone.name) {
                backbones.push(&c.backbone);
            }
        }
        let (warm, scratch): (Vec<&crate::spec::BackboneSpec>, Vec<_>) =
            backbones.into_iter().partition(|b| b.pretrained.is_some());
        if warm.is_empty() || scratch.is_empty() {
            continue;
        }
        let warm_names = warm
            .iter()
            .map(|b| format!("`{}`", b.name))
            .collect::<Vec<_>>()
            .join(", ");
        for b in scratch {
            let Some(span) = ctx.sweep_ref_span(&sweep.name, "backbone", &b.name) else {
                continue;
            };
            out.push(Diag::new(
                span.file,
                LintWarning::MixedInit {
                    sweep: sweep.name.clone(),
                    backbone: b.name.clone(),
                    pretrained: warm_names.clone(),
                    span: span.into(),
                    help: format!(
                        "give `{}` pretrained weights (`backbone {}_pt extends {} {{ pretrained = hf(\"org/name\") }}`), \
                         or set `pretrained = none` on the others so the sweep compares architectures, not initialisations",
                        b.name, b.name, b.name
                    ),
                },
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::CheckOptions;

    fn messages(src: &str) -> Vec<(usize, String)> {
        let dir = tempfile::tempdir().expect("tempdir");
        let o = crate::driver::check_text("t.exp", src, dir.path(), &[], CheckOptions::default());
        o.diagnostics
            .iter()
            .filter(|d| d.code() == CODE)
            .map(|d| (d.line(&o.sources), d.message()))
            .collect()
    }

    const HEAD: &str = r#"use std.backbones
use std.recipes
use std.scores
data d { manifest = "m.csv" }
budget b {
  frozen   = 1 epoch
  finetune = 1 epoch
}
backbone scratch_r50 { arch = "resnet50" }
"#;

    #[test]
    fn warns_once_per_scratch_backbone_of_a_mixed_sweep_only() {
        let src = format!(
            "{HEAD}sweep mixed {{
  data     = d
  backbone = [resnet50, scratch_r50, convnextv2_tiny]
  recipe   = [rmsprop_baseline, adamw_cosine]
  budget   = b
  score    = full_test
}}
sweep all_scratch {{
  data     = d
  backbone = [scratch_r50, resnet_test]
  recipe   = adamw_cosine
  budget   = b
  score    = full_test
}}
"
        );
        let got = messages(&src);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, 12, "at the reference in the backbone list");
        assert!(got[0].1.contains("`scratch_r50`"), "{got:?}");
        assert!(
            got[0].1.contains("`resnet50`, `convnextv2_tiny`"),
            "{got:?}"
        );
    }
}

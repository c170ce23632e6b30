//! `exp::lint::split_leakage` (error): checkpoint selection or early stopping
//! on the split that is scored.

use super::{once, LintCtx, LintWarning};
use crate::lang::diag::Diag;
use std::collections::BTreeSet;

pub const CODE: &str = "exp::lint::split_leakage";
pub const DOC: &str = r#"
## What it does
Reports an **error** when a cell's recipe selects its best checkpoint (and
stops early) on the same split its score reports on: `select.split` equals
the score's `split`.

## Why is this bad
Choosing the epoch that does best on the test split and then reporting the
test split is fitting to the test set: the score is optimistically biased,
and more so for recipes with more epochs to choose from, so the comparison
between cells is biased too. This is an error, not a warning, because the
number it produces is not a test score.

## Example
```
recipe r { optimizer = adamw(lr = 1e-3)  select = { split = "test" } }
score s { split = "test" }      // error: both use "test"
```
Select on `"val"` (the default) and score on `"test"`.
"#;

pub fn check(ctx: &LintCtx) -> Vec<Diag> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (_, cell) in ctx.user_cells() {
        let r = &cell.recipe;
        let s = &cell.score;
        if r.select_split != s.split || !once(&mut seen, (r.name.clone(), s.name.clone())) {
            continue;
        }
        let span = ctx
            .field_span(&r.name, "select")
            .or_else(|| ctx.field_span(&r.name, "early_stop"));
        let Some(span) = span else { continue };
        out.push(Diag::new(
                span.file,
                LintWarning::SplitLeakage {
                    recipe: r.name.clone(),
                    score: s.name.clone(),
                    split: s.split.clone(),
                    span: span.into(),
                    help: "select checkpoints on a validation split (`select = { split = \"val\" }`) and keep the scored split untouched until the end".into(),
                },
            ));
    }
    out
}

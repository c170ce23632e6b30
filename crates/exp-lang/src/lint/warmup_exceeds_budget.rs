//! `exp::lint::warmup_exceeds_budget`: a warmup that lasts the whole run.

use super::{once, LintCtx, LintWarning};
use crate::lang::diag::Diag;
use crate::spec::{DataSource, Warmup};
use std::collections::BTreeSet;

pub const CODE: &str = "exp::lint::warmup_exceeds_budget";
pub const DOC: &str = r#"
## What it does
Warns when a recipe's warmup is at least as long as the whole budget of a
cell it trains (frozen + finetune epochs). Warmup in steps is compared when
the number of steps per epoch is known without reading the data: from the
budget's `train` sample cap or a generated data set's size, and the
effective batch (`batch × accumulate`), counted as the trainer does: the
last incomplete batch of an epoch is dropped.

## Why is this bad
The learning rate never reaches its set value: the run trains at a fraction
of the intended rate and the comparison says more about the warmup than the
recipe. Short smoke-test budgets inherited from a full recipe are the usual
cause.

## Example
```
recipe r extends rmsprop_baseline { }          // warmup = 200 steps, batch 64
budget tiny { train = 1_000 samples  frozen = 1 epoch  finetune = 1 epoch }
// 2 epochs × 15 steps = 30 steps < 200: warns
```
Shorten the warmup (`warmup = 20 steps`) or lengthen the budget.
"#;

pub fn check(ctx: &LintCtx) -> Vec<Diag> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (_, cell) in ctx.user_cells() {
        let r = &cell.recipe;
        let b = &cell.budget;
        let total_epochs = b.total_epochs() as f64;
        let train_n = b.train_samples.or(match &cell.data.source {
            DataSource::Generated(g) => Some(g.train),
            _ => None,
        });
        let (exceeds, warmup, total) = match r.warmup {
            Warmup::None => continue,
            Warmup::Epochs(e) => (
                e >= total_epochs,
                format!("{e} epochs"),
                format!("{total_epochs} epochs"),
            ),
            Warmup::Steps(s) => {
                let Some(n) = train_n else { continue };
                let per_epoch = r.steps_per_epoch(n);
                let total_steps = per_epoch * b.total_epochs() as u64;
                let of = if r.accumulate > 1 {
                    format!(" of {} × {} samples", r.batch, r.accumulate)
                } else {
                    String::new()
                };
                (
                    s >= total_steps,
                    format!("{s} steps"),
                    format!(
                        "{} epochs × {per_epoch} steps{of} = {total_steps} steps",
                        b.total_epochs()
                    ),
                )
            }
        };
        if !exceeds
            || !once(
                &mut seen,
                (r.name.clone(), b.name.clone(), cell.data.name.clone()),
            )
        {
            continue;
        }
        let Some(span) = ctx.field_span(&r.name, "warmup") else {
            continue;
        };
        out.push(Diag::new(
            span.file,
            LintWarning::WarmupExceedsBudget {
                recipe: r.name.clone(),
                warmup,
                budget: b.name.clone(),
                total,
                span: span.into(),
                help: "shorten the warmup (e.g. a tenth of the run) or give the budget more epochs"
                    .into(),
            },
        ));
    }
    out
}

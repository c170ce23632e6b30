//! `exp::lint::label_in_metadata` (error): a metadata column that is the
//! label column. With `--data`, also a column that is a one-to-one function
//! of the label (found by the data module, reported from `data_checks`).

use super::{LintCtx, LintWarning};
use crate::lang::diag::Diag;
use std::collections::BTreeSet;

pub const CODE: &str = "exp::lint::label_in_metadata";
pub const DOC: &str = r#"
## What it does
Reports an **error** when a data declaration's `metadata` lists its label
column, and (with `--data`) when a metadata column is a one-to-one function
of the label: every class has exactly one value of it, no two classes share
a value, and no row lacks it (a `class_id` or `diagnosis_code` column).

## Why is this bad
The metadata branch feeds the model the answer: top-1 jumps (0.33 → 0.67 on
a three-class toy set) while the images are never needed, and the bake-off
ranks backbones on nothing. `exp run` refuses it too
(`exp::data::label_in_metadata`).

## Example
```
data derm { manifest = "m.csv"  metadata = ["age", "label"] }   // error
```
Remove the column from `metadata`.
"#;

pub fn check(ctx: &LintCtx) -> Vec<Diag> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for s in ctx.user_sweeps() {
        for c in &s.cells {
            let d = &c.data;
            let label = &d.columns.label;
            if !d.metadata.contains(label) || !seen.insert(d.name.clone()) {
                continue;
            }
            let Some(span) = ctx.field_span(&d.name, "metadata") else {
                continue;
            };
            out.push(Diag::new(
                span.file,
                LintWarning::LabelInMetadata {
                    data: d.name.clone(),
                    column: label.clone(),
                    why: "is the label column".into(),
                    span: span.into(),
                    help: format!("remove `{label}` from `metadata`"),
                },
            ));
        }
    }
    out
}

//! `exp::lint::unused_declaration`: a local declaration no sweep reaches.

use super::{LintCtx, LintWarning};
use crate::lang::ast::DeclKind;
use crate::lang::diag::Diag;
use std::collections::BTreeSet;

pub const CODE: &str = "exp::lint::unused_declaration";
pub const DOC: &str = r#"
## What it does
Warns about a declaration in the checked file that no sweep uses, directly
or through `extends`. Declarations of `use`d files and of the standard
library are never reported (they are libraries), and a file without any
sweep (a library of recipes) is not checked.

## Why is this bad
An unused declaration is usually a typo'd or forgotten axis value: the
recipe you meant to compare is declared but never trained, and the report
silently lacks it.

## Example
```
recipe fast extends adamw_cosine { batch = 128 }
sweep s { recipe = adamw_cosine ... }     // `fast` is never used: warns
```
Add it to a sweep axis, or delete it.
"#;

pub fn check(ctx: &LintCtx) -> Vec<Diag> {
    let info = &ctx.checked.info;
    let sweeps: Vec<&String> = info
        .iter()
        .filter(|(_, i)| i.kind == DeclKind::Sweep && !i.is_std)
        .map(|(n, _)| n)
        .collect();
    if sweeps.is_empty() {
        return Vec::new();
    }
    let mut reached: BTreeSet<String> = BTreeSet::new();
    let mut stack: Vec<String> = sweeps.iter().map(|s| s.to_string()).collect();
    while let Some(n) = stack.pop() {
        if !reached.insert(n.clone()) {
            continue;
        }
        if let Some(i) = info.get(&n) {
            stack.extend(i.refs.iter().filter(|r| !reached.contains(*r)).cloned());
        }
    }
    let mut out = Vec::new();
    for (name, i) in info {
        // Why: only the checked file's own declarations; a `use`d file is a
        // library that other pipelines may draw on.
        if i.is_std || reached.contains(name) || i.name_span.file != ctx.env.root {
            continue;
        }
        out.push(Diag::new(
            i.name_span.file,
            LintWarning::UnusedDeclaration {
                kind: i.kind.keyword().into(),
                name: name.clone(),
                span: i.name_span.into(),
                help: format!("add `{name}` to a sweep, or delete it"),
            },
        ));
    }
    out
}

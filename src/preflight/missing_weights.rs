//! `missing_weights` (with `--data`): pretrained weights a sweep needs that
//! are not on this machine, found through the model zoo's own lookup
//! (`exp::models::weights::locate_weights`), the same one `exp run` uses.

use crate::lang::diag::Diag;
use exp_lang::lint::{once, LintCtx, LintWarning};
use std::collections::BTreeSet;

pub fn check(ctx: &LintCtx) -> Vec<Diag> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (sweep, cell) in ctx.user_cells() {
        let b = &cell.backbone;
        let Some(w) = &b.pretrained else { continue };
        if !once(&mut seen, b.name.clone()) {
            continue;
        }
        let (problem, help) = match crate::models::weights::locate_weights(w) {
            Ok(_) => continue,
            // Why no path in the message: the label points at it as written.
            Err(crate::models::ModelError::WeightsNotFound { .. }) => (
                "no such file".to_string(),
                "fetch the file or fix the path (relative paths resolve against the .exp file's directory), or drop `pretrained` to train from scratch".to_string(),
            ),
            Err(e) => {
                let help = miette::Diagnostic::help(&e).map_or_else(
                    || "fetch the weights or drop `pretrained`".to_string(),
                    |h| h.to_string(),
                );
                (e.to_string(), help)
            }
        };
        // Why the sweep's reference for a standard-library backbone: the
        // user's file is where they can act on it.
        let is_std = ctx.checked.info.get(&b.name).is_none_or(|i| i.is_std);
        let span = if is_std {
            ctx.sweep_ref_span(&sweep.name, "backbone", &b.name)
        } else {
            ctx.field_span(&b.name, "pretrained")
        };
        let Some(span) = span else { continue };
        out.push(Diag::new(
            span.file,
            LintWarning::MissingWeights {
                backbone: b.name.clone(),
                problem,
                span: span.into(),
                help,
            },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use exp_lang::lint::data_rules::WEIGHTS_CODE as CODE;

    /// Lines and messages of the rule on `src` (checked as `dir/t.exp` with
    /// `--data`); no other diagnostic may be an error.
    fn run(dir: &std::path::Path, src: &str) -> Vec<(usize, String)> {
        let o = crate::driver::check_text("t.exp", src, dir, &[], super::super::with_data());
        let (ours, others): (Vec<&Diag>, Vec<&Diag>) =
            o.diagnostics.iter().partition(|d| d.code() == CODE);
        assert!(others.iter().all(|d| !d.is_error()), "{others:?}");
        ours.iter()
            .map(|d| (d.line(&o.sources), d.message()))
            .collect()
    }

    #[test]
    fn reports_each_missing_file_or_uncached_entry_once_at_its_field() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(tmp.path().join("here.safetensors"), b"x").expect("write");
        let src = r#"use std.scores
data d {
  source = generated(classes = 3, train = 24 samples, val = 6 samples, test = 6 samples, size = 32)
  root   = "gen"
}
backbone local_ok { arch = "resnet_test"  pretrained = "here.safetensors" }
backbone local_missing {
  arch       = "resnet_test"
  pretrained = "gone.safetensors"
}
backbone hub_missing {
  arch       = "resnet_test"
  pretrained = hf("exp-tests/never-published")
}
backbone scratch { arch = "resnet_test" }
recipe r {
  optimizer = adamw(lr = 1e-3, finetune_lr = 1e-4, weight_decay = 0.05)
  schedule  = constant
  warmup    = 0 steps
  batch     = 8
}
budget b {
  frozen   = 1 epoch
  finetune = 1 epoch
}
sweep s {
  data     = d
  backbone = [local_ok, local_missing, hub_missing, scratch]
  recipe   = r
  budget   = b
  score    = full_test
  seeds    = [1, 2]
}
"#;
        let got = run(tmp.path(), src);
        assert_eq!(got.len(), 2, "one per backbone, not per cell: {got:?}");
        assert_eq!(got[0].0, 9);
        assert!(got[0].1.contains("`local_missing`") && got[0].1.contains("no such file"));
        assert_eq!(got[1].0, 13);
        assert!(got[1].1.contains("`hub_missing`"), "{got:?}");
    }
}

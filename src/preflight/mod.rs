//! Checks that open the data sets and the pretrained weights on disk: the
//! rules behind `exp check --data` (their codes and docs live in the core,
//! `exp_lang::lint::data_rules`) and the pre-flight `exp run` does before
//! anything trains.

pub mod data_checks;
pub mod missing_weights;

use exp_lang::lang::diag::Diag;
use exp_lang::lint::LintCtx;

/// Every rule that needs the files: pass as [`exp_lang::CheckOptions::data`].
pub fn data_rules(ctx: &LintCtx) -> Vec<Diag> {
    let mut out = data_checks::check(ctx);
    out.extend(missing_weights::check(ctx));
    out
}

/// Check options that run the data rules too (`exp check --data`).
pub fn with_data() -> exp_lang::CheckOptions {
    exp_lang::CheckOptions {
        data: Some(data_rules),
    }
}

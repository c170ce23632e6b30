//! What `exp run` checks before anything trains (and before `sbatch`): the
//! pretrained weights every selected cell needs are on disk.

use super::executor::diag_line;
use crate::exec::store::{self, StageState};
use crate::exec::ExecError;
use crate::spec::Cell;
use std::path::Path;

/// Pretrained weights that cells still to train need and this machine
/// lacks, one line per backbone.
///
/// Why before anything runs: a missing file would fail its cells only when
/// they start, possibly hours into a sweep; cells whose training is already
/// in the store need no weights.
pub(crate) fn missing_weights(out: &Path, cells: &[&Cell]) -> Option<ExecError> {
    let mut seen = std::collections::BTreeSet::new();
    let mut list = Vec::new();
    for c in cells {
        let Some(w) = &c.backbone.pretrained else {
            continue;
        };
        let trained =
            store::stage_state(out, &store::cell_stages(c).train_finetune) == StageState::Cached;
        if trained || !seen.insert(c.backbone.name.clone()) {
            continue;
        }
        // The model zoo's own error says how to fetch an uncached HF entry.
        let problem = match crate::models::weights::locate_weights(w) {
            Ok(_) => continue,
            Err(crate::models::ModelError::WeightsNotFound { path }) => {
                format!("`{}` does not exist", path.display())
            }
            Err(e) => diag_line(&e),
        };
        list.push(format!("  backbone `{}`: {problem}", c.backbone.name));
    }
    (!list.is_empty()).then_some(ExecError::MissingWeights { list })
}

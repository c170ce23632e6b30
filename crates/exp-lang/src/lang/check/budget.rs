//! `budget` declarations: how long each phase trains.

use super::*;

impl Checker<'_, '_> {
    pub(super) fn budget(&mut self, m: &Merged) -> Option<BudgetSpec> {
        let f = self.fields(m);
        let mut ok = true;
        let samples = |v: &mut Values, k: &str| -> Option<Option<u64>> {
            match f.get(k) {
                Some(e) => v.count(e, k, Dim::Samples, 1, "24_000 samples").map(Some),
                None => Some(None),
            }
        };
        let train_samples = samples(&mut self.v, "train");
        let val_samples = samples(&mut self.v, "val");
        let max_samples = samples(&mut self.v, "max_samples");
        let frozen = match f.get("frozen") {
            Some(e) => self.v.count(e, "frozen", Dim::Epochs, 0, "1 epoch"),
            None => Some(0),
        };
        let finetune = match f.get("finetune") {
            Some(e) => self.v.count(e, "finetune", Dim::Epochs, 0, "4 epochs"),
            None => {
                self.v.missing(
                    m.name.span,
                    "finetune",
                    &context(m),
                    "how many epochs to train the whole network, e.g. `finetune = 4 epochs`",
                );
                None
            }
        };
        if let (Some(0), Some(0), Some(e)) = (frozen, finetune, f.get("finetune")) {
            self.v.err(
                e.span,
                CheckError::OutOfRange {
                    what: "frozen + finetune".into(),
                    value: "0".into(),
                    range: "must be ≥ 1 epoch in all".into(),
                    span: e.span.into(),
                    help: "a budget has to train for at least one epoch".into(),
                },
            );
            ok = false;
        }
        let time_limit_s = match f.get("time") {
            Some(e) => {
                match self.v.quantity(e, "time", &[Dim::Seconds], "2 h") {
                    Some((v, _)) if v >= 1.0 => Some(Some(v.round() as u64)),
                    Some((v, _)) => {
                        self.v.err(
                        e.span,
                        CheckError::OutOfRange {
                            what: "time".into(),
                            value: format!("{} s", fmt_num(v)),
                            range: "must be ≥ 1 s".into(),
                            span: e.span.into(),
                            help: "give a time limit of at least one second, e.g. `90 min` or `2 h`".into(),
                        },
                    );
                        None
                    }
                    None => None,
                }
            }
            None => Some(None),
        };
        let checkpoint = match f.get("checkpoint_every") {
            Some(e) => self
                .v
                .count(e, "checkpoint_every", Dim::Steps, 1, "500 steps")
                .map(Some),
            None => Some(None),
        };
        let budget = BudgetSpec {
            name: m.name.name.clone(),
            train_samples: train_samples?,
            val_samples: val_samples?,
            frozen_epochs: frozen? as u32,
            finetune_epochs: finetune? as u32,
            time_limit_s: time_limit_s?,
            max_samples: max_samples?,
            checkpoint_every_steps: checkpoint?,
        };
        ok.then_some(budget)
    }
}

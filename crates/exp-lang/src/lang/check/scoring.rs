//! `score` declarations: split, metrics, confidence, bootstrap.

use super::*;

impl Checker<'_, '_> {
    pub(super) fn score(&mut self, m: &Merged) -> Option<ScoreSpec> {
        let f = self.fields(m);
        let split = match f.get("split") {
            Some(e) => self.v.string(e, "split"),
            None => Some("test".into()),
        };
        let metrics = match f.get("metrics") {
            Some(e) => self.metrics(e),
            None => Some(vec![Metric::Top1]),
        };
        let confidence = match f.get("confidence") {
            Some(e) => self.v.ranged_fraction(e, "confidence"),
            None => Some(0.95),
        };
        let bootstrap = match f.get("bootstrap") {
            Some(e) => self.v.int(e, "bootstrap", 0, 1_000_000).map(|v| v as u32),
            None => Some(crate::spec::DEFAULT_RESAMPLES),
        };
        Some(ScoreSpec {
            name: m.name.name.clone(),
            split: split?,
            metrics: metrics?,
            confidence: confidence?,
            bootstrap: bootstrap?,
        })
    }

    fn metrics(&mut self, e: &Expr) -> Option<Vec<Metric>> {
        let items = self.v.list(e, "metrics")?;
        let mut out = Vec::new();
        let mut ok = true;
        for i in items {
            let m = match &i.kind {
                ExprKind::Ref(id) => match id.name.as_str() {
                    "top1" => Some(Metric::Top1),
                    "auc" => Some(Metric::Auc),
                    "per_class" => Some(Metric::PerClass),
                    "confusion" => Some(Metric::Confusion),
                    n if n.starts_with("top")
                        && n[3..].parse::<u32>().is_ok_and(|k| (2..=1000).contains(&k)) =>
                    {
                        n[3..].parse::<u32>().ok().map(Metric::TopK)
                    }
                    _ => {
                        let _ = self.v.word(
                            i,
                            "metric",
                            &["top1", "top3", "top5", "auc", "per_class", "confusion"],
                        );
                        None
                    }
                },
                ExprKind::Call { .. } => {
                    let (name, args) = self.v.call(i, "metric", &["topk"])?;
                    let a = self.v.args(name, i.span, args, &["k"], &["k"]);
                    match a.get("k") {
                        Some(x) => self.v.int(x, "k", 1, 1000).map(|k| {
                            if k == 1 {
                                Metric::Top1
                            } else {
                                Metric::TopK(k as u32)
                            }
                        }),
                        None => {
                            self.v.missing(i.span, "k", "`topk(...)`", "e.g. `topk(5)`");
                            None
                        }
                    }
                }
                _ => {
                    let _ = self.v.word(
                        i,
                        "metric",
                        &["top1", "top3", "top5", "auc", "per_class", "confusion"],
                    );
                    None
                }
            };
            match m {
                Some(m) if !out.contains(&m) => out.push(m),
                Some(_) => {}
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
}

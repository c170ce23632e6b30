//! Renderings of an [`Analysis`]: markdown, self-contained HTML and the
//! aligned terminal table. Each table is built once ([`Table`]) and printed
//! in every format so the three always agree.

use super::analysis::{Analysis, ComparisonRow};
use crate::score::stats::{Interval, Test};
use std::fmt::Write as _;

/// A table in a format-neutral form.
pub struct Table {
    /// HTML id (`results`, `comparisons`, ...).
    pub id: &'static str,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn markdown(&self) -> String {
        let esc = |s: &str| s.replace('|', "\\|");
        let mut out = format!(
            "| {} |\n",
            self.headers
                .iter()
                .map(|h| esc(h))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        out.push_str(&format!("|{}\n", "---|".repeat(self.headers.len())));
        for r in &self.rows {
            out.push_str(&format!(
                "| {} |\n",
                r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
            ));
        }
        out
    }

    pub fn html(&self) -> String {
        let mut out = format!("<table id=\"{}\"><thead><tr>", self.id);
        for h in &self.headers {
            let _ = write!(out, "<th>{}</th>", html_escape(h));
        }
        out.push_str("</tr></thead><tbody>");
        for r in &self.rows {
            out.push_str("<tr>");
            for c in r {
                let class = match c.as_str() {
                    "better" => " class=\"better\"",
                    "worse" => " class=\"worse\"",
                    "within noise" => " class=\"noise\"",
                    _ => "",
                };
                let _ = write!(out, "<td{class}>{}</td>", html_escape(c));
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table>\n");
        out
    }

    /// Columns padded to their widest cell (by characters).
    pub fn text(&self) -> String {
        let mut width: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                let pad = width[i] - c.chars().count();
                if i > 0 {
                    s.push_str("  ");
                }
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            }
            s.trim_end().to_string() + "\n"
        };
        let mut out = line(&self.headers);
        out.push_str(&line(
            &width.iter().map(|w| "─".repeat(*w)).collect::<Vec<_>>(),
        ));
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `0.688 [0.681, 0.695]`.
pub fn fmt_ci(i: &Interval) -> String {
    if !i.estimate.is_finite() {
        return "–".into();
    }
    format!("{:.3} [{:.3}, {:.3}]", i.estimate, i.lo, i.hi)
}

/// A difference in points: `+0.77 pt [+0.31, +1.22]`.
pub fn fmt_delta(i: &Interval) -> String {
    if !i.estimate.is_finite() {
        return "–".into();
    }
    format!(
        "{:+.2} pt [{:+.2}, {:+.2}]",
        100.0 * i.estimate,
        100.0 * i.lo,
        100.0 * i.hi
    )
}

pub fn fmt_p(p: f64) -> String {
    if !p.is_finite() {
        "–".into()
    } else if p < 1e-300 {
        "<1e-300".into()
    } else if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

fn test_name(t: Test) -> &'static str {
    match t {
        Test::McNemarExact => "McNemar exact",
        Test::DeLong => "DeLong",
        Test::Bootstrap => "hierarchical bootstrap",
    }
}

fn metric_label(m: &str) -> String {
    match m {
        "top1" => "top-1".into(),
        "auc" => "AUC".into(),
        m => m
            .strip_prefix("top")
            .map_or(m.to_string(), |k| format!("top-{k}")),
    }
}

fn axes_no_seed(a: &Analysis) -> Vec<String> {
    a.axes
        .iter()
        .filter(|x| x.as_str() != "seed")
        .cloned()
        .collect()
}

pub fn results_table(a: &Analysis) -> Table {
    let axes = axes_no_seed(a);
    let mut headers = vec!["cell".to_string()];
    headers.extend(axes.iter().cloned());
    headers.push("seed".into());
    headers.push("status".into());
    headers.extend(
        a.metrics
            .iter()
            .map(|m| format!("{} [{:.0}% CI]", metric_label(m), 100.0 * a.confidence)),
    );
    headers.push("best epoch".into());
    let rows = a
        .cells
        .iter()
        .map(|c| {
            let mut r = vec![c.id.clone()];
            r.extend(
                axes.iter()
                    .map(|x| c.axis_values.get(x).cloned().unwrap_or_default()),
            );
            r.push(c.seed.map_or("–".into(), |s| s.to_string()));
            r.push(c.status.clone());
            for m in &a.metrics {
                r.push(c.metrics.get(m).map_or("no predictions".into(), fmt_ci));
            }
            r.push(c.best_epoch.map_or("–".into(), |e| e.to_string()));
            r
        })
        .collect();
    Table {
        id: "results",
        headers,
        rows,
    }
}

fn comparison_table(id: &'static str, rows: &[ComparisonRow]) -> Table {
    let headers = [
        "cell", "vs", "metric", "Δ [CI]", "test", "p", "Holm p", "verdict",
    ]
    .map(String::from)
    .to_vec();
    let rows = rows
        .iter()
        .map(|r| {
            vec![
                r.cell.clone(),
                r.baseline.clone(),
                metric_label(&r.metric),
                fmt_delta(&r.delta),
                test_name(r.test).into(),
                fmt_p(r.p),
                fmt_p(r.p_holm),
                r.verdict.label().into(),
            ]
        })
        .collect();
    Table { id, headers, rows }
}

pub fn comparisons_table(a: &Analysis) -> Table {
    comparison_table("comparisons", &a.comparisons)
}

pub fn group_comparisons_table(a: &Analysis) -> Table {
    comparison_table("seed-comparisons", &a.group_comparisons)
}

pub fn seeds_table(a: &Analysis) -> Table {
    let mut headers = vec!["configuration".to_string(), "seeds".into()];
    headers.extend(
        a.metrics
            .iter()
            .map(|m| format!("{} mean ± sd", metric_label(m))),
    );
    let rows = a
        .seed_groups
        .iter()
        .map(|g| {
            let mut r = vec![g.config.clone(), g.cells.len().to_string()];
            for m in &a.metrics {
                r.push(g.metrics.get(m).map_or("–".into(), |v| {
                    if v.sd.is_finite() {
                        format!("{:.3} ± {:.3}", v.mean, v.sd)
                    } else {
                        format!("{:.3}", v.mean)
                    }
                }));
            }
            r
        })
        .collect();
    Table {
        id: "seeds",
        headers,
        rows,
    }
}

pub fn factorial_table(a: &Analysis) -> Option<Table> {
    let f = a.factorial.as_ref()?;
    let mut headers = vec!["effect".to_string(), "kind".into()];
    headers.extend(
        a.metrics
            .iter()
            .map(|m| format!("{} Δ [CI]", metric_label(m))),
    );
    let mut names: Vec<(String, String)> = Vec::new();
    for e in &f.effects {
        if !names.iter().any(|(n, _)| *n == e.name) {
            names.push((e.name.clone(), e.kind.clone()));
        }
    }
    let rows = names
        .into_iter()
        .map(|(name, kind)| {
            let mut r = vec![name.clone(), kind];
            for m in &a.metrics {
                let e = f
                    .effects
                    .iter()
                    .position(|e| e.name == name && e.stat.name() == *m);
                r.push(e.map_or("–".into(), |i| {
                    let verdict = f.verdicts.get(i).map_or("", |v| v.1.label());
                    format!("{} {verdict}", fmt_delta(&f.effects[i].delta))
                }));
            }
            r
        })
        .collect();
    Some(Table {
        id: "factorial",
        headers,
        rows,
    })
}

pub fn training_table(a: &Analysis) -> Table {
    let headers = [
        "cell",
        "status",
        "epochs",
        "best epoch",
        "reason",
        "img/s",
        "data wait",
        "bound",
    ]
    .map(String::from)
    .to_vec();
    let rows = a
        .cells
        .iter()
        .map(|c| {
            let t = c.throughput.as_ref();
            vec![
                c.id.clone(),
                c.status.clone(),
                c.epochs.len().to_string(),
                c.best_epoch.map_or("–".into(), |e| e.to_string()),
                match (&c.diverged, &c.unstable) {
                    (Some(d), _) => format!("epoch {} step {}: {}", d.epoch, d.step, d.reason),
                    (None, Some(u)) => u.reason.clone(),
                    (None, None) => "–".into(),
                },
                t.map_or("–".into(), |t| format!("{:.1}", t.mean_img_per_s)),
                t.map_or("–".into(), |t| {
                    format!("{:.0}%", 100.0 * t.mean_data_wait)
                }),
                t.map_or("no metrics.csv".into(), |t| t.verdict.clone()),
            ]
        })
        .collect();
    Table {
        id: "training",
        headers,
        rows,
    }
}

/// One paragraph on what the numbers mean and how verdicts are made.
fn method_text(a: &Analysis) -> String {
    let conf = 100.0 * a.confidence;
    format!(
        "Intervals: {conf:.0}% percentile bootstrap over test images ({} resamples, seeded). \
         Δ = cell − baseline in points, paired bootstrap on the same images. \
         p-values: McNemar's exact test (top-1, top-k), DeLong's test (macro AUC), \
         hierarchical bootstrap (seeds, then images) for seed groups. \
         Verdict: `better`/`worse` when the Holm-adjusted p-value is below {:.2} \
         (Holm's step-down correction across every comparison in the table), else `within noise`.",
        a.resamples,
        1.0 - a.confidence
    )
}

fn power_text(a: &Analysis) -> Option<String> {
    let p = a.power.as_ref()?;
    Some(format!(
        "With n = {} test images and baseline top-1 {:.3}, the {:.0}% interval of a top-1 is ±{:.2} pt; \
         the smallest top-1 difference between two cells this test set resolves with {:.0}% power is {:.2} pt.",
        p.n,
        p.top1,
        100.0 * a.confidence,
        100.0 * p.half_width,
        100.0 * p.power,
        100.0 * p.min_detectable_difference
    ))
}

fn header_text(a: &Analysis) -> String {
    let baseline = match (&a.baseline, a.baseline_declared) {
        (Some(b), true) => format!("baseline `{b}`"),
        (Some(b), false) => format!("baseline `{b}` (none declared: the first scored cell)"),
        (None, _) => "no baseline (no cell has predictions)".into(),
    };
    format!(
        "Split `{}`, {} test images, {} classes; {}.",
        a.split.as_deref().unwrap_or("?"),
        a.n_test.map_or("?".into(), |n| n.to_string()),
        a.classes.len(),
        baseline
    )
}

pub fn markdown(a: &Analysis, plots: &[(String, String)]) -> String {
    let mut s = format!(
        "# Sweep `{}`\n\n{}\n\n{}\n\n",
        a.sweep,
        header_text(a),
        method_text(a)
    );
    s.push_str("## Results\n\n");
    s.push_str(&results_table(a).markdown());
    if !a.comparisons.is_empty() {
        s.push_str("\n## Against the baseline\n\n");
        s.push_str(&comparisons_table(a).markdown());
    }
    if !a.seed_groups.is_empty() {
        s.push_str("\n## Seeds\n\n");
        s.push_str(&seeds_table(a).markdown());
        if !a.group_comparisons.is_empty() {
            s.push_str(
                "\nSeed groups against the baseline configuration (hierarchical bootstrap):\n\n",
            );
            s.push_str(&group_comparisons_table(a).markdown());
        }
    }
    if let Some(t) = factorial_table(a) {
        s.push_str("\n## Decomposition\n\n");
        s.push_str(
            "Main effect: mean over the other axis's levels of (level − reference level). \
             Interaction: the difference of differences against both reference levels. \
             Paired bootstrap over images; verdict from the two-sided bootstrap p-value, \
             Holm-corrected across the effects.\n\n",
        );
        s.push_str(&t.markdown());
    }
    if let Some(p) = power_text(a) {
        s.push_str(&format!("\n## Power\n\n{p}\n"));
    }
    s.push_str("\n## Training\n\n");
    s.push_str(&training_table(a).markdown());
    if !plots.is_empty() {
        s.push_str("\n## Plots\n\n");
        for (title, file) in plots {
            s.push_str(&format!("![{title}]({file})\n"));
        }
    }
    let mut notes = a.notes.clone();
    for c in &a.cells {
        notes.extend(c.notes.iter().map(|n| format!("{}: {n}", c.id)));
    }
    if !notes.is_empty() {
        s.push_str("\n## Notes\n\n");
        for n in notes {
            s.push_str(&format!("- {n}\n"));
        }
    }
    s
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}\
table{border-collapse:collapse;margin:1em 0;font-size:14px}\
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}\
th{background:#f0f3f7}td.better{background:#d8f5d8}td.worse{background:#f8d8d8}td.noise{color:#666}\
figure{display:inline-block;margin:0.5em;vertical-align:top}figure svg{max-width:100%;height:auto}\
.method{color:#444;font-size:14px}";

/// The self-contained page: inline CSS, tables, plots as inline SVG.
pub fn html(
    a: &Analysis,
    curves: &[(String, String)],
    confusions: &[(String, String)],
    plot_note: Option<&str>,
) -> String {
    let mut s = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(
        s,
        "<title>exp report: {}</title><style>{CSS}</style></head><body>",
        html_escape(&a.sweep)
    );
    let _ = write!(
        s,
        "<h1>Sweep <code>{}</code></h1>\n<p>{}</p>\n",
        html_escape(&a.sweep),
        html_escape(&header_text(a))
    );
    let _ = write!(
        s,
        "<p class=\"method\">{}</p>",
        html_escape(&method_text(a))
    );
    s.push_str("<h2>Results</h2>\n");
    s.push_str(&results_table(a).html());
    if !a.comparisons.is_empty() {
        s.push_str("<h2>Against the baseline</h2>\n");
        s.push_str(&comparisons_table(a).html());
    }
    if !a.seed_groups.is_empty() {
        s.push_str("<h2>Seeds</h2>\n");
        s.push_str(&seeds_table(a).html());
        if !a.group_comparisons.is_empty() {
            s.push_str(&group_comparisons_table(a).html());
        }
    }
    if let Some(t) = factorial_table(a) {
        s.push_str("<h2>Decomposition</h2>\n");
        s.push_str(&t.html());
    }
    if let Some(p) = power_text(a) {
        let _ = write!(
            s,
            "<h2>Power</h2>\n<p id=\"power\">{}</p>\n",
            html_escape(&p)
        );
    }
    s.push_str("<h2>Training</h2>\n");
    s.push_str(&training_table(a).html());
    if let Some(n) = plot_note {
        let _ = write!(
            s,
            "<p class=\"method\">Plots not drawn: {}</p>",
            html_escape(n)
        );
    }
    if !curves.is_empty() {
        s.push_str("<h2>Validation curves</h2>\n<div id=\"curves\">");
        for (title, svg) in curves {
            let _ = write!(
                s,
                "<figure class=\"plot\">{svg}<figcaption>{}</figcaption></figure>",
                html_escape(title)
            );
        }
        s.push_str("</div>\n");
    }
    if !confusions.is_empty() {
        s.push_str("<h2>Confusion matrices</h2>\n<div id=\"confusion\">");
        for (title, svg) in confusions {
            let _ = write!(
                s,
                "<figure class=\"plot\">{svg}<figcaption>{}</figcaption></figure>",
                html_escape(title)
            );
        }
        s.push_str("</div>\n");
    }
    let mut notes = a.notes.clone();
    for c in &a.cells {
        notes.extend(c.notes.iter().map(|n| format!("{}: {n}", c.id)));
    }
    if !notes.is_empty() {
        s.push_str("<h2>Notes</h2><ul>");
        for n in notes {
            let _ = write!(s, "<li>{}</li>", html_escape(&n));
        }
        s.push_str("</ul>\n");
    }
    s.push_str("</body></html>\n");
    s
}

/// The summary printed at the end of `exp run` and by `exp report`.
pub fn terminal(a: &Analysis) -> String {
    let mut headers = vec!["cell".to_string(), "status".into()];
    headers.extend(a.metrics.iter().map(|m| metric_label(m)));
    let has_cmp = !a.comparisons.is_empty();
    if has_cmp {
        headers.push("Δ top-1 vs baseline".into());
        headers.push("verdict (top-1)".into());
    }
    let rows = a
        .cells
        .iter()
        .map(|c| {
            let mut r = vec![c.id.clone(), c.status.clone()];
            for m in &a.metrics {
                r.push(c.metrics.get(m).map_or("–".into(), fmt_ci));
            }
            if has_cmp {
                let cmp = a
                    .comparisons
                    .iter()
                    .find(|x| x.cell == c.id && x.metric == "top1");
                let no_seed = |m: &std::collections::BTreeMap<String, String>| {
                    m.iter()
                        .filter(|(k, _)| k.as_str() != "seed")
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect::<Vec<_>>()
                };
                // The baseline and the baseline's configuration at other seeds.
                let is_base = a.baseline.as_deref() == Some(c.id.as_str())
                    || a.cells
                        .iter()
                        .find(|b| Some(b.id.as_str()) == a.baseline.as_deref())
                        .is_some_and(|b| {
                            no_seed(&b.axis_values) == no_seed(&c.axis_values)
                                && !c.metrics.is_empty()
                        });
                r.push(cmp.map_or(
                    if is_base {
                        "baseline".into()
                    } else {
                        "–".into()
                    },
                    |x| fmt_delta(&x.delta),
                ));
                r.push(cmp.map_or("".into(), |x| x.verdict.label().into()));
            }
            r
        })
        .collect();
    let t = Table {
        id: "summary",
        headers,
        rows,
    };
    let mut out = format!("sweep {}: {}\n", a.sweep, header_text(a));
    out.push_str(&t.text());
    if let Some(p) = &a.power {
        out.push_str(&format!(
            "top-1 ±{:.2} pt at n = {}; smallest resolvable difference {:.2} pt ({:.0}% power); verdicts Holm-corrected\n",
            100.0 * p.half_width,
            p.n,
            100.0 * p.min_detectable_difference,
            100.0 * p.power
        ));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn text_table_aligns_columns_by_characters() {
        let t = Table {
            id: "t",
            headers: vec!["a".into(), "Δ".into()],
            rows: vec![
                vec!["long cell".into(), "+1.00 pt".into()],
                vec!["x".into(), "–".into()],
            ],
        };
        let text = t.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "a          Δ");
        assert_eq!(lines[2], "long cell  +1.00 pt");
        assert_eq!(lines[3], "x          –");
        assert!(t.markdown().starts_with("| a | Δ |\n|---|---|\n"));
        assert!(t.html().contains("<table id=\"t\">"));
        assert_eq!(html_escape("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }

    #[test]
    fn deltas_print_in_points() {
        let i = Interval {
            estimate: 0.0077,
            lo: 0.003,
            hi: 0.0122,
        };
        assert_eq!(fmt_delta(&i), "+0.77 pt [+0.30, +1.22]");
        assert_eq!(
            fmt_ci(&Interval {
                estimate: 0.688,
                lo: 0.681,
                hi: 0.695
            }),
            "0.688 [0.681, 0.695]"
        );
    }
}

//! Renderings of an [`Analysis`]: markdown, self-contained HTML and the
//! aligned terminal table. Each table is built once ([`Table`]) and printed
//! in every format so the three always agree.

use super::analysis::{Analysis, ComparisonRow, EffectRow};
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
    if !(i.lo.is_finite() && i.hi.is_finite()) {
        return format!("{:+.2} pt", 100.0 * i.estimate);
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
        Test::BootstrapZ => "bootstrap z",
        Test::SeedT => "seed t",
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

fn fmt_seeds(r: &ComparisonRow) -> String {
    r.seeds.map_or("–".into(), |[a, b]| {
        let mut s = format!("{a} vs {b}");
        if r.spread.as_deref() == Some("baseline") {
            s.push_str(" (baseline spread)");
        }
        s
    })
}

fn fmt_df(df: Option<f64>) -> String {
    df.map_or("–".into(), |d| format!("{d:.1}"))
}

fn comparison_table(id: &'static str, rows: &[ComparisonRow], configuration: bool) -> Table {
    let mut headers: Vec<String> = ["cell", "vs", "metric", "Δ [CI, unadjusted]", "test"]
        .map(String::from)
        .to_vec();
    if configuration {
        headers[0] = "configuration".into();
        headers.push("seeds".into());
        headers.push("df".into());
    }
    headers.extend(["p", "Holm p", "verdict"].map(String::from));
    let rows = rows
        .iter()
        .map(|r| {
            let t = &r.result;
            let mut row = vec![
                if r.pair {
                    format!("{} (pair)", r.cell)
                } else {
                    r.cell.clone()
                },
                r.baseline.clone(),
                metric_label(&r.metric),
                fmt_delta(&t.delta),
                t.test.map_or("–".into(), |x| test_name(x).to_string()),
            ];
            if configuration {
                row.push(fmt_seeds(r));
                row.push(fmt_df(t.df));
            }
            row.extend([fmt_p(t.p), fmt_p(t.p_holm), t.verdict.label().into()]);
            row
        })
        .collect();
    Table { id, headers, rows }
}

/// Level `model`: these trained networks on this test set.
pub fn comparisons_table(a: &Analysis) -> Table {
    comparison_table("comparisons", &a.comparisons, false)
}

/// Level `configuration`: seed-to-seed variance included.
pub fn configuration_table(a: &Analysis) -> Table {
    comparison_table("configurations", &a.configuration_comparisons, true)
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

fn effects_table(id: &'static str, a: &Analysis, effects: &[EffectRow]) -> Table {
    let headers = [
        "effect",
        "kind",
        "metric",
        "Δ model level [CI]",
        "p",
        "Holm p",
        "verdict (model)",
        "Δ configuration level [CI]",
        "df",
        "p",
        "Holm p",
        "verdict (configuration)",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = Vec::new();
    for m in &a.metrics {
        for e in effects.iter().filter(|e| e.metric == *m) {
            let (x, c) = (&e.model, &e.configuration);
            rows.push(vec![
                e.label(),
                e.kind.clone(),
                metric_label(m),
                fmt_delta(&x.delta),
                fmt_p(x.p),
                fmt_p(x.p_holm),
                x.verdict.label().into(),
                fmt_delta(&c.delta),
                fmt_df(c.df),
                fmt_p(c.p),
                fmt_p(c.p_holm),
                c.verdict.label().into(),
            ]);
        }
    }
    Table { id, headers, rows }
}

/// Main effects and interactions.
pub fn factorial_table(a: &Analysis) -> Option<Table> {
    let f = a.factorial.as_ref()?;
    Some(effects_table("factorial", a, &f.effects))
}

/// Each axis's effect at every level of the other (the backbone report's
/// "+2.3 pt on ResNet50").
pub fn simple_effects_table(a: &Analysis) -> Option<Table> {
    let f = a.factorial.as_ref()?;
    Some(effects_table("simple-effects", a, &f.simple_effects))
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
        "MFU",
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
                t.and_then(|t| t.mean_mfu)
                    .map_or("–".into(), |m| format!("{:.1}%", 100.0 * m)),
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

/// What the numbers mean and how verdicts are made.
fn method_text(a: &Analysis) -> String {
    let conf = 100.0 * a.confidence;
    format!(
        "Two levels. Configuration level (the verdicts of results.csv and the terminal): \
         is this configuration (backbone, recipe, ...) better than the baseline's, seed to seed? \
         Welch–Satterthwaite t test on the per-seed scores with the test-set variance added; \
         with one seed and no seed spread to borrow the verdict is `single seed`. \
         Model level: do these two trained networks differ on this test set? \
         McNemar's exact test (top-1, top-k), DeLong's test (macro AUC). \
         Per-cell intervals: {conf:.0}% Clopper–Pearson for top-k, percentile bootstrap over test images for AUC ({} resamples, seeded). \
         Δ = cell − baseline in points; each Δ interval is the unadjusted interval of the test beside it. \
         Verdict: `better`/`worse` when the Holm-adjusted p-value is below {:.2} \
         (Holm's step-down correction across every row of the table and level), else `within noise`.",
        a.resamples,
        1.0 - a.confidence
    )
}

fn pt(x: Option<f64>, none: &str) -> String {
    x.map_or(none.to_string(), |v| format!("{:.2} pt", 100.0 * v))
}

fn power_text(a: &Analysis) -> Option<String> {
    let p = a.power.as_ref()?;
    let mut s = format!(
        "With n = {} test images and baseline top-1 {:.3}, the {:.0}% interval of a top-1 is ±{:.2} pt. \
         Smallest top-1 change two models resolve with {:.0}% power (model level, test set only): gain {}, drop {}.",
        p.n,
        p.top1,
        100.0 * a.confidence,
        100.0 * p.half_width,
        100.0 * p.power,
        pt(p.gain, "none possible"),
        pt(p.drop, "none possible"),
    );
    match (p.seed_sd, p.seeds) {
        (Some(sd), Some(k)) => {
            let _ = write!(
                s,
                " Configuration level, with the measured seed spread (sd {:.2} pt) and {k} seed(s) per side: gain {}, drop {}.",
                100.0 * sd,
                pt(p.configuration_gain, "none possible"),
                pt(p.configuration_drop, "none possible"),
            );
        }
        _ => s.push_str(
            " The seed-to-seed spread is not measured (one seed per configuration), so no configuration-level change is resolvable.",
        ),
    }
    Some(s)
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

const CONFIG_TEXT: &str = "Is this configuration better than the baseline's, from seed to seed? \
Per-seed scores, Welch–Satterthwaite t test with the test-set variance added; `single seed` when a side has one seed and no spread to borrow.\n\n";
const MODEL_TEXT: &str = "Do these two trained networks differ on this test set? \
Each cell against the baseline configuration's cell at the same seed; seed-to-seed variation is not in these tests.\n\n";
const DECOMPOSITION_TEXT: &str = "Main effect: mean over the other axis's levels of (level − reference level). \
Interaction: the difference of differences against both reference levels. \
Model level: z test with the paired bootstrap's standard error over images. \
Configuration level: t test with the seed spread pooled over the grid's cells plus the test-set variance. \
Holm across the effects, per level.\n\n";
const SIMPLE_TEXT: &str = "Each axis's effect at every level of the other (\"recipe +2.3 pt on ResNet50\" is one of these, not a main effect); \
same tests, Holm across the simple effects, per level.\n\n";

pub fn markdown(a: &Analysis, plots: &[(String, String)]) -> String {
    let mut s = format!(
        "# Sweep `{}`\n\n{}\n\n{}\n\n",
        a.sweep,
        header_text(a),
        method_text(a)
    );
    s.push_str("## Results\n\n");
    s.push_str(&results_table(a).markdown());
    if !a.configuration_comparisons.is_empty() {
        s.push_str("\n## Against the baseline: configuration level\n\n");
        s.push_str(CONFIG_TEXT);
        s.push_str(&configuration_table(a).markdown());
    }
    if !a.comparisons.is_empty() {
        s.push_str("\n## Against the baseline: model level\n\n");
        s.push_str(MODEL_TEXT);
        s.push_str(&comparisons_table(a).markdown());
    }
    if !a.seed_groups.is_empty() {
        s.push_str("\n## Seeds\n\n");
        s.push_str(&seeds_table(a).markdown());
    }
    if let (Some(t), Some(st)) = (factorial_table(a), simple_effects_table(a)) {
        s.push_str("\n## Decomposition\n\n");
        s.push_str(DECOMPOSITION_TEXT);
        s.push_str(&t.markdown());
        s.push_str("\n### Simple effects\n\n");
        s.push_str(SIMPLE_TEXT);
        s.push_str(&st.markdown());
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
    let para = |s: &mut String, t: &str| {
        let _ = write!(s, "<p class=\"method\">{}</p>", html_escape(t.trim()));
    };
    if !a.configuration_comparisons.is_empty() {
        s.push_str("<h2>Against the baseline: configuration level</h2>\n");
        para(&mut s, CONFIG_TEXT);
        s.push_str(&configuration_table(a).html());
    }
    if !a.comparisons.is_empty() {
        s.push_str("<h2>Against the baseline: model level</h2>\n");
        para(&mut s, MODEL_TEXT);
        s.push_str(&comparisons_table(a).html());
    }
    if !a.seed_groups.is_empty() {
        s.push_str("<h2>Seeds</h2>\n");
        s.push_str(&seeds_table(a).html());
    }
    if let (Some(t), Some(st)) = (factorial_table(a), simple_effects_table(a)) {
        s.push_str("<h2>Decomposition</h2>\n");
        para(&mut s, DECOMPOSITION_TEXT);
        s.push_str(&t.html());
        s.push_str("<h3>Simple effects</h3>\n");
        para(&mut s, SIMPLE_TEXT);
        s.push_str(&st.html());
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

/// The configuration-level top-1 verdict of each cell against the
/// baseline configuration (`baseline` for the baseline's own configuration,
/// empty when not compared): the verdict column of results.csv and the
/// terminal table.
pub fn cell_verdicts(a: &Analysis) -> std::collections::BTreeMap<String, String> {
    let base_config = a
        .baseline
        .as_ref()
        .and_then(|b| a.cells.iter().find(|c| &c.id == b))
        .map(|c| c.configuration.clone());
    a.cells
        .iter()
        .map(|c| {
            let v = if Some(&c.configuration) == base_config.as_ref() {
                if c.metrics.is_empty() {
                    String::new()
                } else {
                    "baseline".into()
                }
            } else {
                config_row(a, c)
                    .map(|r| r.result.verdict.label().to_string())
                    .unwrap_or_default()
            };
            (c.id.clone(), v)
        })
        .collect()
}

/// The configuration-level top-1 row of a cell's configuration against the baseline.
fn config_row<'a>(a: &'a Analysis, c: &super::analysis::CellReport) -> Option<&'a ComparisonRow> {
    if c.metrics.is_empty() {
        return None;
    }
    a.configuration_comparisons
        .iter()
        .find(|r| !r.pair && r.cell == c.configuration && r.metric == "top1")
}

/// The summary printed at the end of `exp run` and by `exp report`.
pub fn terminal(a: &Analysis) -> String {
    let mut headers = vec!["cell".to_string(), "status".into()];
    headers.extend(a.metrics.iter().map(|m| metric_label(m)));
    let has_cmp = !a.configuration_comparisons.is_empty();
    let verdicts = cell_verdicts(a);
    if has_cmp {
        headers.push("Δ top-1 vs baseline (configuration)".into());
        headers.push("verdict".into());
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
                let v = verdicts.get(&c.id).cloned().unwrap_or_default();
                r.push(match config_row(a, c) {
                    Some(x) => fmt_delta(&x.result.delta),
                    None if v == "baseline" => "baseline".into(),
                    None => "–".into(),
                });
                r.push(if v == "baseline" { String::new() } else { v });
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
        let _ = write!(
            out,
            "top-1 ±{:.2} pt at n = {}; smallest resolvable top-1 gain {}, drop {} ({:.0}% power, model level)",
            100.0 * p.half_width,
            p.n,
            pt(p.gain, "none"),
            pt(p.drop, "none"),
            100.0 * p.power
        );
        if p.seed_sd.is_some() {
            let _ = write!(
                out,
                "; configuration level gain {}, drop {}",
                pt(p.configuration_gain, "none"),
                pt(p.configuration_drop, "none")
            );
        }
        out.push_str("; verdicts configuration level, Holm-corrected\n");
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

//! The `--data` rules: checks that need the manifest or image folder, read
//! through [`crate::data::inspect`] (headers only, no full decode).
//! `subset_exceeds_split`, `missing_images`, `unknown_column`,
//! `test_split_power`, `same_image_in_splits`, `near_duplicates`,
//! `ignored_files`, `missing_split` (and the data half of
//! `label_in_metadata`).

use crate::data::DataSummary;
use crate::lang::diag::Diag;
use crate::lang::error::CheckError;
use crate::spec::DataSource;
use exp_lang::lint::{LintCtx, LintWarning};
use std::collections::{BTreeMap, BTreeSet};

/// What the seeds add to the power warning: seed-to-seed spread comes on
/// top of the test-set half-width, and with one seed per configuration
/// there is no configuration-level verdict at all.
pub fn seeds_note(s: &crate::spec::SweepSpec) -> String {
    let mut per_config: BTreeMap<Vec<(&String, &String)>, usize> = BTreeMap::new();
    for c in &s.cells {
        let key = c.axis_values.iter().filter(|(k, _)| *k != "seed").collect();
        *per_config.entry(key).or_default() += 1;
    }
    let fewest = per_config.values().copied().min().unwrap_or(0);
    let most = per_config.values().copied().max().unwrap_or(0);
    if most <= 1 {
        "; with one seed per configuration the verdicts say `single seed`: add `seeds = [...]` or `replicates = N` to measure the seed spread".into()
    } else if fewest <= 1 {
        format!("; single-seed configurations borrow the spread of the baseline's {most} seeds, which adds to this")
    } else {
        format!("; the seed-to-seed spread of {fewest}+ seeds per configuration adds to this")
    }
}

/// Worst-case (p = 0.5) 95% half-width of a proportion on `n` samples.
pub fn half_width(n: usize) -> f64 {
    crate::score::stats::top1_half_width(n.max(1) as u64, 0.5, 0.95)
}

pub fn check(ctx: &LintCtx) -> Vec<Diag> {
    let mut out = Vec::new();
    // Data sets used by the user's sweeps.
    let mut used: BTreeMap<String, crate::spec::DataSpec> = BTreeMap::new();
    for s in ctx.user_sweeps() {
        for c in &s.cells {
            used.entry(c.data.name.clone())
                .or_insert_with(|| c.data.clone());
        }
    }
    let mut summaries = BTreeMap::new();
    for (name, spec) in &used {
        let Some(span) = ctx
            .field_span(name, "manifest")
            .or_else(|| ctx.field_span(name, "root"))
            .or_else(|| ctx.field_span(name, "source"))
        else {
            continue;
        };
        // A generated set not yet written is summarised from its settings.
        match crate::data::inspect(spec) {
            Ok(s) => {
                summaries.insert(name.clone(), s);
            }
            Err(e) => out.push(Diag::new(
                span.file,
                CheckError::DataUnreadable {
                    data: name.clone(),
                    reason: relative_to_data(&e.to_string(), spec),
                    span: span.into(),
                },
            )),
        }
    }
    out.extend(check_summaries(ctx, &summaries));
    out
}

/// `text` with the data set's directories left out of the paths it names.
/// Why: the data module reports absolute paths; in a diagnostic that points
/// at the data declaration, `manifest.csv:5` and `images/a3.png` read better
/// and do not depend on where the project lives.
fn relative_to_data(text: &str, spec: &crate::spec::DataSpec) -> String {
    let mut dirs: Vec<String> = Vec::new();
    match &spec.source {
        DataSource::Manifest { manifest, root } => {
            dirs.push(root.display().to_string());
            if let Some(d) = manifest.parent() {
                dirs.push(d.display().to_string());
            }
        }
        DataSource::ImageFolder { root } => dirs.push(root.display().to_string()),
        DataSource::Generated(g) => dirs.push(g.root.display().to_string()),
    }
    // Longest first, so a root inside the manifest's directory is cut whole.
    dirs.sort_by_key(|d| std::cmp::Reverse(d.len()));
    let mut out = text.to_string();
    for d in dirs.iter().filter(|d| !d.is_empty()) {
        out = out.replace(&format!("{}/", d.trim_end_matches('/')), "");
    }
    out
}

/// The rules that need a data summary, given the summaries of the data sets
/// the user's sweeps use (by declaration name).
pub fn check_summaries(ctx: &LintCtx, summaries: &BTreeMap<String, DataSummary>) -> Vec<Diag> {
    let mut out = Vec::new();
    let mut used: BTreeMap<String, crate::spec::DataSpec> = BTreeMap::new();
    for s in ctx.user_sweeps() {
        for c in &s.cells {
            used.entry(c.data.name.clone())
                .or_insert_with(|| c.data.clone());
        }
    }
    for (name, summary) in summaries {
        let Some(spec) = used.get(name) else { continue };
        // Why by source: `field_span` falls back to the declaration's name.
        let where_field = match &spec.source {
            DataSource::Manifest { .. } => "manifest",
            DataSource::ImageFolder { .. } => "root",
            DataSource::Generated(_) => "source",
        };
        let Some(data_span) = ctx.field_span(name, where_field) else {
            continue;
        };
        for p in &summary.problems {
            let span = data_span;
            // Why skipped: `unknown_column` below names the closest existing
            // column, the more useful message for a metadata column.
            if p.code == "exp::data::missing_column" {
                continue;
            }
            if p.code == "exp::data::label_in_metadata" {
                let column = p
                    .location
                    .trim_start_matches("column `")
                    .trim_end_matches('`')
                    .to_string();
                // The static half of the rule already reports the label column itself.
                if column == spec.columns.label {
                    continue;
                }
                let span = ctx.field_span(name, "metadata").unwrap_or(span);
                out.push(Diag::new(
                    span.file,
                    LintWarning::LabelInMetadata {
                        data: name.clone(),
                        why: p
                            .message
                            .trim_start_matches(&format!("metadata column `{column}` "))
                            .to_string(),
                        column,
                        span: span.into(),
                        help: p.help.clone(),
                    },
                ));
                continue;
            }
            out.push(Diag::new(
                span.file,
                LintWarning::MissingImages {
                    data: name.clone(),
                    message: relative_to_data(&p.message, spec),
                    location: relative_to_data(&p.location, spec),
                    span: span.into(),
                    problem_code: p.code.to_string(),
                    help: p.help.clone(),
                },
            ));
        }
        let shown = |pairs: &[crate::data::ImagePair]| -> String {
            let mut text: Vec<String> = pairs.iter().take(5).map(|p| p.to_string()).collect();
            if pairs.len() > 5 {
                text.push(format!("… ({} pairs)", pairs.len()));
            }
            text.join("; ")
        };
        if !summary.same_content.is_empty() {
            out.push(Diag::new(
                data_span.file,
                LintWarning::SameImageInSplits {
                    data: name.clone(),
                    count: summary.same_content.len(),
                    pairs: shown(&summary.same_content),
                    span: data_span.into(),
                    help: "keep each image in one split: remove the duplicate rows (or move them into the same split)".into(),
                },
            ));
        }
        if !summary.near_duplicates.is_empty() {
            let span = ctx.field_span(name, "near_duplicates").unwrap_or(data_span);
            out.push(Diag::new(
                span.file,
                LintWarning::NearDuplicates {
                    data: name.clone(),
                    count: summary.near_duplicates.len(),
                    pairs: shown(&summary.near_duplicates),
                    span: span.into(),
                    help: "look at each pair; if they show the same case, keep them in one split"
                        .into(),
                },
            ));
        }
        if !summary.ignored.is_empty() {
            if let DataSource::ImageFolder { root } = &spec.source {
                out.push(Diag::new(
                    data_span.file,
                    LintWarning::IgnoredFiles {
                        data: name.clone(),
                        summary: relative_to_data(
                            &crate::data::ignored_summary(root, &summary.ignored),
                            spec,
                        ),
                        span: data_span.into(),
                        help:
                            "convert them to a format exp reads, or move them out of the data root"
                                .into(),
                    },
                ));
            }
        }
        if !summary.columns.is_empty() {
            let cols = [
                ("columns", &spec.columns.path),
                ("columns", &spec.columns.label),
                ("columns", &spec.columns.split),
            ];
            let meta = spec.metadata.iter().map(|m| ("metadata", m));
            for (field, col) in cols.into_iter().chain(meta) {
                if summary.columns.iter().any(|c| c == col) {
                    continue;
                }
                let span = ctx
                    .field_span(name, field)
                    .or_else(|| ctx.field_span(name, "manifest"));
                let Some(span) = span else { continue };
                let help = crate::lang::suggest::help(
                    col,
                    summary.columns.iter().map(String::as_str),
                    "columns of the manifest",
                );
                out.push(Diag::new(
                    span.file,
                    LintWarning::UnknownColumn {
                        column: col.clone(),
                        data: name.clone(),
                        span: span.into(),
                        help,
                    },
                ));
            }
        }
    }
    let mut seen = BTreeSet::new();
    let mut seen_split = BTreeSet::new();
    for s in ctx.user_sweeps() {
        for c in &s.cells {
            let Some(summary) = summaries.get(&c.data.name) else {
                continue;
            };
            let needs = [
                (
                    c.recipe.select_split.as_str(),
                    format!("checkpoint selection of recipe `{}`", c.recipe.name),
                    c.recipe.name.clone(),
                    "select",
                ),
                (
                    c.score.split.as_str(),
                    format!("score `{}`", c.score.name),
                    c.score.name.clone(),
                    "split",
                ),
            ];
            for (split, who, decl, field) in needs {
                if summary.split_sizes.contains_key(split)
                    || !seen_split.insert((c.data.name.clone(), split.to_string()))
                {
                    continue;
                }
                let Some(span) = ctx
                    .field_span(&decl, field)
                    .or_else(|| ctx.field_span(&c.data.name, "manifest"))
                    .or_else(|| ctx.field_span(&c.data.name, "root"))
                else {
                    continue;
                };
                let found: Vec<&str> = summary.split_sizes.keys().map(String::as_str).collect();
                let help =
                    crate::lang::suggest::help(split, found.iter().copied(), "splits of the data");
                out.push(Diag::new(
                    span.file,
                    LintWarning::MissingSplit {
                        data: c.data.name.clone(),
                        split: split.to_string(),
                        who,
                        found: found.join(", "),
                        span: span.into(),
                        help,
                    },
                ));
            }
            for (split, asked) in [
                ("train", c.budget.train_samples),
                ("val", c.budget.val_samples),
            ] {
                let (Some(asked), Some(&have)) = (asked, summary.split_sizes.get(split)) else {
                    continue;
                };
                if asked as usize > have
                    && seen.insert((c.budget.name.clone(), c.data.name.clone(), split))
                {
                    let Some(span) = ctx.field_span(&c.budget.name, split) else {
                        continue;
                    };
                    out.push(Diag::new(
                        span.file,
                        LintWarning::SubsetExceedsSplit {
                            budget: c.budget.name.clone(),
                            data: c.data.name.clone(),
                            split: split.into(),
                            asked,
                            have,
                            span: span.into(),
                            help: format!("use at most {have} samples, or remove `{split}` to train on the full split"),
                        },
                    ));
                }
            }
        }
        if s.cells.len() < 2 {
            continue;
        }
        let mut done = BTreeSet::new();
        for c in &s.cells {
            let Some(summary) = summaries.get(&c.data.name) else {
                continue;
            };
            let Some(&n) = summary.split_sizes.get(&c.score.split) else {
                continue;
            };
            let hw = half_width(n);
            if hw <= 0.01 || !done.insert((c.data.name.clone(), c.score.split.clone())) {
                continue;
            }
            let Some(span) = ctx.field_span(&s.name, "score") else {
                continue;
            };
            let needed = (1.96f64 * 1.96 * 0.25 / (0.01 * 0.01)).ceil() as usize;
            let seeds = seeds_note(s);
            out.push(Diag::new(
                span.file,
                LintWarning::TestSplitPower {
                    split: c.score.split.clone(),
                    data: c.data.name.clone(),
                    n,
                    half_width: format!("{:.1}", hw * 100.0),
                    span: span.into(),
                    cells: s.cells.len(),
                    help: format!("differences under ~{:.0} points between cells are noise; a split of {needed} images gets to ±1 point{seeds}", hw * 200.0),
                },
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DataProblem;
    use crate::lang::span::SourceFile;
    use crate::lang::{check, resolve};
    use std::sync::Arc;

    const SRC: &str = r#"
use std.backbones
use std.recipes
use std.scores
data derm {
  manifest = "m.csv"
  metadata = ["age", "sexe"]
}
budget screen {
  train    = 24_000 samples
  finetune = 2 epochs
}
sweep s {
  data     = derm
  backbone = [resnet50, convnextv2_tiny]
  recipe   = adamw_cosine
  budget   = screen
  score    = full_test
}
"#;

    fn run(summary: DataSummary) -> Vec<(String, usize)> {
        let mut diags = Vec::new();
        let root = SourceFile {
            name: "t.exp".into(),
            path: Some("t.exp".into()),
            text: Arc::from(SRC),
            is_std: false,
        };
        let env = resolve::resolve(root, &[], &mut diags);
        let checked = check::check(&env, &mut diags);
        assert!(diags.is_empty(), "{diags:?}");
        let ctx = LintCtx {
            env: &env,
            checked: &checked,
        };
        let summaries = BTreeMap::from([("derm".to_string(), summary)]);
        check_summaries(&ctx, &summaries)
            .iter()
            .map(|d| (d.code(), d.line(&env.sources)))
            .collect()
    }

    fn summary(train: usize, test: usize) -> DataSummary {
        DataSummary {
            split_sizes: BTreeMap::from([
                ("train".into(), train),
                ("val".into(), 5_000),
                ("test".into(), test),
            ]),
            classes: vec!["a".into(), "b".into()],
            columns: ["path", "label", "split", "age", "sex"]
                .map(String::from)
                .to_vec(),
            problems: Vec::new(),
            ..DataSummary::default()
        }
    }

    #[test]
    fn subset_larger_than_split_is_an_error() {
        let d = run(summary(10_000, 20_000));
        assert!(
            d.contains(&("exp::lint::subset_exceeds_split".into(), 10)),
            "{d:?}"
        );
    }

    #[test]
    fn unknown_metadata_column_points_at_metadata() {
        let d = run(summary(30_000, 20_000));
        assert_eq!(d, vec![("exp::lint::unknown_column".into(), 7)]);
    }

    #[test]
    fn small_test_split_warns_for_a_comparison() {
        let d = run(summary(30_000, 250));
        assert!(
            d.contains(&("exp::lint::test_split_power".into(), 18)),
            "{d:?}"
        );
    }

    #[test]
    fn data_problems_become_missing_images() {
        let mut s = summary(30_000, 20_000);
        s.problems.push(DataProblem {
            code: "exp::data::missing_image",
            message: "image not found".into(),
            location: "m.csv row 7: img/x.jpg".into(),
            help: "fix the path".into(),
        });
        let d = run(s);
        assert!(
            d.contains(&("exp::lint::missing_images".into(), 6)),
            "{d:?}"
        );
    }

    #[test]
    fn half_width_matches_formula() {
        assert!((super::half_width(250) - 0.06198).abs() < 1e-4);
        assert!(super::half_width(9604) <= 0.01 + 1e-9);
    }
}

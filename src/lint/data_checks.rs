//! The `--data` rules: checks that need the manifest or image folder, read
//! through [`crate::data::inspect`] (headers only, no full decode).
//! `subset_exceeds_split`, `missing_images`, `unknown_column`,
//! `test_split_power`.

use super::{LintCtx, LintWarning};
use crate::data::DataSummary;
use crate::lang::diag::Diag;
use crate::lang::error::CheckError;
use crate::spec::DataSource;
use std::collections::{BTreeMap, BTreeSet};

pub const SUBSET_CODE: &str = "exp::lint::subset_exceeds_split";
pub const SUBSET_DOC: &str = r#"
## What it does
With `--data`: reports an **error** when a budget's `train` or `val` sample
cap is larger than that split of a data set it is used with.

## Why is this bad
The subset would be the whole split, so the budget does not mean what it
says, and two data sets under "the same" budget train on different amounts.

## Example
```
budget screen { train = 24_000 samples  finetune = 4 epochs }
// data with 10_000 train rows: error
```
Lower the cap or drop it (`train` absent = the full split).
"#;

pub const MISSING_CODE: &str = "exp::lint::missing_images";
pub const MISSING_DOC: &str = r#"
## What it does
With `--data`: lists the problems the data module finds in a data set
without decoding it — image files that are missing or whose header does not
parse, unknown labels, duplicate paths, bad rows, empty splits — each with
the file or manifest row.

## Why is this bad
A missing image fails the run hours in (`on_bad_image = fail`) or silently
shrinks a split (`skip`). Finding it before any GPU time is cheap.

## Example
```
data derm { manifest = "derm/manifest.csv" }   // a row names images/x.jpg, absent
```
Fix the manifest or the files; or set `on_bad_image = skip` knowingly.
"#;

pub const COLUMN_CODE: &str = "exp::lint::unknown_column";
pub const COLUMN_DOC: &str = r#"
## What it does
With `--data`: reports an **error** when `columns` (path, label, split) or
`metadata` names a column the manifest does not have, with the closest
existing column.

## Why is this bad
Loading the data would fail at the start of every cell.

## Example
```
data derm { manifest = "m.csv"  metadata = ["age", "sexe"] }   // the manifest says `sex`
```
"#;

pub const POWER_CODE: &str = "exp::lint::test_split_power";
pub const POWER_DOC: &str = r#"
## What it does
With `--data`: for a sweep that compares two or more cells, warns when the
scored split is too small to tell them apart: the 95% confidence half-width
of a top-1 accuracy on n images, at the worst case p = 0.5,
1.96 · √(0.25 / n), is wider than 1 point (n < 9 604).

## Why is this bad
Backbones in a bake-off often differ by 1–3 points. On a 250-image test
sample the half-width is ±6 points: a "win" is noise, and a tie is
meaningless. The report's first round was misled exactly this way.

The help also says what seeds add: the seed-to-seed spread comes on top
of this half-width, and with one seed per configuration (no `seeds` axis,
no `replicates`) the report's configuration-level verdicts say
`single seed`.

## Example
```
score quick { split = "test" }     // test split of 250 images: ±6.2 points
```
Score on the full test split, or add images to it.
"#;

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
        if matches!(spec.source, DataSource::Generated(_)) {
            // Why: a generated set is written on first use and is correct by
            // construction; there is nothing on disk to inspect before that.
            continue;
        }
        // Why without the metadata columns: the data module refuses a manifest
        // that lacks one, while `unknown_column` below names the closest
        // existing column, which is the more useful message.
        let mut probe = spec.clone();
        probe.metadata.clear();
        match crate::data::inspect(&probe) {
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
        for p in &summary.problems {
            let Some(span) = ctx
                .field_span(name, "manifest")
                .or_else(|| ctx.field_span(name, "root"))
            else {
                continue;
            };
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
    for s in ctx.user_sweeps() {
        for c in &s.cells {
            let Some(summary) = summaries.get(&c.data.name) else {
                continue;
            };
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
    use crate::lang::{check, resolve, CheckOptions};
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
            opts: CheckOptions { data: true },
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

//! The fixture suite: every `tests/fixtures/invalid/*.exp` states in its
//! first lines the diagnostics it must produce (`// expect: CODE @ LINE`,
//! optionally `// set: PATH=VALUE` and `// flags: data`); every
//! `tests/fixtures/valid/*.exp` must check without errors. The rendered
//! diagnostics of each invalid fixture are snapshot-tested (no colour, fixed
//! width) so the user's view is reviewed with every change.

use exp::driver::{check_path, CheckOptions, Outcome};
use exp::lang::diag;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

struct Expect {
    code: String,
    /// (file suffix, line); file `None` = the fixture itself.
    at: Option<(Option<String>, usize)>,
}

struct Fixture {
    path: PathBuf,
    expects: Vec<Expect>,
    sets: Vec<String>,
    data: bool,
}

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(Path::new("tests/fixtures").join(dir))
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "exp"))
        .collect();
    v.sort();
    v
}

fn read_fixture(path: &Path) -> Fixture {
    // Lossy: one fixture holds a byte that is not UTF-8 on purpose.
    let text = String::from_utf8_lossy(&std::fs::read(path).expect("read fixture")).into_owned();
    let mut f = Fixture {
        path: path.to_path_buf(),
        expects: Vec::new(),
        sets: Vec::new(),
        data: false,
    };
    for line in text.lines().take_while(|l| l.starts_with("//")) {
        if let Some(rest) = line.strip_prefix("// expect:") {
            let (code, at) = match rest.split_once('@') {
                Some((c, at)) => {
                    let at = at.trim();
                    let at = match at.rsplit_once(':') {
                        Some((file, line)) => {
                            (Some(file.to_string()), line.parse().expect("line number"))
                        }
                        None => (None, at.parse().expect("line number")),
                    };
                    (c.trim().to_string(), Some(at))
                }
                None => (rest.trim().to_string(), None),
            };
            f.expects.push(Expect { code, at });
        } else if let Some(rest) = line.strip_prefix("// set:") {
            f.sets.push(rest.trim().to_string());
        } else if line.trim() == "// flags: data" {
            f.data = true;
        }
    }
    f
}

fn run(f: &Fixture) -> Outcome {
    check_path(
        &f.path,
        &f.sets,
        if f.data {
            exp::preflight::with_data()
        } else {
            CheckOptions::default()
        },
    )
    .expect("fixture readable")
}

#[test]
fn invalid_fixtures_produce_their_codes_at_their_lines() {
    let files = fixtures("invalid");
    assert!(files.len() >= 40, "only {} invalid fixtures", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let f = read_fixture(path);
        assert!(
            !f.expects.is_empty(),
            "{} has no `// expect:` line",
            path.display()
        );
        let o = run(&f);
        let got: Vec<(String, String, usize)> = o
            .diagnostics
            .iter()
            .map(|d| {
                (
                    d.code(),
                    o.sources
                        .get(d.file)
                        .map(|s| s.name.clone())
                        .unwrap_or_default(),
                    d.line(&o.sources),
                )
            })
            .collect();
        for e in &f.expects {
            let found = got.iter().any(|(code, file, line)| {
                code == &e.code
                    && match &e.at {
                        None => true,
                        Some((None, l)) => file == &path.display().to_string() && line == l,
                        Some((Some(suffix), l)) => file.ends_with(suffix.as_str()) && line == l,
                    }
            });
            if !found {
                failures.push(format!(
                    "{}: expected {} at {:?}, got {:?}",
                    path.display(),
                    e.code,
                    e.at,
                    got
                ));
            }
        }
        // Errors in the fixture besides the expected ones would hide mistakes.
        let expected: BTreeSet<&str> = f.expects.iter().map(|e| e.code.as_str()).collect();
        for (code, _, line) in &got {
            if !expected.contains(code.as_str()) {
                failures.push(format!(
                    "{}: unexpected {code} at line {line}",
                    path.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn invalid_fixture_diagnostics_render_as_snapshotted() {
    for path in fixtures("invalid") {
        let f = read_fixture(&path);
        let o = run(&f);
        let rendered = diag::render_all(&o.diagnostics, &o.sources, 100);
        // Why: absolute paths differ between machines; fixtures print them
        // only in data messages.
        let cwd = std::env::current_dir().expect("cwd").display().to_string();
        let rendered = rendered.replace(&cwd, "<repo>");
        let name = path
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned();
        insta::assert_snapshot!(name, rendered);
    }
}

#[test]
fn every_code_is_covered_by_a_fixture() {
    let mut covered = BTreeSet::new();
    for path in fixtures("invalid") {
        for e in read_fixture(&path).expects {
            covered.insert(e.code);
        }
    }
    // Produced by a test elsewhere: too_large by a generated 10 MB input
    // (tests/lang_hostile.rs), The `--data` rules have fixtures over the small
    // data sets in tests/fixtures/invalid/include/.
    // use_too_deep by a generated chain of 70 files (tests/lang_hostile.rs).
    let elsewhere = ["exp::parse::too_large", "exp::resolve::use_too_deep"];
    // Runtime codes (`exp run`, `exp report`, ...) have no `exp check`
    // fixture; their tests are the run/data/model test files.
    let runtime: BTreeSet<&str> = exp::runtime_codes::RUNTIME_DOCS
        .iter()
        .map(|(c, _)| *c)
        .collect();
    let missing: Vec<&str> = exp::lint::all_codes()
        .into_iter()
        .filter(|c| !covered.contains(*c) && !elsewhere.contains(c) && !runtime.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without an invalid fixture: {missing:?}"
    );
}

#[test]
fn valid_fixtures_check_without_errors_or_warnings() {
    let files = fixtures("valid");
    assert!(files.len() >= 5);
    for path in files {
        let o = check_path(&path, &[], CheckOptions::default()).expect("readable");
        let rendered = diag::render_all(&o.diagnostics, &o.sources, 100);
        assert!(o.diagnostics.is_empty(), "{}:\n{rendered}", path.display());
        assert!(o.pipeline.is_some());
    }
}

#[test]
fn replicates_compare_and_a_baseline_from_another_sweep_expand() {
    let o = run(&read_fixture(Path::new(
        "tests/fixtures/valid/replicates_compare.exp",
    )));
    assert!(!o.has_errors());
    let sweeps = &o.checked.pipeline.sweeps;
    let grid = &sweeps["grid"];
    let seed = grid.cells[0].seed;
    let ids: Vec<&str> = grid.cells.iter().map(|c| c.id.as_str()).collect();
    // Three configurations, then the baseline configuration twice more with
    // the next seeds.
    let r1 = format!("grid/resnet50-s{}", seed + 1);
    let r2 = format!("grid/resnet50-s{}", seed + 2);
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert_eq!(ids[3..], [r1.as_str(), r2.as_str()]);
    assert_eq!(grid.cells[3].backbone.name, "resnet50");
    assert_eq!(grid.cells[4].axis_values["seed"], (seed + 2).to_string());
    // The pair: configurations as axis values without the seed.
    assert_eq!(grid.compare.len(), 1);
    assert_eq!(grid.compare[0].0["backbone"], "convnextv2_base");
    assert_eq!(grid.compare[0].1["backbone"], "convnextv2_tiny");
    assert!(!grid.compare[0].0.contains_key("seed"));
    // The other sweep's baseline is grid's resnet50 cell.
    assert_eq!(
        sweeps["base_only"].baseline.as_deref(),
        Some(format!("grid/resnet50-s{seed}").as_str())
    );
}

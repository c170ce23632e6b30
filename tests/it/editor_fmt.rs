//! `exp fmt`: idempotent and meaning-preserving on every pipeline, stdlib
//! module and fixture, and on generated re-layouts of them (proptest: blanks,
//! line breaks and comments shuffled between tokens); plus the CLI's exit
//! codes and messages.
//!
//! "Meaning" is what `exp check` makes of a file: the checked
//! `spec::Pipeline` (when there are no errors) and the sorted list of
//! diagnostic codes, computed for the text before and after formatting as
//! the same file in the same folder.

use exp::editor::format::format_source;
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files_in(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|x| x == "exp"));
    v.sort();
    v
}

fn valid_files() -> Vec<PathBuf> {
    let mut v = files_in("pipelines");
    v.extend(files_in("stdlib"));
    v.extend(files_in("tests/fixtures/valid"));
    v.extend(files_in("tests/fixtures/valid/include"));
    v
}

#[test]
fn the_formatter_parses_exactly_what_the_checker_parses() {
    // The formatter's comment-keeping parser and `crate::lang`'s must agree
    // on which files are syntactically valid.
    let mut files = valid_files();
    files.extend(files_in("tests/fixtures/invalid"));
    for f in files {
        // Lossy: an invalid fixture holds a byte that is not UTF-8.
        let text = String::from_utf8_lossy(&std::fs::read(&f).expect("read")).into_owned();
        let ours = exp::editor::cst::parse(&text).is_ok();
        // `exp::parse::bad_number` (a literal too large) is a value error,
        // not syntax; and only this file's own syntax counts, not that of a
        // file it `use`s (tests/fixtures/invalid/broken_use.exp).
        let outcome = exp::driver::check_text(
            &f.display().to_string(),
            &text,
            f.parent().expect("dir"),
            &[],
            exp::driver::CheckOptions::default(),
        );
        let theirs = !outcome.diagnostics.iter().any(|d| {
            d.file == 0
                && d.code().starts_with("exp::parse::")
                && d.code() != "exp::parse::bad_number"
        });
        assert_eq!(
            ours,
            theirs,
            "{}: formatter parses = {ours}, checker parses = {theirs}",
            f.display()
        );
    }
}

/// What `exp check` makes of `text` as the file `path`.
fn meaning(path: &Path, text: &str) -> (Option<exp::spec::Pipeline>, Vec<String>) {
    let dir = path.parent().expect("dir");
    let name = path.display().to_string();
    let outcome =
        exp::driver::check_text(&name, text, dir, &[], exp::driver::CheckOptions::default());
    let mut codes: Vec<String> = outcome
        .diagnostics
        .iter()
        .map(|d| format!("{:?} {}", d.severity(), d.code()))
        .collect();
    codes.sort();
    (outcome.pipeline, codes)
}

fn assert_fmt_ok(path: &Path, text: &str) -> String {
    let once = format_source(text)
        .unwrap_or_else(|e| panic!("{}: does not format: {e:?}", path.display()));
    let twice = format_source(&once).expect("formatted text parses");
    assert_eq!(
        twice,
        once,
        "{}: formatting is not idempotent",
        path.display()
    );
    assert_eq!(
        meaning(path, text),
        meaning(path, &once),
        "{}: formatting changed the meaning",
        path.display()
    );
    once
}

#[test]
fn every_valid_file_formats_idempotently_without_changing_meaning() {
    let files = valid_files();
    assert!(files.len() >= 3, "found only {files:?}");
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        let (pipeline, codes) = meaning(f, &text);
        assert!(
            pipeline.is_some(),
            "{} should check cleanly: {codes:?}",
            f.display()
        );
        assert_fmt_ok(f, &text);
    }
}

#[test]
fn invalid_fixtures_keep_their_diagnostics() {
    // Files that still parse must report the same codes after formatting;
    // files with syntax errors are refused by the formatter.
    for f in files_in("tests/fixtures/invalid") {
        // Lossy: an invalid fixture holds a byte that is not UTF-8.
        let text = String::from_utf8_lossy(&std::fs::read(&f).expect("read")).into_owned();
        if let Ok(out) = format_source(&text) {
            assert_eq!(
                meaning(&f, &text).1,
                meaning(&f, &out).1,
                "{}: codes changed",
                f.display()
            );
            assert_eq!(
                format_source(&out).expect("reparse"),
                out,
                "{}: not idempotent",
                f.display()
            );
        }
    }
}

/// Re-lay `text`: every blank run outside strings and comments is replaced
/// by one of a few layouts (line breaks kept where a comment needs one).
fn relayout(text: &str, choices: &[u8]) -> String {
    const INLINE: &[&str] = &[" ", "  ", "\t", "\n", " // generated\n", "\n\n\n"];
    const BREAK: &[&str] = &[
        "\n",
        "\n\n",
        "\n  // generated\n  ",
        " \n\t\n   ",
        "\n/// doc\n",
    ];
    let mut out = String::new();
    let mut chars = text.char_indices().peekable();
    let mut k = 0usize;
    let mut pick = |with_break: bool| {
        let c = choices.get(k % choices.len().max(1)).copied().unwrap_or(0) as usize;
        k += 1;
        if with_break {
            BREAK[c % BREAK.len()]
        } else {
            INLINE[c % INLINE.len()]
        }
    };
    while let Some((_, c)) = chars.next() {
        match c {
            '"' => {
                out.push(c);
                while let Some((_, d)) = chars.next() {
                    out.push(d);
                    if d == '\\' {
                        if let Some((_, e)) = chars.next() {
                            out.push(e);
                        }
                    } else if d == '"' {
                        break;
                    }
                }
            }
            '/' if chars.peek().is_some_and(|(_, d)| *d == '/') => {
                out.push(c);
                while let Some((_, d)) = chars.peek().copied() {
                    if d == '\n' {
                        break;
                    }
                    out.push(d);
                    chars.next();
                }
            }
            c if c.is_whitespace() => {
                let mut run = String::from(c);
                while let Some((_, d)) = chars.peek().copied() {
                    if !d.is_whitespace() {
                        break;
                    }
                    run.push(d);
                    chars.next();
                }
                out.push_str(pick(run.contains('\n')));
            }
            c => out.push(c),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_layouts_format_idempotently_and_keep_meaning(file in 0usize..64, choices in proptest::collection::vec(any::<u8>(), 1..64)) {
        let files = valid_files();
        let f = &files[file % files.len()];
        let text = std::fs::read_to_string(f).expect("read");
        let shuffled = relayout(&text, &choices);
        prop_assert_eq!(meaning(f, &text), meaning(f, &shuffled), "the generator changed the meaning");
        assert_fmt_ok(f, &shuffled);
    }
}

fn exp_fmt(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_exp"))
        .arg("fmt")
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run exp fmt");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_check_rewrite_and_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let messy = dir.path().join("messy.exp");
    std::fs::write(
        &messy,
        "budget b { frozen=1 epoch finetune=2epochs } // end\n",
    )
    .expect("write");
    let p = messy.to_str().expect("utf-8 path");

    let (code, err) = exp_fmt(&["--check", p]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("exp::fmt::unformatted") && err.contains("is not formatted"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&messy).expect("read"),
        "budget b { frozen=1 epoch finetune=2epochs } // end\n",
        "--check writes nothing"
    );

    let (code, err) = exp_fmt(&[p]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(&messy).expect("read"),
        "budget b {\n  frozen   = 1 epoch\n  finetune = 2 epochs\n} // end\n"
    );
    let (code, err) = exp_fmt(&["--check", p]);
    assert_eq!(code, 0, "{err}");

    let broken = dir.path().join("broken.exp");
    std::fs::write(&broken, "recipe r {\n  batch = \n}\n").expect("write");
    let (code, err) = exp_fmt(&[broken.to_str().expect("utf-8 path")]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("exp::fmt::syntax") && err.contains("expected a value"),
        "{err}"
    );

    let (code, err) = exp_fmt(&[dir.path().join("missing.exp").to_str().expect("utf-8 path")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("exp::fmt::io"), "{err}");
}

/// The shipped files are in their canonical layout: `exp fmt --check` on
/// pipelines/, stdlib/ and the valid fixtures exits 0, so an editor that
/// formats on save (Helix's config does) changes nothing.
#[test]
fn shipped_files_pass_fmt_check() {
    let files = valid_files();
    assert!(files.len() > 5, "found {} files", files.len());
    let args: Vec<String> = std::iter::once("--check".to_string())
        .chain(files.iter().map(|p| p.display().to_string()))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, err) = exp_fmt(&args);
    assert_eq!(
        code, 0,
        "not formatted (run `exp fmt` on them and commit):\n{err}"
    );
}

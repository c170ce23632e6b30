//! Error recovery and the inputs a new user writes by mistake: a stray token
//! between declarations costs one diagnostic at that token and keeps the
//! declarations around it; `#` comments, and bytes that are not UTF-8, are
//! errors at their exact position, the same in `exp check` and `exp fmt`.

use exp::driver::{check_path, check_text, CheckOptions};
use exp::editor::format::format_source;
use std::path::Path;
use std::process::Command;

/// Every diagnostic of a fixture as (code, line, column), as `--format json`
/// reports them.
fn diags_of(fixture: &str) -> Vec<(String, usize, usize)> {
    let path = Path::new("tests/fixtures/invalid").join(fixture);
    let o = check_path(&path, &[], CheckOptions::default()).expect("fixture readable");
    o.diagnostics
        .iter()
        .map(|d| {
            let j = d.to_json(&o.sources);
            (j.code, j.line, j.column)
        })
        .collect()
}

fn one(code: &str, line: usize, column: usize) -> Vec<(String, usize, usize)> {
    vec![(code.to_string(), line, column)]
}

#[test]
fn hash_comment_between_declarations_is_one_error_at_the_hash() {
    assert_eq!(
        diags_of("recovery_hash_comment.exp"),
        one("exp::parse::hash_comment", 12, 1)
    );
}

#[test]
fn hash_comment_inside_a_declaration_keeps_the_declaration() {
    let text = "use std.backbones\nuse std.recipes\nuse std.scores\n\ndata d {\n  # where the images are\n  manifest = \"m.csv\" # trailing\n}\n\nbudget b {\n  finetune = 1 epoch\n}\n\nsweep s {\n  data = d\n  backbone = resnet50\n  recipe = adamw_cosine\n  budget = b\n  score = full_test\n}\n";
    let o = check_text(
        "hash.exp",
        text,
        Path::new("."),
        &[],
        CheckOptions::default(),
    );
    let got: Vec<(String, usize, usize)> = o
        .diagnostics
        .iter()
        .map(|d| {
            let j = d.to_json(&o.sources);
            (j.code, j.line, j.column)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("exp::parse::hash_comment".to_string(), 6, 3),
            ("exp::parse::hash_comment".to_string(), 7, 22),
        ]
    );
    // A `#` inside a string is text, not a comment.
    let o = check_text(
        "s.exp",
        "data d {\n  manifest = \"a#b.csv\"\n}\n",
        Path::new("."),
        &[],
        CheckOptions::default(),
    );
    assert!(
        !o.diagnostics
            .iter()
            .any(|d| d.code() == "exp::parse::hash_comment"),
        "{:?}",
        o.diagnostics
    );
}

#[test]
fn extra_closing_brace_is_one_error_and_keeps_both_declarations() {
    assert_eq!(
        diags_of("recovery_extra_brace.exp"),
        one("exp::parse::syntax", 11, 1)
    );
}

#[test]
fn use_with_a_semicolon_is_one_error_at_the_semicolon_and_keeps_the_use() {
    assert_eq!(
        diags_of("recovery_use_semicolon.exp"),
        one("exp::parse::syntax", 4, 18)
    );
}

#[test]
fn error_inside_a_declaration_still_drops_only_that_declaration() {
    // Recovery resynchronises at the next top-level keyword: the broken
    // declaration is dropped, the next one is checked.
    let text = "data a {\n  x = = 1\n}\nrecipe r {\n  batch = 2\n}\n";
    let (file, diags) = exp::lang::parse::parse_file(text);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(file.items.len(), 1);
}

fn exp(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_exp"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run exp");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn non_utf8_byte_is_an_error_at_its_position_in_check_and_fmt() {
    assert_eq!(
        diags_of("not_utf8_string.exp"),
        one("exp::parse::not_utf8", 9, 23)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("latin1.exp");
    std::fs::copy("tests/fixtures/invalid/not_utf8_string.exp", &copy).expect("copy");
    let copy = copy.to_str().expect("utf-8 path");

    let (code, err) = exp(&["check", copy]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("exp::parse::not_utf8") && err.contains("latin1.exp:9:23]"),
        "{err}"
    );
    let (code, err) = exp(&["fmt", copy]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("exp::parse::not_utf8") && err.contains("latin1.exp:9:23]"),
        "{err}"
    );
}

#[test]
fn non_utf8_byte_in_a_used_file_is_an_error_in_that_file_and_at_the_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        "tests/fixtures/invalid/not_utf8_string.exp",
        dir.path().join("latin1.exp"),
    )
    .expect("copy");
    let main = dir.path().join("main.exp");
    std::fs::write(&main, "use \"latin1.exp\"\n").expect("write");
    let o = check_path(&main, &[], CheckOptions::default()).expect("readable");
    let got: Vec<(String, String, usize, usize)> = o
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            let j = d.to_json(&o.sources);
            let file = Path::new(&j.file)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned());
            (j.code, file.unwrap_or_default(), j.line, j.column)
        })
        .collect();
    assert!(
        got.contains(&("exp::parse::not_utf8".into(), "latin1.exp".into(), 9, 23)),
        "{got:?}"
    );
    assert!(
        got.contains(&("exp::resolve::broken_use".into(), "main.exp".into(), 1, 5)),
        "{got:?}"
    );
    assert!(o.pipeline.is_none());
}

#[test]
fn fmt_refuses_a_hash_comment_with_the_checkers_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hash.exp");
    std::fs::write(&path, "# note\nbudget b {\n  finetune = 1 epoch\n}\n").expect("write");
    let (code, err) = exp(&["fmt", path.to_str().expect("utf-8 path")]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("exp::fmt::syntax") && err.contains("comments start with `//`"),
        "{err}"
    );
}

#[test]
fn comments_blank_lines_and_doc_comments_survive_formatting() {
    let src = "// header comment\n\nuse std.recipes\n\n/// The screen's budget.\n/// Two lines of doc.\nbudget b { // after the brace\n  finetune=1 epoch // trailing\n\n  /// Frozen first.\n  frozen=1 epoch\n  // before the end\n}\n// at the end of the file\n";
    let out = format_source(src).expect("formats");
    assert_eq!(
        out,
        "// header comment\n\nuse std.recipes\n\n/// The screen's budget.\n/// Two lines of doc.\nbudget b {\n  // after the brace\n  finetune = 1 epoch // trailing\n\n  /// Frozen first.\n  frozen = 1 epoch\n  // before the end\n}\n\n// at the end of the file\n"
    );
    assert_eq!(format_source(&out).expect("reformats"), out, "idempotent");
    // The doc comments reach the checker's tree too (hover reads them).
    let (file, diags) = exp::lang::parse::parse_file(&out);
    assert!(diags.is_empty(), "{diags:?}");
    let exp::lang::ast::Item::Decl(b) = &file.items[1] else {
        panic!("budget not parsed: {:?}", file.items)
    };
    assert_eq!(
        b.doc.as_deref(),
        Some("The screen's budget.\nTwo lines of doc.")
    );
    assert_eq!(b.fields[1].doc.as_deref(), Some("Frozen first."));
}

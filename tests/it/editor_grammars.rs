//! The highlighting grammars against the language's real files:
//! - the TextMate grammar: `npm run test:grammar` in editors/vscode: scope
//!   assertions (`vscode-tmgrammar-test`) on the sample in
//!   `editors/vscode/test/samples/`, and committed scope snapshots
//!   (`vscode-tmgrammar-snap`) of every pipeline, stdlib module and valid
//!   fixture, kept in `editors/vscode/test/snap/<group>/<file>.exp.snap`;
//! - the VS Code client: `npm run test:extension`;
//! - the tree-sitter grammar: `tree-sitter test` (corpus and highlight
//!   assertions) and no ERROR or MISSING node in any of those files.
//!
//! The tools come from `scripts/ci_deps.sh` (npm packages from
//! `editors/vscode/package-lock.json`, tree-sitter-cli from `cargo install`).
//! Set `EXP_UPDATE_SNAPSHOTS=1` to rewrite the TextMate snapshots after a
//! deliberate change, then review and commit them.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `(group, file)` of every file the grammars must handle.
fn language_files() -> Vec<(&'static str, PathBuf)> {
    let mut out = Vec::new();
    for (group, dir) in [
        ("samples", "editors/vscode/test/samples"),
        ("pipelines", "pipelines"),
        ("stdlib", "stdlib"),
        ("fixtures-valid", "tests/fixtures/valid"),
        ("fixtures-valid-include", "tests/fixtures/valid/include"),
    ] {
        let Ok(entries) = std::fs::read_dir(root().join(dir)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "exp"))
            .collect();
        files.sort();
        out.extend(files.into_iter().map(|p| (group, p)));
    }
    out
}

fn npm_tool(name: &str) -> PathBuf {
    let tool = root().join("editors/vscode/node_modules/.bin").join(name);
    assert!(
        tool.exists(),
        "{} is missing: install the grammar test tools with `npm ci --prefix editors/vscode` \
         (scripts/ci_deps.sh does it)",
        tool.display()
    );
    tool
}

fn tree_sitter() -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin")))
        .map(|d| d.join("tree-sitter"))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "tree-sitter is missing: install it with \
             `cargo install tree-sitter-cli --locked --version 0.26.13 --no-default-features` \
             (scripts/ci_deps.sh does it; generating the parser also needs node and a C compiler)"
        )
    })
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn vscode_extension_ships_the_same_textmate_grammar() {
    let main =
        std::fs::read_to_string(root().join("grammar/exp.tmLanguage.json")).expect("grammar");
    let copy = std::fs::read_to_string(root().join("editors/vscode/syntaxes/exp.tmLanguage.json"))
        .expect("copy");
    assert!(
        main == copy,
        "editors/vscode/syntaxes/exp.tmLanguage.json differs from grammar/exp.tmLanguage.json: \
         run `npm run sync-grammar --prefix editors/vscode`"
    );
    let grammar: serde_json::Value =
        serde_json::from_str(&main).expect("the TextMate grammar is JSON");
    assert_eq!(grammar["scopeName"], "source.exp");
}

/// `npm run <script>` in editors/vscode, with its output on failure.
fn npm_run(script: &str, extra: &[&str]) -> (bool, String) {
    npm_tool("vscode-tmgrammar-snap");
    let mut cmd = Command::new("npm");
    cmd.current_dir(root().join("editors/vscode"))
        .args(["run", "--silent", script]);
    if !extra.is_empty() {
        cmd.arg("--").args(extra);
    }
    run(&mut cmd)
}

/// `npm run test:grammar` (editors/vscode/test/grammar.js): scope assertions
/// on the sample, and scope snapshots of every pipeline, stdlib module and
/// valid fixture. `EXP_UPDATE_SNAPSHOTS=1` rewrites the snapshots.
#[test]
fn textmate_scope_assertions_and_snapshots_hold() {
    assert!(
        !language_files().is_empty(),
        "no pipelines, stdlib modules or valid fixtures found"
    );
    let update = std::env::var_os("EXP_UPDATE_SNAPSHOTS").is_some();
    let (ok, out) = npm_run("test:grammar", if update { &["--update"] } else { &[] });
    assert!(
        ok,
        "`npm run test:grammar` failed (scopes changed?):\n{out}"
    );
}

/// `npm run test:extension`: the VS Code client with `vscode` stubbed: the
/// message when `exp` is missing names `exp.server.path`; restart re-reads
/// the settings.
#[test]
fn vscode_extension_behaviour() {
    let (ok, out) = npm_run("test:extension", &[]);
    assert!(ok, "`npm run test:extension` failed:\n{out}");
}

/// A copy of the tree-sitter grammar folder in a temp dir, generated.
fn generated_tree_sitter() -> (tempfile::TempDir, PathBuf) {
    let ts = tree_sitter();
    let work = tempfile::tempdir().expect("temp dir");
    let src = root().join("grammar/tree-sitter-exp");
    let dest = work.path().join("tree-sitter-exp");
    copy_dir(&src, &dest);
    let (ok, out) = run(Command::new(&ts).current_dir(&dest).arg("generate"));
    assert!(ok, "tree-sitter generate failed:\n{out}");
    (work, dest)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from)
        .expect("read grammar dir")
        .filter_map(Result::ok)
    {
        let p = e.path();
        let name = e.file_name();
        if name == "src" || name == "node_modules" || name == "build" {
            continue;
        }
        if p.is_dir() {
            copy_dir(&p, &to.join(&name));
        } else {
            std::fs::copy(&p, to.join(&name)).expect("copy");
        }
    }
}

fn tree_sitter_cmd(dir: &Path, work: &Path) -> Command {
    let mut cmd = Command::new(tree_sitter());
    // Why: keep the compiled parser out of the user's cache.
    cmd.current_dir(dir)
        .env("TREE_SITTER_LIBDIR", work.join("lib"));
    cmd
}

#[test]
fn tree_sitter_corpus_and_highlight_tests_pass() {
    let (work, dir) = generated_tree_sitter();
    let (ok, out) = run(tree_sitter_cmd(&dir, work.path()).arg("test"));
    assert!(ok, "tree-sitter test failed:\n{out}");
}

#[test]
fn tree_sitter_parses_every_language_file_without_errors() {
    let (work, dir) = generated_tree_sitter();
    let files = language_files();
    assert!(
        !files.is_empty(),
        "no pipelines, stdlib modules or valid fixtures found"
    );
    let mut cmd = tree_sitter_cmd(&dir, work.path());
    cmd.args(["parse", "--quiet"]);
    cmd.args(files.iter().map(|(_, p)| p));
    let (ok, out) = run(&mut cmd);
    assert!(ok, "tree-sitter found ERROR or MISSING nodes:\n{out}");
}

/// Capture names of tree-sitter's highlighter (`tree-sitter highlight`'s
/// standard list); a dotted refinement of one of them falls back to it.
const STANDARD_CAPTURES: &[&str] = &[
    "attribute",
    "comment",
    "constant",
    "constant.builtin",
    "constructor",
    "embedded",
    "function",
    "function.builtin",
    "keyword",
    "module",
    "number",
    "operator",
    "property",
    "property.builtin",
    "punctuation",
    "punctuation.bracket",
    "punctuation.delimiter",
    "punctuation.special",
    "string",
    "string.special",
    "tag",
    "type",
    "type.builtin",
    "variable",
    "variable.builtin",
    "variable.parameter",
];

/// The Helix query is the main one with these capture names swapped.
const HELIX_NAMES: &[(&str, &str)] = &[
    ("@comment.documentation", "@comment.line.documentation"),
    ("@property", "@variable.other.member"),
    ("@module", "@namespace"),
    ("@number", "@constant.numeric"),
    ("@constant.builtin", "@constant.builtin.boolean"),
];

fn query_body(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with(';'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn highlight_queries_use_standard_captures_and_no_predicates() {
    let main =
        std::fs::read_to_string(root().join("grammar/tree-sitter-exp/queries/highlights.scm"))
            .expect("query");
    let body = query_body(&main);
    assert!(!body.contains("(#"), "no predicates in highlights.scm");
    for word in body.split(|c: char| c.is_whitespace() || c == ')' || c == '(') {
        if let Some(name) = word.strip_prefix('@') {
            let ok = STANDARD_CAPTURES.iter().any(|s| {
                name == *s
                    || name
                        .strip_prefix(s)
                        .is_some_and(|rest| rest.starts_with('.'))
            });
            assert!(
                ok,
                "@{name} is not a standard capture (or a refinement of one)"
            );
        }
    }
    let helix = std::fs::read_to_string(root().join("editors/helix/queries/exp/highlights.scm"))
        .expect("helix query");
    let mut renamed = body.clone();
    for (from, to) in HELIX_NAMES {
        renamed = renamed
            .replace(&format!("{from}\n"), &format!("{to}\n"))
            .replace(&format!("{from})"), &format!("{to})"));
    }
    assert_eq!(
        query_body(&helix).trim(),
        renamed.trim(),
        "editors/helix/queries/exp/highlights.scm must be the main query with Helix's names"
    );
}

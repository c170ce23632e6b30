//! `exp lsp` driven by a scripted client over stdio (Content-Length framing):
//! initialize, open, edits, diagnostics, hover, completion, definition,
//! document symbols, formatting, shutdown and exit. Answers are insta
//! snapshots with the temp folder written as `$TMP` and the stdlib cache as
//! `$STD`. One line of the document holds "naïve 😀" before the tokens asked
//! about, so UTF-16 columns are exercised. The last test times diagnostics
//! and hover on a generated 1,000-line file and prints the numbers (recorded
//! in docs/benchmarks.md; nothing is asserted about time).

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

struct Client {
    child: Child,
    stdin: ChildStdin,
    rx: Receiver<Value>,
    next_id: i64,
    /// Notifications received while waiting for responses.
    notes: Vec<Value>,
    tmp: String,
    std_dir: String,
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

impl Client {
    fn start(tmp: &Path) -> Client {
        let cache = tmp.join("cache");
        let mut child = Command::new(env!("CARGO_BIN_EXE_exp"))
            .arg("lsp")
            .env("EXP_CACHE", &cache)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start exp lsp");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut len = None;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length: ") {
                        len = v.parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; len.expect("Content-Length header")];
                if r.read_exact(&mut body).is_err() {
                    return;
                }
                let v: Value = serde_json::from_slice(&body).expect("JSON body");
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        let std_dir = cache.join("lsp-std").join(exp::VERSION);
        Client {
            child,
            stdin,
            rx,
            next_id: 1,
            notes: Vec::new(),
            tmp: uri(tmp),
            std_dir: uri(&std_dir),
        }
    }

    fn send(&mut self, v: &Value) {
        let body = serde_json::to_string(v).expect("json");
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write");
        self.stdin.flush().expect("flush");
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let msg = self
                .rx
                .recv_timeout(Duration::from_secs(60))
                .expect("an answer from exp lsp");
            if msg.get("id") == Some(&json!(id)) {
                assert!(msg.get("error").is_none(), "{method} failed: {msg}");
                return msg["result"].clone();
            }
            self.notes.push(msg);
        }
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Value {
        if let Some(i) = self.notes.iter().position(|n| {
            n["method"] == "textDocument/publishDiagnostics" && n["params"]["uri"] == uri
        }) {
            return self.notes.remove(i)["params"].clone();
        }
        loop {
            let msg = self
                .rx
                .recv_timeout(Duration::from_secs(60))
                .expect("diagnostics from exp lsp");
            if msg["method"] == "textDocument/publishDiagnostics" && msg["params"]["uri"] == uri {
                return msg["params"].clone();
            }
            self.notes.push(msg);
        }
    }

    /// Pretty JSON with machine-specific paths replaced.
    fn show(&self, v: &Value) -> String {
        let s = serde_json::to_string_pretty(v).expect("json");
        let tmp_path = self.tmp.trim_start_matches("file://");
        s.replace(&self.std_dir, "$STD")
            .replace(&self.tmp, "$TMP")
            .replace(tmp_path, "$TMP")
    }

    fn initialize(&mut self) -> Value {
        let caps = self.request(
            "initialize",
            json!({"processId": null, "rootUri": null, "capabilities": {"general": {"positionEncodings": ["utf-16"]}}}),
        );
        self.notify("initialized", json!({}));
        caps
    }

    fn shutdown(mut self) {
        let r = self.request("shutdown", Value::Null);
        assert_eq!(r, Value::Null);
        self.notify("exit", Value::Null);
        let status = self.child.wait().expect("exp lsp exits");
        assert!(status.success(), "exp lsp exited with {status}");
    }
}

const COMMON: &str = "/// A tiny backbone for the tests.\nbackbone tiny {\n  arch = \"resnet_test\"\n}\n\nbudget short {\n  frozen   = 1 epoch\n  finetune = 1 epoch\n}\n";

const MAIN: &str = r#"use std.backbones
use std.recipes
use std.scores
use "common.exp"

seed 17

/// Shapes: naïve 😀 but learnable.
data shapes { root = "gen/naïve😀" source = generated(classes = 3) image_size = 4 }

/// AdamW with a short warmup.
recipe mine extends adamw_cosine {
  warmup = 3 deg
}

sweep s {
  data     = shapes
  backbone = [tiny, resnet50]
  recipe   = [mine, strong_reg]
  budget   = short
  score    = full_test
}
"#;

fn pos(text: &str, needle: &str, nth: usize) -> Value {
    let off = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle} in text"))
        .0;
    let line = text[..off].matches('\n').count();
    let start = text[..off].rfind('\n').map_or(0, |i| i + 1);
    let character: usize = text[start..off].chars().map(char::len_utf16).sum();
    json!({"line": line, "character": character})
}

fn at(uri: &str, text: &str, needle: &str, nth: usize) -> Value {
    json!({"textDocument": {"uri": uri}, "position": pos(text, needle, nth)})
}

fn labels(v: &Value) -> String {
    let items = v.as_array().cloned().unwrap_or_default();
    items
        .iter()
        .map(|i| i["label"].as_str().unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn scripted_session() {
    let dir = tempfile::tempdir().expect("tmp");
    let tmp = dir.path().canonicalize().expect("canonical tmp");
    std::fs::write(tmp.join("common.exp"), COMMON).expect("write common");
    std::fs::write(tmp.join("main.exp"), MAIN).expect("write main");
    let main = uri(&tmp.join("main.exp"));
    let mut c = Client::start(&tmp);

    let init = c.initialize();
    insta::assert_snapshot!("initialize", c.show(&init["capabilities"]));

    c.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": main, "languageId": "exp", "version": 1, "text": MAIN}}),
    );
    let d = c.diagnostics(&main);
    insta::assert_snapshot!("diagnostics_open", c.show(&d));

    // Edit 1: fix the unit of the warmup (a range edit).
    let line = MAIN
        .lines()
        .position(|l| l.contains("3 deg"))
        .expect("warmup line");
    let col = MAIN
        .lines()
        .nth(line)
        .expect("line")
        .find("3 deg")
        .expect("col");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": main, "version": 2}, "contentChanges": [
            {"range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": col + 5}}, "text": "20 steps"}
        ]}),
    );
    let d = c.diagnostics(&main);
    insta::assert_snapshot!("diagnostics_after_unit_fix", c.show(&d));

    // Edit 2: fix the image size, after the non-ASCII text on its line.
    let text2 = MAIN.replace("3 deg", "20 steps");
    let p = pos(&text2, "image_size = 4", 0);
    let start = p["character"].as_u64().expect("col") + "image_size = ".len() as u64;
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": main, "version": 3}, "contentChanges": [
            {"range": {"start": {"line": p["line"], "character": start}, "end": {"line": p["line"], "character": start + 1}}, "text": "32"}
        ]}),
    );
    let d = c.diagnostics(&main);
    insta::assert_snapshot!("diagnostics_after_size_fix", c.show(&d));
    let text = text2.replace("image_size = 4", "image_size = 32");

    // Hover.
    let h = c.request("textDocument/hover", at(&main, &text, "mine", 1));
    insta::assert_snapshot!("hover_own_recipe", c.show(&h));
    let h = c.request("textDocument/hover", at(&main, &text, "resnet50", 0));
    insta::assert_snapshot!("hover_std_backbone", c.show(&h));
    let h = c.request("textDocument/hover", at(&main, &text, "warmup", 1));
    insta::assert_snapshot!("hover_field", c.show(&h));
    let h = c.request("textDocument/hover", at(&main, &text, "source", 0));
    insta::assert_snapshot!("hover_field_after_non_ascii", c.show(&h));
    let h = c.request("textDocument/hover", at(&main, &text, "steps", 0));
    insta::assert_snapshot!("hover_unit", c.show(&h));
    let h = c.request("textDocument/hover", at(&main, &text, "tiny", 0));
    insta::assert_snapshot!("hover_decl_from_used_file", c.show(&h));

    // Completion: field names, sweep references, units, top level.
    let insert_at = |c: &mut Client,
                     version: i64,
                     text: &str,
                     after: &str,
                     insert: &str|
     -> (String, Value) {
        let p = pos(text, after, 0);
        let col = p["character"].as_u64().expect("col") + after.encode_utf16().count() as u64;
        let pos = json!({"line": p["line"], "character": col});
        c.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": main, "version": version}, "contentChanges": [
                {"range": {"start": pos, "end": pos}, "text": insert}
            ]}),
        );
        let _ = c.diagnostics(&main);
        let off = text.find(after).expect("after") + after.len();
        let new_text = format!("{}{insert}{}", &text[..off], &text[off..]);
        let lines: Vec<&str> = new_text[..off + insert.len()].split('\n').collect();
        let cursor = json!({"line": lines.len() - 1, "character": lines.last().expect("line").encode_utf16().count()});
        (new_text, cursor)
    };
    let (text4, cursor) = insert_at(
        &mut c,
        4,
        &text,
        "recipe mine extends adamw_cosine {\n",
        "  la",
    );
    let r = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": main}, "position": cursor}),
    );
    insta::assert_snapshot!("complete_recipe_fields", labels(&r));
    let (text5, cursor) = insert_at(&mut c, 5, &text4, "backbone = [tiny, ", "conv");
    let r = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": main}, "position": cursor}),
    );
    insta::assert_snapshot!("complete_sweep_backbones", labels(&r));
    assert!(text5.contains("[tiny, conv"));
    // Back to the clean text (a full-document change).
    c.notify("textDocument/didChange", json!({"textDocument": {"uri": main, "version": 7}, "contentChanges": [{"text": text.clone()}]}));
    let _ = c.diagnostics(&main);
    let (_, cursor) = insert_at(&mut c, 8, &text, "warmup = 20 ", "");
    let r = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": main}, "position": cursor}),
    );
    insta::assert_snapshot!("complete_units", labels(&r));
    c.notify("textDocument/didChange", json!({"textDocument": {"uri": main, "version": 9}, "contentChanges": [{"text": text.clone()}]}));
    let _ = c.diagnostics(&main);
    // Call arguments, after the non-ASCII text on the line.
    let (_, cursor) = insert_at(&mut c, 10, &text, "generated(classes = 3", ", ");
    let r = c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": main}, "position": cursor}),
    );
    insta::assert_snapshot!("complete_call_arguments", labels(&r));
    c.notify("textDocument/didChange", json!({"textDocument": {"uri": main, "version": 11}, "contentChanges": [{"text": text.clone()}]}));
    let _ = c.diagnostics(&main);
    let h = c.request("textDocument/hover", at(&main, &text, "generated", 0));
    insta::assert_snapshot!("hover_call", c.show(&h));

    // Go to definition: own declaration, `extends` into the stdlib, a
    // declaration in a used file, the used file itself, a std module.
    for (name, needle, nth) in [
        ("definition_own", "mine", 1),
        ("definition_extends_std", "adamw_cosine", 0),
        ("definition_used_file_decl", "tiny", 0),
        ("definition_use_file", "common.exp", 0),
        ("definition_use_module", "std.recipes", 0),
    ] {
        let r = c.request("textDocument/definition", at(&main, &text, needle, nth));
        insta::assert_snapshot!(name, c.show(&r));
    }
    // The std file that definition points to exists and holds the declaration.
    let std_file = tmp
        .join("cache/lsp-std")
        .join(exp::VERSION)
        .join("std.recipes.exp");
    let std_text =
        std::fs::read_to_string(&std_file).expect("std.recipes written for go to definition");
    assert!(std_text.contains("recipe adamw_cosine"));

    let r = c.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": main}}),
    );
    insta::assert_snapshot!("document_symbols", c.show(&r));

    let r = c.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": main}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    let edits = r.as_array().expect("edits");
    assert_eq!(edits.len(), 1, "one whole-document edit");
    let formatted = edits[0]["newText"].as_str().expect("text").to_string();
    insta::assert_snapshot!("formatting", formatted);
    assert_eq!(
        exp::editor::format::format_source(&formatted).expect("parses"),
        formatted,
        "formatting is stable"
    );

    // A syntax error: reported, while hover keeps working on the last tree
    // that parsed.
    let broken = text.replace("  warmup = 20 steps\n", "  warmup = \n");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": main, "version": 12}, "contentChanges": [{"text": broken}]}),
    );
    let d = c.diagnostics(&main);
    insta::assert_snapshot!("diagnostics_syntax_error", c.show(&d));
    let h = c.request("textDocument/hover", at(&main, &text, "resnet50", 0));
    assert!(
        h["contents"]["value"]
            .as_str()
            .is_some_and(|v| v.contains("ResNet-50")),
        "{h}"
    );

    c.shutdown();
}

/// A generated file of about 1,000 lines: 70 recipes, 70 budgets, a sweep.
fn big_file() -> String {
    let mut s = String::from("use std.backbones\nuse std.recipes\nuse std.scores\n\nseed 3\n\ndata shapes {\n  source = generated(classes = 3)\n  root   = \"gen\"\n}\n\n");
    for i in 0..70 {
        s.push_str(&format!(
            "/// Recipe number {i}.\nrecipe r{i} extends adamw_cosine {{\n  batch     = {b}\n  warmup    = {w} steps\n  optimizer = adamw(lr = 1e-3, finetune_lr = 1e-4, weight_decay = 0.05)\n  dropout   = {{ head = 0.2, metadata = 0.1 }}\n  augment   = [hflip, rotate(15 deg)]\n}}\n\n",
            b = 16 + i,
            w = 10 + i
        ));
        s.push_str(&format!("budget b{i} {{\n  frozen   = 1 epoch\n  finetune = {} epochs\n  train    = 600 samples\n}}\n\n", 1 + i % 3));
    }
    let names: Vec<String> = (0..70).map(|i| format!("r{i}")).collect();
    s.push_str(&format!(
        "sweep big {{\n  data     = shapes\n  backbone = [resnet_test]\n  recipe   = [{}]\n  budget   = b0\n  score    = full_test\n}}\n",
        names.join(", ")
    ));
    s
}

#[test]
fn latency_on_a_thousand_line_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let tmp = dir.path().canonicalize().expect("canonical tmp");
    let text = big_file();
    let lines = text.lines().count();
    assert!(lines >= 1000, "generated {lines} lines");
    let path = tmp.join("big.exp");
    std::fs::write(&path, &text).expect("write");
    let u = uri(&path);
    let mut c = Client::start(&tmp);
    c.initialize();

    let t = Instant::now();
    c.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": u, "languageId": "exp", "version": 1, "text": text}}),
    );
    let d = c.diagnostics(&u);
    let open = t.elapsed();
    let errors: Vec<&Value> = d["diagnostics"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|d| d["severity"] == 1)
        .collect();
    assert!(
        errors.is_empty(),
        "the generated file checks cleanly: {errors:?}"
    );

    let mut change = Duration::ZERO;
    let mut hover = Duration::ZERO;
    let rounds = 10;
    for v in 0..rounds {
        let p = pos(&text, "batch     = 16", 0);
        let t = Instant::now();
        c.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": u, "version": v + 2}, "contentChanges": [
                {"range": {"start": {"line": p["line"], "character": 14}, "end": {"line": p["line"], "character": 16}}, "text": "16"}
            ]}),
        );
        let _ = c.diagnostics(&u);
        change += t.elapsed();
        let t = Instant::now();
        let h = c.request("textDocument/hover", at(&u, &text, "adamw_cosine", 30));
        hover += t.elapsed();
        assert!(h["contents"]["value"]
            .as_str()
            .is_some_and(|s| s.contains("adamw_cosine")));
    }
    println!(
        "exp lsp on {lines} lines: diagnostics after open {:.1} ms, after an edit {:.1} ms (mean of {rounds}), hover {:.2} ms (mean of {rounds})",
        open.as_secs_f64() * 1e3,
        change.as_secs_f64() * 1e3 / rounds as f64,
        hover.as_secs_f64() * 1e3 / rounds as f64,
    );
    c.shutdown();
}

/// Replace the whole text of an open document.
fn set_text(c: &mut Client, uri: &str, version: i64, text: &str) {
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}),
    );
}

fn open(c: &mut Client, uri: &str, text: &str) {
    c.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "exp", "version": 1, "text": text}}),
    );
}

/// Codes and messages (first line) of published diagnostics.
fn codes(d: &Value) -> Vec<String> {
    d["diagnostics"]
        .as_array()
        .expect("list")
        .iter()
        .map(|d| {
            format!(
                "{}: {}",
                d["code"].as_str().unwrap_or_default(),
                d["message"]
                    .as_str()
                    .unwrap_or_default()
                    .lines()
                    .next()
                    .unwrap_or_default()
            )
        })
        .collect()
}

/// The position just after the `nth` `needle` in `text`.
fn after(text: &str, needle: &str) -> Value {
    let off = text.find(needle).expect("needle") + needle.len();
    let line = text[..off].matches('\n').count();
    let start = text[..off].rfind('\n').map_or(0, |i| i + 1);
    let character: usize = text[start..off].chars().map(char::len_utf16).sum();
    json!({"line": line, "character": character})
}

/// Completion items with `text` in `uri` and the cursor after `needle`
/// (`dependents`: the open documents that use `uri`, re-checked too).
fn complete(
    c: &mut Client,
    uri: &str,
    dependents: &[&str],
    version: i64,
    text: &str,
    needle: &str,
) -> Value {
    set_text(c, uri, version, text);
    let _ = c.diagnostics(uri);
    for d in dependents {
        let _ = c.diagnostics(d);
    }
    c.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": uri}, "position": after(text, needle)}),
    )
}

/// Titles of the code actions offered for the diagnostics of `d`, with
/// each one's edits applied to `text` shown as the changed lines.
fn actions(c: &mut Client, uri: &str, text: &str, d: &Value) -> String {
    let diags = d["diagnostics"].clone();
    let r = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri},
               "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
               "context": {"diagnostics": diags}}),
    );
    let mut out = Vec::new();
    for a in r.as_array().expect("actions") {
        let edits = a["edit"]["changes"][uri].as_array().expect("edits");
        let applied = apply_edits(text, edits);
        let changed: Vec<String> = diff_lines(text, &applied);
        out.push(format!(
            "{} [{}] preferred={}\n{}",
            a["title"].as_str().expect("title"),
            a["kind"].as_str().expect("kind"),
            a["isPreferred"],
            changed.join("\n")
        ));
    }
    out.join("\n\n")
}

fn offset_of(text: &str, pos: &Value) -> usize {
    let line = pos["line"].as_u64().expect("line") as usize;
    let character = pos["character"].as_u64().expect("character") as usize;
    let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
    let mut units = 0;
    for (i, ch) in text[start..].char_indices() {
        if units >= character || ch == '\n' {
            return start + i;
        }
        units += ch.len_utf16();
    }
    text.len()
}

fn apply_edits(text: &str, edits: &[Value]) -> String {
    let mut spans: Vec<(usize, usize, String)> = edits
        .iter()
        .map(|e| {
            (
                offset_of(text, &e["range"]["start"]),
                offset_of(text, &e["range"]["end"]),
                e["newText"].as_str().expect("newText").to_string(),
            )
        })
        .collect();
    spans.sort_by_key(|s| std::cmp::Reverse(s.0));
    let mut out = text.to_string();
    for (s, e, t) in spans {
        out.replace_range(s..e, &t);
    }
    out
}

/// `- old` / `+ new` lines where two texts differ (a simple line diff).
fn diff_lines(a: &str, b: &str) -> Vec<String> {
    let (al, bl): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let head = al.iter().zip(&bl).take_while(|(x, y)| x == y).count();
    let tail = al[head..]
        .iter()
        .rev()
        .zip(bl[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let mut out: Vec<String> = al[head..al.len() - tail]
        .iter()
        .map(|l| format!("- {l}"))
        .collect();
    out.extend(bl[head..bl.len() - tail].iter().map(|l| format!("+ {l}")));
    out
}

const LIB: &str = "/// A tiny backbone.\nbackbone tiny {\n  arch = \"resnet_test\"\n}\n\nbudget short {\n  frozen   = 1 epoch\n  finetune = 1 epoch\n}\n";

const APP: &str = r#"use std.recipes
use std.scores
use "lib.exp"

data shapes {
  source     = generated(classes = 3)
  root       = "gen"
  image_size = 64
}

recipe mine extends adamw_cosine {
  warmup = 5 steps
}

sweep s {
  data     = shapes
  backbone = tiny
  recipe   = mine
  budget   = short
  score    = full_test
}
"#;

/// The behaviours users met in their first hour (issue 15): diagnostics
/// across open files, completion that fits the cursor, quick fixes, related
/// information and rename, through the real server over stdio.
#[test]
fn workspace_completion_quick_fixes_and_rename() {
    let dir = tempfile::tempdir().expect("tmp");
    let tmp = dir.path().canonicalize().expect("canonical tmp");
    std::fs::write(tmp.join("lib.exp"), LIB).expect("write lib");
    std::fs::write(tmp.join("app.exp"), APP).expect("write app");
    let app = uri(&tmp.join("app.exp"));
    let lib = uri(&tmp.join("lib.exp"));
    let mut c = Client::start(&tmp);
    let caps = c.initialize();
    assert_eq!(
        caps["capabilities"]["renameProvider"]["prepareProvider"],
        true
    );
    assert_eq!(
        caps["capabilities"]["codeActionProvider"]["codeActionKinds"],
        json!(["quickfix"])
    );

    // 1. One workspace: an unsaved edit to a used file reaches the file
    //    using it, and its fix clears the error there without touching it.
    open(&mut c, &app, APP);
    assert_eq!(codes(&c.diagnostics(&app)), Vec::<String>::new());
    open(&mut c, &lib, LIB);
    assert_eq!(codes(&c.diagnostics(&lib)), Vec::<String>::new());
    // app.exp read lib.exp: it is re-checked against the open document.
    assert_eq!(codes(&c.diagnostics(&app)), Vec::<String>::new());
    let broken_lib = LIB.replace("resnet_test", "resnet_tset");
    set_text(&mut c, &lib, 2, &broken_lib);
    let on_lib = c.diagnostics(&lib);
    let on_app = c.diagnostics(&app);
    insta::assert_snapshot!(
        "workspace_error_in_used_file",
        format!(
            "lib: {:?}\napp: {}",
            codes(&on_lib),
            c.show(&on_app["diagnostics"])
        )
    );
    // Its "did you mean" is fixed in lib.exp, not on app.exp's `use` line.
    assert_eq!(actions(&mut c, &app, APP, &on_app), "");
    assert_eq!(
        actions(&mut c, &lib, &broken_lib, &on_lib),
        "Replace with `resnet_test` [quickfix] preferred=true\n-   arch = \"resnet_tset\"\n+   arch = \"resnet_test\""
    );
    set_text(&mut c, &lib, 3, LIB);
    assert_eq!(codes(&c.diagnostics(&lib)), Vec::<String>::new());
    assert_eq!(
        codes(&c.diagnostics(&app)),
        Vec::<String>::new(),
        "the fix clears app.exp"
    );
    // The unsaved text of lib.exp is what app.exp sees: a budget that is
    // only in the editor resolves, and one removed only there does not.
    let lib2 = LIB.replace("budget short", "budget shorter");
    set_text(&mut c, &lib, 4, &lib2);
    assert_eq!(codes(&c.diagnostics(&lib)), Vec::<String>::new());
    assert_eq!(
        codes(&c.diagnostics(&app)),
        ["exp::resolve::unknown_name: unknown budget `short`"],
    );
    // Closing lib.exp: app.exp reads the file on disk again.
    c.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": lib}}),
    );
    assert_eq!(
        codes(&c.diagnostics(&lib)),
        Vec::<String>::new(),
        "cleared on close"
    );
    assert_eq!(codes(&c.diagnostics(&app)), Vec::<String>::new());
    open(&mut c, &lib, LIB);
    let _ = c.diagnostics(&lib);
    let _ = c.diagnostics(&app);

    // 2. Secondary labels as related information.
    let dup = APP.replace("recipe mine extends", "recipe shapes extends");
    set_text(&mut c, &app, 2, &dup);
    let d = c.diagnostics(&app);
    insta::assert_snapshot!("related_information", c.show(&d["diagnostics"]));

    // 3. Completion that fits the cursor.
    let mut v = 10;
    let mut labels_at = |c: &mut Client, text: &str, needle: &str| -> String {
        v += 1;
        labels(&complete(c, &app, &[], v, text, needle))
    };
    let t = APP.replace("  warmup = 5 steps\n", "  warmup = 5 steps\n  optimizer.\n");
    insta::assert_snapshot!(
        "complete_member_of_inherited_call",
        labels_at(&mut c, &t, "optimizer.")
    );
    let t = APP.replace("use std.scores\n", "use std.scores\nuse std.\n");
    let r = complete(&mut c, &app, &[], 30, &t, "use std.");
    insta::assert_snapshot!("complete_use_std", c.show(&r));
    let t = APP.replace(
        "  warmup = 5 steps\n",
        "  warmup = 5 steps\n  optimizer = \n",
    );
    insta::assert_snapshot!(
        "complete_optimizer_value",
        labels_at(&mut c, &t, "optimizer = ")
    );
    let t = APP.replace(
        "  warmup = 5 steps\n",
        "  warmup = 5 steps\n  schedule = \n",
    );
    insta::assert_snapshot!(
        "complete_schedule_value",
        labels_at(&mut c, &t, "schedule = ")
    );
    let t = APP.replace(
        "  warmup = 5 steps\n",
        "  warmup = 5 steps\n  augment = [\n",
    );
    insta::assert_snapshot!(
        "complete_augment_value",
        labels_at(&mut c, &t, "augment = [")
    );
    let t = APP.replace(
        "  warmup = 5 steps\n",
        "  warmup = 5 steps\n  batch = 32 \n",
    );
    assert_eq!(
        labels_at(&mut c, &t, "batch = 32 "),
        "",
        "no units for a plain number"
    );
    let t = APP.replace("  warmup = 5 steps\n", "  warmup = 5 \n");
    insta::assert_snapshot!(
        "complete_units_of_warmup",
        labels_at(&mut c, &t, "warmup = 5 ")
    );
    let t = APP.replace(
        "  warmup = 5 steps\n",
        "  warmup = 5 steps\n  augment = [rotate(30 ]\n",
    );
    assert_eq!(labels_at(&mut c, &t, "rotate(30 "), "deg");
    // A string value after an open quote (and the closing quote an editor
    // auto-inserted): the edit replaces both, inserting one quoted name.
    let t = LIB.replace("arch = \"resnet_test\"", "arch = \"res\"");
    let r = complete(&mut c, &lib, &[&app], 40, &t, "arch = \"res");
    let item = r
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["label"] == "resnet50")
        .expect("resnet50 offered")
        .clone();
    let applied = apply_edits(&t, &[item["textEdit"].clone()]);
    assert!(applied.contains("  arch = \"resnet50\"\n"), "{applied}");
    let t = LIB.replace("arch = \"resnet_test\"", "arch = ");
    let r = complete(&mut c, &lib, &[&app], 41, &t, "arch = ");
    let item = r
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["label"] == "resnet50")
        .expect("resnet50 offered")
        .clone();
    assert!(apply_edits(&t, &[item["textEdit"].clone()]).contains("  arch = \"resnet50\"\n"));
    set_text(&mut c, &lib, 42, LIB);
    let _ = c.diagnostics(&lib);
    let _ = c.diagnostics(&app);

    // 4. Quick fixes.
    let cases = [
        (
            "fix_did_you_mean_field",
            APP.replace("warmup = 5 steps", "warmpu = 20 steps"),
        ),
        (
            "fix_did_you_mean_name",
            APP.replace("recipe   = mine", "recipe   = mien"),
        ),
        ("fix_missing_use", APP.replace("use std.recipes\n", "")),
        (
            "fix_unused_declaration",
            APP.replace(
                "recipe mine",
                "/// Spare.\nbudget spare {\n  finetune = 2 epochs\n}\n\nrecipe mine",
            ),
        ),
        (
            "fix_image_size_for_arch",
            APP.replace("arch = ", "")
                .replace("backbone = tiny", "backbone = vit")
                .replace(
                    "use \"lib.exp\"\n",
                    "use \"lib.exp\"\n\nbackbone vit {\n  arch = \"vit_test\"\n}\n",
                )
                .replace("image_size = 64", "image_size = 60"),
        ),
    ];
    for (i, (name, text)) in cases.iter().enumerate() {
        set_text(&mut c, &app, 50 + i as i64, text);
        let d = c.diagnostics(&app);
        insta::assert_snapshot!(*name, actions(&mut c, &app, text, &d));
    }
    set_text(&mut c, &app, 60, APP);
    let _ = c.diagnostics(&app);

    // 5. Rename `tiny` (declared in lib.exp) from its use in app.exp.
    let p = at(&app, APP, "tiny", 0);
    let prep = c.request("textDocument/prepareRename", p.clone());
    assert_eq!(prep["placeholder"], "tiny");
    let mut params = p.clone();
    params["newName"] = json!("small");
    let r = c.request("textDocument/rename", params);
    let changes = &r["changes"];
    let new_app = apply_edits(APP, changes[&app].as_array().expect("app edits"));
    let new_lib = apply_edits(LIB, changes[&lib].as_array().expect("lib edits"));
    assert!(
        new_app.contains("backbone = small") && !new_app.contains("tiny"),
        "{new_app}"
    );
    assert!(
        new_lib.contains("backbone small {") && new_lib.contains("\"resnet_test\""),
        "{new_lib}"
    );
    // A std declaration and a keyword are refused with a message.
    let id = c.next_id;
    c.next_id += 1;
    c.send(&json!({"jsonrpc": "2.0", "id": id, "method": "textDocument/prepareRename", "params": at(&app, APP, "adamw_cosine", 0)}));
    let err = loop {
        let msg = c.rx.recv_timeout(Duration::from_secs(60)).expect("answer");
        if msg.get("id") == Some(&json!(id)) {
            break msg;
        }
        c.notes.push(msg);
    };
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("standard library")),
        "{err}"
    );

    c.shutdown();
}

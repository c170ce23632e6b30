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
        s.replace(&self.std_dir, "$STD").replace(&self.tmp, "$TMP")
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

//! What the language server knows about a document: the node under the
//! cursor, the declarations in scope (this file, `use`d files, the stdlib)
//! and the completion context at a position.

use super::cst::{self, Comment, Decl, Field, File, ItemKind, Name, Value};
use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Where a declaration lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The document itself.
    This,
    /// A file reached through `use "..."`.
    File(PathBuf),
    /// A standard-library module (`std.recipes`).
    Std(String),
}

/// A declaration visible from a document.
#[derive(Debug, Clone)]
pub struct DeclSite {
    pub kind: String,
    pub name: String,
    pub extends: Option<String>,
    pub name_span: Range<usize>,
    pub doc: Option<String>,
    /// `arch = ...` of a backbone, as written (without quotes).
    pub arch: Option<String>,
    pub origin: Origin,
    /// Text of the file declaring it (for positions).
    pub text: std::sync::Arc<str>,
}

/// The `///` lines right above an entry, joined.
pub fn doc_of(leading: &[Comment]) -> Option<String> {
    let mut lines = Vec::new();
    for c in leading {
        if c.is_doc() {
            let t = c.text.trim_start_matches("///");
            lines.push(t.strip_prefix(' ').unwrap_or(t).to_string());
        } else {
            lines.clear();
        }
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

fn unquote(s: &str) -> String {
    s.trim_matches('"')
        .replace("\\\"", "\"")
        .replace("\\\\", "\\")
        .replace("\\n", "\n")
        .replace("\\t", "\t")
}

/// Declarations of one parsed file.
pub fn decls_of(file: &File, origin: &Origin, text: &std::sync::Arc<str>) -> Vec<DeclSite> {
    let mut out = Vec::new();
    for item in &file.items {
        if let ItemKind::Decl(d) = &item.kind {
            let arch = d
                .body
                .fields
                .iter()
                .find(|f| f.path_text() == "arch")
                .and_then(|f| match &f.value {
                    Value::Str(s) => Some(unquote(&s.text)),
                    Value::Ref(r) => Some(r.text.clone()),
                    _ => None,
                });
            out.push(DeclSite {
                kind: if d.kind.text == "experiment" {
                    "sweep".into()
                } else {
                    d.kind.text.clone()
                },
                name: d.name.text.clone(),
                extends: d.extends.as_ref().map(|e| e.text.clone()),
                name_span: d.name.span.clone(),
                doc: doc_of(&item.trivia.leading),
                arch,
                origin: origin.clone(),
                text: text.clone(),
            });
        }
    }
    out
}

/// Targets of `use` items: std module names and relative file strings.
pub fn uses_of(file: &File) -> (Vec<String>, Vec<String>) {
    let (mut modules, mut files) = (Vec::new(), Vec::new());
    for item in &file.items {
        match &item.kind {
            ItemKind::UseModule(n) => modules.push(n.text.clone()),
            ItemKind::UseFile(s) => files.push(unquote(&s.text)),
            _ => {}
        }
    }
    (modules, files)
}

/// Reads a file by path: open documents first, then the disk.
pub trait FileSource {
    fn read(&self, path: &Path) -> Option<String>;
}

/// Every declaration in scope of `file` (at `path`): its own, the files it
/// `use`s (transitively), and the std modules used along the way. Std
/// modules are always included after the rest, so stdlib names complete
/// and resolve even before their `use` is written.
pub fn scope(
    file: &File,
    path: Option<&Path>,
    text: &std::sync::Arc<str>,
    files: &dyn FileSource,
    std: &StdLib,
) -> Vec<DeclSite> {
    let mut out = decls_of(file, &Origin::This, text);
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut queue: Vec<PathBuf> = Vec::new();
    let base = path
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    for f in uses_of(file).1 {
        queue.push(base.join(f));
    }
    while let Some(p) = queue.pop() {
        if !seen.insert(p.clone()) || seen.len() > 64 {
            continue;
        }
        let Some(src) = files.read(&p) else { continue };
        let Ok(tree) = cst::parse(&src) else {
            continue;
        };
        let text: std::sync::Arc<str> = std::sync::Arc::from(src.as_str());
        out.extend(decls_of(&tree, &Origin::File(p.clone()), &text));
        let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
        queue.extend(uses_of(&tree).1.into_iter().map(|f| dir.join(f)));
    }
    for m in &std.modules {
        out.extend(m.decls.iter().cloned());
    }
    out
}

/// One parsed standard-library module.
#[derive(Debug, Clone)]
pub struct StdModule {
    pub name: String,
    pub text: std::sync::Arc<str>,
    pub decls: Vec<DeclSite>,
}

/// The embedded standard library, parsed once.
#[derive(Debug, Clone, Default)]
pub struct StdLib {
    pub modules: Vec<StdModule>,
}

impl StdLib {
    pub fn load() -> Self {
        let modules = crate::lang::stdlib::MODULES
            .iter()
            .map(|(name, src)| {
                let text: std::sync::Arc<str> = std::sync::Arc::from(*src);
                let decls = cst::parse(src)
                    .map(|t| decls_of(&t, &Origin::Std((*name).to_string()), &text))
                    .unwrap_or_default();
                StdModule {
                    name: (*name).to_string(),
                    text,
                    decls,
                }
            })
            .collect();
        Self { modules }
    }

    pub fn module(&self, name: &str) -> Option<&StdModule> {
        self.modules.iter().find(|m| m.name == name)
    }
}

// ---------------------------------------------------------------- hits

/// What the cursor is on.
#[derive(Debug, Clone)]
pub enum Hit<'a> {
    Keyword(&'a Name),
    DeclName(&'a Decl),
    Extends {
        decl: &'a Decl,
        base: &'a Name,
    },
    /// A field name; `path` holds the enclosing field names, outermost first,
    /// ending with this one.
    FieldName {
        kind: String,
        path: Vec<String>,
        name: &'a Name,
    },
    /// A bare name in a value.
    Ref {
        kind: String,
        field: Vec<String>,
        name: &'a Name,
    },
    Str {
        kind: String,
        field: Vec<String>,
        lit: &'a Name,
    },
    Call {
        name: &'a Name,
    },
    ArgName {
        call: &'a Name,
        name: &'a Name,
    },
    Unit(&'a Name),
    UseModule(&'a Name),
    UseFile(&'a Name),
}

fn inside(span: &Range<usize>, off: usize) -> bool {
    span.start <= off && off <= span.end
}

/// The node at byte `off`.
pub fn hit_at(file: &File, off: usize) -> Option<Hit<'_>> {
    for item in &file.items {
        if !inside(&item.span, off) {
            continue;
        }
        match &item.kind {
            ItemKind::UseModule(n) if inside(&n.span, off) => return Some(Hit::UseModule(n)),
            ItemKind::UseFile(n) if inside(&n.span, off) => return Some(Hit::UseFile(n)),
            ItemKind::Decl(d) => {
                if inside(&d.kind.span, off) {
                    return Some(Hit::Keyword(&d.kind));
                }
                if inside(&d.name.span, off) {
                    return Some(Hit::DeclName(d));
                }
                if let Some(b) = d.extends.as_ref().filter(|b| inside(&b.span, off)) {
                    return Some(Hit::Extends { decl: d, base: b });
                }
                let kind = if d.kind.text == "experiment" {
                    "sweep".to_string()
                } else {
                    d.kind.text.clone()
                };
                return fields_hit(&d.body.fields, &kind, &[], off);
            }
            _ => {}
        }
    }
    None
}

fn fields_hit<'a>(
    fields: &'a [Field],
    kind: &str,
    outer: &[String],
    off: usize,
) -> Option<Hit<'a>> {
    for f in fields {
        if !inside(&f.span, off) {
            continue;
        }
        let mut path: Vec<String> = outer.to_vec();
        for seg in &f.path {
            path.push(seg.text.clone());
            if inside(&seg.span, off) {
                return Some(Hit::FieldName {
                    kind: kind.to_string(),
                    path,
                    name: seg,
                });
            }
        }
        let path: Vec<String> = outer
            .iter()
            .cloned()
            .chain(f.path.iter().map(|s| s.text.clone()))
            .collect();
        return value_hit(&f.value, kind, &path, off);
    }
    None
}

fn value_hit<'a>(v: &'a Value, kind: &str, field: &[String], off: usize) -> Option<Hit<'a>> {
    if !inside(&v.span(), off) {
        return None;
    }
    match v {
        Value::Ref(n) => Some(Hit::Ref {
            kind: kind.to_string(),
            field: field.to_vec(),
            name: n,
        }),
        Value::Str(s) => Some(Hit::Str {
            kind: kind.to_string(),
            field: field.to_vec(),
            lit: s,
        }),
        Value::Quantity { unit, .. } if inside(&unit.span, off) => Some(Hit::Unit(unit)),
        Value::List { items, .. } => items
            .iter()
            .find_map(|e| value_hit(&e.value, kind, field, off)),
        Value::Record(b) => fields_hit(&b.fields, kind, field, off),
        Value::Call { name, args, .. } => {
            if inside(&name.span, off) {
                return Some(Hit::Call { name });
            }
            for a in args {
                if let Some(n) = a.name.as_ref().filter(|n| inside(&n.span, off)) {
                    return Some(Hit::ArgName {
                        call: name,
                        name: n,
                    });
                }
                if let Some(h) = value_hit(&a.value, kind, field, off) {
                    return Some(h);
                }
            }
            None
        }
        _ => None,
    }
}

// ---------------------------------------------------------------- completion context

/// Where the cursor is, read from the raw text so it works while the file
/// does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Context {
    /// Between declarations.
    TopLevel,
    /// After `use `.
    UseTarget,
    /// After `extends ` in a declaration of `kind`.
    Extends { kind: String },
    /// Where a field name goes, in a declaration of `kind` (`depth` 1 = the
    /// declaration's own fields).
    FieldName {
        kind: String,
        depth: usize,
        /// The field whose record value holds the cursor (depth ≥ 2).
        record: Option<String>,
    },
    /// Where a value goes, for `field` (the nearest `name =` before the cursor).
    Value { kind: String, field: Option<String> },
    /// Right after a number: a unit of the quantity `field` takes (a field
    /// of `kind`, or an argument or key name inside it).
    Unit { kind: String, field: Option<String> },
    /// Where an argument name goes in a call to `call`.
    CallArg { call: String },
    /// After `field.` where a field name goes in declaration `decl` of
    /// `kind`: the arguments of the call (or keys of the record) it holds.
    Member {
        kind: String,
        decl: String,
        field: String,
    },
}

/// The completion context at byte `off`, and the start of the word being typed.
pub fn context_at(text: &str, off: usize) -> (Context, usize) {
    let mut off = off.min(text.len());
    while !text.is_char_boundary(off) {
        off -= 1;
    }
    let before = &text[..off];
    let word_start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '_')
        .last()
        .map_or(off, |(i, _)| i);
    // Scan for depth, the enclosing declaration and, per open bracket, the
    // field it is the value of; strings and comments are skipped.
    let (mut kind, mut last_kw) = (String::new(), String::new());
    // The name after the last declaration keyword, and that of the
    // declaration holding the cursor.
    let (mut decl, mut last_decl) = (String::new(), String::new());
    let mut name_next = false;
    let mut openers: Vec<Option<String>> = Vec::new();
    let (mut last_word, mut eq_field): (Option<String>, Option<String>) = (None, None);
    let mut prev_eq = false;
    let bytes = before.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                prev_eq = false;
            }
            b @ (b'{' | b'[' | b'(') => {
                if openers.is_empty() {
                    kind = last_kw.clone();
                    decl = last_decl.clone();
                }
                let opener = if prev_eq || b == b'(' {
                    eq_field.clone()
                } else {
                    openers.last().cloned().flatten()
                };
                openers.push(opener);
                prev_eq = false;
            }
            b'}' | b']' | b')' => {
                openers.pop();
                eq_field = openers.last().cloned().flatten();
                prev_eq = false;
            }
            b'=' => {
                eq_field = last_word.clone();
                prev_eq = true;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let s = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'.')
                {
                    i += 1;
                }
                let w = &before[s..i];
                if openers.is_empty() && name_next {
                    last_decl = w.to_string();
                }
                name_next = false;
                if openers.is_empty()
                    && matches!(
                        w,
                        "data"
                            | "backbone"
                            | "recipe"
                            | "budget"
                            | "score"
                            | "sweep"
                            | "experiment"
                    )
                {
                    last_kw = if w == "experiment" {
                        "sweep".into()
                    } else {
                        w.to_string()
                    };
                    name_next = true;
                }
                last_word = Some(w.to_string());
                prev_eq = false;
                continue;
            }
            c if c.is_ascii_whitespace() => {}
            _ => prev_eq = false,
        }
        i += 1;
    }
    let depth = openers.len();
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    let line = &before[line_start..word_start];
    let trimmed = line.trim_end();
    if depth == 0 {
        // `use std.` completes the whole dotted module name.
        let head = trimmed.trim_start();
        if head == "use std." || head == "use std" && line.ends_with('.') {
            let at = line_start + line.rfind("std").unwrap_or(0);
            return (Context::UseTarget, at);
        }
        let ctx = if head == "use" {
            Context::UseTarget
        } else if trimmed.ends_with("extends") {
            Context::Extends { kind: last_kw }
        } else {
            Context::TopLevel
        };
        return (ctx, word_start);
    }
    // The nearest `name =` on this line, else the field that opened the container.
    let seg_start = line.rfind(['{', '[', '(', ',', ';']).map_or(0, |p| p + 1);
    let on_line = line[seg_start..].rfind('=').map(|eq| {
        let lhs = line[seg_start..seg_start + eq].trim_end();
        let start = lhs
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .map_or(0, |p| p + 1);
        lhs[start..].to_string()
    });
    let opener = openers.last().cloned().flatten();
    // A number just before (with blanks): a unit.
    let tail = before[..word_start].trim_end_matches([' ', '\t']);
    if tail.len() < before[..word_start].len() && tail.ends_with(|c: char| c.is_ascii_digit()) {
        // The argument or key named on this line, else the call (positional
        // argument), else the field.
        let call = match innermost_opener(before) {
            Some(('(', at)) => {
                let name = before[..at].trim_end();
                let start = name
                    .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map_or(0, |p| p + 1);
                Some(name[start..].to_string())
            }
            _ => None,
        };
        let field = on_line
            .clone()
            .filter(|s| !s.is_empty())
            .or(call)
            .or(opener)
            .map(|f| f.rsplit('.').next().unwrap_or_default().to_string());
        return (Context::Unit { kind, field }, word_start);
    }
    // `field.` in a field-name position: members of the field's value.
    if before[..word_start].ends_with('.') && depth == 1 && on_line.is_none() {
        let dotted = before[line_start..word_start - 1].trim();
        if !dotted.is_empty()
            && dotted
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            let field = dotted.split('.').next().unwrap_or_default().to_string();
            return (Context::Member { kind, decl, field }, word_start);
        }
    }
    let field_pos = line.trim().is_empty() || line.trim_end().ends_with([',', ';', '{', '(']);
    match innermost_opener(before) {
        Some(('{', _)) if field_pos && on_line.is_none() => {
            let record = if depth >= 2 {
                opener.map(|f| f.rsplit('.').next().unwrap_or_default().to_string())
            } else {
                None
            };
            return (
                Context::FieldName {
                    kind,
                    depth,
                    record,
                },
                word_start,
            );
        }
        Some(('(', at)) if field_pos && on_line.is_none() => {
            let name = before[..at].trim_end();
            let start = name
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(0, |p| p + 1);
            return (
                Context::CallArg {
                    call: name[start..].to_string(),
                },
                word_start,
            );
        }
        _ => {}
    }
    let field = on_line.filter(|s| !s.is_empty()).or(opener);
    (
        Context::Value {
            kind,
            field: field.map(|f| f.split('.').next().unwrap_or_default().to_string()),
        },
        word_start,
    )
}

/// The innermost bracket still open at the end of `before`, with its offset.
fn innermost_opener(before: &str) -> Option<(char, usize)> {
    let mut stack = Vec::new();
    let mut in_str = false;
    let mut chars = before.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if in_str {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' | '\n' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '/' if chars.peek().is_some_and(|(_, d)| *d == '/') => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '{' | '[' | '(' => stack.push((c, i)),
            '}' | ']' | ')' => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack.last().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(src: &str) -> Context {
        let off = src.find('|').expect("test input");
        let text = src.replace('|', "");
        context_at(&text, off).0
    }

    #[test]
    fn contexts() {
        assert_eq!(
            ctx("recipe r {\n  opt|"),
            Context::FieldName {
                kind: "recipe".into(),
                depth: 1,
                record: None
            }
        );
        assert_eq!(
            ctx("recipe r {\n  a = 1\n  |\n}"),
            Context::FieldName {
                kind: "recipe".into(),
                depth: 1,
                record: None
            }
        );
        assert_eq!(
            ctx("sweep s {\n  backbone = [resnet50, |"),
            Context::Value {
                kind: "sweep".into(),
                field: Some("backbone".into())
            }
        );
        assert_eq!(
            ctx("sweep s {\n  backbone = res|"),
            Context::Value {
                kind: "sweep".into(),
                field: Some("backbone".into())
            }
        );
        assert_eq!(
            ctx("budget b {\n  frozen = 1 ep|"),
            Context::Unit {
                kind: "budget".into(),
                field: Some("frozen".into())
            }
        );
        assert_eq!(
            ctx("recipe r {\n  augment = [rotate(30 |"),
            Context::Unit {
                kind: "recipe".into(),
                field: Some("rotate".into())
            }
        );
        assert_eq!(
            ctx("recipe r extends b {\n  optimizer.|"),
            Context::Member {
                kind: "recipe".into(),
                decl: "r".into(),
                field: "optimizer".into()
            }
        );
        assert_eq!(ctx("use st|"), Context::UseTarget);
        assert_eq!(ctx("use std.|"), Context::UseTarget);
        assert_eq!(context_at("use std.rec", 11).1, 4);
        assert_eq!(ctx("data d {}\nre|"), Context::TopLevel);
        assert_eq!(
            ctx("recipe r extends |"),
            Context::Extends {
                kind: "recipe".into()
            }
        );
        assert_eq!(
            ctx("recipe r {\n  dropout = { |"),
            Context::FieldName {
                kind: "recipe".into(),
                depth: 2,
                record: Some("dropout".into())
            }
        );
        assert_eq!(
            ctx("sweep s {\n  exclude = [{ backbone = resnet50, |"),
            Context::FieldName {
                kind: "sweep".into(),
                depth: 3,
                record: Some("exclude".into())
            }
        );
    }
}

//! The canonical layout of `.exp` files (`exp fmt`).
//!
//! Rules, all decided by the tree alone so that formatting is idempotent:
//! - two-space indentation; one field per line in declarations;
//! - `=` aligned over a run of fields not broken by a blank line;
//! - one blank line around every declaration; at most one blank line kept
//!   between `use`/`seed` lines and between fields;
//! - lists, records and calls on one line when they fit in [`MAX_WIDTH`]
//!   columns and hold no comment, else one entry per line (lists and calls
//!   with a trailing comma, records one field per line);
//! - literals as written, a quantity as `number unit` (`95%` stays joined);
//! - every comment kept: own-line comments stay above their entry, a comment
//!   at the end of a line stays there; comments inside a header (between
//!   `recipe` and `{`, between `=` and the value) move above the entry.

use super::cst::{self, Block, Comment, Field, File, ItemKind, Trivia, Value};

/// Lines longer than this break lists, records and calls over several lines.
pub const MAX_WIDTH: usize = 100;

const INDENT: &str = "  ";

/// Format a whole file.
pub fn format_source(src: &str) -> Result<String, cst::SyntaxError> {
    let file = cst::parse(src)?;
    Ok(format_file(&file))
}

pub fn format_file(file: &File) -> String {
    let mut out = String::new();
    let mut prev_was_decl = false;
    for (i, item) in file.items.iter().enumerate() {
        let is_decl = matches!(item.kind, ItemKind::Decl(_));
        if i > 0 && (is_decl || prev_was_decl || item.trivia.blank_before) {
            out.push('\n');
        }
        leading(&mut out, &item.trivia, 0);
        match &item.kind {
            ItemKind::UseModule(n) | ItemKind::UseFile(n) => {
                out.push_str("use ");
                out.push_str(&n.text);
            }
            ItemKind::Seed(n) => {
                out.push_str("seed ");
                out.push_str(&n.text);
            }
            ItemKind::Decl(d) => {
                out.push_str(&d.kind.text);
                out.push(' ');
                out.push_str(&d.name.text);
                if let Some(base) = &d.extends {
                    out.push_str(" extends ");
                    out.push_str(&base.text);
                }
                out.push(' ');
                block_lines(&mut out, &d.body, 0);
            }
        }
        trailing(&mut out, &item.trivia);
        out.push('\n');
        prev_was_decl = is_decl;
    }
    if !file.dangling.is_empty() {
        if !file.items.is_empty() {
            out.push('\n');
        }
        comments(&mut out, &file.dangling, 0, true);
    }
    out
}

fn pad(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str(INDENT);
    }
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// The column the cursor is at in `out`.
fn column(out: &str) -> usize {
    width(out.rsplit('\n').next().unwrap_or(""))
}

/// Own-line comments, each on its line at `level`, keeping one blank line
/// where the source had one (except before the first line of a container).
fn comments(out: &mut String, list: &[Comment], level: usize, first: bool) {
    for (i, c) in list.iter().enumerate() {
        if c.blank_before && !(first && i == 0) {
            out.push('\n');
        }
        pad(out, level);
        out.push_str(&c.text);
        out.push('\n');
    }
}

/// Leading comments of an entry, then the indentation of its first line.
fn leading(out: &mut String, t: &Trivia, level: usize) {
    comments(out, &t.leading, level, true);
    if !t.leading.is_empty() && t.blank_after_leading {
        out.push('\n');
    }
    pad(out, level);
}

fn trailing(out: &mut String, t: &Trivia) {
    if let Some(c) = &t.trailing {
        out.push(' ');
        out.push_str(&c.text);
    }
}

/// `{`, one line per field, `}` (the cursor is after the opening text).
fn block_lines(out: &mut String, b: &Block, level: usize) {
    if b.fields.is_empty() && b.dangling.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{\n");
    let widths = alignment(&b.fields);
    for (i, f) in b.fields.iter().enumerate() {
        if i > 0 && f.trivia.blank_before {
            out.push('\n');
        }
        leading(out, &f.trivia, level + 1);
        field_line(out, f, widths[i], level + 1);
        trailing(out, &f.trivia);
        out.push('\n');
    }
    if !b.dangling.is_empty() {
        comments(out, &b.dangling, level + 1, b.fields.is_empty());
    }
    pad(out, level);
    out.push('}');
}

/// Width each field's path is padded to: the longest plain path of its run
/// of fields not separated by a blank line (or a blank line inside
/// comments); dotted overrides are not padded.
fn alignment(fields: &[Field]) -> Vec<usize> {
    let mut widths = vec![0; fields.len()];
    let mut start = 0;
    for i in 0..=fields.len() {
        let breaks = i == fields.len()
            || (i > start
                && (fields[i].trivia.blank_before || fields[i].trivia.blank_after_leading));
        if breaks {
            let w = fields[start..i]
                .iter()
                .filter(|f| f.path.len() == 1)
                .map(|f| width(&f.path_text()))
                .max()
                .unwrap_or(0);
            for (x, f) in widths[start..i].iter_mut().zip(&fields[start..i]) {
                *x = if f.path.len() == 1 { w } else { 0 };
            }
            start = i;
        }
    }
    widths
}

fn field_line(out: &mut String, f: &Field, path_width: usize, level: usize) {
    let path = f.path_text();
    out.push_str(&path);
    for _ in width(&path)..path_width {
        out.push(' ');
    }
    out.push_str(" = ");
    value(out, &f.value, level);
}

/// Write a value at the cursor; `level` is the indentation of its line.
fn value(out: &mut String, v: &Value, level: usize) {
    if let Some(flat) = inline(v) {
        if column(out) + width(&flat) <= MAX_WIDTH {
            out.push_str(&flat);
            return;
        }
    }
    match v {
        Value::List {
            items, dangling, ..
        } => {
            out.push_str("[\n");
            for (i, e) in items.iter().enumerate() {
                if i > 0 && e.trivia.blank_before {
                    out.push('\n');
                }
                leading(out, &e.trivia, level + 1);
                value(out, &e.value, level + 1);
                out.push(',');
                trailing(out, &e.trivia);
                out.push('\n');
            }
            comments(out, dangling, level + 1, items.is_empty());
            pad(out, level);
            out.push(']');
        }
        Value::Call {
            name,
            args,
            dangling,
            ..
        } => {
            out.push_str(&name.text);
            out.push_str("(\n");
            for (i, a) in args.iter().enumerate() {
                if i > 0 && a.trivia.blank_before {
                    out.push('\n');
                }
                leading(out, &a.trivia, level + 1);
                if let Some(n) = &a.name {
                    out.push_str(&n.text);
                    out.push_str(" = ");
                }
                value(out, &a.value, level + 1);
                out.push(',');
                trailing(out, &a.trivia);
                out.push('\n');
            }
            comments(out, dangling, level + 1, args.is_empty());
            pad(out, level);
            out.push(')');
        }
        Value::Record(b) => block_lines(out, b, level),
        // Atoms always have an inline form.
        Value::Number(n) | Value::Str(n) | Value::Bool(n) | Value::Ref(n) => out.push_str(&n.text),
        Value::Quantity { .. } | Value::Typed { .. } => out.push_str(&atom(v)),
    }
}

fn atom(v: &Value) -> String {
    match v {
        Value::Quantity { number, unit } if unit.text == "%" => format!("{}%", number.text),
        Value::Quantity { number, unit } => format!("{} {}", number.text, unit.text),
        Value::Number(n) | Value::Str(n) | Value::Bool(n) | Value::Ref(n) => n.text.clone(),
        Value::Typed { name, kind } => format!("{}: {}", atom(name), kind.text),
        _ => String::new(),
    }
}

/// The one-line form of a value, `None` when a comment inside forbids it.
fn inline(v: &Value) -> Option<String> {
    match v {
        Value::List {
            items, dangling, ..
        } => {
            if !dangling.is_empty() || items.iter().any(|e| e.trivia.has_comments()) {
                return None;
            }
            let parts = items
                .iter()
                .map(|e| inline(&e.value))
                .collect::<Option<Vec<_>>>()?;
            Some(format!("[{}]", parts.join(", ")))
        }
        Value::Record(b) => {
            if !b.dangling.is_empty() || b.fields.iter().any(|f| f.trivia.has_comments()) {
                return None;
            }
            if b.fields.is_empty() {
                return Some("{}".into());
            }
            let parts = b
                .fields
                .iter()
                .map(|f| inline(&f.value).map(|v| format!("{} = {v}", f.path_text())))
                .collect::<Option<Vec<_>>>()?;
            Some(format!("{{ {} }}", parts.join(", ")))
        }
        Value::Call {
            name,
            args,
            dangling,
            ..
        } => {
            if !dangling.is_empty() || args.iter().any(|a| a.trivia.has_comments()) {
                return None;
            }
            let parts = args
                .iter()
                .map(|a| {
                    inline(&a.value).map(|v| match &a.name {
                        Some(n) => format!("{} = {v}", n.text),
                        None => v,
                    })
                })
                .collect::<Option<Vec<_>>>()?;
            Some(format!("{}({})", name.text, parts.join(", ")))
        }
        _ => Some(atom(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(s: &str) -> String {
        format_source(s).expect("test input")
    }

    #[test]
    fn canonical_layout() {
        let src = "use std.backbones\nuse std.recipes\nseed 17\nbudget screen { train = 24_000 samples, frozen=1 epoch; finetune = 4epochs keep=95 % }\nrecipe r extends b { optimizer = adamw( lr = 2e-3 , weight_decay=0.05 ) augment=[ hflip ,rotate( 30 deg ), ] dropout={head=0.5,metadata=0.3} }";
        let want = "use std.backbones\nuse std.recipes\nseed 17\n\nbudget screen {\n  train    = 24_000 samples\n  frozen   = 1 epoch\n  finetune = 4 epochs\n  keep     = 95%\n}\n\nrecipe r extends b {\n  optimizer = adamw(lr = 2e-3, weight_decay = 0.05)\n  augment   = [hflip, rotate(30 deg)]\n  dropout   = { head = 0.5, metadata = 0.3 }\n}\n";
        assert_eq!(fmt(src), want);
        assert_eq!(fmt(want), want);
    }

    #[test]
    fn comments_are_kept_and_stable() {
        let src = "// header\n\n/// doc of r\nrecipe r { // brace\n  a = 1 // one\n\n  // about b\n  b = [x, // first\n    y]\n  // end of r\n}\n// tail\n";
        let once = fmt(src);
        assert_eq!(
            once,
            "// header\n\n/// doc of r\nrecipe r {\n  // brace\n  a = 1 // one\n\n  // about b\n  b = [\n    x, // first\n    y,\n  ]\n  // end of r\n}\n\n// tail\n"
        );
        assert_eq!(fmt(&once), once);
    }

    #[test]
    fn dotted_overrides_stay_out_of_the_alignment() {
        let src =
            "recipe r extends b { augment = [hflip] dropout = 0.1 optimizer.weight_decay = 0.1 }";
        let want = "recipe r extends b {\n  augment = [hflip]\n  dropout = 0.1\n  optimizer.weight_decay = 0.1\n}\n";
        assert_eq!(fmt(src), want);
    }

    #[test]
    fn long_lists_break_one_item_per_line() {
        let names: Vec<String> = (0..12).map(|i| format!("backbone_number_{i}")).collect();
        let src = format!("sweep s {{ backbone = [{}] }}", names.join(", "));
        let out = fmt(&src);
        assert!(
            out.contains("  backbone = [\n    backbone_number_0,\n"),
            "{out}"
        );
        assert!(out.lines().all(|l| l.chars().count() <= MAX_WIDTH));
        assert_eq!(fmt(&out), out);
    }

    #[test]
    fn non_ascii_widths_count_characters() {
        let src = "data d { root = \"naïve 😀\" // naïve 😀\n}";
        let out = fmt(src);
        assert_eq!(out, "data d {\n  root = \"naïve 😀\" // naïve 😀\n}\n");
    }
}

//! Quick fixes (LSP code actions) for the diagnostics `exp lsp` publishes.
//!
//! A fix is read from the diagnostic the client sends back (its code and
//! its `help:` line), so every "did you mean", every missing `use` and
//! every lint whose help names its fix gets one without a second table:
//! - `did you mean `X`?` → replace the flagged text with `X`;
//! - `add `use std.M` at the top` → insert the `use` line after the others;
//! - `exp::lint::image_size_for_arch` → set `image_size` to each size named;
//! - `exp::lint::unused_declaration` → delete the declaration;
//! - `exp::lint::layer_decay_on_cnn` → remove the `layer_decay` field;
//! - `exp::lint::split_leakage` → select on `"val"`.

use super::cst::{self, File, ItemKind};
use std::ops::Range;

/// One quick fix: a title and byte-range replacements in the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub title: String,
    pub edits: Vec<(Range<usize>, String)>,
    /// The one fix an editor may apply without asking (`did you mean`).
    pub preferred: bool,
}

/// The `help:` part of a published message.
fn help_of(message: &str) -> &str {
    message.split_once("\nhelp: ").map_or("", |(_, h)| h)
}

/// The first backquoted text after `marker` in `s`.
fn quoted_after<'a>(s: &'a str, marker: &str) -> Option<&'a str> {
    let rest = &s[s.find(marker)? + marker.len()..];
    let rest = &rest[rest.find('`')? + 1..];
    Some(&rest[..rest.find('`')?])
}

/// The fixes of a diagnostic with `code` and `message` at byte `span` of `text`.
pub fn fixes_for(code: &str, message: &str, span: Range<usize>, text: &str) -> Vec<Fix> {
    let help = help_of(message);
    let span = span.start.min(text.len())..span.end.min(text.len());
    let mut out = Vec::new();
    if let Some(word) = quoted_after(help, "did you mean") {
        let old = text.get(span.clone()).unwrap_or_default();
        let new = if old.starts_with('"') {
            format!("\"{word}\"")
        } else {
            word.to_string()
        };
        out.push(Fix {
            title: format!("Replace with `{word}`"),
            edits: vec![(span.clone(), new)],
            preferred: true,
        });
    }
    if let Some(line) = quoted_after(help, "add").filter(|l| l.starts_with("use ")) {
        out.push(Fix {
            title: format!("Add `{line}`"),
            edits: vec![use_insert(text, line)],
            preferred: true,
        });
    }
    let tree = cst::parse(text).ok();
    match code {
        "exp::lint::image_size_for_arch" => {
            let sizes = help
                .split("image_size = ")
                .nth(1)
                .unwrap_or_default()
                .split(|c: char| !c.is_ascii_digit())
                .filter(|w| !w.is_empty());
            for size in sizes {
                out.push(Fix {
                    title: format!("Set `image_size = {size}`"),
                    edits: vec![(span.clone(), size.to_string())],
                    preferred: false,
                });
            }
        }
        "exp::lint::unused_declaration" => {
            if let Some((name, range)) = tree
                .as_ref()
                .and_then(|t| quoted_after(help, "add").and_then(|n| decl_range(t, text, n)))
            {
                out.push(Fix {
                    title: format!("Delete `{name}`"),
                    edits: vec![(range, String::new())],
                    preferred: false,
                });
            }
        }
        "exp::lint::layer_decay_on_cnn" => {
            if let Some(range) = tree
                .as_ref()
                .and_then(|t| field_line(t, text, &span, "layer_decay"))
            {
                out.push(Fix {
                    title: "Remove `layer_decay`".into(),
                    edits: vec![(range, String::new())],
                    preferred: false,
                });
            }
        }
        "exp::lint::split_leakage" => {
            let value = text.get(span.clone()).unwrap_or_default();
            if let Some(at) = value.find("split") {
                let rest = &value[at..];
                if let (Some(q1), true) = (rest.find('"'), rest.contains('=')) {
                    if let Some(q2) = rest[q1 + 1..].find('"') {
                        let start = span.start + at + q1;
                        out.push(Fix {
                            title: "Select checkpoints on `\"val\"`".into(),
                            edits: vec![(start..start + q2 + 2, "\"val\"".into())],
                            preferred: false,
                        });
                    }
                }
            }
        }
        _ => {}
    }
    out
}

/// The edit adding `line`: after the last `use` line, else at the top.
fn use_insert(text: &str, line: &str) -> (Range<usize>, String) {
    let mut at = None;
    let mut offset = 0;
    for l in text.split_inclusive('\n') {
        offset += l.len();
        if l.trim_start().starts_with("use ") {
            at = Some(offset);
        }
    }
    match at {
        // The last `use` ends the file without a newline.
        Some(at) if !text[..at].ends_with('\n') => (at..at, format!("\n{line}")),
        Some(at) => (at..at, format!("{line}\n")),
        None => (0..0, format!("{line}\n")),
    }
}

/// The whole lines of declaration `name` (with its comments), and the name.
fn decl_range<'a>(tree: &File, text: &str, name: &'a str) -> Option<(&'a str, Range<usize>)> {
    let item = tree
        .items
        .iter()
        .find(|i| matches!(&i.kind, ItemKind::Decl(d) if d.name.text == name))?;
    let start = item
        .trivia
        .leading
        .first()
        .map_or(item.span.start, |c| c.span.start.min(item.span.start));
    Some((name, whole_lines(text, start..item.span.end)))
}

/// The lines of the field `field` whose value holds `span`.
fn field_line(tree: &File, text: &str, span: &Range<usize>, field: &str) -> Option<Range<usize>> {
    tree.items.iter().find_map(|i| match &i.kind {
        ItemKind::Decl(d) => d
            .body
            .fields
            .iter()
            .find(|f| {
                f.path_text() == field && f.span.start <= span.start && span.end <= f.span.end
            })
            .map(|f| whole_lines(text, f.span.clone())),
        _ => None,
    })
}

/// `span` widened to whole lines, with one following blank line.
fn whole_lines(text: &str, span: Range<usize>) -> Range<usize> {
    let start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let mut end = text[span.end..]
        .find('\n')
        .map_or(text.len(), |i| span.end + i + 1);
    if text[end..].starts_with('\n') && (start == 0 || text[..start].ends_with("\n\n")) {
        end += 1;
    }
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(text: &str, fix: &Fix) -> String {
        let mut out = text.to_string();
        let mut edits = fix.edits.clone();
        edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
        for (r, t) in edits {
            out.replace_range(r, &t);
        }
        out
    }

    #[test]
    fn did_you_mean_keeps_quotes() {
        let text = "backbone b {\n  arch = \"resnet5\"\n}\n";
        let at = text.find("\"resnet5\"").expect("arch");
        let fixes = fixes_for(
            "exp::check::unknown_arch",
            "unknown architecture\nhelp: did you mean `resnet50`?",
            at..at + 9,
            text,
        );
        assert_eq!(
            apply(text, &fixes[0]),
            "backbone b {\n  arch = \"resnet50\"\n}\n"
        );
    }

    #[test]
    fn adds_the_use_line_after_the_others() {
        let text = "use std.scores\n\nrecipe r extends adamw_cosine {}\n";
        let fixes = fixes_for(
            "exp::resolve::unknown_name",
            "unknown recipe `adamw_cosine`\nhelp: `adamw_cosine` is declared in std.recipes: add `use std.recipes` at the top of the file",
            0..0,
            text,
        );
        assert_eq!(
            apply(text, &fixes[0]),
            "use std.scores\nuse std.recipes\n\nrecipe r extends adamw_cosine {}\n"
        );
    }

    #[test]
    fn deletes_an_unused_declaration_with_its_doc() {
        let text = "budget a {\n  finetune = 1 epoch\n}\n\n/// Spare.\nbudget b {\n  finetune = 2 epochs\n}\n";
        let fixes = fixes_for(
            "exp::lint::unused_declaration",
            "budget `b` is declared but no sweep uses it\nhelp: add `b` to a sweep, or delete it",
            0..0,
            text,
        );
        assert_eq!(
            apply(text, &fixes[0]),
            "budget a {\n  finetune = 1 epoch\n}\n\n"
        );
    }
}

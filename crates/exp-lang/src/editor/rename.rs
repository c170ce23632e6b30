//! Rename of a declaration: every place a tree names it (the declaration,
//! `extends`, references in values), for `textDocument/rename`.

use super::cst::{Field, File, ItemKind, Value};
use std::ops::Range;

/// Words with a meaning of their own besides the top-level keywords
/// ([`crate::lang::parse::TOP_KEYWORDS`]): not valid new names either.
const RESERVED: &[&str] = &["extends", "true", "false", "none"];

/// Why `name` cannot be a declaration name, if it cannot.
pub fn invalid_name(name: &str) -> Option<String> {
    let mut chars = name.chars();
    let ok_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !ok_start || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Some(format!(
            "`{name}` is not a name: use letters, digits and `_`, starting with a letter"
        ));
    }
    (crate::lang::parse::TOP_KEYWORDS.contains(&name) || RESERVED.contains(&name))
        .then(|| format!("`{name}` is a keyword of the language"))
}

/// Byte ranges where `file` names the declaration `name`.
pub fn occurrences(file: &File, name: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    for item in &file.items {
        let ItemKind::Decl(d) = &item.kind else {
            continue;
        };
        if d.name.text == name {
            out.push(d.name.span.clone());
        }
        if let Some(b) = d.extends.as_ref().filter(|b| b.text == name) {
            out.push(b.span.clone());
        }
        fields(&d.body.fields, name, &mut out);
    }
    out
}

fn fields(fs: &[Field], name: &str, out: &mut Vec<Range<usize>>) {
    for f in fs {
        // Why: `arch = resnet50` names an architecture, not a declaration.
        if f.path.first().is_some_and(|p| p.text == "arch") {
            continue;
        }
        value(&f.value, name, out);
    }
}

fn value(v: &Value, name: &str, out: &mut Vec<Range<usize>>) {
    match v {
        Value::Ref(n) if n.text == name => out.push(n.span.clone()),
        Value::List { items, .. } => items.iter().for_each(|e| value(&e.value, name, out)),
        Value::Record(b) => fields(&b.fields, name, out),
        Value::Call { args, .. } => args.iter().for_each(|a| value(&a.value, name, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_declaration_extends_and_references_but_not_arch() {
        let text = "backbone tiny { arch = tiny }\nbackbone t2 extends tiny {}\nsweep s {\n  backbone = [tiny, t2]\n  baseline = { backbone = tiny }\n}\n";
        let tree = super::super::cst::parse(text).expect("parses");
        let found: Vec<&str> = occurrences(&tree, "tiny")
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(invalid_name("9x").is_some() && invalid_name("sweep").is_some());
        assert!(invalid_name("tiny_2").is_none());
    }
}

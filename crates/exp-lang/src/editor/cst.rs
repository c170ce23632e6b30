//! A concrete syntax tree of one `.exp` file that keeps every comment, for
//! the formatter and the language server, built from the result of the one
//! parser (`grammar/exp.pest` via [`crate::lang::parse::file_tree`]).
//!
//! Why comments are recovered from positions instead of from the grammar:
//! `COMMENT` stays a silent rule, so the checker's pairs are the same with or
//! without comments, and the pre-scan that `lang::parse` runs anyway already
//! lists every comment with its span; a comment is then attached to the
//! entry (item, field, list element, call argument) whose tokens surround it.
//! Blank lines are read from the text between tokens.

use crate::lang::parse::{self as lang_parse, GrammarRule as Rule};
use pest::iterators::Pair;
use std::ops::Range;

/// A `//` or `///` comment, text as written (trailing blanks removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub text: String,
    pub span: Range<usize>,
    /// A blank line precedes it.
    pub blank_before: bool,
}

impl Comment {
    pub fn is_doc(&self) -> bool {
        self.text.starts_with("///") && !self.text.starts_with("////")
    }
}

/// Comments around one entry (item, field, list element, call argument).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trivia {
    /// Own-line comments before the entry, and comments from inside the
    /// entry's header that have no better place (hoisted above it).
    pub leading: Vec<Comment>,
    /// A comment on the same line after the entry.
    pub trailing: Option<Comment>,
    /// A blank line precedes the entry (or its first leading comment).
    pub blank_before: bool,
    /// A blank line between the last leading comment and the entry.
    pub blank_after_leading: bool,
}

impl Trivia {
    pub fn has_comments(&self) -> bool {
        !self.leading.is_empty() || self.trailing.is_some()
    }
}

/// A token's text and byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    pub text: String,
    pub span: Range<usize>,
}

#[derive(Debug, Clone, Default)]
pub struct File {
    pub items: Vec<Item>,
    /// Comments after the last item.
    pub dangling: Vec<Comment>,
}

#[derive(Debug, Clone)]
pub struct Item {
    pub trivia: Trivia,
    pub kind: ItemKind,
    pub span: Range<usize>,
}

#[derive(Debug, Clone)]
pub enum ItemKind {
    /// `use std.backbones`: the dotted path as one name.
    UseModule(Name),
    /// `use "other.exp"`: the string literal as written, quotes included.
    UseFile(Name),
    /// `seed 17`: the number as written.
    Seed(Name),
    Decl(Decl),
}

#[derive(Debug, Clone)]
pub struct Decl {
    /// The keyword as written (`sweep` or `experiment`, ...).
    pub kind: Name,
    pub name: Name,
    pub extends: Option<Name>,
    pub body: Block,
}

/// `{ fields }` of a declaration or a record.
#[derive(Debug, Clone)]
pub struct Block {
    pub fields: Vec<Field>,
    /// Comments before the closing brace.
    pub dangling: Vec<Comment>,
    pub span: Range<usize>,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub trivia: Trivia,
    /// Segments of the (possibly dotted) path.
    pub path: Vec<Name>,
    pub value: Value,
    pub span: Range<usize>,
}

impl Field {
    pub fn path_text(&self) -> String {
        self.path
            .iter()
            .map(|n| n.text.as_str())
            .collect::<Vec<_>>()
            .join(".")
    }
}

#[derive(Debug, Clone)]
pub enum Value {
    Number(Name),
    Quantity {
        number: Name,
        unit: Name,
    },
    /// The literal as written, quotes included.
    Str(Name),
    Bool(Name),
    List {
        items: Vec<Elem>,
        dangling: Vec<Comment>,
        span: Range<usize>,
    },
    Record(Block),
    Call {
        name: Name,
        args: Vec<Arg>,
        dangling: Vec<Comment>,
        span: Range<usize>,
    },
    Ref(Name),
    /// `age: numeric` in a list: a name with a declared kind.
    Typed {
        name: Box<Value>,
        kind: Name,
    },
}

impl Value {
    pub fn span(&self) -> Range<usize> {
        match self {
            Value::Number(n) | Value::Str(n) | Value::Bool(n) | Value::Ref(n) => n.span.clone(),
            Value::Quantity { number, unit } => number.span.start..unit.span.end,
            Value::List { span, .. } | Value::Call { span, .. } => span.clone(),
            Value::Record(b) => b.span.clone(),
            Value::Typed { name, kind } => name.span().start..kind.span.end,
        }
    }
}

/// A list element.
#[derive(Debug, Clone)]
pub struct Elem {
    pub trivia: Trivia,
    pub value: Value,
}

/// A call argument, named or positional.
#[derive(Debug, Clone)]
pub struct Arg {
    pub trivia: Trivia,
    pub name: Option<Name>,
    pub value: Value,
}

/// Where and why the text does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub span: Range<usize>,
    pub message: String,
}

/// Parse `src` into a tree that keeps every comment.
pub fn parse(src: &str) -> Result<File, SyntaxError> {
    let (pair, comments) = lang_parse::file_tree(src).map_err(|d| SyntaxError {
        span: d
            .primary()
            .map_or(0..0, |l| l.offset()..l.offset() + l.len()),
        message: d.message(),
    })?;
    let comments = comments
        .iter()
        .map(|c| Comment {
            text: src[c.span.start..c.span.end].trim_end().to_string(),
            span: c.span.start..c.span.end,
            blank_before: newlines_before(src, c.span.start) >= 2,
        })
        .collect();
    let mut b = Builder {
        src,
        comments,
        next: 0,
        pending: Vec::new(),
    };
    Ok(b.file(pair))
}

/// Line breaks in the blanks right before `pos`.
fn newlines_before(src: &str, pos: usize) -> usize {
    src[..pos]
        .chars()
        .rev()
        .take_while(|c| matches!(c, ' ' | '\t' | '\r' | '\n' | '\u{FEFF}'))
        .filter(|&c| c == '\n')
        .count()
}

struct Builder<'a> {
    src: &'a str,
    /// Every comment, in source order.
    comments: Vec<Comment>,
    /// The first comment not yet attached.
    next: usize,
    /// Comments passed inside the entry being built (hoisted above it).
    pending: Vec<Comment>,
}

fn name(p: &Pair<Rule>) -> Name {
    let s = p.as_span();
    Name {
        text: p.as_str().to_string(),
        span: s.start()..s.end(),
    }
}

impl Builder<'_> {
    /// The offset of the first token at or after `pos` (blanks and comments
    /// skipped).
    fn next_token(&self, mut pos: usize) -> usize {
        loop {
            let rest = &self.src[pos..];
            let trimmed = rest.trim_start_matches([' ', '\t', '\r', '\n', '\u{FEFF}']);
            pos += rest.len() - trimmed.len();
            if trimmed.starts_with("//") {
                pos += trimmed.find('\n').unwrap_or(trimmed.len());
            } else {
                return pos;
            }
        }
    }

    /// Comments before `pos` not attached yet.
    fn take_before(&mut self, pos: usize) -> Vec<Comment> {
        let start = self.next;
        while self
            .comments
            .get(self.next)
            .is_some_and(|c| c.span.start < pos)
        {
            self.next += 1;
        }
        self.comments[start..self.next].to_vec()
    }

    /// Pass the tokens up to `pos`: the comments among them are the current
    /// entry's inner comments.
    fn pass(&mut self, pos: usize) {
        let mut inner = self.take_before(pos);
        self.pending.append(&mut inner);
    }

    /// Start an entry at `start`: the comments right before it are its
    /// leading comments.
    fn start_entry(&mut self, start: usize) -> (Trivia, Vec<Comment>) {
        let outer = std::mem::take(&mut self.pending);
        let leading = self.take_before(start);
        let first = leading.first().map_or(start, |c| c.span.start);
        let trivia = Trivia {
            blank_before: newlines_before(self.src, first) >= 2,
            blank_after_leading: !leading.is_empty() && newlines_before(self.src, start) >= 2,
            leading,
            trailing: None,
        };
        (trivia, outer)
    }

    /// End an entry whose last token ends at `end`: pass an optional
    /// separator, hoist inner comments above the entry, take a comment on
    /// the same line after it as trailing.
    fn end_entry(&mut self, trivia: &mut Trivia, outer: Vec<Comment>, end: usize, seps: &[u8]) {
        self.pass(end);
        let mut last = end;
        let sep = self.next_token(end);
        if self
            .src
            .as_bytes()
            .get(sep)
            .is_some_and(|c| seps.contains(c))
        {
            self.pass(sep);
            last = sep + 1;
        }
        trivia.leading.append(&mut self.pending);
        if let Some(c) = self.comments.get(self.next) {
            let between = &self.src[last.min(c.span.start)..c.span.start];
            if c.span.start >= last && between.trim().is_empty() && !between.contains('\n') {
                trivia.trailing = Some(c.clone());
                self.next += 1;
            }
        }
        self.pending = outer;
    }

    fn file(&mut self, pair: Pair<Rule>) -> File {
        let mut file = File::default();
        for p in pair.into_inner() {
            if p.as_rule() == Rule::EOI {
                continue;
            }
            let span = p.as_span().start()..p.as_span().end();
            let (mut trivia, outer) = self.start_entry(span.start);
            let kind = self.item(p);
            self.end_entry(&mut trivia, outer, span.end, &[]);
            file.items.push(Item { trivia, kind, span });
        }
        file.dangling = self.take_before(self.src.len());
        file
    }

    fn item(&mut self, p: Pair<Rule>) -> ItemKind {
        let rule = p.as_rule();
        let end = p.as_span().end();
        let mut inner = p.into_inner();
        let _keyword_or_kind = inner.next();
        match rule {
            Rule::use_item | Rule::seed_item => {
                let target = inner.next().map(|t| (t.as_rule(), name(&t)));
                let (r, n) = target.unwrap_or((Rule::EOI, Name::empty(end)));
                match (rule, r) {
                    (Rule::seed_item, _) => ItemKind::Seed(n),
                    (_, Rule::string) => ItemKind::UseFile(n),
                    _ => ItemKind::UseModule(n),
                }
            }
            _ => {
                let kind = _keyword_or_kind.map_or_else(|| Name::empty(end), |k| name(&k));
                let decl_name = inner.next().map_or_else(|| Name::empty(end), |n| name(&n));
                let mut extends = None;
                let mut fields = Vec::new();
                for q in inner {
                    match q.as_rule() {
                        Rule::extends => extends = q.into_inner().nth(1).map(|i| name(&i)),
                        _ => fields.push(q),
                    }
                }
                let header_end = extends.as_ref().unwrap_or(&decl_name).span.end;
                let open = self.next_token(header_end);
                let body = self.block(open, end, fields);
                ItemKind::Decl(Decl {
                    kind,
                    name: decl_name,
                    extends,
                    body,
                })
            }
        }
    }

    /// `{ fields }` from the `{` at `open` to the `}` ending at `end`.
    fn block<'i>(&mut self, open: usize, end: usize, fields: Vec<Pair<'i, Rule>>) -> Block {
        self.pass(open);
        let mut out = Vec::new();
        for f in fields {
            let start = f.as_span().start();
            let (mut trivia, outer) = self.start_entry(start);
            let mut inner = f.into_inner();
            let path = inner
                .next()
                .map(|p| split_path(&name(&p)))
                .unwrap_or_default();
            let value = self.value(inner.next());
            let value_end = value.span().end;
            self.end_entry(&mut trivia, outer, value_end, b",;");
            out.push(Field {
                trivia,
                path,
                value,
                span: start..value_end,
            });
        }
        let dangling = self.take_before(end.saturating_sub(1));
        Block {
            fields: out,
            dangling,
            span: open..end,
        }
    }

    fn value(&mut self, p: Option<Pair<Rule>>) -> Value {
        let Some(p) = p else {
            return Value::Ref(Name::empty(0));
        };
        let span = p.as_span().start()..p.as_span().end();
        match p.as_rule() {
            Rule::number => Value::Number(name(&p)),
            Rule::string => Value::Str(name(&p)),
            Rule::boolean => Value::Bool(name(&p)),
            Rule::reference => Value::Ref(name(&p)),
            Rule::quantity => {
                let mut inner = p.into_inner();
                let number = inner
                    .next()
                    .map_or_else(|| Name::empty(span.start), |n| name(&n));
                let unit = inner
                    .next()
                    .map_or_else(|| Name::empty(span.end), |u| name(&u));
                // Why: a quantity is walked as one token pair; comments
                // between number and unit are inner comments.
                Value::Quantity { number, unit }
            }
            Rule::typed_name => {
                let mut inner = p.into_inner();
                let n = inner.next();
                let value_name = match n {
                    Some(n) if n.as_rule() == Rule::string => Value::Str(name(&n)),
                    Some(n) => Value::Ref(name(&n)),
                    None => Value::Ref(Name::empty(span.start)),
                };
                let kind = inner
                    .next()
                    .map_or_else(|| Name::empty(span.end), |k| name(&k));
                Value::Typed {
                    name: Box::new(value_name),
                    kind,
                }
            }
            Rule::record => {
                let fields = p.into_inner().collect();
                Value::Record(self.block(span.start, span.end, fields))
            }
            Rule::list => {
                self.pass(span.start);
                let mut items = Vec::new();
                for q in p.into_inner() {
                    let (mut trivia, outer) = self.start_entry(q.as_span().start());
                    let value = self.value(Some(q));
                    self.end_entry(&mut trivia, outer, value.span().end, b",");
                    items.push(Elem { trivia, value });
                }
                let dangling = self.take_before(span.end - 1);
                Value::List {
                    items,
                    dangling,
                    span,
                }
            }
            Rule::call => {
                let mut inner = p.into_inner();
                let callee = inner
                    .next()
                    .map_or_else(|| Name::empty(span.start), |n| name(&n));
                let paren = self.next_token(callee.span.end);
                self.pass(paren);
                let mut args = Vec::new();
                for a in inner {
                    let (mut trivia, outer) = self.start_entry(a.as_span().start());
                    let Some(q) = a.into_inner().next() else {
                        continue;
                    };
                    let (arg_name, value) = if q.as_rule() == Rule::named_arg {
                        let mut qi = q.into_inner();
                        let n = qi.next().map(|n| name(&n));
                        (n, self.value(qi.next()))
                    } else {
                        (None, self.value(Some(q)))
                    };
                    self.end_entry(&mut trivia, outer, value.span().end, b",");
                    args.push(Arg {
                        trivia,
                        name: arg_name,
                        value,
                    });
                }
                let dangling = self.take_before(span.end - 1);
                Value::Call {
                    name: callee,
                    args,
                    dangling,
                    span,
                }
            }
            _ => Value::Ref(name(&p)),
        }
    }
}

impl Name {
    fn empty(at: usize) -> Name {
        Name {
            text: String::new(),
            span: at..at,
        }
    }
}

/// The tokens of a tree that carry meaning, in order: everything but
/// comments, blanks and the optional `,`/`;` separators. The formatter
/// checks its output against the input with this before writing anything.
pub fn meaningful_tokens(file: &File) -> Vec<String> {
    let mut out = Vec::new();
    for item in &file.items {
        match &item.kind {
            ItemKind::UseModule(n) | ItemKind::UseFile(n) => {
                out.push("use".into());
                out.push(n.text.clone());
            }
            ItemKind::Seed(n) => {
                out.push("seed".into());
                out.push(n.text.clone());
            }
            ItemKind::Decl(d) => {
                out.push(d.kind.text.clone());
                out.push(d.name.text.clone());
                if let Some(base) = &d.extends {
                    out.push("extends".into());
                    out.push(base.text.clone());
                }
                block_tokens(&d.body, &mut out);
            }
        }
    }
    out
}

fn block_tokens(b: &Block, out: &mut Vec<String>) {
    out.push("{".into());
    for f in &b.fields {
        out.push(f.path_text());
        out.push("=".into());
        value_tokens(&f.value, out);
    }
    out.push("}".into());
}

fn value_tokens(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Number(n) | Value::Str(n) | Value::Bool(n) | Value::Ref(n) => {
            out.push(n.text.clone())
        }
        Value::Quantity { number, unit } => {
            out.push(number.text.clone());
            out.push(unit.text.clone());
        }
        Value::List { items, .. } => {
            out.push("[".into());
            for e in items {
                value_tokens(&e.value, out);
            }
            out.push("]".into());
        }
        Value::Record(b) => block_tokens(b, out),
        Value::Call { name, args, .. } => {
            out.push(name.text.clone());
            out.push("(".into());
            for a in args {
                if let Some(n) = &a.name {
                    out.push(n.text.clone());
                    out.push("=".into());
                }
                value_tokens(&a.value, out);
            }
            out.push(")".into());
        }
        Value::Typed { name, kind } => {
            value_tokens(name, out);
            out.push(":".into());
            out.push(kind.text.clone());
        }
    }
}

fn split_path(n: &Name) -> Vec<Name> {
    let mut out = Vec::new();
    let mut offset = n.span.start;
    for seg in n.text.split('.') {
        out.push(Name {
            text: seg.to_string(),
            span: offset..offset + seg.len(),
        });
        offset += seg.len() + 1;
    }
    out
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_is_a_name_unless_a_field_follows() {
        let f = parse("budget b {\n frozen = 1\n finetune = 4 epochs\n x = 2\n %\n}")
            .expect("test input");
        let ItemKind::Decl(d) = &f.items[0].kind else {
            panic!("not a decl")
        };
        assert!(matches!(d.body.fields[0].value, Value::Number(_)));
        assert!(
            matches!(&d.body.fields[1].value, Value::Quantity { unit, .. } if unit.text == "epochs")
        );
        assert!(
            matches!(&d.body.fields[2].value, Value::Quantity { unit, .. } if unit.text == "%")
        );
    }

    #[test]
    fn comments_attach_to_entries() {
        let src = "// lead\nrecipe r { // after brace\n  a = 1 // trailing\n\n  /// doc\n  b = [x, // in list\n y]\n  // end\n}\n// tail\n";
        let f = parse(src).expect("test input");
        assert_eq!(f.items[0].trivia.leading[0].text, "// lead");
        let ItemKind::Decl(d) = &f.items[0].kind else {
            panic!("not a decl")
        };
        let a = &d.body.fields[0];
        assert_eq!(a.trivia.leading[0].text, "// after brace");
        assert_eq!(
            a.trivia.trailing.as_ref().map(|c| c.text.as_str()),
            Some("// trailing")
        );
        let b = &d.body.fields[1];
        assert!(b.trivia.blank_before);
        assert!(b.trivia.leading[0].is_doc());
        let Value::List { items, .. } = &b.value else {
            panic!("not a list")
        };
        assert_eq!(
            items[0].trivia.trailing.as_ref().map(|c| c.text.as_str()),
            Some("// in list")
        );
        assert_eq!(d.body.dangling[0].text, "// end");
        assert_eq!(f.dangling[0].text, "// tail");
    }

    #[test]
    fn errors_point_at_the_token() {
        let e = parse("recipe r { a = }").expect_err("must fail");
        assert_eq!(e.span, 15..16);
        assert!(parse("recipe r { a.b = 1 }").is_ok());
        assert!(parse("recipe r { a .b = 1 }").is_err());
        assert!(parse(&format!("recipe r {{ a = {} }}", "[".repeat(100))).is_err());
    }
}

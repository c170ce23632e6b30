//! A concrete syntax tree of one `.exp` file that keeps every comment, for
//! the formatter and the language server.
//!
//! Why a second parser next to `crate::lang`'s: the checker's tree drops
//! comments and blank lines, which a formatter must put back where they were;
//! this one follows `grammar/exp.pest` token for token (newlines are not
//! significant, a unit is a name after a number unless `=`, `.` or `(`
//! follows) and attaches each comment to the entry it belongs to.

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

// ---------------------------------------------------------------- lexer

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokKind {
    Ident,
    Number,
    Str,
    Comment,
    Punct(char),
}

#[derive(Debug, Clone)]
struct Tok {
    kind: TokKind,
    span: Range<usize>,
    /// Line breaks between the previous token and this one.
    newlines: u32,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn lex(src: &str) -> Result<Vec<Tok>, SyntaxError> {
    let bytes = src.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    let mut newlines = 0u32;
    let digits = |mut j: usize| -> usize {
        // `digits = DIGIT (DIGIT | "_")*`; returns the end, or `j` when none.
        if j < bytes.len() && bytes[j].is_ascii_digit() {
            j += 1;
            while j < bytes.len() && (bytes[j].is_ascii_digit() || bytes[j] == b'_') {
                j += 1;
            }
        }
        j
    };
    while i < src.len() {
        let c = src[i..].chars().next().unwrap_or(' ');
        let start = i;
        let kind = match c {
            '\n' => {
                newlines += 1;
                i += 1;
                continue;
            }
            ' ' | '\t' | '\r' | '\u{FEFF}' => {
                i += c.len_utf8();
                continue;
            }
            '/' if src[i..].starts_with("//") => {
                i = src[i..].find('\n').map_or(src.len(), |n| i + n);
                TokKind::Comment
            }
            '"' => {
                i += 1;
                loop {
                    match bytes.get(i) {
                        None | Some(b'\n') => {
                            return Err(SyntaxError {
                                span: start..i,
                                message: "this string is not closed on its line".into(),
                            })
                        }
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => match bytes.get(i + 1) {
                            Some(b'"' | b'\\' | b'n' | b't') => i += 2,
                            _ => {
                                return Err(SyntaxError {
                                    span: i..(i + 2).min(src.len()),
                                    message: "unknown escape; use \\\", \\\\, \\n or \\t".into(),
                                })
                            }
                        },
                        Some(_) => i += src[i..].chars().next().map_or(1, char::len_utf8),
                    }
                }
                TokKind::Str
            }
            c if c.is_ascii_digit()
                || (c == '-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) =>
            {
                if c == '-' {
                    i += 1;
                }
                i = digits(i);
                if bytes.get(i) == Some(&b'.') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    i = digits(i + 1);
                }
                if matches!(bytes.get(i), Some(b'e' | b'E')) {
                    let sign = usize::from(matches!(bytes.get(i + 1), Some(b'+' | b'-')));
                    let end = digits(i + 1 + sign);
                    if end > i + 1 + sign {
                        i = end;
                    }
                }
                TokKind::Number
            }
            c if is_ident_start(c) => {
                while i < src.len() && is_ident_char(bytes[i] as char) {
                    i += 1;
                }
                TokKind::Ident
            }
            '{' | '}' | '[' | ']' | '(' | ')' | '=' | ',' | ';' | '.' | '%' | ':' => {
                i += 1;
                TokKind::Punct(c)
            }
            other => {
                return Err(SyntaxError {
                    span: start..start + other.len_utf8(),
                    message: format!("unexpected character `{other}`"),
                })
            }
        };
        toks.push(Tok {
            kind,
            span: start..i,
            newlines,
        });
        newlines = 0;
    }
    Ok(toks)
}

// ---------------------------------------------------------------- parser

const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Tok>,
    pos: usize,
    /// Comments passed inside the entry being parsed.
    pending: Vec<Comment>,
    depth: usize,
}

/// Parse `src` into a tree that keeps every comment.
pub fn parse(src: &str) -> Result<File, SyntaxError> {
    let toks = lex(src)?;
    let mut p = Parser {
        src,
        toks,
        pos: 0,
        pending: Vec::new(),
        depth: 0,
    };
    p.file()
}

impl<'a> Parser<'a> {
    fn comment(&self, t: &Tok) -> Comment {
        Comment {
            text: self.src[t.span.clone()].trim_end().to_string(),
            span: t.span.clone(),
            blank_before: t.newlines >= 2,
        }
    }

    /// The `n`th token after the cursor that is not a comment.
    fn peek_nth(&self, n: usize) -> Option<&Tok> {
        self.toks[self.pos..]
            .iter()
            .filter(|t| t.kind != TokKind::Comment)
            .nth(n)
    }

    fn peek(&self) -> Option<&Tok> {
        self.peek_nth(0)
    }

    fn at_punct(&self, c: char) -> bool {
        self.peek().is_some_and(|t| t.kind == TokKind::Punct(c))
    }

    fn text(&self, t: &Tok) -> &'a str {
        &self.src[t.span.clone()]
    }

    /// Consume the next real token; comments before it go to `pending`.
    fn bump(&mut self) -> Option<Tok> {
        while let Some(t) = self.toks.get(self.pos) {
            if t.kind != TokKind::Comment {
                break;
            }
            let c = self.comment(t);
            self.pending.push(c);
            self.pos += 1;
        }
        let t = self.toks.get(self.pos).cloned();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn error_here(&self, message: impl Into<String>) -> SyntaxError {
        let span = match self.peek() {
            Some(t) => t.span.clone(),
            None => self.src.len()..self.src.len(),
        };
        SyntaxError {
            span,
            message: message.into(),
        }
    }

    fn expect_punct(&mut self, c: char, what: &str) -> Result<Tok, SyntaxError> {
        if self.at_punct(c) {
            self.bump()
                .ok_or_else(|| self.error_here(format!("expected {what}")))
        } else {
            Err(self.error_here(format!("expected {what}")))
        }
    }

    fn expect_ident(&mut self, what: &str) -> Result<Name, SyntaxError> {
        match self.peek() {
            Some(t) if t.kind == TokKind::Ident => {
                let t = t.clone();
                self.bump();
                Ok(Name {
                    text: self.text(&t).to_string(),
                    span: t.span,
                })
            }
            _ => Err(self.error_here(format!("expected {what}"))),
        }
    }

    /// Start an entry: the comments right before its first token are its
    /// leading comments; comments met inside it are collected separately.
    fn start_entry(&mut self) -> (Trivia, Vec<Comment>) {
        let outer = std::mem::take(&mut self.pending);
        let mut trivia = Trivia::default();
        if let Some(first) = self.toks.get(self.pos) {
            trivia.blank_before = first.newlines >= 2;
        }
        while let Some(t) = self.toks.get(self.pos) {
            if t.kind != TokKind::Comment {
                trivia.blank_after_leading = !trivia.leading.is_empty() && t.newlines >= 2;
                break;
            }
            let c = self.comment(t);
            trivia.leading.push(c);
            self.pos += 1;
        }
        (trivia, outer)
    }

    /// End an entry: eat an optional separator, hoist inner comments above
    /// the entry, take a same-line comment after it as trailing.
    fn end_entry(&mut self, trivia: &mut Trivia, outer: Vec<Comment>, separators: &[char]) {
        if separators.iter().any(|&c| self.at_punct(c)) {
            self.bump();
        }
        trivia.leading.append(&mut self.pending);
        if let Some(t) = self.toks.get(self.pos) {
            if t.kind == TokKind::Comment && t.newlines == 0 {
                trivia.trailing = Some(self.comment(t));
                self.pos += 1;
            }
        }
        self.pending = outer;
    }

    /// Comments before the closing token of a container.
    fn dangling(&mut self) -> Vec<Comment> {
        let mut out = Vec::new();
        while let Some(t) = self.toks.get(self.pos) {
            if t.kind != TokKind::Comment {
                break;
            }
            let c = self.comment(t);
            out.push(c);
            self.pos += 1;
        }
        out
    }

    fn file(&mut self) -> Result<File, SyntaxError> {
        let mut file = File::default();
        while self.peek().is_some() {
            let (mut trivia, outer) = self.start_entry();
            let start = self.peek().map_or(0, |t| t.span.start);
            let kind = self.item()?;
            let end = self.toks[..self.pos].last().map_or(start, |t| t.span.end);
            self.end_entry(&mut trivia, outer, &[]);
            file.items.push(Item {
                trivia,
                kind,
                span: start..end,
            });
        }
        file.dangling = self.dangling();
        Ok(file)
    }

    fn item(&mut self) -> Result<ItemKind, SyntaxError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.error_here("expected a declaration"));
        };
        let word = if t.kind == TokKind::Ident {
            self.text(&t)
        } else {
            ""
        };
        match word {
            "use" => {
                self.bump();
                match self.peek().cloned() {
                    Some(s) if s.kind == TokKind::Str => {
                        self.bump();
                        Ok(ItemKind::UseFile(Name { text: self.text(&s).to_string(), span: s.span }))
                    }
                    Some(s) if s.kind == TokKind::Ident => Ok(ItemKind::UseModule(self.dotted_name()?)),
                    _ => Err(self.error_here("expected a module path (`std.recipes`) or a file (\"other.exp\") after `use`")),
                }
            }
            "seed" => {
                self.bump();
                match self.peek().cloned() {
                    Some(n) if n.kind == TokKind::Number => {
                        self.bump();
                        Ok(ItemKind::Seed(Name { text: self.text(&n).to_string(), span: n.span }))
                    }
                    _ => Err(self.error_here("expected a number after `seed`")),
                }
            }
            "data" | "backbone" | "recipe" | "budget" | "score" | "sweep" | "experiment" => {
                let kind = self.expect_ident("a declaration keyword")?;
                let name = self.expect_ident("the declaration's name")?;
                let extends = if self.peek().is_some_and(|t| t.kind == TokKind::Ident && self.text(t) == "extends") {
                    self.bump();
                    Some(self.expect_ident("the name of the declaration to extend")?)
                } else {
                    None
                };
                let body = self.block()?;
                Ok(ItemKind::Decl(Decl { kind, name, extends, body }))
            }
            _ => Err(self.error_here(
                "expected `use`, `seed` or a declaration (data, backbone, recipe, budget, score, sweep)",
            )),
        }
    }

    /// `a.b.c` with no blanks around the dots (an atomic rule in exp.pest).
    fn dotted_name(&mut self) -> Result<Name, SyntaxError> {
        let first = self.expect_ident("a name")?;
        let mut text = first.text.clone();
        let mut span = first.span.clone();
        while let (Some(dot), Some(next)) = (self.toks.get(self.pos), self.toks.get(self.pos + 1)) {
            if dot.kind == TokKind::Punct('.')
                && dot.span.start == span.end
                && next.kind == TokKind::Ident
                && next.span.start == dot.span.end
            {
                text.push('.');
                text.push_str(&self.src[next.span.clone()]);
                span.end = next.span.end;
                self.pos += 2;
            } else {
                break;
            }
        }
        Ok(Name { text, span })
    }

    fn enter(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_here(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn block(&mut self) -> Result<Block, SyntaxError> {
        self.enter()?;
        let open = self.expect_punct('{', "`{`")?;
        let mut fields = Vec::new();
        while !self.at_punct('}') {
            if self.peek().is_none() {
                return Err(self.error_here("expected `}` to close the block opened here"));
            }
            let (mut trivia, outer) = self.start_entry();
            let start = self.peek().map_or(0, |t| t.span.start);
            let path_name = self
                .dotted_name()
                .map_err(|_| self.error_here("expected a field name or `}`"))?;
            let path = split_path(&path_name);
            self.expect_punct('=', "`=` after the field name")?;
            let value = self.value()?;
            let end = value.span().end;
            self.end_entry(&mut trivia, outer, &[',', ';']);
            fields.push(Field {
                trivia,
                path,
                value,
                span: start..end,
            });
        }
        let dangling = self.dangling();
        let close = self.expect_punct('}', "`}`")?;
        self.depth -= 1;
        Ok(Block {
            fields,
            dangling,
            span: open.span.start..close.span.end,
        })
    }

    fn value(&mut self) -> Result<Value, SyntaxError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.error_here("expected a value"));
        };
        let name = |p: &Self, t: &Tok| Name {
            text: p.text(t).to_string(),
            span: t.span.clone(),
        };
        match t.kind {
            TokKind::Number => {
                self.bump();
                let number = name(self, &t);
                // `quantity = { number ~ unit ~ !("=" | "." | "(") }`
                if let Some(u) = self.peek().cloned() {
                    let is_unit = u.kind == TokKind::Ident || u.kind == TokKind::Punct('%');
                    let blocked = self
                        .peek_nth(1)
                        .is_some_and(|n| matches!(n.kind, TokKind::Punct('=' | '.' | '(')));
                    if is_unit && !blocked {
                        self.bump();
                        return Ok(Value::Quantity {
                            number,
                            unit: name(self, &u),
                        });
                    }
                }
                Ok(Value::Number(number))
            }
            TokKind::Str => {
                self.bump();
                Ok(Value::Str(name(self, &t)))
            }
            TokKind::Ident => {
                self.bump();
                let n = name(self, &t);
                if self.at_punct('(') {
                    return self.call(n);
                }
                if n.text == "true" || n.text == "false" {
                    return Ok(Value::Bool(n));
                }
                Ok(Value::Ref(n))
            }
            TokKind::Punct('[') => self.list(),
            TokKind::Punct('{') => Ok(Value::Record(self.block()?)),
            _ => Err(self.error_here("expected a value")),
        }
    }

    fn list(&mut self) -> Result<Value, SyntaxError> {
        self.enter()?;
        let open = self.expect_punct('[', "`[`")?;
        let mut items = Vec::new();
        loop {
            if self.at_punct(']') {
                break;
            }
            let (mut trivia, outer) = self.start_entry();
            let mut value = self.value()?;
            if self.at_punct(':') && matches!(value, Value::Ref(_) | Value::Str(_)) {
                self.bump();
                let kind = self.expect_ident("a kind after `:` (e.g. `numeric`)")?;
                value = Value::Typed {
                    name: Box::new(value),
                    kind,
                };
            }
            let comma = self.at_punct(',');
            self.end_entry(&mut trivia, outer, &[',']);
            items.push(Elem { trivia, value });
            if !comma {
                break;
            }
        }
        let dangling = self.dangling();
        let close = self.expect_punct(']', "`,` or `]` in the list")?;
        self.depth -= 1;
        Ok(Value::List {
            items,
            dangling,
            span: open.span.start..close.span.end,
        })
    }

    fn call(&mut self, name: Name) -> Result<Value, SyntaxError> {
        self.enter()?;
        self.expect_punct('(', "`(`")?;
        let mut args = Vec::new();
        loop {
            if self.at_punct(')') {
                break;
            }
            let (mut trivia, outer) = self.start_entry();
            let named = self.peek().is_some_and(|t| t.kind == TokKind::Ident)
                && self
                    .peek_nth(1)
                    .is_some_and(|t| t.kind == TokKind::Punct('='));
            let arg_name = if named {
                let n = self.expect_ident("an argument name")?;
                self.expect_punct('=', "`=`")?;
                Some(n)
            } else {
                None
            };
            let value = self.value()?;
            let comma = self.at_punct(',');
            self.end_entry(&mut trivia, outer, &[',']);
            args.push(Arg {
                trivia,
                name: arg_name,
                value,
            });
            if !comma {
                break;
            }
        }
        let dangling = self.dangling();
        let close = self.expect_punct(')', "`,` or `)` in the call")?;
        self.depth -= 1;
        let span = name.span.start..close.span.end;
        Ok(Value::Call {
            name,
            args,
            dangling,
            span,
        })
    }
}

/// The tokens of `src` that carry meaning: everything but comments and the
/// optional `,`/`;` separators. The formatter checks its output against the
/// input with this before writing anything.
pub fn meaningful_tokens(src: &str) -> Result<Vec<String>, SyntaxError> {
    Ok(lex(src)?
        .into_iter()
        .filter(|t| !matches!(t.kind, TokKind::Comment | TokKind::Punct(',' | ';')))
        .map(|t| src[t.span].to_string())
        .collect())
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

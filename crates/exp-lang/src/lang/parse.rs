//! Parsing: source text → [`ast::File`] plus syntax diagnostics.
//!
//! Before pest sees the text, a linear pre-scan (1) rejects files over
//! [`MAX_FILE_BYTES`] and bracket nesting deeper than [`MAX_DEPTH`] — so
//! hostile input gets a diagnostic, never a stack overflow — (2) collects every
//! comment (and reports each `#` comment, which the grammar skips so the
//! parse goes on), and (3) splits the file into top-level chunks at
//! declaration keywords, each parsed on its own so one syntax error does not
//! hide the errors of later declarations. A chunk with a syntax error keeps
//! the complete items before the error (`file_prefix`), so a stray token
//! after a declaration does not discard it. [`file_tree`] gives the same
//! parse to the formatter's comment-keeping tree (`crate::editor::cst`).

use super::ast::{
    self, Arg, Comment, Decl, DeclKind, Expr, ExprKind, Field, Ident, Item, Number, SeedItem,
    UseItem, UseTarget,
};
use super::diag::Diag;
use super::error::ParseError;
use super::span::{FileId, Span};
use pest::iterators::Pair;
use pest::Parser as _;

#[derive(pest_derive::Parser)]
#[grammar = "../../grammar/exp.pest"]
struct ExpParser;

pub use self::Rule as GrammarRule;

/// Largest accepted source file.
pub const MAX_FILE_BYTES: usize = 2 * 1024 * 1024;
/// Deepest accepted nesting of `(`, `[` and `{`.
pub const MAX_DEPTH: usize = 64;

/// The words that start a top-level item.
pub const TOP_KEYWORDS: &[&str] = &[
    "use",
    "seed",
    "data",
    "backbone",
    "recipe",
    "budget",
    "score",
    "sweep",
    "experiment",
];

/// Parse one file's text (as file id 0). Returns the items that parsed, every
/// comment, and the syntax diagnostics.
pub fn parse_file(src: &str) -> (ast::File, Vec<Diag>) {
    parse_source(src, 0)
}

/// Parse `src` as file `file` (spans carry the id).
pub fn parse_source(src: &str, file: FileId) -> (ast::File, Vec<Diag>) {
    let mut diags = Vec::new();
    if src.len() > MAX_FILE_BYTES {
        diags.push(Diag::new(
            file,
            ParseError::TooLarge {
                size: src.len(),
                limit: MAX_FILE_BYTES,
                span: (0, 0).into(),
            },
        ));
        return (ast::File::default(), diags);
    }
    let scan = match prescan(src, file) {
        Ok(scan) => scan,
        Err(offset) => {
            diags.push(Diag::new(
                file,
                ParseError::TooDeep {
                    limit: MAX_DEPTH,
                    span: (offset, 1).into(),
                },
            ));
            return (ast::File::default(), diags);
        }
    };
    diags.extend(scan.hashes.iter().map(|&at| {
        Diag::new(
            file,
            ParseError::HashComment {
                span: (at, 1).into(),
            },
        )
    }));
    let mut items = Vec::new();
    let mut bounds = scan.chunk_starts.clone();
    bounds.push(src.len());
    let mut starts = vec![0];
    starts.extend(scan.chunk_starts.iter().copied().filter(|&s| s > 0));
    starts.dedup();
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(src.len());
        let chunk = &src[start..end];
        let mut b = Builder {
            file,
            offset: start,
            src,
            comments: &scan.comments,
            diags: &mut diags,
        };
        match ExpParser::parse(Rule::file, chunk) {
            Ok(mut pairs) => b.items(pairs.next(), &mut items),
            Err(e) => {
                b.diags.push(syntax_error(&e, chunk, start, file));
                // Why: a stray token after a declaration (`}`, `;`) must not
                // discard the declaration, or every use of its name would
                // become a follow-on "unknown name" error.
                if let Ok(mut pairs) = ExpParser::parse(Rule::file_prefix, chunk) {
                    b.items(pairs.next(), &mut items);
                }
            }
        }
    }
    (
        ast::File {
            items,
            comments: scan.comments,
        },
        diags,
    )
}

/// The pest tree of a whole file (as file id 0) and every comment, for the
/// formatter's comment-keeping tree (`crate::editor::cst`); `Err` with the
/// first diagnostic when the file has a syntax or size error.
pub fn file_tree(src: &str) -> Result<(Pair<'_, Rule>, Vec<Comment>), Diag> {
    let (_, diags) = parse_source(src, 0);
    // Why: an out-of-range literal is a value error; the text still parses.
    if let Some(d) = diags
        .into_iter()
        .find(|d| d.code() != "exp::parse::bad_number")
    {
        return Err(d);
    }
    let comments = prescan(src, 0).map(|s| s.comments).unwrap_or_default();
    match ExpParser::parse(Rule::file, src) {
        Ok(mut pairs) => match pairs.next() {
            Some(pair) => Ok((pair, comments)),
            None => Err(Diag::new(
                0,
                ParseError::Syntax {
                    expected: "a declaration".into(),
                    span: (0, 0).into(),
                    found: "nothing".into(),
                    help: syntax_help("", ""),
                },
            )),
        },
        Err(e) => Err(syntax_error(&e, src, 0, 0)),
    }
}

/// Parse a `--set PATH=VALUE` argument held in its own source `file`.
pub fn parse_set(src: &str, file: FileId) -> Result<(Vec<Ident>, Expr), Vec<Diag>> {
    let mut diags = Vec::new();
    if prescan(src, file).is_err() {
        diags.push(Diag::new(
            file,
            ParseError::TooDeep {
                limit: MAX_DEPTH,
                span: (0, src.len()).into(),
            },
        ));
        return Err(diags);
    }
    let comments = Vec::new();
    let mut b = Builder {
        file,
        offset: 0,
        src,
        comments: &comments,
        diags: &mut diags,
    };
    let result = match ExpParser::parse(Rule::set_override, src) {
        Ok(mut pairs) => {
            let mut inner = pairs.next().map(|p| p.into_inner());
            let path = inner.as_mut().and_then(|i| i.next()).map(|p| b.path(p));
            let value = inner
                .as_mut()
                .and_then(|i| i.next())
                .and_then(|p| b.expr(p));
            match (path, value) {
                (Some(p), Some(v)) => Some((p, v)),
                _ => None,
            }
        }
        Err(e) => {
            let d = syntax_error(&e, src, 0, file);
            b.diags.push(d);
            None
        }
    };
    match result {
        Some(r) if diags.is_empty() => Ok(r),
        _ => Err(diags),
    }
}

struct Scan {
    comments: Vec<Comment>,
    chunk_starts: Vec<usize>,
    /// Offsets of `#` that start a (wrong) comment.
    hashes: Vec<usize>,
}

/// The text of a file read as bytes. With a byte that is not UTF-8 the text
/// has U+FFFD in its place and the diagnostic points at the first one (its
/// offset is the same in the bytes and the text).
pub fn decode(bytes: &[u8], file: FileId) -> (String, Option<Diag>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_string(), None),
        Err(e) => (
            String::from_utf8_lossy(bytes).into_owned(),
            Some(Diag::new(
                file,
                ParseError::NotUtf8 {
                    span: (e.valid_up_to(), char::REPLACEMENT_CHARACTER.len_utf8()).into(),
                },
            )),
        ),
    }
}

/// Linear scan: comments, chunk starts, nesting depth. `Err(offset)` when the
/// depth limit is exceeded at `offset`.
fn prescan(src: &str, file: FileId) -> Result<Scan, usize> {
    let bytes = src.as_bytes();
    let mut comments = Vec::new();
    let mut chunk_starts = Vec::new();
    let mut hashes = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let mut line_blank = true; // only blanks so far on this line
    let mut line_start = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\n' => {
                line_blank = true;
                line_start = i + 1;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = src[i..].find('\n').map_or(src.len(), |n| i + n);
                let doc = bytes.get(i + 2) == Some(&b'/') && bytes.get(i + 3) != Some(&b'/');
                let text_start = if doc { i + 3 } else { i + 2 };
                let text = src[text_start..end].trim_end_matches('\r').to_string();
                comments.push(Comment {
                    span: Span::new(file, i, end),
                    text,
                    doc,
                });
                i = end;
            }
            b'#' => {
                hashes.push(i);
                i = src[i..].find('\n').map_or(src.len(), |n| i + n);
            }
            b'"' => {
                line_blank = false;
                i += 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b'\n' => break,
                        _ => i += 1,
                    }
                }
            }
            b'(' | b'[' | b'{' => {
                line_blank = false;
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(i);
                }
                i += 1;
            }
            b')' | b']' | b'}' => {
                line_blank = false;
                depth = depth.saturating_sub(1);
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                if line_blank && (depth == 0 || start == line_start) && is_item_start(src, start, i)
                {
                    chunk_starts.push(start);
                    depth = 0;
                }
                line_blank = false;
            }
            _ => {
                line_blank = false;
                i += 1;
            }
        }
    }
    Ok(Scan {
        comments,
        chunk_starts,
        hashes,
    })
}

/// Whether the word `src[start..end]` begins a top-level item: a keyword
/// followed by blanks and a name, number or string (not `=`, which would make
/// it a field such as `data = derm`).
fn is_item_start(src: &str, start: usize, end: usize) -> bool {
    let word = &src[start..end];
    if !TOP_KEYWORDS.contains(&word) {
        return false;
    }
    let rest = &src[end..];
    let trimmed = rest.trim_start_matches([' ', '\t']);
    if trimmed.len() == rest.len() {
        return false;
    }
    trimmed
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '"' || c == '-')
}

fn rule_name(r: Rule) -> Option<&'static str> {
    Some(match r {
        Rule::decl | Rule::decl_kind => {
            "a declaration (`data`, `backbone`, `recipe`, `budget`, `score`, `sweep`)"
        }
        Rule::use_item | Rule::kw_use => "`use`",
        Rule::seed_item | Rule::kw_seed => "`seed`",
        Rule::extends | Rule::kw_extends => "`extends`",
        Rule::field | Rule::field_path => "a field (`name = value`)",
        Rule::quantity | Rule::number => "a number",
        Rule::unit => "a unit",
        Rule::string | Rule::string_inner => "a string",
        Rule::boolean => "`true` or `false`",
        Rule::list => "a list",
        Rule::record => "a record",
        Rule::call | Rule::reference => "a name",
        Rule::typed_name => "a name with a kind (`age: numeric`)",
        Rule::arg | Rule::named_arg => "an argument",
        Rule::ident => "a name",
        Rule::module_path => "a module name",
        Rule::EOI => "end of file",
        _ => return None,
    })
}

fn syntax_error(e: &pest::error::Error<Rule>, chunk: &str, offset: usize, file: FileId) -> Diag {
    let pos = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let mut expected: Vec<&str> = Vec::new();
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &e.variant {
        let value_rules = [
            Rule::quantity,
            Rule::number,
            Rule::string,
            Rule::boolean,
            Rule::list,
            Rule::record,
            Rule::call,
            Rule::reference,
        ];
        let is_value = positives.iter().filter(|r| value_rules.contains(r)).count() >= 3;
        if is_value {
            expected.push("a value");
        }
        for r in positives {
            if is_value && value_rules.contains(r) {
                continue;
            }
            if let Some(n) = rule_name(*r) {
                if !expected.contains(&n) && (!is_value || n != "a name") {
                    expected.push(n);
                }
            }
        }
    }
    // Why: pest reports literal tokens (`=`, `}`) only as "unexpected"; name
    // the usual closers so the message says what would fit.
    let rest = &chunk[pos.min(chunk.len())..];
    let found_tok = token_at(rest);
    if expected.is_empty() {
        expected.push("something else");
    }
    let expected_s = match expected.len() {
        1 => expected[0].to_string(),
        n => format!("{} or {}", expected[..n - 1].join(", "), expected[n - 1]),
    };
    let (found, start, len) = match (found_tok, unclosed_bracket(chunk)) {
        (None, Some((pos, c))) => (format!("this `{c}` is never closed"), pos, 1),
        (None, None) => ("unexpected end of file".to_string(), pos, 0),
        (Some(t), _) => (format!("unexpected `{t}`"), pos, t.len()),
    };
    let help = syntax_help(&expected_s, found_tok.unwrap_or(""));
    Diag::new(
        file,
        ParseError::Syntax {
            expected: expected_s,
            span: (offset + start, len).into(),
            found,
            help,
        },
    )
}

/// The innermost bracket of `chunk` left open at its end, skipping strings
/// and comments.
fn unclosed_bracket(chunk: &str) -> Option<(usize, char)> {
    let bytes = chunk.as_bytes();
    let mut stack = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' | b'#' if bytes[i] == b'#' || bytes.get(i + 1) == Some(&b'/') => {
                i = chunk[i..].find('\n').map_or(bytes.len(), |n| i + n);
                continue;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            c @ (b'(' | b'[' | b'{') => stack.push((i, c as char)),
            b')' | b']' | b'}' => {
                stack.pop();
            }
            _ => {}
        }
        i += 1;
    }
    stack.pop()
}

fn syntax_help(expected: &str, found: &str) -> String {
    if found == ":" {
        return "fields are written `name = value`, not `name: value`".into();
    }
    if expected.contains("a field") {
        return "a declaration body holds `name = value` fields and ends with `}`".into();
    }
    if found.is_empty() {
        return "the file ends in the middle of something: is a `}`, `]` or `)` missing?".into();
    }
    "see docs/language.md for the syntax of each construct".into()
}

/// The token starting `rest`: a word, a number, or one character.
fn token_at(rest: &str) -> Option<&str> {
    let c = rest.chars().next()?;
    if c.is_ascii_alphanumeric() || c == '_' {
        let end = rest
            .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '.'))
            .unwrap_or(rest.len());
        Some(&rest[..end])
    } else {
        Some(&rest[..c.len_utf8()])
    }
}

struct Builder<'a> {
    file: FileId,
    offset: usize,
    src: &'a str,
    comments: &'a [Comment],
    diags: &'a mut Vec<Diag>,
}

impl Builder<'_> {
    /// The items of a parsed `file` or `file_prefix` pair.
    fn items(&mut self, pair: Option<Pair<Rule>>, items: &mut Vec<Item>) {
        for p in pair.into_iter().flat_map(Pair::into_inner) {
            let before = self.diags.len();
            // Why: an item with a bad literal is dropped so its placeholder
            // value does not cause follow-on errors.
            if let Some(item) = self.item(p).filter(|_| self.diags.len() == before) {
                items.push(item);
            }
        }
    }

    /// A node's span, without trailing whitespace. Why: pest's implicit
    /// whitespace can leave the newline after a value (`100 samples` tries
    /// an optional unit) inside the pair, and a label should end on the
    /// node's own line.
    fn span(&self, p: &Pair<Rule>) -> Span {
        let s = p.as_span();
        let start = self.offset + s.start();
        Span::new(self.file, start, start + p.as_str().trim_end().len())
    }

    fn ident(&self, p: Pair<Rule>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    /// `///` comments directly above `start` (only blanks between).
    fn doc_before(&self, start: usize) -> Option<String> {
        let idx = self.comments.partition_point(|c| c.span.end <= start);
        let mut lines = Vec::new();
        let mut next_start = start;
        for c in self.comments[..idx].iter().rev() {
            let between = &self.src[c.span.end..next_start];
            if !c.doc || !between.trim().is_empty() || between.matches('\n').count() > 1 {
                break;
            }
            // The comment must be alone on its line.
            let line_start = self.src[..c.span.start].rfind('\n').map_or(0, |n| n + 1);
            if !self.src[line_start..c.span.start].trim().is_empty() {
                break;
            }
            lines.push(c.text.strip_prefix(' ').unwrap_or(&c.text).to_string());
            next_start = c.span.start;
        }
        if lines.is_empty() {
            return None;
        }
        lines.reverse();
        Some(lines.join("\n"))
    }

    fn item(&mut self, p: Pair<Rule>) -> Option<Item> {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::use_item => {
                let mut inner = p.into_inner();
                let _kw = inner.next();
                let t = inner.next()?;
                let target_span = self.span(&t);
                let target = match t.as_rule() {
                    Rule::string => {
                        UseTarget::File(unescape(t.into_inner().next().map_or("", |s| s.as_str())))
                    }
                    _ => UseTarget::Module(t.as_str().to_string()),
                };
                Some(Item::Use(UseItem {
                    target,
                    target_span,
                    span,
                }))
            }
            Rule::seed_item => {
                let mut inner = p.into_inner();
                let _kw = inner.next();
                let value = self.expr(inner.next()?)?;
                Some(Item::Seed(SeedItem { value, span }))
            }
            Rule::decl => {
                let mut inner = p.into_inner();
                let kind_pair = inner.next()?;
                let kind_span = self.span(&kind_pair);
                let kind = DeclKind::from_keyword(kind_pair.as_str())?;
                let name = self.ident(inner.next()?);
                let mut extends = None;
                let mut fields = Vec::new();
                for q in inner {
                    match q.as_rule() {
                        Rule::extends => extends = q.into_inner().nth(1).map(|i| self.ident(i)),
                        Rule::field => fields.extend(self.field(q)),
                        _ => {}
                    }
                }
                let doc = self.doc_before(span.start);
                Some(Item::Decl(Decl {
                    kind,
                    kind_span,
                    name,
                    extends,
                    fields,
                    doc,
                    span,
                }))
            }
            _ => None,
        }
    }

    fn path(&self, p: Pair<Rule>) -> Vec<Ident> {
        let s = self.span(&p);
        let mut out = Vec::new();
        let mut pos = s.start;
        for seg in p.as_str().split('.') {
            out.push(Ident {
                name: seg.to_string(),
                span: Span::new(self.file, pos, pos + seg.len()),
            });
            pos += seg.len() + 1;
        }
        out
    }

    fn field(&mut self, p: Pair<Rule>) -> Option<Field> {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        let path = self.path(inner.next()?);
        let value = self.expr(inner.next()?)?;
        let doc = self.doc_before(span.start);
        Some(Field {
            path,
            value,
            doc,
            span,
        })
    }

    fn number(&mut self, p: &Pair<Rule>) -> Number {
        let text = p.as_str();
        let clean: String = text.chars().filter(|&c| c != '_').collect();
        let is_int = !clean.contains(['.', 'e', 'E']);
        let value: f64 = clean.parse().unwrap_or(f64::NAN);
        let int = if is_int {
            clean.parse::<i64>().ok()
        } else {
            None
        };
        if (is_int && int.is_none()) || !value.is_finite() {
            self.diags.push(Diag::new(
                self.file,
                ParseError::BadNumber {
                    text: text.to_string(),
                    span: self.span(p).into(),
                },
            ));
        }
        Number {
            value: if value.is_finite() { value } else { 0.0 },
            int,
        }
    }

    fn expr(&mut self, p: Pair<Rule>) -> Option<Expr> {
        let span = self.span(&p);
        let kind = match p.as_rule() {
            Rule::number => ExprKind::Number(self.number(&p)),
            Rule::quantity => {
                let mut inner = p.into_inner();
                let n = inner.next()?;
                let number = self.number(&n);
                let unit = self.ident(inner.next()?);
                ExprKind::Quantity { number, unit }
            }
            Rule::string => {
                ExprKind::Str(unescape(p.into_inner().next().map_or("", |s| s.as_str())))
            }
            Rule::boolean => ExprKind::Bool(p.as_str() == "true"),
            Rule::list => ExprKind::List(p.into_inner().filter_map(|q| self.expr(q)).collect()),
            Rule::record => {
                ExprKind::Record(p.into_inner().filter_map(|q| self.field(q)).collect())
            }
            Rule::call => {
                let mut inner = p.into_inner();
                let name = self.ident(inner.next()?);
                let mut args = Vec::new();
                for a in inner {
                    let aspan = self.span(&a);
                    let q = a.into_inner().next()?;
                    if q.as_rule() == Rule::named_arg {
                        let mut qi = q.into_inner();
                        let n = self.ident(qi.next()?);
                        let v = self.expr(qi.next()?)?;
                        args.push(Arg {
                            name: Some(n),
                            value: v,
                            span: aspan,
                        });
                    } else {
                        let v = self.expr(q)?;
                        args.push(Arg {
                            name: None,
                            value: v,
                            span: aspan,
                        });
                    }
                }
                ExprKind::Call { name, args }
            }
            Rule::reference => ExprKind::Ref(self.ident(p.into_inner().next()?)),
            Rule::typed_name => {
                let mut inner = p.into_inner();
                let n = inner.next()?;
                let nspan = self.span(&n);
                let name = if n.as_rule() == Rule::string {
                    ExprKind::Str(unescape(n.into_inner().next().map_or("", |s| s.as_str())))
                } else {
                    ExprKind::Ref(self.ident(n))
                };
                let kind = self.ident(inner.next()?);
                ExprKind::Typed {
                    name: Box::new(Expr {
                        kind: name,
                        span: nspan,
                    }),
                    kind,
                }
            }
            _ => return None,
        };
        Some(Expr { kind, span })
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decl_with_doc_and_comments() {
        let src = "// header\n/// The data.\ndata d {\n  /// Where.\n  manifest = \"m.csv\" // trailing\n  image_size = 224\n}\n";
        let (f, d) = parse_file(src);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(f.comments.len(), 4);
        let Item::Decl(decl) = &f.items[0] else {
            panic!("not a decl")
        };
        assert_eq!(decl.doc.as_deref(), Some("The data."));
        assert_eq!(decl.fields[0].doc.as_deref(), Some("Where."));
        assert_eq!(decl.fields[1].doc, None);
    }

    #[test]
    fn quantity_does_not_swallow_next_field() {
        let (f, d) =
            parse_file("budget b {\n frozen = 1\n finetune = 4 epochs\n optimizer.x = 2\n}");
        assert!(d.is_empty(), "{d:?}");
        let Item::Decl(decl) = &f.items[0] else {
            panic!("not a decl")
        };
        assert_eq!(decl.fields.len(), 3);
        assert!(matches!(decl.fields[0].value.kind, ExprKind::Number(_)));
        assert!(matches!(
            decl.fields[1].value.kind,
            ExprKind::Quantity { .. }
        ));
    }

    #[test]
    fn recovers_after_syntax_error() {
        let (f, d) =
            parse_file("data a {\n x = = 1\n}\nrecipe r {\n batch = 2\n}\nbudget b { y = }\n");
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(f.items.len(), 1);
    }
}

//! The syntax tree of one `.exp` file, with byte spans on every node.
//!
//! Comments are not nodes: [`File::comments`] lists every comment with its
//! span (so a formatter can put them back), and doc comments (`///`) are also
//! attached to the declaration or field that follows them ([`Decl::doc`],
//! [`Field::doc`]).

use super::span::Span;
use serde::Serialize;

/// A parsed file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct File {
    pub items: Vec<Item>,
    /// Every comment in source order.
    pub comments: Vec<Comment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comment {
    pub span: Span,
    /// The text after `//` or `///`, without the line break.
    pub text: String,
    /// `///` doc comment.
    pub doc: bool,
}

/// A top-level item.
#[derive(Debug, Clone, Serialize)]
pub enum Item {
    Use(UseItem),
    Seed(SeedItem),
    Decl(Decl),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Use(u) => u.span,
            Item::Seed(s) => s.span,
            Item::Decl(d) => d.span,
        }
    }
}

/// `use std.backbones` / `use "other.exp"`.
#[derive(Debug, Clone, Serialize)]
pub struct UseItem {
    pub target: UseTarget,
    /// Span of the module path or the string.
    pub target_span: Span,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum UseTarget {
    /// A standard-library module, e.g. `std.recipes`.
    Module(String),
    /// A file path relative to the using file.
    File(String),
}

/// `seed 17`.
#[derive(Debug, Clone, Serialize)]
pub struct SeedItem {
    pub value: Expr,
    pub span: Span,
}

/// The declaration keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum DeclKind {
    Data,
    Backbone,
    Recipe,
    Budget,
    Score,
    Sweep,
}

impl DeclKind {
    pub const ALL: [DeclKind; 6] = [
        DeclKind::Data,
        DeclKind::Backbone,
        DeclKind::Recipe,
        DeclKind::Budget,
        DeclKind::Score,
        DeclKind::Sweep,
    ];

    /// The keyword (`sweep` for both `sweep` and `experiment`).
    pub fn keyword(self) -> &'static str {
        match self {
            DeclKind::Data => "data",
            DeclKind::Backbone => "backbone",
            DeclKind::Recipe => "recipe",
            DeclKind::Budget => "budget",
            DeclKind::Score => "score",
            DeclKind::Sweep => "sweep",
        }
    }

    pub fn from_keyword(s: &str) -> Option<Self> {
        Some(match s {
            "data" => DeclKind::Data,
            "backbone" => DeclKind::Backbone,
            "recipe" => DeclKind::Recipe,
            "budget" => DeclKind::Budget,
            "score" => DeclKind::Score,
            "sweep" | "experiment" => DeclKind::Sweep,
            _ => return None,
        })
    }
}

/// `kind name extends parent { fields }`.
#[derive(Debug, Clone, Serialize)]
pub struct Decl {
    pub kind: DeclKind,
    pub kind_span: Span,
    pub name: Ident,
    pub extends: Option<Ident>,
    pub fields: Vec<Field>,
    /// Joined text of the `///` comments right above the declaration.
    pub doc: Option<String>,
    /// From the keyword to the closing brace.
    pub span: Span,
}

/// A name with its span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// `path = value`; `path` has more than one segment for dotted overrides.
#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub path: Vec<Ident>,
    pub value: Expr,
    pub doc: Option<String>,
    pub span: Span,
}

impl Field {
    /// The dotted path as written.
    pub fn path_string(&self) -> String {
        self.path
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join(".")
    }

    /// Span of the whole path.
    pub fn path_span(&self) -> Span {
        match (self.path.first(), self.path.last()) {
            (Some(a), Some(b)) => a.span.join(b.span),
            _ => self.span,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

/// A number as written: its value, and whether it was an integer literal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Number {
    pub value: f64,
    /// `Some` for integer literals (no `.` or exponent) that fit in an i64.
    pub int: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub enum ExprKind {
    Number(Number),
    /// `4 epochs`, `95%`.
    Quantity {
        number: Number,
        unit: Ident,
    },
    Str(String),
    Bool(bool),
    List(Vec<Expr>),
    Record(Vec<Field>),
    Call {
        name: Ident,
        args: Vec<Arg>,
    },
    /// A bare name.
    Ref(Ident),
    /// `age: numeric` inside a list: a name (string or bare name) with a
    /// declared kind.
    Typed {
        name: Box<Expr>,
        kind: Ident,
    },
}

impl ExprKind {
    /// What the value is, for "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match self {
            ExprKind::Number(n) if n.int.is_some() => "an integer",
            ExprKind::Number(_) => "a number",
            ExprKind::Quantity { .. } => "a quantity with a unit",
            ExprKind::Str(_) => "a string",
            ExprKind::Bool(_) => "a boolean",
            ExprKind::List(_) => "a list",
            ExprKind::Record(_) => "a record",
            ExprKind::Call { .. } => "a call",
            ExprKind::Ref(_) => "a name",
            ExprKind::Typed { .. } => "a name with a kind (`name: kind`)",
        }
    }
}

/// A call argument, positional (`rotate(30 deg)`) or named (`lr = 1e-4`).
#[derive(Debug, Clone, Serialize)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

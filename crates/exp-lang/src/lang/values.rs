//! Typed reading of AST values: numbers, units, strings, enum words, calls
//! with named arguments and records, each reporting its own diagnostics.

use super::ast::{Arg, Expr, ExprKind, Ident};
use super::diag::Diag;
use super::error::CheckError;
use super::span::Span;
use super::suggest;
use std::collections::HashMap;

/// Physical dimension of a quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    Samples,
    Epochs,
    Steps,
    Degrees,
    Seconds,
    Percent,
}

impl Dim {
    /// The canonical unit, for messages.
    pub fn unit(self) -> &'static str {
        match self {
            Dim::Samples => "samples",
            Dim::Epochs => "epochs",
            Dim::Steps => "steps",
            Dim::Degrees => "deg",
            Dim::Seconds => "s / min / h",
            Dim::Percent => "%",
        }
    }
}

/// Every unit the language knows: (spelling, dimension, factor to the base
/// unit of the dimension — seconds for durations, fraction for percent).
pub const UNITS: &[(&str, Dim, f64)] = &[
    ("samples", Dim::Samples, 1.0),
    ("sample", Dim::Samples, 1.0),
    ("epochs", Dim::Epochs, 1.0),
    ("epoch", Dim::Epochs, 1.0),
    ("steps", Dim::Steps, 1.0),
    ("step", Dim::Steps, 1.0),
    ("deg", Dim::Degrees, 1.0),
    ("s", Dim::Seconds, 1.0),
    ("sec", Dim::Seconds, 1.0),
    ("min", Dim::Seconds, 60.0),
    ("h", Dim::Seconds, 3600.0),
    ("%", Dim::Percent, 0.01),
];

/// Where a value sits, for messages: `recipe \`x\`` + field path.
pub struct Values<'d> {
    pub diags: &'d mut Vec<Diag>,
    /// Required names an unknown field or argument's did-you-mean points
    /// at, so their "missing" error is not reported as a second mistake.
    pub misspelled: std::collections::BTreeSet<String>,
}

impl Values<'_> {
    pub fn err(&mut self, span: Span, e: CheckError) {
        self.diags.push(Diag::new(span.file, e));
    }

    fn mismatch(&mut self, e: &Expr, what: &str, expected: &str, help: &str) {
        self.err(
            e.span,
            CheckError::TypeMismatch {
                what: what.into(),
                expected: expected.into(),
                found: e.kind.describe().into(),
                span: e.span.into(),
                help: help.into(),
            },
        );
    }

    fn range_err(&mut self, e: &Expr, what: &str, value: f64, range: &str, help: &str) {
        let help = if help.is_empty() {
            default_range_help(what, range)
        } else {
            help.to_string()
        };
        self.err(
            e.span,
            CheckError::OutOfRange {
                what: what.into(),
                value: fmt_num(value),
                range: range.into(),
                span: e.span.into(),
                help,
            },
        );
    }

    /// A plain number (a `%` quantity counts as its fraction when `percent_ok`).
    pub fn number(&mut self, e: &Expr, what: &str) -> Option<f64> {
        match &e.kind {
            ExprKind::Number(n) => Some(n.value),
            ExprKind::Quantity { unit, .. } => {
                self.err(
                    unit.span,
                    CheckError::WrongUnit {
                        what: what.into(),
                        unit: unit.name.clone(),
                        expected: "a plain number".into(),
                        span: unit.span.into(),
                        help: format!("remove the unit: `{what}` takes a plain number"),
                    },
                );
                None
            }
            _ => {
                self.mismatch(
                    e,
                    what,
                    "a number",
                    "write a number such as `0.5` or `2e-3`",
                );
                None
            }
        }
    }

    /// A number in `[lo, hi]` (`lo_open` / `hi_open` make an end exclusive).
    #[allow(clippy::too_many_arguments)]
    pub fn ranged(
        &mut self,
        e: &Expr,
        what: &str,
        lo: f64,
        hi: f64,
        lo_open: bool,
        hi_open: bool,
        help: &str,
    ) -> Option<f64> {
        let v = self.number(e, what)?;
        self.in_range(e, what, v, lo, hi, lo_open, hi_open, help)
    }

    #[allow(clippy::too_many_arguments)]
    fn in_range(
        &mut self,
        e: &Expr,
        what: &str,
        v: f64,
        lo: f64,
        hi: f64,
        lo_open: bool,
        hi_open: bool,
        help: &str,
    ) -> Option<f64> {
        let lo_ok = if lo_open { v > lo } else { v >= lo };
        let hi_ok = if hi_open { v < hi } else { v <= hi };
        if lo_ok && hi_ok {
            return Some(v);
        }
        let range = match (hi.is_infinite(), lo_open) {
            (true, true) => format!("must be > {}", fmt_num(lo)),
            (true, false) => format!("must be ≥ {}", fmt_num(lo)),
            _ => format!(
                "must be in {}{}, {}{}",
                if lo_open { "(" } else { "[" },
                fmt_num(lo),
                fmt_num(hi),
                if hi_open { ")" } else { "]" }
            ),
        };
        self.range_err(e, what, v, &range, help);
        None
    }

    /// A fraction in `[0, 1)` (or `[0, 1]` when `one_ok`), written `0.3` or `30%`.
    pub fn fraction(&mut self, e: &Expr, what: &str, one_ok: bool) -> Option<f64> {
        let v = match &e.kind {
            ExprKind::Quantity { number, unit } if unit.name == "%" => number.value / 100.0,
            _ => self.number(e, what)?,
        };
        self.in_range(
            e,
            what,
            v,
            0.0,
            1.0,
            false,
            !one_ok,
            "a fraction: write e.g. `0.3` or `30%`",
        )
    }

    /// An integer in `[lo, hi]`.
    pub fn int(&mut self, e: &Expr, what: &str, lo: i64, hi: i64) -> Option<i64> {
        match &e.kind {
            ExprKind::Number(n) => match n.int {
                Some(i) if i >= lo && i <= hi => Some(i),
                Some(i) => {
                    let range = if hi == i64::MAX {
                        format!("must be ≥ {lo}")
                    } else {
                        format!("must be in [{lo}, {hi}]")
                    };
                    self.range_err(e, what, i as f64, &range, "");
                    None
                }
                None => {
                    self.mismatch(
                        e,
                        what,
                        "an integer",
                        "write a whole number without `.` or exponent",
                    );
                    None
                }
            },
            _ => {
                let _ = self.number(e, what);
                None
            }
        }
    }

    /// A quantity in one of `dims`, converted to the dimension's base unit.
    pub fn quantity(
        &mut self,
        e: &Expr,
        what: &str,
        dims: &[Dim],
        example: &str,
    ) -> Option<(f64, Dim)> {
        match &e.kind {
            ExprKind::Quantity { number, unit } => {
                let Some((_, dim, factor)) = UNITS.iter().find(|(u, _, _)| *u == unit.name) else {
                    let help =
                        suggest::help(&unit.name, UNITS.iter().map(|(u, _, _)| *u), "known units");
                    self.err(
                        unit.span,
                        CheckError::WrongUnit {
                            what: what.into(),
                            unit: unit.name.clone(),
                            expected: expected_units(dims),
                            span: unit.span.into(),
                            help,
                        },
                    );
                    return None;
                };
                if !dims.contains(dim) {
                    self.err(
                        unit.span,
                        CheckError::WrongUnit {
                            what: what.into(),
                            unit: unit.name.clone(),
                            expected: expected_units(dims),
                            span: unit.span.into(),
                            help: format!("write it like `{example}`"),
                        },
                    );
                    return None;
                }
                Some((number.value * factor, *dim))
            }
            ExprKind::Number(n) => {
                self.err(
                    e.span,
                    CheckError::MissingUnit {
                        what: what.into(),
                        span: e.span.into(),
                        help: format!(
                            "say what {} counts, e.g. `{example}` ({})",
                            fmt_num(n.value),
                            expected_units(dims)
                        ),
                    },
                );
                None
            }
            _ => {
                self.mismatch(
                    e,
                    what,
                    &format!("a quantity like `{example}`"),
                    &format!("write it like `{example}`"),
                );
                None
            }
        }
    }

    /// A whole, non-negative count in one dimension (epochs, steps, samples).
    pub fn count(
        &mut self,
        e: &Expr,
        what: &str,
        dim: Dim,
        min: u64,
        example: &str,
    ) -> Option<u64> {
        let (v, _) = self.quantity(e, what, &[dim], example)?;
        if v.fract() != 0.0 || v < min as f64 || v > 1e15 {
            let range = format!("must be a whole number of {} ≥ {min}", dim.unit());
            self.range_err(e, what, v, &range, "");
            return None;
        }
        Some(v as u64)
    }

    pub fn string(&mut self, e: &Expr, what: &str) -> Option<String> {
        match &e.kind {
            ExprKind::Str(s) => Some(s.clone()),
            _ => {
                self.mismatch(e, what, "a string", "put the text in double quotes");
                None
            }
        }
    }

    pub fn boolean(&mut self, e: &Expr, what: &str) -> Option<bool> {
        match &e.kind {
            ExprKind::Bool(b) => Some(*b),
            _ => {
                self.mismatch(e, what, "`true` or `false`", "");
                None
            }
        }
    }

    /// A bare word out of `choices`.
    pub fn word(&mut self, e: &Expr, what: &str, choices: &[&'static str]) -> Option<&'static str> {
        match &e.kind {
            ExprKind::Ref(id) => self.choice(id, what, choices),
            _ => {
                let list = choices.join(" | ");
                self.mismatch(
                    e,
                    what,
                    &format!("one of {list}"),
                    &format!("write one of {list} without quotes"),
                );
                None
            }
        }
    }

    fn choice(&mut self, id: &Ident, what: &str, choices: &[&'static str]) -> Option<&'static str> {
        if let Some(c) = choices.iter().find(|c| **c == id.name) {
            return Some(c);
        }
        let help = suggest::help(
            &id.name,
            choices.iter().copied(),
            &format!("valid {what} values"),
        );
        self.err(
            id.span,
            CheckError::UnknownVariant {
                what: what.into(),
                value: id.name.clone(),
                span: id.span.into(),
                help,
            },
        );
        None
    }

    /// A call (or a bare word = call without arguments) named one of `names`.
    pub fn call<'e>(
        &mut self,
        e: &'e Expr,
        what: &str,
        names: &[&'static str],
    ) -> Option<(&'static str, &'e [Arg])> {
        match &e.kind {
            ExprKind::Ref(id) => self.choice(id, what, names).map(|n| (n, &[][..])),
            ExprKind::Call { name, args } => {
                self.choice(name, what, names).map(|n| (n, args.as_slice()))
            }
            _ => {
                let list = names.join(" | ");
                self.mismatch(
                    e,
                    what,
                    &format!("one of {list}"),
                    &format!("write e.g. `{}(...)`", names[0]),
                );
                None
            }
        }
    }

    /// Match call arguments to parameter names: positional ones in the order
    /// of `positional`, named ones from `params`.
    pub fn args<'e>(
        &mut self,
        call: &str,
        call_span: Span,
        args: &'e [Arg],
        positional: &[&str],
        params: &[&str],
    ) -> ArgMap<'e> {
        let mut map: ArgMap<'e> = ArgMap {
            values: HashMap::new(),
            call: call.to_string(),
            span: call_span,
        };
        let mut first_span: HashMap<String, Span> = HashMap::new();
        let mut pos = 0;
        for a in args {
            let (name, span) = match &a.name {
                Some(n) => {
                    if !params.contains(&n.name.as_str()) {
                        if let Some(meant) = suggest::closest(&n.name, params.iter().copied()) {
                            if !args
                                .iter()
                                .any(|a| a.name.as_ref().is_some_and(|x| x.name == meant))
                            {
                                self.misspelled.insert(meant.to_string());
                            }
                        }
                        let help = suggest::help(
                            &n.name,
                            params.iter().copied(),
                            &format!("arguments of `{call}`"),
                        );
                        self.err(
                            n.span,
                            CheckError::UnknownArgument {
                                problem: format!("unknown argument `{}`", n.name),
                                call: call.into(),
                                span: n.span.into(),
                                help,
                            },
                        );
                        continue;
                    }
                    (n.name.clone(), n.span)
                }
                None => {
                    let Some(p) = positional.get(pos) else {
                        let help = if positional.is_empty() {
                            format!("`{call}` takes only named arguments: {}", params.join(", "))
                        } else {
                            format!(
                                "`{call}` takes at most {} positional argument(s): {}",
                                positional.len(),
                                positional.join(", ")
                            )
                        };
                        self.err(
                            a.span,
                            CheckError::UnknownArgument {
                                problem: "too many positional arguments".into(),
                                call: call.into(),
                                span: a.span.into(),
                                help,
                            },
                        );
                        continue;
                    };
                    pos += 1;
                    (p.to_string(), a.span)
                }
            };
            if let Some(first) = first_span.get(&name) {
                self.err(
                    span,
                    CheckError::DuplicateField {
                        field: name.clone(),
                        span: span.into(),
                        first: (first.file == span.file).then_some((*first).into()),
                    },
                );
                continue;
            }
            first_span.insert(name.clone(), span);
            map.values.insert(name, &a.value);
        }
        map
    }

    /// Fields of a record value, checked against `allowed`.
    pub fn record<'e>(&mut self, e: &'e Expr, what: &str, allowed: &[&str]) -> Option<ArgMap<'e>> {
        let ExprKind::Record(fields) = &e.kind else {
            self.mismatch(e, what, "a record `{ key = value }`", "");
            return None;
        };
        let mut map: ArgMap<'e> = ArgMap {
            values: HashMap::new(),
            call: what.to_string(),
            span: e.span,
        };
        let mut first_span: HashMap<String, Span> = HashMap::new();
        for f in fields {
            let key = f.path_string();
            if f.path.len() != 1 || !allowed.contains(&key.as_str()) {
                let help = suggest::help(
                    &key,
                    allowed.iter().copied(),
                    &format!("fields of `{what}`"),
                );
                self.err(
                    f.path_span(),
                    CheckError::UnknownField {
                        field: key,
                        context: format!("`{what}`"),
                        span: f.path_span().into(),
                        help,
                    },
                );
                continue;
            }
            if let Some(first) = first_span.get(&key) {
                let span = f.path_span();
                self.err(
                    span,
                    CheckError::DuplicateField {
                        field: key.clone(),
                        span: span.into(),
                        first: (first.file == span.file).then_some((*first).into()),
                    },
                );
                continue;
            }
            first_span.insert(key.clone(), f.path_span());
            map.values.insert(key, &f.value);
        }
        Some(map)
    }

    /// A list of values.
    pub fn list<'e>(&mut self, e: &'e Expr, what: &str) -> Option<&'e [Expr]> {
        match &e.kind {
            ExprKind::List(items) => Some(items),
            _ => {
                self.mismatch(e, what, "a list `[...]`", "");
                None
            }
        }
    }

    /// A list of exactly `n` numbers.
    pub fn numbers(&mut self, e: &Expr, what: &str, n: usize) -> Option<Vec<f64>> {
        let items = self.list(e, what)?;
        if items.len() != n {
            self.mismatch(
                e,
                what,
                &format!("a list of {n} numbers"),
                &format!("it has {} items", items.len()),
            );
            return None;
        }
        let vals: Vec<Option<f64>> = items.iter().map(|i| self.number(i, what)).collect();
        vals.into_iter().collect()
    }

    /// Report a required argument or field that is absent.
    pub fn missing(&mut self, span: Span, field: &str, context: &str, help: &str) {
        self.err(
            span,
            CheckError::MissingField {
                field: field.into(),
                context: context.into(),
                span: span.into(),
                help: help.into(),
            },
        );
    }
}

/// Arguments of a call (or fields of a record) by name.
pub struct ArgMap<'e> {
    pub values: HashMap<String, &'e Expr>,
    pub call: String,
    pub span: Span,
}

impl<'e> ArgMap<'e> {
    pub fn get(&self, name: &str) -> Option<&'e Expr> {
        self.values.get(name).copied()
    }
}

fn expected_units(dims: &[Dim]) -> String {
    let v: Vec<String> = dims.iter().map(|d| format!("`{}`", d.unit())).collect();
    format!("a quantity in {}", v.join(" or "))
}

/// Short human form of a number.
pub fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The help line of an out-of-range value when the rule has nothing more
/// specific to say: every diagnostic tells the user what to change.
pub fn default_range_help(what: &str, range: &str) -> String {
    format!("`{what}` {range}: change the value to one in range")
}

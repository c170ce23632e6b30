//! `sweep` declarations: axes, references, `exclude`/`baseline`/`compare` rules, expansion into cells.

use super::*;

/// A sweep field while expanding: (field name, values with spans, written as a list).
type Axis = (String, Vec<(String, Span)>, bool);

/// Which sweep field a record of axis values belongs to (for its errors).
#[derive(Clone, Copy)]
enum Rule {
    Baseline,
    Exclude,
    Compare,
}

/// A baseline naming a cell of another sweep (`{ sweep = other, ... }`),
/// resolved once every sweep is expanded.
pub(super) struct CrossBaseline {
    sweep: String,
    other: String,
    /// (axis, value, span of the value).
    rule: Vec<(String, String, Span)>,
    span: Span,
}

/// `{ sweep = other, axis = value, ... }`: the other sweep's name and the
/// rest of the record as (axis, value, span); None without a `sweep` key.
type CrossRule = (String, Vec<(String, String, Span)>);

fn cross_rule(e: &Expr) -> Option<CrossRule> {
    let ExprKind::Record(fields) = &e.kind else {
        return None;
    };
    let mut other = None;
    let mut rule = Vec::new();
    for f in fields {
        let value = match &f.value.kind {
            ExprKind::Ref(id) => id.name.clone(),
            ExprKind::Number(n) if n.int.is_some() => n.int.unwrap_or_default().to_string(),
            _ => String::new(),
        };
        if f.path_string() == "sweep" {
            other = Some(value);
        } else {
            rule.push((f.path_string(), value, f.value.span));
        }
    }
    other.map(|o| (o, rule))
}

impl Checker<'_, '_> {
    /// Resolve a reference to a declaration of `kind`.
    fn reference(&mut self, e: &Expr, kind: DeclKind, what: &str) -> Option<Ident> {
        let ExprKind::Ref(id) = &e.kind else {
            self.v.err(
                e.span,
                CheckError::TypeMismatch {
                    what: what.into(),
                    expected: format!("the name of a {} (or a list of names)", kind.keyword()),
                    found: e.kind.describe().into(),
                    span: e.span.into(),
                    help: format!(
                        "declare the {} with `{} name {{ ... }}` and write its name here",
                        kind.keyword(),
                        kind.keyword()
                    ),
                },
            );
            return None;
        };
        match self.env.merged.get(&id.name) {
            None if self.env.masked.contains(&id.name) => None,
            None => {
                let help = resolve::name_help(self.env, &id.name, Some(kind));
                self.v.diags.push(Diag::new(
                    id.span.file,
                    ResolveError::UnknownName {
                        name: id.name.clone(),
                        expected: kind.keyword().into(),
                        span: id.span.into(),
                        help,
                    },
                ));
                None
            }
            Some(m) if m.kind != kind => {
                let decl = (m.name.span.file == id.span.file).then_some(m.name.span.into());
                self.v.diags.push(Diag::new(
                    id.span.file,
                    ResolveError::WrongKind {
                        name: id.name.clone(),
                        expected: kind.keyword().into(),
                        found: m.kind.keyword().into(),
                        span: id.span.into(),
                        decl,
                        help: format!("`{what}` takes {} names", kind.keyword()),
                    },
                ));
                None
            }
            Some(_) => Some(id.clone()),
        }
    }

    /// The values of one sweep axis, each checked by `value_of`; reports an
    /// empty list (`None`) and repeated values. The flag is false when any
    /// value was wrong; the values that were right are still returned.
    fn axis_values(
        &mut self,
        e: &Expr,
        items: &[&Expr],
        is_list: bool,
        field: &str,
        mut value_of: impl FnMut(&mut Self, &Expr) -> Option<(String, Span)>,
    ) -> Option<(Vec<(String, Span)>, bool)> {
        if is_list && items.is_empty() {
            self.v.err(
                e.span,
                CheckError::EmptyAxis {
                    field: field.into(),
                    span: e.span.into(),
                },
            );
            return None;
        }
        let mut ok = true;
        let mut vals: Vec<(String, Span)> = Vec::new();
        for i in items {
            let Some((value, span)) = value_of(self, i) else {
                ok = false;
                continue;
            };
            if let Some((_, first)) = vals.iter().find(|(n, _)| *n == value) {
                self.v.err(
                    span,
                    CheckError::DuplicateAxisValue {
                        value,
                        field: field.into(),
                        span: span.into(),
                        first: (*first).into(),
                    },
                );
                ok = false;
            } else {
                vals.push((value, span));
            }
        }
        Some((vals, ok))
    }

    /// The cell of another sweep a `{ sweep = other, ... }` baseline names:
    /// it must exist and share the sweep's data and test split (so the test
    /// images are the same).
    pub(super) fn cross_sweep_baseline(&mut self, p: CrossBaseline) {
        let bad = |reason: String, help: String| CheckError::BaselineNotACell {
            sweep: p.sweep.clone(),
            span: p.span.into(),
            reason,
            help,
        };
        let Some(other) = self.out.pipeline.sweeps.get(&p.other) else {
            let declared = self
                .env
                .merged
                .values()
                .any(|m| m.kind == DeclKind::Sweep && m.name.name == p.other);
            if !declared {
                let names: Vec<&str> = self
                    .out
                    .pipeline
                    .sweeps
                    .keys()
                    .map(String::as_str)
                    .collect();
                let help = suggest::help(&p.other, names.iter().copied(), "sweeps of this file");
                self.v.err(
                    p.span,
                    bad(format!("there is no sweep `{}`", p.other), help),
                );
            }
            return;
        };
        let found = other.cells.iter().find(|c| {
            p.rule
                .iter()
                .all(|(k, v, _)| c.axis_values.get(k) == Some(v))
        });
        let Some(cell) = found else {
            let (k, v, span) = p.rule.first().cloned().unwrap_or_default();
            let reason = if k.is_empty() {
                "name the cell's axis values beside `sweep`".to_string()
            } else {
                format!(
                    "no cell of sweep `{}` has `{k} = {v}` with these values",
                    p.other
                )
            };
            self.v.err(
                span,
                CheckError::BaselineNotACell {
                    sweep: p.sweep.clone(),
                    span: (if k.is_empty() { p.span } else { span }).into(),
                    reason,
                    help: format!("pick axis values of a cell of sweep `{}`", p.other),
                },
            );
            return;
        };
        let (cell_id, data, split) = (cell.id.clone(), cell.data.clone(), cell.score.split.clone());
        let Some(this) = self.out.pipeline.sweeps.get_mut(&p.sweep) else {
            return;
        };
        let mismatch = this.cells.iter().find_map(|c| {
            if c.data != data {
                Some(format!(
                    "its data `{}` differs from `{}`",
                    data.name, c.data.name
                ))
            } else if c.score.split != split {
                Some(format!(
                    "its test split `{split}` differs from `{}`",
                    c.score.split
                ))
            } else {
                None
            }
        });
        match mismatch {
            Some(reason) => self.v.err(
                p.span,
                bad(
                    reason,
                    "a baseline from another sweep must be scored on the same images: same data and split".into(),
                ),
            ),
            None => this.baseline = Some(cell_id),
        }
    }

    pub(super) fn sweep(&mut self, m: &Merged) -> Option<(SweepSpec, Option<CrossBaseline>)> {
        let f = self.fields(m);
        let ctx = context(m);
        let sweep = m.name.name.clone();
        let mut ok = true;
        // Axis field name → values (name, span); order = field order.
        let mut axes: Vec<Axis> = Vec::new();
        for field in &m.fields {
            let name = field.name.name.as_str();
            if let Some((_, kind)) = SWEEP_REFS.iter().find(|(n, _)| *n == name) {
                let e = &field.value;
                let (items, is_list): (Vec<&Expr>, bool) = match &e.kind {
                    ExprKind::List(items) => (items.iter().collect(), true),
                    _ => (vec![e], false),
                };
                let Some((vals, all_ok)) = self.axis_values(e, &items, is_list, name, |c, i| {
                    c.reference(i, *kind, name).map(|id| (id.name, id.span))
                }) else {
                    ok = false;
                    continue;
                };
                ok &= all_ok;
                axes.push((name.to_string(), vals, is_list));
            } else if name == "seed" || name == "seeds" {
                if let (Some(a), Some(b)) = (m.field("seed"), m.field("seeds")) {
                    if name == "seeds" {
                        self.conflict(
                            b.name.span,
                            a.name.span,
                            "`seed` and `seeds` cannot both be set",
                            "use `seeds = [...]` for several seeds, `seed = N` for one",
                        );
                        ok = false;
                        continue;
                    }
                }
                let e = &field.value;
                let (items, is_list): (Vec<&Expr>, bool) = match (&e.kind, name) {
                    (ExprKind::List(items), "seeds") => (items.iter().collect(), true),
                    (_, "seeds") => {
                        let _ = self.v.list(e, "seeds");
                        ok = false;
                        continue;
                    }
                    _ => (vec![e], false),
                };
                let Some((vals, all_ok)) = self.axis_values(e, &items, is_list, name, |c, i| {
                    c.v.int(i, "seed", 0, i64::MAX)
                        .map(|s| (s.to_string(), i.span))
                }) else {
                    ok = false;
                    continue;
                };
                ok &= all_ok;
                axes.push(("seed".into(), vals, is_list));
            }
        }
        for (field, _) in SWEEP_REFS {
            if m.field(field).is_none() {
                let help = format!("add `{field} = name` (or a list of names to sweep over)");
                self.v.missing(m.name.span, field, &ctx, &help);
                ok = false;
            }
        }
        if !axes.iter().any(|(n, _, _)| n == "seed") {
            axes.push((
                "seed".into(),
                vec![(self.out.pipeline.seed.to_string(), m.name.span)],
                false,
            ));
        }
        // Why: counted from the axis sizes before anything is expanded, so
        // a hostile sweep costs nothing but this error.
        let cells = axes.iter().fold(1usize, |n, a| n.saturating_mul(a.1.len()));
        let before = self.cell_count;
        self.cell_count = before.saturating_add(cells);
        if self.cell_count > MAX_CELLS {
            let sizes: Vec<String> = axes
                .iter()
                .filter(|a| a.1.len() > 1)
                .map(|a| format!("{} {}", a.0, a.1.len()))
                .collect();
            let help = if before > 0 && cells <= MAX_CELLS {
                format!("the sweeps before it in this file already have {before} cells; move this sweep to a file of its own")
            } else {
                format!(
                    "the cells are the product of the axes ({}); sweep fewer values, or split the sweep into several files",
                    sizes.join(" × ")
                )
            };
            self.v.err(
                m.name.span,
                CheckError::TooManyCells {
                    sweep: sweep.clone(),
                    cells: if cells == usize::MAX {
                        "too many".into()
                    } else {
                        cells.to_string()
                    },
                    limit: MAX_CELLS,
                    span: m.name.span.into(),
                    help,
                },
            );
            return None;
        }
        // Expand the product, first axis slowest.
        let mut combos: Vec<Vec<usize>> = vec![Vec::new()];
        for (_, vals, _) in &axes {
            let mut next = Vec::new();
            for c in &combos {
                for i in 0..vals.len() {
                    let mut c2 = c.clone();
                    c2.push(i);
                    next.push(c2);
                }
            }
            combos = next;
        }
        let axis_names: Vec<String> = axes.iter().filter(|a| a.2).map(|a| a.0.clone()).collect();
        let value_of = |combo: &[usize], axis: &str| -> Option<String> {
            axes.iter()
                .position(|a| a.0 == axis)
                .map(|i| axes[i].1[combo[i]].0.clone())
        };
        // Exclusions.
        let mut rules: Vec<(Vec<(String, String)>, Span)> = Vec::new();
        if let Some(e) = f.get("exclude") {
            if let Some(items) = self.v.list(e, "exclude") {
                for it in items {
                    match self.combo_rule(m, it, &axes, Rule::Exclude) {
                        Some(r) => rules.push((r, it.span)),
                        None => ok = false,
                    }
                }
            } else {
                ok = false;
            }
        }
        let matches = |combo: &[usize], rule: &[(String, String)]| {
            rule.iter()
                .all(|(k, v)| value_of(combo, k).as_deref() == Some(v.as_str()))
        };
        let before = combos.len();
        combos.retain(|c| !rules.iter().any(|(r, _)| matches(c, r)));
        if ok && before > 0 && combos.is_empty() {
            let span = f.get("exclude").map_or(m.name.span, |e| e.span);
            self.v.err(
                span,
                CheckError::NoCells {
                    sweep: sweep.clone(),
                    span: span.into(),
                },
            );
            ok = false;
        }
        let cell_id = |combo: &[usize]| -> String {
            let mut parts: Vec<String> = Vec::new();
            for (i, (name, vals, is_list)) in axes.iter().enumerate() {
                if *is_list && name != "seed" {
                    parts.push(vals[combo[i]].0.clone());
                }
            }
            let seed = value_of(combo, "seed").unwrap_or_default();
            parts.push(format!("s{seed}"));
            format!("{sweep}/{}", parts.join("-"))
        };
        // Baseline.
        let mut baseline = None;
        let mut cross = None;
        if let Some((other, rule)) = f.get("baseline").and_then(cross_rule) {
            cross = Some(CrossBaseline {
                sweep: sweep.clone(),
                other,
                rule,
                span: f.get("baseline").map_or(m.name.span, |e| e.span),
            });
        } else if let Some(e) = f.get("baseline") {
            match self.combo_rule(m, e, &axes, Rule::Baseline) {
                Some(rule) => {
                    let missing: Vec<&String> = axes
                        .iter()
                        .filter(|a| a.2 && a.0 != "seed" && !rule.iter().any(|(k, _)| *k == a.0))
                        .map(|a| &a.0)
                        .collect();
                    if let Some(first) = missing.first() {
                        self.v.err(
                            e.span,
                            CheckError::BaselineNotACell {
                                sweep: sweep.clone(),
                                span: e.span.into(),
                                reason: format!("does not say which `{first}`"),
                                help: format!("`{first}` is an axis of the sweep, so the baseline must name one of its values"),
                            },
                        );
                        ok = false;
                    } else if let Some(c) = combos.iter().find(|c| matches(c, &rule)) {
                        baseline = Some(cell_id(c));
                    } else if ok {
                        self.v.err(
                            e.span,
                            CheckError::BaselineNotACell {
                                sweep: sweep.clone(),
                                span: e.span.into(),
                                reason: "this combination is excluded".into(),
                                help: "remove the `exclude` rule that drops it, or pick another baseline".into(),
                            },
                        );
                        ok = false;
                    }
                }
                None => ok = false,
            }
        }
        // Pairs to compare: each side a configuration (every listed axis
        // but the seed named), as its axis values without the seed.
        let mut compare = Vec::new();
        if let Some(e) = f.get("compare") {
            let pairs = self.v.list(e, "compare");
            ok &= pairs.is_some();
            for pair in pairs.unwrap_or_default() {
                let sides = match &pair.kind {
                    ExprKind::List(items) if items.len() == 2 => items,
                    _ => {
                        self.v.err(
                            pair.span,
                            CheckError::TypeMismatch {
                                what: "compare".into(),
                                expected: "a pair `[{ ... }, { ... }]` of configurations".into(),
                                found: pair.kind.describe().into(),
                                span: pair.span.into(),
                                help: "e.g. `compare = [[{ backbone = convnextv2_base }, { backbone = convnextv2_tiny }]]`".into(),
                            },
                        );
                        ok = false;
                        continue;
                    }
                };
                let mut keys = Vec::new();
                for side in sides {
                    let Some(rule) = self.combo_rule(m, side, &axes, Rule::Compare) else {
                        ok = false;
                        continue;
                    };
                    let missing = axes
                        .iter()
                        .find(|a| a.2 && a.0 != "seed" && !rule.iter().any(|(k, _)| *k == a.0));
                    let combo = combos.iter().find(|c| matches(c, &rule));
                    match (missing, combo) {
                        (None, Some(c)) => {
                            let mut k: BTreeMap<String, String> = axes
                                .iter()
                                .filter_map(|a| Some((a.0.clone(), value_of(c, &a.0)?)))
                                .collect();
                            k.remove("seed");
                            keys.push(k);
                        }
                        (missing, _) => {
                            let (reason, help) = match missing {
                                Some(a) => (
                                    format!("does not say which `{}`", a.0),
                                    format!("`{}` is an axis of the sweep, so each side of a pair must name one of its values", a.0),
                                ),
                                None => (
                                    "this combination is excluded".into(),
                                    "remove the `exclude` rule that drops it, or pick another pair".into(),
                                ),
                            };
                            self.v.err(
                                side.span,
                                CheckError::BadCompare {
                                    sweep: sweep.clone(),
                                    span: side.span.into(),
                                    reason,
                                    help,
                                },
                            );
                            ok = false;
                        }
                    }
                }
                if let [a, b] = keys.as_slice() {
                    compare.push((a.clone(), b.clone()));
                }
            }
        }
        // Replicates: the baseline configuration trained again with other seeds.
        let replicates = match f.get("replicates") {
            Some(e) => match self.v.int(e, "replicates", 0, 100) {
                Some(n) => n as u64,
                None => {
                    ok = false;
                    0
                }
            },
            None => 0,
        };
        if replicates > 0 && baseline.is_none() && ok {
            let span = f.get("replicates").map_or(m.name.span, |e| e.span);
            self.v.missing(
                span,
                "baseline",
                &ctx,
                "`replicates` trains the baseline configuration again: declare `baseline = { ... }` (a cell of this sweep)",
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        let p = &self.out.pipeline;
        let mut cells = Vec::new();
        for c in &combos {
            let get = |axis: &str| value_of(c, axis).unwrap_or_default();
            let (Some(data), Some(backbone), Some(recipe), Some(budget), Some(score)) = (
                p.data.get(&get("data")),
                p.backbones.get(&get("backbone")),
                p.recipes.get(&get("recipe")),
                p.budgets.get(&get("budget")),
                p.scores.get(&get("score")),
            ) else {
                // A referenced declaration has errors (already reported).
                return None;
            };
            let seed: u64 = get("seed").parse().unwrap_or(0);
            let axis_values: BTreeMap<String, String> =
                axes.iter().map(|a| (a.0.clone(), get(&a.0))).collect();
            cells.push(Cell {
                id: cell_id(c),
                sweep: sweep.clone(),
                seed,
                data: data.clone(),
                backbone: backbone.clone(),
                recipe: recipe.clone(),
                budget: budget.clone(),
                score: score.clone(),
                axis_values,
            });
        }
        // Why after the largest seed: replicate ids never collide with a
        // declared seed, and adding one more replicate keeps the others.
        let top = cells.iter().map(|c| c.seed).max().unwrap_or(0);
        if let Some(base) = baseline
            .as_ref()
            .and_then(|b| cells.iter().find(|c| &c.id == b))
            .cloned()
        {
            let stem = base
                .id
                .strip_suffix(&format!("s{}", base.seed))
                .unwrap_or(&base.id)
                .to_string();
            for r in 1..=replicates {
                let seed = top + r;
                let mut c = base.clone();
                c.id = format!("{stem}s{seed}");
                c.seed = seed;
                c.axis_values.insert("seed".into(), seed.to_string());
                cells.push(c);
            }
        }
        Some((
            SweepSpec {
                name: sweep,
                axes: axis_names,
                cells,
                baseline,
                compare,
            },
            cross,
        ))
    }

    /// `{ backbone = resnet50, recipe = x }` as (axis, value) pairs, checked
    /// against the sweep's axes.
    fn combo_rule(
        &mut self,
        m: &Merged,
        e: &Expr,
        axes: &[Axis],
        rule: Rule,
    ) -> Option<Vec<(String, String)>> {
        let sweep = m.name.name.clone();
        let what = match rule {
            Rule::Baseline => "baseline",
            Rule::Exclude => "exclude",
            Rule::Compare => "compare",
        };
        let keys: Vec<&str> = axes.iter().map(|a| a.0.as_str()).collect();
        let ExprKind::Record(fields) = &e.kind else {
            self.v.err(
                e.span,
                CheckError::TypeMismatch {
                    what: what.into(),
                    expected: "a record `{ backbone = ..., recipe = ... }`".into(),
                    found: e.kind.describe().into(),
                    span: e.span.into(),
                    help: "name the axis values of one cell".into(),
                },
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for fld in fields {
            let key = fld.path_string();
            let Some(axis) = axes.iter().find(|a| a.0 == key) else {
                let help = suggest::help(&key, keys.iter().copied(), "axes of this sweep");
                let reason = format!("`{key}` is not a field of the sweep");
                self.bad_combo(rule, &sweep, fld.path_span(), reason, help);
                ok = false;
                continue;
            };
            let value = match &fld.value.kind {
                ExprKind::Ref(id) => id.name.clone(),
                ExprKind::Number(n) if n.int.is_some() => n.int.unwrap_or_default().to_string(),
                _ => {
                    let reason = format!("`{key}` must be one of its values");
                    self.bad_combo(
                        rule,
                        &sweep,
                        fld.value.span,
                        reason,
                        "write a name from the sweep's list".into(),
                    );
                    ok = false;
                    continue;
                }
            };
            if !axis.1.iter().any(|(v, _)| *v == value) {
                let help = suggest::help(
                    &value,
                    axis.1.iter().map(|(v, _)| v.as_str()),
                    &format!("values of `{key}` in this sweep"),
                );
                let reason = format!("`{value}` is not a value of `{key}` in this sweep");
                self.bad_combo(rule, &sweep, fld.value.span, reason, help);
                ok = false;
                continue;
            }
            out.push((key, value));
        }
        ok.then_some(out)
    }

    fn bad_combo(&mut self, rule: Rule, sweep: &str, span: Span, reason: String, help: String) {
        let e = match rule {
            Rule::Baseline => CheckError::BaselineNotACell {
                sweep: sweep.into(),
                span: span.into(),
                reason,
                help,
            },
            Rule::Exclude => CheckError::BadExclude {
                sweep: sweep.into(),
                reason,
                span: span.into(),
                help,
            },
            Rule::Compare => CheckError::BadCompare {
                sweep: sweep.into(),
                reason,
                span: span.into(),
                help,
            },
        };
        self.v.err(span, e);
    }
}

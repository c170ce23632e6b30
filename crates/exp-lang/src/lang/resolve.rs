//! Name resolution: read the root file and everything it `use`s (stdlib
//! modules and relative files), build one namespace of declarations, apply
//! `extends` (with dotted overrides) and `--set` overrides.
//!
//! The result is one [`Merged`] declaration per name: its fields after
//! inheritance, each value still an AST expression with its span (in whichever
//! file wrote it), ready for the typed checker.

use super::ast::{self, Arg, Decl, DeclKind, Expr, ExprKind, Ident, Item, UseTarget};
use super::diag::Diag;
use super::error::{CheckError, ResolveError};
use super::parse;
use super::span::{FileId, SourceFile, Sources, Span};
use super::stdlib;
use super::suggest;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How many `extends` a declaration may stand on: deeper chains are an
/// error at the first declaration past the limit.
/// Why: no hand-written pipeline needs more, and the bound keeps generated
/// input from costing unbounded time and memory.
pub const MAX_EXTENDS_DEPTH: usize = 64;

/// How many files deep a chain of `use "file.exp"` may go (the root counts).
pub const MAX_USE_DEPTH: usize = 64;

/// A declaration after `extends` and overrides.
#[derive(Debug, Clone)]
pub struct Merged {
    pub kind: DeclKind,
    pub name: Ident,
    pub extends: Option<Ident>,
    pub fields: Vec<MergedField>,
    pub doc: Option<String>,
    pub span: Span,
    pub is_std: bool,
    /// Its `extends` could not be resolved: fields may be missing because
    /// of that error, so the checker does not report them again.
    pub incomplete: bool,
    /// How many `extends` it stands on (0 without `extends`).
    pub depth: usize,
}

impl Merged {
    pub fn field(&self, name: &str) -> Option<&MergedField> {
        self.fields.iter().find(|f| f.name.name == name)
    }
}

/// One top-level field: its name where it was (last) set, and its value.
#[derive(Debug, Clone)]
pub struct MergedField {
    pub name: Ident,
    pub value: Expr,
}

/// Everything the checker needs after resolution.
#[derive(Debug, Default)]
pub struct Env {
    pub sources: Sources,
    /// Parsed files, stdlib modules first, then in load order.
    pub files: Vec<(FileId, ast::File)>,
    pub root: FileId,
    /// Declarations by name, with the file that declares them.
    pub decls: BTreeMap<String, (FileId, Decl)>,
    pub merged: BTreeMap<String, Merged>,
    /// The root file's `seed` (possibly overridden by `--set seed=N`).
    pub seed: Option<Expr>,
    /// Declarations named by `extends`.
    pub extended: BTreeSet<String>,
    /// Names an unknown `use std.X` would likely have brought in: a missing
    /// one is not reported again (the bad `use` is the one mistake).
    pub masked: BTreeSet<String>,
    /// Directory of the root file: `use "..."` may not leave it.
    pub tree: Option<PathBuf>,
    /// [`Env::tree`] as the user named it (the root file's directory as
    /// given), for messages.
    pub tree_shown: String,
}

impl Env {
    pub fn is_std(&self, file: FileId) -> bool {
        self.sources.get(file).is_some_and(|f| f.is_std)
    }

    /// Directory that relative paths in `file` resolve against.
    pub fn base_dir(&self, file: FileId) -> PathBuf {
        match self.sources.get(file).and_then(|f| f.path.as_ref()) {
            Some(p) => p.parent().map(Path::to_path_buf).unwrap_or_default(),
            None => PathBuf::new(),
        }
    }
}

/// Texts that replace files on disk while resolving `use "..."`: the
/// language server's open documents, keyed by canonical path.
pub type Overlay = HashMap<PathBuf, Arc<str>>;

/// Read, parse and resolve a root source. `sets` are `--set PATH=VALUE`.
pub fn resolve(root: SourceFile, sets: &[String], diags: &mut Vec<Diag>) -> Env {
    resolve_with(root, sets, diags, &Overlay::new())
}

/// [`resolve`], reading `use`d files from `overlay` before the disk.
pub fn resolve_with(
    root: SourceFile,
    sets: &[String],
    diags: &mut Vec<Diag>,
    overlay: &Overlay,
) -> Env {
    let mut env = Env {
        tree: root.path.as_deref().and_then(|p| {
            let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
            abs.parent().map(canonical_path)
        }),
        // Why: the canonical absolute path differs per machine and per
        // clone; the user knows the directory by the name they typed.
        tree_shown: root
            .path
            .as_deref()
            .and_then(Path::parent)
            .map(|d| d.display().to_string())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| ".".to_string()),
        ..Env::default()
    };
    let mut r = Resolver {
        env: &mut env,
        diags,
        stack: Vec::new(),
        loaded: HashMap::new(),
        overlay,
    };
    let (root_id, _) = r.load(root);
    r.env.root = root_id;
    r.collect();
    r.merge_all();
    r.apply_sets(sets);
    env
}

struct Resolver<'a> {
    env: &'a mut Env,
    diags: &'a mut Vec<Diag>,
    /// Files being loaded (for `use` cycles): key and display name.
    stack: Vec<String>,
    /// Loaded files by key (canonical path or module name).
    loaded: HashMap<String, FileId>,
    overlay: &'a Overlay,
}

/// The path a file is known by: canonical when it exists, else with `.`
/// and `..` removed (an unsaved editor buffer may have no file yet).
pub fn canonical_path(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| {
        let mut out = PathBuf::new();
        for c in path.components() {
            match c {
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir => {
                    out.pop();
                }
                c => out.push(c),
            }
        }
        out
    })
}

fn file_key(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    canonical_path(&abs).to_string_lossy().into_owned()
}

impl Resolver<'_> {
    /// Load a file and what it uses; returns its id and how many syntax
    /// errors it has.
    fn load(&mut self, source: SourceFile) -> (FileId, usize) {
        let key = match &source.path {
            Some(p) => file_key(p),
            None => source.name.clone(),
        };
        let text = source.text.clone();
        let id = self.env.sources.add(source);
        self.loaded.insert(key.clone(), id);
        self.stack.push(key);
        let (file, mut diags) = parse::parse_source(&text, id);
        let syntax_errors = diags.iter().filter(|d| d.is_error()).count();
        self.diags.append(&mut diags);
        let uses: Vec<ast::UseItem> = file
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Use(u) => Some(u.clone()),
                _ => None,
            })
            .collect();
        self.env.files.push((id, file));
        for u in uses {
            self.use_item(id, &u);
        }
        self.stack.pop();
        (id, syntax_errors)
    }

    fn use_item(&mut self, from: FileId, u: &ast::UseItem) {
        match &u.target {
            UseTarget::Module(m) => {
                let Some(text) = stdlib::module(m) else {
                    let help = suggest::help(m, stdlib::names(), "modules");
                    // Why: the names the intended module declares would each
                    // be "unknown" again; one bad `use` is one error.
                    let meant = suggest::closest(m, stdlib::names());
                    self.env.masked.extend(
                        std_names()
                            .iter()
                            .filter(|(_, module)| meant.is_none_or(|x| x == *module))
                            .map(|(n, _)| n.clone()),
                    );
                    self.diags.push(Diag::new(
                        from,
                        ResolveError::UnknownModule {
                            module: m.clone(),
                            span: u.target_span.into(),
                            help,
                        },
                    ));
                    return;
                };
                if self.loaded.contains_key(m.as_str()) {
                    return;
                }
                self.load(SourceFile {
                    name: m.clone(),
                    path: None,
                    text: Arc::from(text),
                    is_std: true,
                });
            }
            UseTarget::File(rel) => {
                let base = self.env.base_dir(from);
                let path = base.join(rel);
                let key = file_key(&path);
                if let Some(tree) = &self.env.tree {
                    if !Path::new(&key).starts_with(tree) {
                        // Why: reading (and echoing in a syntax error) a file
                        // outside the pipeline's tree leaks it into logs.
                        self.diags.push(Diag::new(
                            from,
                            ResolveError::UseOutsideTree {
                                path: rel.clone(),
                                span: u.target_span.into(),
                                help: format!(
                                    "`use \"...\"` may only load files inside `{}` (the directory of the checked file) and its subdirectories; copy the file there",
                                    self.env.tree_shown
                                ),
                            },
                        ));
                        return;
                    }
                }
                if let Some(pos) = self.stack.iter().position(|k| *k == key) {
                    let mut chain: Vec<String> =
                        self.stack[pos..].iter().map(|k| short_name(k)).collect();
                    chain.push(short_name(&key));
                    self.diags.push(Diag::new(
                        from,
                        ResolveError::UseCycle {
                            chain: chain.join(" → "),
                            span: u.target_span.into(),
                        },
                    ));
                    return;
                }
                if self.loaded.contains_key(&key) {
                    return;
                }
                if self.stack.len() >= MAX_USE_DEPTH {
                    self.diags.push(Diag::new(
                        from,
                        ResolveError::UseTooDeep {
                            limit: MAX_USE_DEPTH,
                            span: u.target_span.into(),
                        },
                    ));
                    return;
                }
                // Why decode, not a lossy read: a non-UTF-8 byte in a used
                // file is an error at its position, as in the checked file.
                let read = match self.overlay.get(Path::new(&key)) {
                    Some(text) => Ok((text.clone(), None)),
                    None => std::fs::read(&path).map(|bytes| {
                        let (text, not_utf8) = parse::decode(&bytes, from);
                        (Arc::from(text), not_utf8)
                    }),
                };
                match read {
                    Ok((text, not_utf8)) => {
                        let name = path.to_string_lossy().into_owned();
                        let (id, mut syntax_errors) = self.load(SourceFile {
                            name: name.clone(),
                            path: Some(path),
                            text,
                            is_std: false,
                        });
                        if let Some(mut d) = not_utf8 {
                            d.file = id;
                            self.diags.push(d);
                            syntax_errors += 1;
                        }
                        if syntax_errors > 0 {
                            self.diags.push(Diag::new(
                                from,
                                ResolveError::BrokenUse {
                                    path: name,
                                    count: syntax_errors,
                                    plural: if syntax_errors == 1 { "" } else { "s" },
                                    span: u.target_span.into(),
                                },
                            ));
                        }
                    }
                    Err(e) => self.diags.push(Diag::new(
                        from,
                        ResolveError::UnreadableFile {
                            path: path.to_string_lossy().into_owned(),
                            reason: e.to_string(),
                            span: u.target_span.into(),
                        },
                    )),
                }
            }
        }
    }

    /// Build the namespace; report duplicates and the root's duplicate `seed`.
    fn collect(&mut self) {
        let root = self.env.root;
        let mut seed_span: Option<Span> = None;
        let mut files = std::mem::take(&mut self.env.files);
        // Why: a user declaration that repeats a stdlib name is the duplicate
        // (and is reported where the user wrote it).
        files.sort_by_key(|(fid, _)| (!self.env.is_std(*fid), *fid));
        for (fid, file) in &files {
            for item in &file.items {
                match item {
                    Item::Decl(d) => {
                        if let Some((first_file, first)) = self.env.decls.get(&d.name.name) {
                            let first_span =
                                (*first_file == *fid).then_some(first.name.span.into());
                            let where_ = self
                                .env
                                .sources
                                .get(*first_file)
                                .map(|f| f.name.clone())
                                .unwrap_or_default();
                            let (fl, _) = self
                                .env
                                .sources
                                .line_col(*first_file, first.name.span.start);
                            let help = if self.env.is_std(*first_file) {
                                format!("`{}` is already declared in {where_}; pick another name, or `extends {}` to build on it", d.name.name, d.name.name)
                            } else {
                                format!("the first declaration is in {where_} line {fl}; names are shared by every kind and every file, so rename one")
                            };
                            self.diags.push(Diag::new(
                                *fid,
                                ResolveError::DuplicateDeclaration {
                                    name: d.name.name.clone(),
                                    span: d.name.span.into(),
                                    first: first_span,
                                    help,
                                },
                            ));
                        } else {
                            self.env
                                .decls
                                .insert(d.name.name.clone(), (*fid, d.clone()));
                        }
                    }
                    Item::Seed(s) if *fid == root => {
                        if let Some(first) = seed_span {
                            self.diags.push(Diag::new(
                                *fid,
                                CheckError::DuplicateField {
                                    field: "seed".into(),
                                    span: s.span.into(),
                                    first: Some(first.into()),
                                },
                            ));
                        } else {
                            seed_span = Some(s.span);
                            self.env.seed = Some(s.value.clone());
                        }
                    }
                    _ => {}
                }
            }
        }
        self.env.files = files;
    }

    fn merge_all(&mut self) {
        let names: Vec<String> = self.env.decls.keys().cloned().collect();
        let mut depth: HashMap<String, usize> = HashMap::new();
        for n in names {
            self.merge_chain(&n, &mut depth);
        }
    }

    /// Merge `name` and the ancestors it needs, parents first, without
    /// recursion (a generated chain of thousands of `extends` must not
    /// exhaust the stack).
    fn merge_chain(&mut self, name: &str, depth: &mut HashMap<String, usize>) {
        if self.env.merged.contains_key(name) || !self.env.decls.contains_key(name) {
            return;
        }
        // `chain[k]` extends `chain[k + 1]`; it stops at a merged, unknown,
        // wrong-kind or repeated (cycle) parent, which `merge_one` reports.
        let mut chain: Vec<String> = vec![name.to_string()];
        let mut on_chain: BTreeSet<String> = BTreeSet::from([name.to_string()]);
        while let Some((_, decl)) = chain.last().and_then(|n| self.env.decls.get(n)) {
            let Some(ext) = &decl.extends else {
                break;
            };
            let parent_ok = self
                .env
                .decls
                .get(&ext.name)
                .is_some_and(|(_, p)| p.kind == decl.kind);
            if !parent_ok || self.env.merged.contains_key(&ext.name) || on_chain.contains(&ext.name)
            {
                break;
            }
            on_chain.insert(ext.name.clone());
            chain.push(ext.name.clone());
        }
        for i in (0..chain.len()).rev() {
            self.merge_one(&chain[..=i], depth);
        }
    }

    /// Merge the last declaration of `chain` (each entry extends the next
    /// one); its parent is merged already unless the `extends` closes a cycle.
    fn merge_one(&mut self, chain: &[String], depth: &mut HashMap<String, usize>) {
        let Some(name) = chain.last() else {
            return;
        };
        let Some((fid, decl)) = self.env.decls.get(name).cloned() else {
            return;
        };
        let mut fields: Vec<MergedField> = Vec::new();
        let mut base_ok = true;
        let mut own_depth = 0;
        if let Some(ext) = &decl.extends {
            self.env.extended.insert(ext.name.clone());
            match self.env.decls.get(&ext.name).cloned() {
                None => {
                    base_ok = false;
                    if !self.env.masked.contains(&ext.name) {
                        let help = self.name_help(&ext.name, Some(decl.kind));
                        self.diags.push(Diag::new(
                            fid,
                            ResolveError::UnknownName {
                                name: ext.name.clone(),
                                expected: decl.kind.keyword().to_string(),
                                span: ext.span.into(),
                                help,
                            },
                        ));
                    }
                }
                Some((pfid, parent)) if parent.kind != decl.kind => {
                    base_ok = false;
                    self.diags.push(Diag::new(
                        fid,
                        ResolveError::WrongKind {
                            name: ext.name.clone(),
                            expected: decl.kind.keyword().into(),
                            found: parent.kind.keyword().into(),
                            span: ext.span.into(),
                            decl: (pfid == fid).then_some(parent.name.span.into()),
                            help: format!(
                                "a {} can only extend another {}",
                                decl.kind.keyword(),
                                decl.kind.keyword()
                            ),
                        },
                    ));
                }
                Some(_) => match self.env.merged.get(&ext.name) {
                    Some(p) => {
                        base_ok &= !p.incomplete;
                        fields = p.fields.clone();
                        own_depth = depth.get(&ext.name).copied().unwrap_or(0) + 1;
                        if own_depth == MAX_EXTENDS_DEPTH + 1 {
                            base_ok = false;
                            self.diags.push(Diag::new(
                                fid,
                                ResolveError::ExtendsTooDeep {
                                    name: decl.name.name.clone(),
                                    limit: MAX_EXTENDS_DEPTH,
                                    span: ext.span.into(),
                                },
                            ));
                        }
                    }
                    None => {
                        // Not merged yet, so the parent is further up this
                        // chain: the `extends` closes a cycle.
                        base_ok = false;
                        let pos = chain.iter().position(|v| *v == ext.name).unwrap_or(0);
                        let mut cycle: Vec<String> = chain[pos..].to_vec();
                        cycle.push(ext.name.clone());
                        self.diags.push(Diag::new(
                            fid,
                            ResolveError::ExtendsCycle {
                                chain: cycle.join(" → "),
                                span: ext.span.into(),
                            },
                        ));
                    }
                },
            }
        }
        depth.insert(name.clone(), own_depth);
        let mut local: HashMap<String, Span> = HashMap::new();
        let mut override_failed = false;
        for f in &decl.fields {
            if f.path.len() == 1 {
                let n = &f.path[0];
                if let Some(first) = local.get(&n.name) {
                    self.diags.push(Diag::new(
                        fid,
                        CheckError::DuplicateField {
                            field: n.name.clone(),
                            span: n.span.into(),
                            first: Some((*first).into()),
                        },
                    ));
                    continue;
                }
                local.insert(n.name.clone(), n.span);
                set_field(&mut fields, n.clone(), f.value.clone());
            } else if let Err(help) = apply_override(&mut fields, &f.path, f.value.clone()) {
                let report = base_ok;
                override_failed = true;
                if report {
                    self.diags.push(Diag::new(
                        fid,
                        ResolveError::OverrideWithoutBase {
                            path: f.path_string(),
                            decl: decl.name.name.clone(),
                            span: f.path_span().into(),
                            help,
                        },
                    ));
                }
            }
        }
        let m = Merged {
            kind: decl.kind,
            name: decl.name.clone(),
            extends: decl.extends.clone(),
            fields,
            doc: decl.doc.clone(),
            span: decl.span,
            is_std: self.env.is_std(fid),
            incomplete: !base_ok || override_failed,
            depth: own_depth,
        };
        self.env.merged.insert(name.clone(), m);
    }

    /// Help for an unknown name: a near name of the right kind, or the stdlib
    /// module that declares it.
    fn name_help(&self, name: &str, kind: Option<DeclKind>) -> String {
        name_help(self.env, name, kind)
    }

    fn apply_sets(&mut self, sets: &[String]) {
        for (i, arg) in sets.iter().enumerate() {
            let fid = self.env.sources.add(SourceFile {
                name: format!("--set #{}", i + 1),
                path: None,
                text: Arc::from(arg.as_str()),
                is_std: false,
            });
            if !arg.contains('=') {
                // Why: the grammar's "expected `=`" does not say what to write.
                let name = arg.trim();
                self.diags.push(Diag::new(
                    fid,
                    CheckError::BadOverride {
                        arg: arg.clone(),
                        reason: "no `=VALUE`".into(),
                        span: Span::new(fid, 0, arg.len()).into(),
                        help: format!(
                            "write the path, `=` and the new value with no spaces: `--set {}=VALUE`, e.g. `--set recipe.lr=3e-4`",
                            if name.is_empty() { "PATH" } else { name }
                        ),
                    },
                ));
                continue;
            }
            let (path, value) = match parse::parse_set(arg, fid) {
                Ok(r) => r,
                Err(mut d) => {
                    self.diags.append(&mut d);
                    continue;
                }
            };
            let bad = |reason: &str, span: Span, help: String| {
                Diag::new(
                    fid,
                    CheckError::BadOverride {
                        arg: arg.clone(),
                        reason: reason.into(),
                        span: span.into(),
                        help,
                    },
                )
            };
            if path.len() == 1 && path[0].name == "seed" {
                self.env.seed = Some(value);
                continue;
            }
            let (name, rest) = match DeclKind::from_keyword(&path[0].name) {
                Some(kind) if path.len() >= 3 => {
                    if let Some(m) = self.env.merged.get(&path[1].name) {
                        if m.kind != kind {
                            let help = format!(
                                "`{}` is a {}; write `{}.{}...`",
                                path[1].name,
                                m.kind.keyword(),
                                m.kind.keyword(),
                                path[1].name
                            );
                            self.diags
                                .push(bad("wrong declaration kind", path[0].span, help));
                            continue;
                        }
                    }
                    (&path[1], &path[2..])
                }
                _ => (&path[0], &path[1..]),
            };
            let Some(m) = self.env.merged.get_mut(&name.name) else {
                let help = name_help(self.env, &name.name, None);
                self.diags.push(bad("no such declaration", name.span, help));
                continue;
            };
            if rest.is_empty() {
                let help = format!("name a field: `--set {}.FIELD=VALUE`", name.name);
                self.diags.push(bad("no field named", name.span, help));
                continue;
            }
            if rest.len() == 1 {
                set_field(&mut m.fields, rest[0].clone(), value);
            } else if let Err(help) = apply_override(&mut m.fields, rest, value) {
                self.diags
                    .push(bad("nothing to override", rest[0].span, help));
            }
        }
    }
}

/// Help text for an unknown declaration name.
pub fn name_help(env: &Env, name: &str, kind: Option<DeclKind>) -> String {
    let candidates: Vec<&str> = env
        .merged
        .iter()
        .chain(std::iter::empty())
        .filter(|(_, m)| kind.is_none_or(|k| m.kind == k))
        .map(|(n, _)| n.as_str())
        .collect();
    let cands: Vec<&str> = if candidates.is_empty() {
        env.decls
            .iter()
            .filter(|(_, (_, d))| kind.is_none_or(|k| d.kind == k))
            .map(|(n, _)| n.as_str())
            .collect()
    } else {
        candidates
    };
    if let Some(c) = suggest::closest(name, cands.iter().copied()) {
        return format!("did you mean `{c}`?");
    }
    if let Some((_, module)) = std_names().iter().find(|(n, _)| n == name) {
        return format!(
            "`{name}` is declared in {module}: add `use {module}` at the top of the file"
        );
    }
    suggest::help(
        name,
        cands.iter().copied(),
        &format!("declared {}s", kind.map_or("name", |k| k.keyword())),
    )
}

/// (declaration name, module) of every stdlib declaration, parsed once.
fn std_names() -> &'static [(String, &'static str)] {
    static NAMES: std::sync::OnceLock<Vec<(String, &'static str)>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let mut v = Vec::new();
        for (module, text) in stdlib::MODULES {
            let (f, _) = parse::parse_source(text, 0);
            for item in &f.items {
                if let Item::Decl(d) = item {
                    v.push((d.name.name.clone(), *module));
                }
            }
        }
        v
    })
}

fn short_name(key: &str) -> String {
    Path::new(key)
        .file_name()
        .map_or(key.to_string(), |n| n.to_string_lossy().into_owned())
}

/// Set (or add) a top-level field.
fn set_field(fields: &mut Vec<MergedField>, name: Ident, value: Expr) {
    if let Some(f) = fields.iter_mut().find(|f| f.name.name == name.name) {
        f.name = name;
        f.value = value;
    } else {
        fields.push(MergedField { name, value });
    }
}

/// Apply a dotted override `a.b.c = value` to inherited fields. `Err(help)`
/// when there is nothing at `a` (or below) to override.
fn apply_override(fields: &mut [MergedField], path: &[Ident], value: Expr) -> Result<(), String> {
    let Some(top) = fields.iter_mut().find(|f| f.name.name == path[0].name) else {
        return Err(format!(
            "`{}` is not set here or inherited, so `{}` has nothing to change; set the whole `{}` instead",
            path[0].name,
            path.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join("."),
            path[0].name
        ));
    };
    set_in(&mut top.value, &path[1..], value)
}

fn set_in(expr: &mut Expr, path: &[Ident], value: Expr) -> Result<(), String> {
    let Some(seg) = path.first() else {
        *expr = value;
        return Ok(());
    };
    if let ExprKind::Ref(id) = &expr.kind {
        // `schedule = cosine` then `schedule.min_lr_ratio = 0.1`: a bare name
        // is a call without arguments.
        expr.kind = ExprKind::Call {
            name: id.clone(),
            args: Vec::new(),
        };
    }
    match &mut expr.kind {
        ExprKind::Call { args, .. } => {
            if let Some(a) = args
                .iter_mut()
                .find(|a| a.name.as_ref().is_some_and(|n| n.name == seg.name))
            {
                return set_in(&mut a.value, &path[1..], value);
            }
            if path.len() == 1 {
                let span = seg.span.join(value.span);
                args.push(Arg {
                    name: Some(seg.clone()),
                    value,
                    span,
                });
                return Ok(());
            }
            Err(format!("`{}` is not an argument there", seg.name))
        }
        ExprKind::Record(fields) => {
            if let Some(f) = fields
                .iter_mut()
                .find(|f| f.path.len() == 1 && f.path[0].name == seg.name)
            {
                return set_in(&mut f.value, &path[1..], value);
            }
            if path.len() == 1 {
                let span = seg.span.join(value.span);
                fields.push(ast::Field {
                    path: vec![seg.clone()],
                    value,
                    doc: None,
                    span,
                });
                return Ok(());
            }
            Err(format!("`{}` is not a field there", seg.name))
        }
        other => Err(format!(
            "the value being overridden is {}, which has no field `{}`",
            other.describe(),
            seg.name
        )),
    }
}

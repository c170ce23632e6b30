//! The errors of each front-end phase: one enum per phase, each variant with
//! a stable code `exp::<phase>::<name>`, a primary label and a help line.
//!
//! Spans here are positions in one file; [`super::diag::Diag`] pairs an error
//! with the file it points into. Secondary labels that would point into
//! another file are `None` and the help says where instead.

use miette::{Diagnostic, SourceSpan};
use thiserror::Error;

/// Syntax and size problems found before any name is looked at.
#[derive(Debug, Error, Diagnostic)]
pub enum ParseError {
    #[error("syntax error: expected {expected}")]
    #[diagnostic(code(exp::parse::syntax), help("{help}"))]
    Syntax {
        expected: String,
        #[label("{found}")]
        span: SourceSpan,
        found: String,
        help: String,
    },
    #[error("brackets are nested deeper than {limit} levels")]
    #[diagnostic(
        code(exp::parse::too_deep),
        help("a pipeline never needs this much nesting; look for a runaway `[`, `(` or `{{` (or an unclosed one) here")
    )]
    TooDeep {
        limit: usize,
        #[label("level {limit} is exceeded here")]
        span: SourceSpan,
    },
    #[error("the file is {size} bytes, more than the {limit}-byte limit")]
    #[diagnostic(
        code(exp::parse::too_large),
        help("split the pipeline into several files joined with `use \"other.exp\"`; nothing that large is a hand-written pipeline")
    )]
    TooLarge {
        size: usize,
        limit: usize,
        #[label("file starts here")]
        span: SourceSpan,
    },
    #[error("number `{text}` is out of range")]
    #[diagnostic(
        code(exp::parse::bad_number),
        help("integers must fit in a signed 64-bit integer and floats must be finite")
    )]
    BadNumber {
        text: String,
        #[label("too large")]
        span: SourceSpan,
    },
    #[error("comments start with `//`")]
    #[diagnostic(
        code(exp::parse::hash_comment),
        help(
            "write `// ...` (or `/// ...` for a doc comment); `#` starts nothing in a `.exp` file"
        )
    )]
    HashComment {
        #[label("`#` is not a comment")]
        span: SourceSpan,
    },
    #[error("the file is not valid UTF-8")]
    #[diagnostic(
        code(exp::parse::not_utf8),
        help("save the file as UTF-8; the byte here is not part of any UTF-8 character")
    )]
    NotUtf8 {
        #[label("invalid byte")]
        span: SourceSpan,
    },
}

/// Problems connecting names: `use`, `extends`, references, duplicates, cycles.
#[derive(Debug, Error, Diagnostic)]
pub enum ResolveError {
    #[error("unknown {expected} `{name}`")]
    #[diagnostic(code(exp::resolve::unknown_name), help("{help}"))]
    UnknownName {
        name: String,
        expected: String,
        #[label("not declared")]
        span: SourceSpan,
        help: String,
    },
    #[error("unknown standard-library module `{module}`")]
    #[diagnostic(code(exp::resolve::unknown_module), help("{help}"))]
    UnknownModule {
        module: String,
        #[label("no such module")]
        span: SourceSpan,
        help: String,
    },
    #[error("cannot read `{path}`: {reason}")]
    #[diagnostic(
        code(exp::resolve::unreadable_file),
        help("`use \"...\"` paths are relative to the file that contains the `use`")
    )]
    UnreadableFile {
        path: String,
        reason: String,
        #[label("used here")]
        span: SourceSpan,
    },
    #[error("`{name}` is declared twice")]
    #[diagnostic(code(exp::resolve::duplicate_declaration), help("{help}"))]
    DuplicateDeclaration {
        name: String,
        #[label("declared again here")]
        span: SourceSpan,
        #[label("first declared here")]
        first: Option<SourceSpan>,
        help: String,
    },
    #[error("`extends` cycle: {chain}")]
    #[diagnostic(
        code(exp::resolve::extends_cycle),
        help(
            "a declaration cannot inherit from itself; break the cycle by removing one `extends`"
        )
    )]
    ExtendsCycle {
        chain: String,
        #[label("this `extends` closes the cycle")]
        span: SourceSpan,
    },
    #[error("`use \"{path}\"` leaves the pipeline's directory")]
    #[diagnostic(code(exp::resolve::use_outside_tree), help("{help}"))]
    UseOutsideTree {
        path: String,
        #[label("outside the pipeline's directory; not read")]
        span: SourceSpan,
        help: String,
    },
    #[error("`{path}` has {count} syntax error{plural}")]
    #[diagnostic(
        code(exp::resolve::broken_use),
        help("its errors are reported in that file; nothing it declares is in scope until they are fixed")
    )]
    BrokenUse {
        path: String,
        count: usize,
        plural: &'static str,
        #[label("used here")]
        span: SourceSpan,
    },
    #[error("`use` files are nested more than {limit} deep")]
    #[diagnostic(
        code(exp::resolve::use_too_deep),
        help("a chain of files each `use`-ing the next may be at most {limit} files long (the checked file counts); `use` the shared files from one place instead")
    )]
    UseTooDeep {
        limit: usize,
        #[label("the chain passes {limit} files here")]
        span: SourceSpan,
    },
    #[error("`{name}` stands on more than {limit} `extends`")]
    #[diagnostic(
        code(exp::resolve::extends_too_deep),
        help("a declaration may inherit through at most {limit} `extends`; extend a declaration nearer the top of the chain, or set the fields directly")
    )]
    ExtendsTooDeep {
        name: String,
        limit: usize,
        #[label("past {limit} `extends` here")]
        span: SourceSpan,
    },
    #[error("`use` cycle: {chain}")]
    #[diagnostic(code(exp::resolve::use_cycle), help("files cannot use each other in a circle; move the shared declarations into a third file that both use"))]
    UseCycle {
        chain: String,
        #[label("this `use` closes the cycle")]
        span: SourceSpan,
    },
    #[error("`{name}` is a {found}, but a {expected} is needed here")]
    #[diagnostic(code(exp::resolve::wrong_kind), help("{help}"))]
    WrongKind {
        name: String,
        expected: String,
        found: String,
        #[label("expected a {expected}")]
        span: SourceSpan,
        #[label("declared as a {found} here")]
        decl: Option<SourceSpan>,
        help: String,
    },
    #[error("`{path}` overrides a field that `{decl}` does not have")]
    #[diagnostic(code(exp::resolve::override_without_base), help("{help}"))]
    OverrideWithoutBase {
        path: String,
        decl: String,
        #[label("nothing to override")]
        span: SourceSpan,
        help: String,
    },
}

/// Problems with values: fields, types, units, ranges, sweeps, `--set`.
#[derive(Debug, Error, Diagnostic)]
pub enum CheckError {
    #[error("unknown field `{field}` in {context}")]
    #[diagnostic(code(exp::check::unknown_field), help("{help}"))]
    UnknownField {
        field: String,
        context: String,
        #[label("not a field of {context}")]
        span: SourceSpan,
        help: String,
    },
    #[error("field `{field}` is set twice")]
    #[diagnostic(
        code(exp::check::duplicate_field),
        help("keep one of them; to change an inherited value, use `extends` and set it once")
    )]
    DuplicateField {
        field: String,
        #[label("set again here")]
        span: SourceSpan,
        #[label("first set here")]
        first: Option<SourceSpan>,
    },
    #[error("{context} is missing the required field `{field}`")]
    #[diagnostic(code(exp::check::missing_field), help("{help}"))]
    MissingField {
        field: String,
        context: String,
        #[label("`{field}` is not set")]
        span: SourceSpan,
        help: String,
    },
    #[error("`{what}` must be {expected}, found {found}")]
    #[diagnostic(code(exp::check::type_mismatch), help("{help}"))]
    TypeMismatch {
        what: String,
        expected: String,
        found: String,
        #[label("expected {expected}")]
        span: SourceSpan,
        help: String,
    },
    #[error("`{what}` needs {expected}, not `{unit}`")]
    #[diagnostic(code(exp::check::wrong_unit), help("{help}"))]
    WrongUnit {
        what: String,
        unit: String,
        expected: String,
        #[label("wrong unit")]
        span: SourceSpan,
        help: String,
    },
    #[error("`{what}` needs a unit")]
    #[diagnostic(code(exp::check::missing_unit), help("{help}"))]
    MissingUnit {
        what: String,
        #[label("a bare number here")]
        span: SourceSpan,
        help: String,
    },
    #[error("`{what}` = {value} is out of range: {range}")]
    #[diagnostic(code(exp::check::out_of_range), help("{help}"))]
    OutOfRange {
        what: String,
        value: String,
        range: String,
        #[label("out of range")]
        span: SourceSpan,
        help: String,
    },
    #[error("unknown architecture `{arch}`")]
    #[diagnostic(code(exp::check::unknown_arch), help("{help}"))]
    UnknownArch {
        arch: String,
        #[label("not in the model zoo")]
        span: SourceSpan,
        help: String,
    },
    #[error("`{path}` is a pickle checkpoint; only safetensors weights are loaded")]
    #[diagnostic(
        code(exp::check::pickle_weights),
        help("pickle files can run arbitrary code when loaded. Convert once in Python: `from safetensors.torch import save_file; save_file(torch.load(\"{path}\", map_location=\"cpu\"), \"model.safetensors\")` (use the checkpoint's `state_dict` if it holds more), then point `pretrained` at the .safetensors file")
    )]
    PickleWeights {
        path: String,
        #[label("pickle file")]
        span: SourceSpan,
    },
    #[error("unknown {what} `{value}`")]
    #[diagnostic(code(exp::check::unknown_variant), help("{help}"))]
    UnknownVariant {
        what: String,
        value: String,
        #[label("not a known {what}")]
        span: SourceSpan,
        help: String,
    },
    #[error("{problem} in `{call}(...)`")]
    #[diagnostic(code(exp::check::unknown_argument), help("{help}"))]
    UnknownArgument {
        problem: String,
        call: String,
        #[label("{problem}")]
        span: SourceSpan,
        help: String,
    },
    #[error("sweep axis `{field}` is an empty list")]
    #[diagnostic(
        code(exp::check::empty_axis),
        help("list at least one value, or give a single value instead of a list")
    )]
    EmptyAxis {
        field: String,
        #[label("no values")]
        span: SourceSpan,
    },
    #[error("`{value}` appears twice in sweep axis `{field}`")]
    #[diagnostic(
        code(exp::check::duplicate_axis_value),
        help("each value of an axis must be different, or two cells would get the same id")
    )]
    DuplicateAxisValue {
        value: String,
        field: String,
        #[label("again here")]
        span: SourceSpan,
        #[label("first here")]
        first: SourceSpan,
    },
    #[error("the baseline is not a cell of sweep `{sweep}`")]
    #[diagnostic(code(exp::check::baseline_not_a_cell), help("{help}"))]
    BaselineNotACell {
        sweep: String,
        #[label("{reason}")]
        span: SourceSpan,
        reason: String,
        help: String,
    },
    #[error("invalid `exclude` rule in sweep `{sweep}`: {reason}")]
    #[diagnostic(code(exp::check::bad_exclude), help("{help}"))]
    BadExclude {
        sweep: String,
        reason: String,
        #[label("{reason}")]
        span: SourceSpan,
        help: String,
    },
    #[error("invalid `compare` pair in sweep `{sweep}`: {reason}")]
    #[diagnostic(code(exp::check::bad_compare), help("{help}"))]
    BadCompare {
        sweep: String,
        reason: String,
        #[label("{reason}")]
        span: SourceSpan,
        help: String,
    },
    #[error("sweep `{sweep}` would have {cells} cells, more than the {limit} allowed in one file")]
    #[diagnostic(code(exp::check::too_many_cells), help("{help}"))]
    TooManyCells {
        sweep: String,
        cells: String,
        limit: usize,
        #[label("{cells} cells")]
        span: SourceSpan,
        help: String,
    },
    #[error("sweep `{sweep}` has no cells left")]
    #[diagnostic(
        code(exp::check::no_cells),
        help("the `exclude` rules remove every combination; loosen them")
    )]
    NoCells {
        sweep: String,
        #[label("every cell of this sweep is excluded")]
        span: SourceSpan,
    },
    #[error("invalid `--set {arg}`: {reason}")]
    #[diagnostic(code(exp::check::bad_override), help("{help}"))]
    BadOverride {
        arg: String,
        reason: String,
        #[label("{reason}")]
        span: SourceSpan,
        help: String,
    },
    #[error("{message}")]
    #[diagnostic(code(exp::check::conflicting_fields), help("{help}"))]
    ConflictingFields {
        message: String,
        #[label("this one")]
        span: SourceSpan,
        #[label("conflicts with this one")]
        other: Option<SourceSpan>,
        help: String,
    },
    #[error("data `{data}` cannot be read for `--data` checks: {reason}")]
    #[diagnostic(
        code(exp::check::data_unreadable),
        help(
            "check that the manifest / root paths exist and are readable, or run without `--data`"
        )
    )]
    DataUnreadable {
        data: String,
        reason: String,
        #[label("this data set")]
        span: SourceSpan,
    },
}

/// Documentation of every error code (`exp explain CODE`, docs/diagnostics.md).
pub const ERROR_DOCS: &[(&str, &str)] = &[
    ("exp::parse::syntax", "The text does not follow the grammar at this point: the label shows what was found, the message what would fit. Each top-level declaration is parsed on its own, so one syntax error does not hide the errors of later declarations."),
    ("exp::parse::too_deep", "Brackets `(`, `[`, `{` are nested more than 64 levels deep. No pipeline needs that; it is usually an unclosed bracket or generated input. The limit keeps hostile input from exhausting the stack."),
    ("exp::parse::too_large", "The file is larger than 2 MiB. Split it into several files joined with `use \"other.exp\"`."),
    ("exp::parse::bad_number", "An integer does not fit in a signed 64-bit integer, or a float is infinite."),
    ("exp::parse::hash_comment", "A line has a `#` comment, as in Python or TOML. Comments in `.exp` files start with `//` (`///` for doc comments). The rest of the line is skipped so the declarations around it are still checked."),
    ("exp::parse::not_utf8", "The file holds a byte that is not valid UTF-8 (often a file saved as Latin-1). The label points at the first such byte; `exp check` and `exp fmt` report it at the same place. Save the file as UTF-8."),
    ("exp::resolve::unknown_name", "A name (in `extends`, or a sweep field) is not declared in this file, in a file it `use`s, or in a `use`d standard-library module. The help suggests a near name, or the `use std....` line that declares it."),
    ("exp::resolve::unknown_module", "`use std.X` names a module the standard library does not have (std.backbones, std.recipes, std.scores)."),
    ("exp::resolve::unreadable_file", "`use \"file.exp\"` names a file that cannot be read. Paths are relative to the file holding the `use`."),
    ("exp::resolve::duplicate_declaration", "Two declarations have the same name. Names are shared by all kinds and all files (including `use`d stdlib modules): rename one, or `extends` the existing one."),
    ("exp::resolve::extends_cycle", "Declarations extend each other in a circle (`a extends b`, `b extends a`)."),
    ("exp::resolve::use_outside_tree", "`use \"path\"` names a file outside the directory of the checked file (and its subdirectories), e.g. `use \"../../etc/passwd\"` or a symbolic link that leads out. The file is not read, so none of its bytes reach the output. Copy the shared file into the pipeline's directory."),
    ("exp::resolve::broken_use", "A file loaded with `use \"...\"` has syntax errors. They are reported in that file; this error points at the `use` line that loaded it."),
    ("exp::resolve::use_too_deep", "Files `use` each other in a chain more than 64 files long (the checked file counts). The limit keeps generated input from exhausting the stack; `use` the shared files from one place instead."),
    ("exp::resolve::extends_too_deep", "A declaration inherits through more than 64 `extends` (`r65 extends r64 extends ... r0`). The error is at the first declaration past the limit; declarations that extend it are not reported again. Extend a declaration nearer the top of the chain."),
    ("exp::resolve::use_cycle", "Files `use` each other in a circle. Move the shared declarations into a third file."),
    ("exp::resolve::wrong_kind", "A name refers to a declaration of another kind: `recipe = resnet50`, or a recipe that `extends` a budget."),
    ("exp::resolve::override_without_base", "A dotted override `a.b = v` changes part of a field that is neither inherited nor set earlier in the declaration, or the part it names does not exist. Set the whole field instead."),
    ("exp::check::unknown_field", "A field (or record key) the declaration kind does not have; the help suggests the nearest valid one (`weight_decy` → `weight_decay`)."),
    ("exp::check::duplicate_field", "The same field, argument or record key is given twice in one place."),
    ("exp::check::missing_field", "A required field or argument is absent: `arch` of a backbone, `optimizer` of a recipe, `finetune` of a budget, `lr` of an optimizer, the axes of a sweep, and the source of a data set."),
    ("exp::check::type_mismatch", "A value has the wrong type: a string where a number is needed, a number where a list is needed..."),
    ("exp::check::wrong_unit", "A quantity has a unit of the wrong dimension (`warmup = 3 deg`) or an unknown unit, or a plain number field got a unit."),
    ("exp::check::missing_unit", "A quantity field got a bare number: write its unit (`4 epochs`, `200 steps`, `24_000 samples`, `2 h`)."),
    ("exp::check::out_of_range", "A value is outside its valid range: lr ≤ 0, dropout ≥ 1, negative epochs, cache_size < image_size..."),
    ("exp::check::unknown_arch", "`arch` names no architecture of the model zoo; the help suggests the nearest (`convnext_v2_tiny` → `convnextv2_tiny`)."),
    ("exp::check::pickle_weights", "`pretrained` points at a pickle checkpoint (.pt, .pth, .bin, .ckpt). Pickle files can execute code when loaded; only safetensors are read. The help shows the one-line conversion."),
    ("exp::check::unknown_variant", "A word that must be one of a fixed set is not: a schedule, optimizer, augmentation, metric, monitor, precision or policy."),
    ("exp::check::unknown_argument", "A call has an argument it does not take, or too many positional arguments."),
    ("exp::check::empty_axis", "A sweep axis is an empty list, so the sweep would have no cells."),
    ("exp::check::duplicate_axis_value", "The same value appears twice in a sweep axis; two cells would get the same id."),
    ("exp::check::baseline_not_a_cell", "The sweep's `baseline` does not identify one of its cells: it names a value that is not on an axis, omits an axis, or names an excluded combination. A baseline from another sweep (`{ sweep = other, ... }`) must name a cell of that sweep with the same data and score split."),
    ("exp::check::bad_exclude", "An `exclude` rule names a field that is not a sweep field, or a value that is not on that axis (so it would exclude nothing)."),
    ("exp::check::bad_compare", "A side of a `compare` pair does not identify one configuration of the sweep: it names a field or value that is not on an axis, omits a list axis, or names an excluded combination."),
    ("exp::check::too_many_cells", "The sweeps of one file would have more than 10,000 cells in all (the product of the axis sizes, counted before `exclude` rules and before expanding anything). Each cell is a training run; split the sweep, or sweep fewer values per axis."),
    ("exp::check::no_cells", "The `exclude` rules remove every cell of the sweep."),
    ("exp::check::bad_override", "A `--set PATH=VALUE` names no declaration or field, has the wrong shape, or has no `=VALUE` (`--set recipe.lr` instead of `--set recipe.lr=3e-4`). Paths are `kind.name.field`, `name.field` or `seed`."),
    ("exp::check::conflicting_fields", "Two fields that exclude each other are both set: `manifest` and `source`, `manifest` and `layout = image_folder`, `seed` and `seeds`."),
    ("exp::check::data_unreadable", "With `--data`, a data set could not be opened for inspection (missing manifest or root, unreadable file, or the data module reported an error)."),
];

//! `exp-lang`: the `.exp` language core, free of libtorch and of the command
//! line.
//!
//! source ─► [`lang`] (parse, resolve, check) ─► [`lint`] ─► [`plan`] (cells,
//! stage keys, the stage store), driven by [`driver`]; [`editor`] formats and
//! serves the language server from the same tree. [`spec`] is the typed model
//! the runtime executes, [`catalog`] the architecture facts, [`dataset`] what
//! identifies a data set's content (what stage keys are built from).

pub mod atomic_file;
pub mod catalog;
pub mod dataset;
pub mod driver;
pub mod editor;
pub mod lang;
pub mod lint;
pub mod options;
pub mod plan;
pub mod process;
pub mod runtime_codes;
pub mod seeds;
pub mod spec;

pub use driver::{check_path, check_text, load, CheckOptions, Outcome};

/// Version saved with every result and part of every stage key.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

//! `exp`: declare, check, run and compare image-backbone bake-offs.
//!
//! The language core is the `exp-lang` crate (parse, resolve, check, lint,
//! plan, fmt, lsp; no libtorch). This crate is the runtime below it:
//! [`data`], [`models`], [`train`], [`exec`] (stages, local and Slurm),
//! [`score`] and [`report`], plus [`preflight`], the checks that open the data
//! and weights on disk (`exp check --data`). The command line lives in
//! `src/cmd/` and is compiled into the binaries only; no module here sees it.
//!
//! Why the re-exports: runtime modules name `crate::spec`, `crate::lang`...
//! as one program; the facts still have one home, in `exp-lang`.

#![cfg(feature = "runtime")]

pub use exp_lang::{
    atomic_file, catalog, dataset, driver, editor, lang, lint, options, plan, process,
    runtime_codes, seeds, spec, VERSION,
};

pub mod data;
pub mod dist;
pub mod exec;
pub mod models;
pub mod preflight;
pub mod report;
pub mod score;
pub mod train;

//! `exp`: declare, check, run and compare image-backbone bake-offs.
//!
//! The program is a straight pipeline, one stage per module:
//! source ─► [`lang`] (parse, resolve, check) ─► [`lint`] ─► [`plan`] (cells,
//! stage graph) ─► [`exec`] (stages on [`data`], [`models`], [`train`],
//! [`score`]) ─► [`report`]. [`spec`] is the typed model they share.

pub mod atomic_file;
pub mod cli;
pub mod data;
pub mod editor;
pub mod exec;
pub mod lang;
pub mod lint;
pub mod models;
pub mod plan;
pub mod process;
pub mod report;
pub mod runtime_codes;
pub mod score;
pub mod spec;
pub mod train;

/// Version saved with every result.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

//! The integration tests: one binary, one module per subsystem file.
//!
//! Why one binary: each test executable links libtorch (about 300 MB with
//! line tables), so about thirty of them made CI link for minutes and fill
//! gigabytes; one binary links once. Tests of the language core alone live in
//! `crates/exp-lang` and run without torch (`cargo test -p exp-lang`).
//!
//! Tests share one process, so process-wide state needs care: libtorch's
//! global random generator is seeded by model construction, hence
//! [`global_rng`]; environment variables are never set here (pass paths
//! explicitly instead).

#![allow(clippy::unwrap_used)] // Why: tests fail loudly on unexpected errors.

mod data_support;
mod run_support;

mod data_cache;
mod data_cli;
mod data_errors;
mod data_loader;
mod data_sources;
mod data_trust;
mod editor_fmt;
mod editor_grammars;
mod editor_lsp;
mod lang_fixtures;
mod lang_pipelines;
mod lang_recovery;
mod models_embed;
mod models_gpu;
mod models_head;
mod models_keys;
mod models_parity;
mod models_weights;
mod report_html;
mod run_ddp;
mod run_e2e;
mod run_score;
mod run_signals;
mod run_tensorboard;
mod score_reference;
mod score_simulation;
mod scripts_env;
mod slurm_cluster;
mod sweep_cache;
mod train_loop;
mod train_units;

/// Held by every test that seeds libtorch's global random generator and then
/// draws from it (model initialisation, training), so two such tests never
/// interleave their draws.
pub fn global_rng() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

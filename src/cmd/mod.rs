//! The command line: argument parsing (clap, here only), one file per
//! subcommand turning its arguments into the plain option structs of
//! `exp_lang::options`, dispatch, the one place errors are rendered, and exit
//! codes.
//!
//! Exit codes: 0 success (warnings allowed), 1 the input has errors (or cells
//! failed), 2 usage or IO failure.
//!
//! This module is compiled into both binaries and into neither library. The
//! front binary `exp` runs `check`, `fmt`, `lsp`, `explain` and `plan`
//! itself, without libtorch, and hands every other command to the runtime
//! binary `exp-runtime` installed next to it ([`forward`]). Why two binaries:
//! loading libtorch costs ~0.3 s and ~450 MB before the first line is
//! checked, which a linter in CI or an editor must not pay.

pub mod check;
pub mod embed;
pub mod explain;
pub mod fmt;
pub mod lsp;
pub mod plan;
pub mod report;
pub mod run;
pub mod score;
pub mod status;

use clap::{Parser, Subcommand};
use exp_lang::options::{EmbedOptions, RunOptions, ScoreOptions, StatusOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "exp",
    version,
    about = "Declare, check, run and compare image-backbone bake-offs"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check files for errors and lints without running anything.
    Check(check::Args),
    /// Show the cells and the stage graph a file expands into.
    Plan(plan::Args),
    /// Print the documentation of a diagnostic code (e.g. exp::lint::diverging_recipe).
    Explain(explain::Args),
    /// Train and score every cell of the file's sweeps.
    // Why boxed: its many flags would make every command this large.
    Run(Box<run::Args>),
    /// Show each cell's state from the output directory.
    Status(status::Args),
    /// Re-score trained cells on another split or data declaration.
    Score(score::Args),
    /// Write report.md / report.html / report.json for a finished sweep directory.
    Report(report::Args),
    /// Write pooled backbone features of images to a safetensors file.
    Embed(embed::Args),
    /// Format .exp files in the canonical layout.
    Fmt(fmt::Args),
    /// Start the language server on stdio.
    Lsp,
}

/// A command that needs the runtime (libtorch, the data on disk).
// Why the allow: the front forwards the whole command line and reads none of
// these fields; the runtime binary reads them all.
#[allow(dead_code)]
#[derive(Debug)]
pub enum Runtime {
    Run(Box<RunOptions>),
    Status(StatusOptions),
    Score(ScoreOptions),
    Report(PathBuf),
    Embed(EmbedOptions),
    /// `exp check --data`: the checks that open the data sets and weights.
    CheckData(check::Request),
}

/// Parse the arguments, run a front command or hand a runtime command to
/// `runtime`, render errors and map to an exit code.
pub fn main(runtime: impl FnOnce(Runtime) -> miette::Result<ExitCode>) -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Check(a) if a.data => runtime(Runtime::CheckData(a.request())),
        Command::Check(a) => check::run(&a.request(), exp_lang::CheckOptions::default()),
        Command::Plan(a) => plan::run(&a),
        Command::Explain(a) => explain::run(&a),
        Command::Fmt(a) => fmt::run(&a),
        Command::Lsp => lsp::run(),
        Command::Run(a) => runtime(Runtime::Run(Box::new((*a).into_options()))),
        Command::Status(a) => runtime(Runtime::Status(a.into_options())),
        Command::Score(a) => runtime(Runtime::Score(a.into_options())),
        Command::Report(a) => runtime(Runtime::Report(a.dir)),
        Command::Embed(a) => runtime(Runtime::Embed(a.into_options())),
    };
    match result {
        Ok(code) => code,
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::from(2)
        }
    }
}

/// The front's runtime: replace this process with `exp-runtime` (next to
/// this binary) given the same arguments. Why `exec`: the runtime keeps this
/// process id, so signals from a terminal, `timeout` or Slurm reach it
/// directly, and its exit status is the command's.
// Why the allow: compiled into the runtime binary too, which never forwards.
#[allow(dead_code)]
pub fn forward(_: Runtime) -> miette::Result<ExitCode> {
    use std::os::unix::process::CommandExt;
    let me = std::env::current_exe()
        .map_err(|e| miette::miette!("cannot locate the exp binary: {e}"))?;
    let runtime = me.with_file_name("exp-runtime");
    if !runtime.is_file() {
        return Err(miette::miette!(
            code = "exp::install::no_runtime",
            help = "install the runtime with `cargo install --path .` (it needs torch, see the README); \
                    check, fmt, lsp, explain and plan work without it",
            "this command needs the runtime `{}`, which is not installed",
            runtime.display()
        ));
    }
    let err = std::process::Command::new(&runtime)
        .args(std::env::args_os().skip(1))
        .exec();
    Err(miette::miette!(
        "cannot start the runtime `{}`: {err}",
        runtime.display()
    ))
}

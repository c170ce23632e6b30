//! Command line: argument parsing, dispatch, exit codes and the one place
//! errors are rendered.
//!
//! Exit codes: 0 success (warnings allowed), 1 the input has errors (or cells
//! failed), 2 usage or IO failure.

use clap::{Parser, Subcommand, ValueEnum};
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
    Check(CheckArgs),
    /// Show the cells and the stage graph a file expands into.
    Plan(PlanArgs),
    /// Print the documentation of a diagnostic code (e.g. exp::lint::diverging_recipe).
    Explain(ExplainArgs),
    /// Train and score every cell of the file's sweeps.
    Run(RunArgs),
    /// Show each cell's state from the output directory.
    Status(StatusArgs),
    /// Re-score trained cells on another split or data declaration.
    Score(ScoreArgs),
    /// Write report.md / report.html / report.json for a finished sweep directory.
    Report(ReportArgs),
    /// Write pooled backbone features of images to a safetensors file.
    Embed(EmbedArgs),
    /// Format .exp files in the canonical layout.
    Fmt(FmtArgs),
    /// Start the language server on stdio.
    Lsp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum CheckFormat {
    #[default]
    Human,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Also check against this machine's files: open the data sets and
    /// resolve the pretrained weights, as `exp run` will.
    #[arg(long)]
    pub data: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: CheckFormat,
    /// Override a field: `--set budget.screen.finetune=2epochs`.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PlanFormat {
    #[default]
    Text,
    Json,
    Dot,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    pub file: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    pub format: PlanFormat,
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
    /// Output directory whose stage store marks stages cached / pending.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    pub code: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Backend {
    #[default]
    Local,
    Slurm,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    pub file: PathBuf,
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// auto | cpu | cuda | cuda:N
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Deterministic kernels (bit-identical reruns on CPU).
    #[arg(long)]
    pub deterministic: bool,
    /// Run every training step eagerly, never as a captured CUDA graph
    /// (the recipe's `cuda_graphs = off` for every cell).
    #[arg(long)]
    pub no_cuda_graphs: bool,
    /// Run only this cell (id as printed by `exp plan`).
    #[arg(long)]
    pub cell: Option<String>,
    /// Run only this sweep.
    #[arg(long)]
    pub sweep: Option<String>,
    /// Cells run at once on CPU.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// GPUs to spread cells over, e.g. `0,1`.
    #[arg(long, value_delimiter = ',')]
    pub gpus: Vec<usize>,
    /// Loader worker threads (default: available cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Log the training loss to each cell's TensorBoard event file every N
    /// steps (0: per-epoch scalars only).
    #[arg(long, value_name = "N", default_value_t = crate::train::TB_EVERY_DEFAULT)]
    pub tb_every: u64,
    #[arg(long, value_enum, default_value_t)]
    pub on: Backend,
    #[arg(long)]
    pub partition: Option<String>,
    #[arg(long)]
    pub gres: Option<String>,
    #[arg(long)]
    pub time: Option<String>,
    #[arg(long)]
    pub account: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    pub file: PathBuf,
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// A cell directory (runs/SWEEP/CELL) or a sweep directory (runs/SWEEP).
    pub dir: PathBuf,
    /// Split to score (default: each cell's score split).
    #[arg(long)]
    pub split: Option<String>,
    /// Score on this data declaration instead of the cell's own data.
    #[arg(long, value_name = "FILE.exp:NAME")]
    pub data: Option<String>,
    /// auto | cpu | cuda | cuda:N
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Loader worker threads (default: available cores).
    #[arg(long)]
    pub workers: Option<usize>,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// A sweep output directory, e.g. runs/round1.
    pub dir: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct EmbedArgs {
    #[arg(long)]
    pub backbone: String,
    #[arg(long)]
    pub weights: Option<PathBuf>,
    #[arg(long)]
    pub image_size: Option<u32>,
    /// Shorter side images are resized to before the centre crop, as a data
    /// set's `cache_size` (default round(image_size × 8/7)).
    #[arg(long)]
    pub cache_size: Option<u32>,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value = "auto")]
    pub device: String,
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct FmtArgs {
    /// Exit 1 if a file is not formatted, writing nothing.
    #[arg(long)]
    pub check: bool,
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Parse arguments, dispatch, render errors, map to an exit code.
pub fn main() -> ExitCode {
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
    let result = match &cli.command {
        Command::Check(a) => crate::lang::cmd_check(a),
        Command::Plan(a) => crate::plan::cmd_plan(a),
        Command::Explain(a) => crate::lint::cmd_explain(a),
        Command::Run(a) => crate::exec::cmd_run(a),
        Command::Status(a) => crate::exec::cmd_status(a),
        Command::Score(a) => crate::exec::cmd_score(a),
        Command::Report(a) => crate::report::cmd_report(a),
        Command::Embed(a) => crate::models::cmd_embed(a),
        Command::Fmt(a) => crate::editor::cmd_fmt(a),
        Command::Lsp => crate::editor::cmd_lsp(),
    };
    match result {
        Ok(code) => code,
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::from(2)
        }
    }
}

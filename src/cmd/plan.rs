//! `exp plan FILE [--format text|json|dot] [--out DIR]`: the cells and the
//! stage graph, each stage marked cached or pending from the stage store.

use exp_lang::plan::graph::StageGraph;
use exp_lang::plan::store::{self, StageState};
use exp_lang::plan::{render_dot, render_json, render_text};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    pub file: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
    /// Output directory whose stage store marks stages cached / pending.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
    Dot,
}

pub fn run(a: &Args) -> miette::Result<ExitCode> {
    let outcome = exp_lang::check_path(&a.file, &a.sets, exp_lang::CheckOptions::default())?;
    let mut pipeline = match exp_lang::driver::into_result(outcome) {
        Ok(p) => p,
        Err(report) => {
            eprintln!("{report:?}");
            return Ok(ExitCode::from(1));
        }
    };
    exp_lang::dataset::warn_unreadable(&exp_lang::dataset::fill_content_keys(&mut pipeline));
    let graph = StageGraph::build(&pipeline);
    let states: Vec<StageState> = graph
        .stages
        .iter()
        .map(|s| store::stage_state(&a.out, &s.hash))
        .collect();
    let text = match a.format {
        Format::Text => render_text(&pipeline, &graph, &states),
        Format::Json => render_json(&pipeline, &graph, &states),
        Format::Dot => render_dot(&graph, &states),
    };
    // Why: a closed pipe (`| head`) is not an error worth a panic.
    let _ = write!(std::io::stdout(), "{text}");
    Ok(ExitCode::SUCCESS)
}

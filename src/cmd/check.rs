//! `exp check FILE... [--data] [--format human|json] [--set PATH=VALUE]`.

use exp_lang::lang::diag;
use exp_lang::options::CheckFormat;
use exp_lang::CheckOptions;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Also check against this machine's files: open the data sets and
    /// resolve the pretrained weights, as `exp run` will.
    #[arg(long)]
    pub data: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Override a field: `--set budget.screen.finetune=2epochs`.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    Human,
    Json,
}

/// What to check, without the parser's types.
#[derive(Debug, Clone)]
pub struct Request {
    pub files: Vec<PathBuf>,
    pub format: CheckFormat,
    pub sets: Vec<String>,
}

impl Args {
    pub fn request(&self) -> Request {
        Request {
            files: self.files.clone(),
            format: match self.format {
                Format::Human => CheckFormat::Human,
                Format::Json => CheckFormat::Json,
            },
            sets: self.sets.clone(),
        }
    }
}

/// Check every file (`opts.data`: with the runtime's data rules), print the
/// diagnostics, exit 1 on errors and 2 when a file cannot be read.
pub fn run(a: &Request, opts: CheckOptions) -> miette::Result<ExitCode> {
    let mut any_error = false;
    let mut json = Vec::new();
    let color = std::io::stderr().is_terminal();
    let width = if color { terminal_width() } else { 100 };
    let mut unreadable = false;
    for file in &a.files {
        let outcome = match exp_lang::check_path(file, &a.sets, opts) {
            Ok(o) => o,
            Err(e) => {
                // Why: a tool reading `--format json` gets a JSON array even
                // when a file cannot be read; the other files are still checked.
                unreadable = true;
                match a.format {
                    CheckFormat::Json => json.push(e.to_json(file)),
                    CheckFormat::Human => eprintln!("{:?}", miette::Report::new(e)),
                }
                continue;
            }
        };
        any_error |= outcome.has_errors();
        match a.format {
            CheckFormat::Json => {
                json.extend(
                    outcome
                        .diagnostics
                        .iter()
                        .map(|d| d.to_json(&outcome.sources)),
                );
            }
            CheckFormat::Human => {
                for d in &outcome.diagnostics {
                    eprint!("{}", diag::render(d, &outcome.sources, color, width));
                    eprintln!();
                }
                let summary = diag::summary(&outcome.diagnostics);
                if outcome.diagnostics.is_empty() {
                    eprintln!("{}: ok", file.display());
                } else {
                    eprint!("{}: {summary}", file.display());
                }
            }
        }
    }
    if a.format == CheckFormat::Json {
        let text = serde_json::to_string_pretty(&json)
            .map_err(|e| miette::miette!("cannot write JSON: {e}"))?;
        // Why: a closed pipe (`| head`) is not an error worth a panic.
        let _ = writeln!(std::io::stdout(), "{text}");
    }
    Ok(if unreadable {
        ExitCode::from(2)
    } else if any_error {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
}

//! `exp explain CODE`: the documentation of a diagnostic code.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    pub code: String,
}

pub fn run(a: &Args) -> miette::Result<ExitCode> {
    match exp_lang::lint::explain(&a.code) {
        Some(text) => {
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let codes = exp_lang::lint::all_codes();
            let help = exp_lang::lang::suggest::help(&a.code, codes.iter().copied(), "known codes");
            eprintln!("exp explain: unknown code `{}`; {help}", a.code);
            Ok(ExitCode::from(2))
        }
    }
}

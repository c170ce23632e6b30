//! The `.exp` language: parse, resolve, check. (Being built: issue 2.)

pub fn cmd_check(_a: &crate::cli::CheckArgs) -> miette::Result<std::process::ExitCode> {
    Err(miette::miette!("`exp check` is not built yet"))
}

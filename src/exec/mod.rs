//! Executing cells: local runner, stage store, Slurm. (Being built: issues 5, 6.)

pub fn cmd_run(_a: &crate::cli::RunArgs) -> miette::Result<std::process::ExitCode> {
    Err(miette::miette!("`exp run` is not built yet"))
}

pub fn cmd_status(_a: &crate::cli::StatusArgs) -> miette::Result<std::process::ExitCode> {
    Err(miette::miette!("`exp status` is not built yet"))
}

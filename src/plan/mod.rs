//! Sweep expansion into cells and the stage graph.

pub mod seeds;

pub fn cmd_plan(_a: &crate::cli::PlanArgs) -> miette::Result<std::process::ExitCode> {
    Err(miette::miette!("`exp plan` is not built yet"))
}

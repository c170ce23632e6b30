//! `exp-runtime`: every command, with libtorch. The front `exp` hands it run,
//! status, score, report, embed and `check --data` with the same arguments.

#[path = "../cmd/mod.rs"]
mod cmd;

use cmd::Runtime;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Why: `exp … | head -1` closes stdout; the next print then ends exp
    // quietly with status 141 (as a shell reports SIGPIPE) instead of a
    // panic on the broken pipe. Children of `exp run --jobs` stop with a
    // checkpoint when their parent goes (docs/running.md).
    let _ = signal_hook::flag::register_conditional_shutdown(
        signal_hook::consts::SIGPIPE,
        141,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
    );
    exp::models::runtime::tune_allocator();
    cmd::main(run)
}

fn run(command: Runtime) -> miette::Result<ExitCode> {
    match command {
        Runtime::Run(o) => exp::exec::cmd_run(&o),
        Runtime::Status(o) => exp::exec::cmd_status(&o),
        Runtime::Score(o) => exp::exec::cmd_score(&o),
        Runtime::Report(dir) => exp::report::cmd_report(&dir),
        Runtime::Embed(o) => {
            let device = exp::exec::device::resolve(o.device)?;
            exp::models::cmd_embed(&o, device)
        }
        Runtime::CheckData(r) => cmd::check::run(&r, exp::preflight::with_data()),
    }
}

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
    exp::cli::main()
}

//! `exp`, the front: check, fmt, lsp, explain and plan run here without
//! libtorch; every other command is handed to `exp-runtime` ([`cmd::forward`]).

mod cmd;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Why: `exp … | head -1` closes stdout; the next print then ends exp
    // quietly with status 141 (as a shell reports SIGPIPE) instead of a
    // panic on the broken pipe.
    let _ = signal_hook::flag::register_conditional_shutdown(
        signal_hook::consts::SIGPIPE,
        141,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
    );
    cmd::main(cmd::forward)
}

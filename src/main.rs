use std::process::ExitCode;

fn main() -> ExitCode {
    exp::cli::main()
}

use std::process::ExitCode;

fn main() -> ExitCode {
    exp::models::runtime::tune_allocator();
    exp::cli::main()
}

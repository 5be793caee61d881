//! The `modelc` binary: the command line of [`modelc::cli`], which the Python package runs
//! too (`python -m modelc`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let code = modelc::cli::main(std::env::args_os());
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

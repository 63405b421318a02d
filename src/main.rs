//! The `rampart` binary: parse the command line, run, map the outcome to an exit code.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    rampart::cli::install_panic_hook();
    rampart::cli::run(rampart::cli::parse())
}

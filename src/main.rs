//! The `keygate` binary: logging, the command line, and one error line on failure.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match keygate::cli::run(keygate::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("keygate: {err}");
            ExitCode::FAILURE
        }
    }
}

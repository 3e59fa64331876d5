//! The `keygate` binary: logging, the command line, and one error line on failure.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Checked first: env_logger reads a bad value as something else.
    let filter = match keygate::config::log_filter(std::env::var("RUST_LOG").ok().as_deref()) {
        Ok(filter) => filter,
        Err(err) => {
            eprintln!("keygate: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut logger = env_logger::Builder::new();
    logger.parse_filters(&filter);
    if let Ok(style) = std::env::var("RUST_LOG_STYLE") {
        logger.parse_write_style(&style);
    }
    logger.init();
    match keygate::cli::run(keygate::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("keygate: {err}");
            ExitCode::FAILURE
        }
    }
}

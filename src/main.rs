//! The `ragwatch` binary: parse the command line, run, map the result to an exit code.

use std::process::ExitCode;

use clap::Parser;
use ragwatch::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}"), 1),
    };
    match runtime.block_on(cli.run()) {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(failure) => fail(&format!("{failure:#}"), failure.exit() as u8),
    }
}

/// Prints the one error line and returns its exit code.
#[allow(clippy::print_stderr)]
fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("ragwatch: {message}");
    ExitCode::from(code)
}

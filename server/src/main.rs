//! The `fluxgate` binary. Everything lives in the library; this only reports errors on one
//! line and sets the exit code.

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = server::cli::Cli::parse();
    match server::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fluxgate: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

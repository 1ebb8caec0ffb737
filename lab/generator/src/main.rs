//! `host-generate` (run as `host generate`): the lab example's legacy dataset and seed target.
//! Not part of the engine or of `host`: a migration of another database never ships it.

mod generate;
mod seed_target;

use std::process::ExitCode;

use clap::Parser;
use engine::{Error, ErrorKind};

/// Generating is millions of short strings (see host's allocator note).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HOST_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = generate::GenerateArgs::parse();
    match generate::run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", engine::pg::explain(&err));
            ExitCode::from(Error::kind_of(&err).map_or(1, ErrorKind::exit_code))
        }
    }
}

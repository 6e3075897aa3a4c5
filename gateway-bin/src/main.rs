//! The `gateway` binary: thin wiring of the gateway crates.
//!
//! `gateway run` serves the Gateways of a directory of Kubernetes YAML and reloads on
//! change; `gateway check` compiles the directory and prints every resource's status.

#[cfg(feature = "mimalloc")]
mod allocator;
mod cli;
mod commands;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Run(args) => commands::run::run(args),
        cli::Command::Check(args) => commands::check::check(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

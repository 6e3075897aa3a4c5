//! Command-line interface.

use clap::{Args, Parser, Subcommand};
use std::{net::IpAddr, path::PathBuf};

use gateway_routes::compile::DEFAULT_CONTROLLER_NAME;

/// A Kubernetes Gateway API gateway built from tower middleware.
#[derive(Debug, Parser)]
#[command(name = "gateway", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve the Gateways of a directory of Kubernetes YAML, reloading on change.
    Run(RunArgs),
    /// Compile a directory of Kubernetes YAML and print every resource's status.
    Check(CheckArgs),
}

/// Flags shared by `run` and `check`.
#[derive(Debug, Args)]
pub(crate) struct SourceArgs {
    /// Directory of Kubernetes YAML (read recursively, multi-document).
    #[arg(long, env = "GATEWAY_CONFIG_DIR")]
    pub(crate) config_dir: PathBuf,
    /// GatewayClass `spec.controllerName` this gateway serves.
    #[arg(long, env = "GATEWAY_CONTROLLER_NAME", default_value = DEFAULT_CONTROLLER_NAME)]
    pub(crate) controller_name: String,
}

/// `gateway run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) source: SourceArgs,
    /// JSON file `{"ns/gateway": {"80": "127.0.0.1:18080"}}` overriding listener bind addresses.
    #[arg(long, env = "GATEWAY_LISTEN_MAP")]
    pub(crate) listen_map: Option<PathBuf>,
    /// Port of the admin server (/ready, /healthz, /config_dump, /status).
    #[arg(long, env = "GATEWAY_ADMIN_PORT", default_value_t = 15000)]
    pub(crate) admin_port: u16,
    /// Address the admin server binds.
    #[arg(long, env = "GATEWAY_ADMIN_ADDRESS", default_value = "127.0.0.1")]
    pub(crate) admin_address: IpAddr,
    /// Tokio worker threads (default: one per core).
    #[arg(long, env = "GATEWAY_WORKER_THREADS")]
    pub(crate) worker_threads: Option<usize>,
    /// JSON file with connection limits (see `Limits`); built-in edge-safe defaults otherwise.
    #[arg(long, env = "GATEWAY_LIMITS")]
    pub(crate) limits: Option<PathBuf>,
    /// Seconds in-flight requests get to finish after SIGTERM.
    #[arg(long, env = "GATEWAY_DRAIN_SECONDS", default_value_t = 10)]
    pub(crate) drain_seconds: u64,
    /// Log format.
    #[arg(long, env = "GATEWAY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
}

/// `gateway check`.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    #[command(flatten)]
    pub(crate) source: SourceArgs,
    /// Print statuses as JSON (the `/status` shape) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Log output format.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

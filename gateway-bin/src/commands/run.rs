//! `gateway run`: serve a directory of Gateway API YAML, reloading on change.
//!
//! Load → compile → build → swap (see `gateway_routes::runtime`). A directory that fails to
//! parse, or a socket that fails to bind, leaves the last good configuration serving;
//! statuses always reflect the latest compile.

use anyhow::Context;
use std::io::IsTerminal;
use std::{process::ExitCode, sync::Arc, time::Duration};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use gateway_core::{
    Limits,
    admin::{AdminState, serve_admin},
};
use gateway_routes::runtime::{ListenMap, Runtime, RuntimeOptions};

use crate::cli::{LogFormat, RunArgs};

/// Runs the gateway until SIGTERM or SIGINT.
pub(crate) fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    init_logging(args.log_format);
    // One worker: tokio's current-thread scheduler, which skips the work-stealing
    // machinery a single worker cannot use.
    let mut builder = match args.worker_threads {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(threads) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads.max(1));
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all();
    let runtime = builder.build().context("starting the tokio runtime")?;
    runtime.block_on(serve(args))
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn load_limits(args: &RunArgs) -> anyhow::Result<Limits> {
    let Some(path) = &args.limits else {
        return Ok(Limits::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading limits {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing limits {}", path.display()))
}

async fn serve(args: RunArgs) -> anyhow::Result<ExitCode> {
    let listen_map = match &args.listen_map {
        Some(path) => ListenMap::load(path)?,
        None => ListenMap::default(),
    };
    let options = RuntimeOptions {
        controller_name: args.source.controller_name.clone(),
        listen_map,
        limits: load_limits(&args)?,
    };
    #[cfg(feature = "mimalloc")]
    crate::allocator::spawn_upkeep();
    let stop = CancellationToken::new();
    let admin = Arc::new(AdminState::default());
    let admin_listener = TcpListener::bind((args.admin_address, args.admin_port))
        .await
        .with_context(|| {
            format!(
                "binding the admin server on {}:{}",
                args.admin_address, args.admin_port
            )
        })?;
    tokio::spawn(serve_admin(admin_listener, admin.clone(), stop.clone()));

    let runtime = Arc::new(Runtime::new(options, admin));
    let config_dir = args.source.config_dir.clone();
    let watch = gateway_k8s::serve_dir(
        config_dir.clone(),
        runtime.clone(),
        gateway_k8s::DEFAULT_DEBOUNCE,
        stop.clone(),
    );
    tokio::pin!(watch);
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        result = &mut watch => {
            result.with_context(|| format!("watching {}", config_dir.display()))?;
        }
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down: draining in-flight requests");
    stop.cancel();
    runtime
        .shutdown(Duration::from_secs(args.drain_seconds))
        .await;
    Ok(ExitCode::SUCCESS)
}

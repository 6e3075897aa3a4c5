//! Serving a watched directory: every change is loaded and, when it parses, applied to a
//! [`Runtime`]; when it does not, the error is logged and the last good snapshot keeps
//! serving.

use gateway_routes::runtime::Runtime;
use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{WatchError, load_dir, watch_dir};

/// How long file events are collected before one reload.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(200);

/// Loads `dir` into `runtime`, then reloads on every change until `stop` fires.
pub async fn serve_dir(
    dir: PathBuf,
    runtime: Arc<Runtime>,
    debounce: Duration,
    stop: CancellationToken,
) -> Result<(), WatchError> {
    // Watch first, so a change made while the first load runs is not missed.
    let (_watcher, mut changes) = watch_dir(&dir, debounce)?;
    reload(&dir, &runtime).await;
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            change = changes.recv() => {
                if change.is_none() {
                    tracing::warn!(dir = %dir.display(), "the directory watch stopped; serving the current configuration");
                    stop.cancelled().await;
                    return Ok(());
                }
                reload(&dir, &runtime).await;
            }
        }
    }
}

/// Loads the directory once and applies it if it parses.
///
/// Loading, compiling and building are CPU work (tens of milliseconds for thousands of
/// routes), so they run on tokio's blocking pool: the workers keep serving traffic.
pub async fn reload(dir: &Path, runtime: &Arc<Runtime>) {
    let dir = dir.to_path_buf();
    let runtime = runtime.clone();
    if let Err(err) = tokio::task::spawn_blocking(move || reload_blocking(&dir, &runtime)).await {
        tracing::error!(error = %err, "configuration reload failed");
    }
}

fn reload_blocking(dir: &Path, runtime: &Runtime) {
    let started = Instant::now();
    let loaded = match load_dir(dir) {
        Ok(loaded) => loaded,
        Err(err) => {
            tracing::error!("configuration not loaded; the last good one keeps serving:\n{err}");
            return;
        }
    };
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let applying = Instant::now();
    let applied = runtime.apply(&loaded.snapshot);
    let apply_ms = applying.elapsed().as_secs_f64() * 1e3;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let timings = applied.timings;
    for diagnostic in &applied.diagnostics {
        tracing::warn!("{diagnostic}");
    }
    for warning in &applied.warnings {
        tracing::warn!("{warning}");
    }
    if let Some(err) = &applied.bind_error {
        tracing::error!("{err}");
    }
    tracing::info!(
        files = loaded.files,
        objects = loaded.objects,
        load_ms,
        apply_ms,
        compile_ms = ms(timings.compile),
        build_ms = ms(timings.build),
        swap_ms = ms(timings.swap),
        publish_ms = ms(timings.publish),
        "configuration applied"
    );
}

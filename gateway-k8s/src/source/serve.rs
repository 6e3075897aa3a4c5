//! Serving a watched directory: every change is loaded and, when it parses, applied to a
//! [`Runtime`]; when it does not, the error is logged and the last good snapshot keeps
//! serving.

use gateway_routes::runtime::Runtime;
use std::{path::PathBuf, time::Duration};
use tokio_util::sync::CancellationToken;

use super::{WatchError, load_dir, watch_dir};

/// How long file events are collected before one reload.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(200);

/// Loads `dir` into `runtime`, then reloads on every change until `stop` fires.
pub async fn serve_dir(
    dir: PathBuf,
    runtime: &Runtime,
    debounce: Duration,
    stop: CancellationToken,
) -> Result<(), WatchError> {
    // Watch first, so a change made while the first load runs is not missed.
    let (_watcher, mut changes) = watch_dir(&dir, debounce)?;
    reload(&dir, runtime).await;
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            change = changes.recv() => {
                if change.is_none() {
                    tracing::warn!(dir = %dir.display(), "the directory watch stopped; serving the current configuration");
                    stop.cancelled().await;
                    return Ok(());
                }
                reload(&dir, runtime).await;
            }
        }
    }
}

/// Loads the directory once and applies it if it parses.
pub async fn reload(dir: &std::path::Path, runtime: &Runtime) {
    let owned = dir.to_path_buf();
    let loaded = match tokio::task::spawn_blocking(move || load_dir(&owned)).await {
        Ok(Ok(loaded)) => loaded,
        Ok(Err(err)) => {
            tracing::error!("configuration not loaded; the last good one keeps serving:\n{err}");
            return;
        }
        Err(err) => {
            tracing::error!(error = %err, "configuration loader failed");
            return;
        }
    };
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let applied = runtime.apply(&loaded.snapshot);
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
        "configuration applied"
    );
}

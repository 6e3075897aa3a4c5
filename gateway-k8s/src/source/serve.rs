//! Serving a watched directory: every change is loaded and, when it parses, applied to a
//! [`Runtime`]; when it does not, the error is logged and the last good snapshot keeps
//! serving. A change that leaves every file as it was applied last (an editor's save of
//! unchanged text, the several events of one copy) is read but neither parsed nor applied.

use gateway_routes::runtime::Runtime;
use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{WatchError, read_dir, watch_dir};

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
    let mut applied = load_and_apply(&dir, &runtime, None).await.fingerprint();
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            change = changes.recv() => {
                if change.is_none() {
                    tracing::warn!(dir = %dir.display(), "the directory watch stopped; serving the current configuration");
                    stop.cancelled().await;
                    return Ok(());
                }
                if let Reloaded::Applied(fingerprint) = load_and_apply(&dir, &runtime, applied).await {
                    applied = fingerprint;
                }
            }
        }
    }
}

/// Loads the directory once and applies it if it parses.
///
/// Loading, compiling and building are CPU work (tens of milliseconds for thousands of
/// routes), so they run on tokio's blocking pool: the workers keep serving traffic.
pub async fn reload(dir: &Path, runtime: &Arc<Runtime>) {
    load_and_apply(dir, runtime, None).await;
}

/// What one reload did, for the next to compare with.
#[derive(Clone, Copy, Debug)]
enum Reloaded {
    /// Nothing was applied (files unchanged, unreadable or invalid): what served before
    /// still serves.
    Kept,
    /// The files were applied; with their fingerprint when cleanly (every listener bound),
    /// so that a later reload of the same files can be skipped.
    Applied(Option<u64>),
}

impl Reloaded {
    /// The fingerprint of a clean apply.
    fn fingerprint(self) -> Option<u64> {
        match self {
            Self::Kept => None,
            Self::Applied(fingerprint) => fingerprint,
        }
    }
}

/// Loads the directory and applies it, unless its files hash to `unchanged` (the
/// fingerprint of the last clean apply).
async fn load_and_apply(dir: &Path, runtime: &Arc<Runtime>, unchanged: Option<u64>) -> Reloaded {
    let dir = dir.to_path_buf();
    let runtime = runtime.clone();
    match tokio::task::spawn_blocking(move || reload_blocking(&dir, &runtime, unchanged)).await {
        Ok(reloaded) => reloaded,
        Err(err) => {
            tracing::error!(error = %err, "configuration reload failed");
            Reloaded::Applied(None)
        }
    }
}

fn reload_blocking(dir: &Path, runtime: &Runtime, unchanged: Option<u64>) -> Reloaded {
    let started = Instant::now();
    let contents = match read_dir(dir) {
        Ok(contents) => contents,
        Err(err) => {
            tracing::error!("configuration not loaded; the last good one keeps serving:\n{err}");
            return Reloaded::Kept;
        }
    };
    let fingerprint = contents.fingerprint();
    if unchanged == Some(fingerprint) {
        tracing::debug!(dir = %dir.display(), "configuration files unchanged; not reloaded");
        return Reloaded::Kept;
    }
    let loaded = match contents.parse() {
        Ok(loaded) => loaded,
        Err(err) => {
            tracing::error!("configuration not loaded; the last good one keeps serving:\n{err}");
            return Reloaded::Kept;
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
        status_ms = ms(timings.status),
        publish_ms = ms(timings.publish),
        "configuration applied"
    );
    Reloaded::Applied(applied.bind_error.is_none().then_some(fingerprint))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_core::admin::AdminState;
    use gateway_routes::runtime::RuntimeOptions;

    const CLASS: &str = "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: gw}\nspec: {controllerName: tower-gateway.dev/gateway-controller}\n";

    fn runtime() -> Runtime {
        Runtime::new(RuntimeOptions::default(), Arc::new(AdminState::default()))
    }

    #[tokio::test]
    async fn unchanged_files_are_not_applied_again() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("class.yaml");
        std::fs::write(&file, CLASS).unwrap();
        let runtime = runtime();

        let Reloaded::Applied(Some(first)) = reload_blocking(dir.path(), &runtime, None) else {
            panic!("the first load applies cleanly");
        };
        assert_eq!(first, read_dir(dir.path()).unwrap().fingerprint());
        assert!(matches!(
            reload_blocking(dir.path(), &runtime, Some(first)),
            Reloaded::Kept
        ));

        std::fs::write(&file, CLASS.replace("name: gw", "name: other")).unwrap();
        let Reloaded::Applied(Some(second)) = reload_blocking(dir.path(), &runtime, Some(first))
        else {
            panic!("a changed file is applied");
        };
        assert_ne!(first, second);
    }

    #[tokio::test]
    async fn a_file_that_does_not_parse_keeps_what_serves() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("class.yaml"), "kind: [").unwrap();
        assert!(matches!(
            reload_blocking(dir.path(), &runtime(), None),
            Reloaded::Kept
        ));
    }

    #[test]
    fn a_renamed_file_changes_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), CLASS).unwrap();
        let before = read_dir(dir.path()).unwrap().fingerprint();
        std::fs::rename(dir.path().join("a.yaml"), dir.path().join("b.yaml")).unwrap();
        assert_ne!(before, read_dir(dir.path()).unwrap().fingerprint());
    }
}

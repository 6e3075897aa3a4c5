//! Watching the directory source for changes.
//!
//! The **directory** is watched recursively, never single files: editors and `kubectl cp`
//! replace files by atomic rename, and Kubernetes ConfigMap/Secret volumes update by
//! swapping a `..data` symlink; both show up as create/rename/remove events in a watched
//! directory, whereas a watch on a file would die with the inode it was placed on. Files
//! deleted and created again are simply new events. Events are debounced
//! (notify-debouncer-full) so that a burst — a `kubectl cp` of ten files, a symlink swap —
//! costs one reload.
//!
//! Every debounced batch with a change to a YAML file, a directory or a ConfigMap link
//! under the directory (and every watcher error, such as an event-queue overflow) yields
//! one notification; other files (a log written beside the manifests) are ignored. It does not say what
//! changed: reloading with [`load_dir`](super::load_dir) is cheap and always right. Reads
//! (the reload's own file opens) are not changes, so a reload does not trigger another.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::{path::Path, time::Duration};
//! let dir = Path::new("manifests");
//! // Watch first, then load, so that no change between the two is missed.
//! let (_watcher, mut changes) = gateway_k8s::watch_dir(dir, Duration::from_millis(200))?;
//! let mut current = gateway_k8s::load_dir(dir)?;
//! while changes.recv().await.is_some() {
//!     match gateway_k8s::load_dir(dir) {
//!         Ok(loaded) => current = loaded,
//!         Err(error) => tracing::warn!(%error, "keeping the last good configuration"),
//!     }
//! }
//! # let _ = current;
//! # Ok(())
//! # }
//! ```

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use notify_debouncer_full::{
    DebounceEventResult, Debouncer, RecommendedCache, new_debouncer,
    notify::{
        EventKind, RecommendedWatcher, RecursiveMode,
        event::{AccessKind, AccessMode},
    },
};
use tokio::sync::mpsc;

/// A running watch on a directory; dropping it stops the watch, after which the
/// receiver returned by [`watch_dir`] yields `None`.
#[derive(Debug)]
pub struct DirWatcher {
    _debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
}

/// The directory could not be watched.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {}: {source}", .path.display())]
pub struct WatchError {
    /// The directory.
    pub path: PathBuf,
    /// The underlying notify error.
    #[source]
    pub source: notify_debouncer_full::notify::Error,
}

/// Watches `dir` recursively; each debounced batch of changes sends one `()`.
///
/// `debounce` is how long the directory must stay quiet before a batch is reported
/// (~200 ms suits ConfigMap swaps and editors). Notifications coalesce: the channel holds
/// at most one, so a slow reloader sees one pending notification however many batches
/// happened meanwhile — enough, since a reload reads everything.
///
/// # Errors
///
/// If the watcher cannot be created or `dir` cannot be watched (missing, unreadable, or
/// the inotify watch limit reached).
pub fn watch_dir(
    dir: &Path,
    debounce: Duration,
) -> Result<(DirWatcher, mpsc::Receiver<()>), WatchError> {
    let error = |source| WatchError {
        path: dir.to_path_buf(),
        source,
    };
    let (tx, rx) = mpsc::channel(1);
    // Runs on the debouncer's own thread: `try_send` needs no runtime, and a full channel
    // already holds the notification this batch would send.
    let handler = move |result: DebounceEventResult| {
        let changed = match result {
            Ok(events) => events.iter().any(|event| {
                is_change(&event.kind)
                    && (event.paths.is_empty() || event.paths.iter().any(|p| may_be_config(p)))
            }),
            Err(errors) => {
                for error in &errors {
                    tracing::warn!(%error, "directory watch error; reloading to be safe");
                }
                true
            }
        };
        if changed {
            let _ = tx.try_send(());
        }
    };
    let mut debouncer = new_debouncer(debounce, None, handler).map_err(error)?;
    debouncer
        .watch(dir, RecursiveMode::Recursive)
        .map_err(error)?;
    Ok((
        DirWatcher {
            _debouncer: debouncer,
        },
        rx,
    ))
}

/// Whether an event may change what [`load_dir`](super::load_dir) reads: anything but a
/// read-only access (opening or closing a file without writing).
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(access) => matches!(access, AccessKind::Close(AccessMode::Write)),
        _ => true,
    }
}

/// Whether a changed path may be part of the configuration: a YAML file, or something
/// without a file extension (a directory, or the `..data` symlink of a ConfigMap volume).
/// Other files, such as a log written into the directory or an editor's swap file, are
/// not read by [`load_dir`](super::load_dir), so changing them must not reload.
fn may_be_config(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if name.starts_with("..") {
        return true;
    }
    match path.extension().and_then(|e| e.to_str()) {
        None => true,
        Some(ext) => ext.eq_ignore_ascii_case("yaml") || ext.eq_ignore_ascii_case("yml"),
    }
}

#[cfg(test)]
mod tests {
    use notify_debouncer_full::notify::event::{CreateKind, ModifyKind, RemoveKind};

    use super::*;

    #[test]
    fn only_yaml_files_directories_and_configmap_links_are_config() {
        for path in [
            "a/route.yaml",
            "a/b.YML",
            "a/sub",
            "a/..data",
            "a/..2026_11_27.123",
        ] {
            assert!(may_be_config(Path::new(path)), "{path}");
        }
        for path in ["a/stderr.log", "a/.route.yaml.swp", "a/README.md"] {
            assert!(!may_be_config(Path::new(path)), "{path}");
        }
    }

    #[test]
    fn reads_are_not_changes() {
        assert!(!is_change(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(is_change(&EventKind::Create(CreateKind::File)));
        assert!(is_change(&EventKind::Modify(ModifyKind::Any)));
        assert!(is_change(&EventKind::Remove(RemoveKind::File)));
        assert!(is_change(&EventKind::Other));
    }
}

//! Watching the directory source for changes.
//!
//! The **directory** is watched recursively, never single files: editors and `kubectl cp`
//! replace files by atomic rename, and Kubernetes ConfigMap/Secret volumes update by
//! swapping a `..data` symlink; both show up as create/rename/remove events in a watched
//! directory, whereas a watch on a file would die with the inode it was placed on. Files
//! deleted and created again are simply new events. Events are debounced so that a burst — a
//! `kubectl cp` of ten files, a symlink swap — costs one reload: [`DirChanges::recv`]
//! returns once the directory has been quiet for the debounce time after a change. The
//! debounce runs in the task that waits for changes, not on a thread of its own that wakes
//! on a timer, so a gateway whose configuration does not change does no work for it.
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

use notify::{
    Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher,
    event::{AccessKind, AccessMode},
};
use tokio::sync::mpsc;

/// A running watch on a directory; dropping it stops the watch, after which
/// [`DirChanges::recv`] yields `None`.
#[derive(Debug)]
pub struct DirWatcher {
    _watcher: RecommendedWatcher,
}

/// The debounced changes of a watched directory (see [`watch_dir`]).
#[derive(Debug)]
pub struct DirChanges {
    /// At most one pending change: the watcher's thread drops a change when one is already
    /// waiting, since one reload reads everything.
    raw: mpsc::Receiver<()>,
    debounce: Duration,
}

impl DirChanges {
    /// Waits for a change, then for the directory to stay quiet for the debounce time;
    /// `None` once the watch has stopped and every change was reported.
    pub async fn recv(&mut self) -> Option<()> {
        self.raw.recv().await?;
        // A change within the quiet window starts the window again; the watch stopping
        // ends it early (the change already seen is still reported).
        while let Ok(Some(())) = tokio::time::timeout(self.debounce, self.raw.recv()).await {}
        Some(())
    }
}

/// The directory could not be watched.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {}: {source}", .path.display())]
pub struct WatchError {
    /// The directory.
    pub path: PathBuf,
    /// The underlying notify error.
    #[source]
    pub source: notify::Error,
}

/// Watches `dir` recursively; [`DirChanges::recv`] returns once per debounced batch of
/// changes.
///
/// `debounce` is how long the directory must stay quiet before a batch is reported
/// (~200 ms suits ConfigMap swaps and editors). Notifications coalesce: a slow reloader
/// sees one pending batch however many happened meanwhile — enough, since a reload reads
/// everything.
///
/// # Errors
///
/// If the watcher cannot be created or `dir` cannot be watched (missing, unreadable, or
/// the inotify watch limit reached).
pub fn watch_dir(dir: &Path, debounce: Duration) -> Result<(DirWatcher, DirChanges), WatchError> {
    let error = |source| WatchError {
        path: dir.to_path_buf(),
        source,
    };
    let (tx, raw) = mpsc::channel(1);
    // Runs on the watcher's own thread: `try_send` needs no runtime, and a full channel
    // already holds the change this event would report.
    let handler = move |result: notify::Result<Event>| {
        let changed = match result {
            Ok(event) => {
                is_change(&event.kind)
                    && (event.paths.is_empty() || event.paths.iter().any(|p| may_be_config(p)))
            }
            Err(error) => {
                tracing::warn!(%error, "directory watch error; reloading to be safe");
                true
            }
        };
        if changed {
            let _ = tx.try_send(());
        }
    };
    let mut watcher = notify::recommended_watcher(handler).map_err(error)?;
    watcher
        .watch(dir, RecursiveMode::Recursive)
        .map_err(error)?;
    Ok((
        DirWatcher { _watcher: watcher },
        DirChanges { raw, debounce },
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
    use notify::event::{CreateKind, ModifyKind, RemoveKind};

    use super::*;

    /// Changes arriving within the quiet window extend it: one notification for the burst,
    /// reported a debounce after the last change.
    #[tokio::test(start_paused = true)]
    async fn a_burst_of_changes_is_reported_once_after_the_quiet_time() {
        let (tx, raw) = mpsc::channel(1);
        let debounce = Duration::from_millis(200);
        let mut changes = DirChanges { raw, debounce };
        let sender = tokio::spawn(async move {
            for _ in 0..5 {
                tx.send(()).await.unwrap();
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            tx
        });
        let started = tokio::time::Instant::now();
        assert_eq!(changes.recv().await, Some(()));
        // The last change came at 600 ms; quiet from then for 200 ms.
        assert_eq!(started.elapsed(), Duration::from_millis(800));
        let tx = sender.await.unwrap();
        drop(tx);
        assert_eq!(
            changes.recv().await,
            None,
            "a stopped watch ends the changes"
        );
    }

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

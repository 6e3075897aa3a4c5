//! `watch_dir` against a real directory: each kind of change yields a notification.
//!
//! Deadlines are generous failure bounds (a notification normally arrives ~200 ms after
//! the change), not timing assertions.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a failed assertion"
)]

use std::{fs, path::Path, time::Duration};

use gateway_k8s::{DirChanges, load_dir, watch_dir};
use tokio::time::timeout;

const DEBOUNCE: Duration = Duration::from_millis(200);
const DEADLINE: Duration = Duration::from_secs(10);
/// How long without a notification counts as "the directory has settled".
const QUIET: Duration = Duration::from_millis(1500);

fn namespace(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n")
}

fn namespaces(dir: &Path) -> Vec<String> {
    let loaded = load_dir(dir).unwrap();
    loaded
        .snapshot
        .namespaces
        .iter()
        .map(|ns| ns.metadata.name.clone().unwrap_or_default())
        .collect()
}

/// Waits for a notification, failing after [`DEADLINE`].
async fn changed(rx: &mut DirChanges, what: &str) {
    timeout(DEADLINE, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no notification after {what}"))
        .expect("watcher stopped");
}

/// Drains notifications until the directory is quiet, so that the next step's
/// notification is its own and not a late one from the step before.
async fn settle(rx: &mut DirChanges) {
    while let Ok(Some(())) = timeout(QUIET, rx.recv()).await {}
}

#[tokio::test]
async fn write_replace_delete_and_recreate_each_notify() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_watcher, mut rx) = watch_dir(dir, DEBOUNCE).unwrap();
    let file = dir.join("ns.yaml");

    fs::write(&file, namespace("first")).unwrap();
    changed(&mut rx, "a write").await;
    settle(&mut rx).await;
    assert_eq!(namespaces(dir), ["first"]);

    // Reloading reads every file; reads are not changes.
    assert!(
        timeout(QUIET, rx.recv()).await.is_err(),
        "a reload must not notify"
    );

    // Atomic replace, as editors and `kubectl cp` do: write aside, rename over.
    let tmp_file = dir.join(".ns.yaml.tmp");
    fs::write(&tmp_file, namespace("second")).unwrap();
    fs::rename(&tmp_file, &file).unwrap();
    changed(&mut rx, "an atomic rename").await;
    settle(&mut rx).await;
    assert_eq!(namespaces(dir), ["second"]);

    fs::remove_file(&file).unwrap();
    changed(&mut rx, "a delete").await;
    settle(&mut rx).await;
    assert!(namespaces(dir).is_empty());

    // Deleted files and directories come back: still watched.
    fs::create_dir(dir.join("nested")).unwrap();
    fs::write(dir.join("nested/ns.yaml"), namespace("third")).unwrap();
    changed(&mut rx, "a re-create in a new subdirectory").await;
    settle(&mut rx).await;
    fs::write(dir.join("nested/ns.yaml"), namespace("fourth")).unwrap();
    changed(&mut rx, "a write in the new subdirectory").await;
    settle(&mut rx).await;
    assert_eq!(namespaces(dir), ["fourth"]);
}

/// kubelet updates a ConfigMap volume by writing a new timestamped directory and swapping
/// the `..data` symlink to it; the visible files are symlinks through `..data`.
#[cfg(unix)]
#[tokio::test]
async fn configmap_symlink_swap_notifies() {
    use std::os::unix::fs::symlink;

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::create_dir(dir.join("..v1")).unwrap();
    fs::write(dir.join("..v1/ns.yaml"), namespace("old")).unwrap();
    symlink("..v1", dir.join("..data")).unwrap();
    symlink("..data/ns.yaml", dir.join("ns.yaml")).unwrap();
    assert_eq!(namespaces(dir), ["old"]);

    let (_watcher, mut rx) = watch_dir(dir, DEBOUNCE).unwrap();
    fs::create_dir(dir.join("..v2")).unwrap();
    fs::write(dir.join("..v2/ns.yaml"), namespace("new")).unwrap();
    symlink("..v2", dir.join("..data_tmp")).unwrap();
    fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    fs::remove_dir_all(dir.join("..v1")).unwrap();
    changed(&mut rx, "a symlink swap").await;
    settle(&mut rx).await;
    assert_eq!(namespaces(dir), ["new"]);

    // And again: the second swap is seen too.
    fs::create_dir(dir.join("..v3")).unwrap();
    fs::write(dir.join("..v3/ns.yaml"), namespace("newer")).unwrap();
    symlink("..v3", dir.join("..data_tmp")).unwrap();
    fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    fs::remove_dir_all(dir.join("..v2")).unwrap();
    changed(&mut rx, "a second symlink swap").await;
    assert_eq!(namespaces(dir), ["newer"]);
}

#[tokio::test]
async fn dropping_the_watcher_closes_the_channel() {
    let tmp = tempfile::tempdir().unwrap();
    let (watcher, mut rx) = watch_dir(tmp.path(), DEBOUNCE).unwrap();
    drop(watcher);
    loop {
        match timeout(DEADLINE, rx.recv()).await {
            Ok(None) => break,
            Ok(Some(())) => continue,
            Err(_) => panic!("channel still open after the watcher was dropped"),
        }
    }
}

#[test]
fn watching_a_missing_directory_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let error = watch_dir(&missing, DEBOUNCE).unwrap_err();
    assert_eq!(error.path, missing);
}

//! `load_dir` against real directories: nested fixtures, a ConfigMap volume layout, errors.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a failed assertion"
)]

use std::{
    fs,
    path::{Path, PathBuf},
};

use gateway_k8s::{LoadError, load_dir};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/demo")
}

/// Copies the fixture tree into `to`.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn loads_nested_fixture_directory() {
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&fixtures(), tmp.path());
    // Not YAML, and hidden: neither is read.
    fs::write(tmp.path().join("README.md"), "# notes\n").unwrap();
    fs::create_dir(tmp.path().join(".git")).unwrap();
    fs::write(tmp.path().join(".git/broken.yaml"), "{{{").unwrap();

    let loaded = load_dir(tmp.path()).unwrap();
    assert_eq!(loaded.files, 4);
    assert_eq!(loaded.objects, 9, "the Deployment is ignored");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);

    let snapshot = &loaded.snapshot;
    assert_eq!(snapshot.namespaces.len(), 2);
    assert_eq!(snapshot.gateway_classes.len(), 1);
    assert_eq!(snapshot.gateways.len(), 1);
    assert_eq!(snapshot.secrets.len(), 1);
    assert_eq!(snapshot.reference_grants.len(), 1);
    assert_eq!(snapshot.services.len(), 1);
    assert_eq!(snapshot.endpoint_slices.len(), 1);

    let gateway = &snapshot.gateways[0];
    assert_eq!(gateway.spec.listeners.len(), 2);
    assert_eq!(
        gateway.spec.listeners[1].hostname.as_deref(),
        Some("*.example.com")
    );
    let route = &snapshot.http_routes[0];
    let rules = route.spec.rules.as_deref().unwrap_or_default();
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[1].filters.len(), 3);
    assert_eq!(rules[1].backend_refs[1].weight, Some(10));
    let secret = &snapshot.secrets[0];
    let data = secret.data.as_ref().unwrap();
    assert!(
        data["tls.crt"]
            .0
            .starts_with(b"-----BEGIN CERTIFICATE-----")
    );
}

#[test]
fn files_are_read_in_path_order() {
    let tmp = tempfile::tempdir().unwrap();
    for (path, name) in [
        ("b/z.yaml", "b-z"),
        ("a.yml", "a"),
        ("b/a.yaml", "b-a"),
        ("c.yaml", "c"),
    ] {
        let path = tmp.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(
            path,
            format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n"),
        )
        .unwrap();
    }
    let loaded = load_dir(tmp.path()).unwrap();
    let names: Vec<_> = loaded
        .snapshot
        .namespaces
        .iter()
        .map(|ns| ns.metadata.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(names, ["a", "b-a", "b-z", "c"]);
}

/// The layout kubelet gives a ConfigMap volume: files are symlinks into `..data`, itself
/// a symlink to a timestamped directory.
#[cfg(unix)]
#[test]
fn reads_a_configmap_volume_once() {
    use std::os::unix::fs::symlink;

    let tmp = tempfile::tempdir().unwrap();
    let versioned = tmp.path().join("..2024_05_01_10_00_00.123456789");
    fs::create_dir(&versioned).unwrap();
    fs::write(
        versioned.join("namespaces.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n",
    )
    .unwrap();
    symlink("..2024_05_01_10_00_00.123456789", tmp.path().join("..data")).unwrap();
    symlink("..data/namespaces.yaml", tmp.path().join("namespaces.yaml")).unwrap();

    let loaded = load_dir(tmp.path()).unwrap();
    assert_eq!(loaded.files, 1);
    assert_eq!(loaded.snapshot.namespaces.len(), 2);
}

#[test]
fn invalid_documents_fail_the_whole_load() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("ok.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
    )
    .unwrap();
    fs::create_dir(tmp.path().join("routes")).unwrap();
    let bad = tmp.path().join("routes/bad.yaml");
    fs::write(
        &bad,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n---\n---\n\
         apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\n\
         spec:\n  hostnames: {not: a list}\n",
    )
    .unwrap();

    let Err(LoadError::Invalid { errors }) = load_dir(tmp.path()) else {
        panic!("expected invalid documents");
    };
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].file, bad);
    assert_eq!(errors[0].document, 2);
    assert_eq!(errors[0].line, 10);
    assert!(
        errors[0].reason.starts_with("spec.hostnames: "),
        "{}",
        errors[0].reason
    );
}

#[test]
fn missing_directory_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let Err(LoadError::Read { path, .. }) = load_dir(&missing) else {
        panic!("expected a read error");
    };
    assert_eq!(path, missing);

    let file = tmp.path().join("file.yaml");
    fs::write(&file, "").unwrap();
    assert!(matches!(load_dir(&file), Err(LoadError::Read { .. })));
}

//! Shared helpers of the serving tests: YAML to snapshot, a runtime on loopback, and
//! manifest snippets.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

pub mod client;

use gateway_core::admin::AdminState;
use gateway_routes::{
    runtime::{ListenMap, Runtime, RuntimeOptions},
    snapshot::{Object, Snapshot},
};
use std::{net::SocketAddr, sync::Arc};

pub const CONTROLLER: &str = "example.com/serving-tests";

/// Parses multi-document YAML (namespaced objects default to `default`).
pub fn snapshot(yaml: &str) -> Snapshot {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(yaml).expect("valid yaml");
    let mut snapshot = Snapshot::default();
    for mut doc in docs.into_iter().filter(|d| !d.is_null()) {
        let api_version = doc["apiVersion"].as_str().unwrap().to_owned();
        let kind = doc["kind"].as_str().unwrap().to_owned();
        if kind != "GatewayClass" && kind != "Namespace" && doc["metadata"]["namespace"].is_null() {
            doc["metadata"]["namespace"] = "default".into();
        }
        if let Some(object) = Object::from_json(&api_version, &kind, doc).unwrap() {
            snapshot.insert(object);
        }
    }
    snapshot
}

/// A runtime whose Gateway `default/gw` listener ports all bind `bind` (port 0 allowed).
pub fn runtime(ports: &[u16], bind: SocketAddr) -> Runtime {
    let mut map = ListenMap::default();
    for port in ports {
        map = map.insert("default/gw", *port, bind);
    }
    Runtime::new(
        RuntimeOptions {
            controller_name: CONTROLLER.into(),
            listen_map: map,
            ..RuntimeOptions::default()
        },
        Arc::new(AdminState::default()),
    )
}

/// Applies `yaml` and returns the address `requested` actually bound.
pub fn apply(runtime: &Runtime, yaml: &str, requested: SocketAddr) -> SocketAddr {
    let applied = runtime.apply(&snapshot(yaml));
    assert!(applied.bind_error.is_none(), "{:?}", applied.bind_error);
    assert!(applied.warnings.is_empty(), "{:?}", applied.warnings);
    runtime
        .sockets()
        .local_addr(requested)
        .expect("socket bound")
}

/// GatewayClass + Gateway `default/gw` with the given listeners (YAML list items).
pub fn gateway(listeners: &str) -> String {
    gateway_routes::fixtures::gateway(CONTROLLER, listeners)
}

pub use gateway_routes::fixtures::{route, service};

/// A `kubernetes.io/tls` Secret holding `cert`.
pub fn tls_secret(name: &str, cert: &gateway_core::test_util::TestCert) -> String {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "---
apiVersion: v1
kind: Secret
metadata: {{name: {name}, namespace: default}}
type: kubernetes.io/tls
data:
  tls.crt: {}
  tls.key: {}
",
        b64(&cert.cert_pem),
        b64(&cert.key_pem)
    )
}

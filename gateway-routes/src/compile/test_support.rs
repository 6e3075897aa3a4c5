//! Test helpers: compile multi-document YAML.

use crate::{
    compile::{CompileOptions, Compiled, ObjectStatus, StatusBody, compile},
    snapshot::{Object, Snapshot},
};

/// The controller name the test manifests use.
pub(crate) const CONTROLLER: &str = "example.com/test";

/// Parses multi-document YAML into a snapshot (namespaced objects default to `default`).
pub(crate) fn snapshot(yaml: &str) -> Snapshot {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(yaml).expect("valid yaml");
    let mut snapshot = Snapshot::default();
    for mut doc in docs {
        if doc.is_null() {
            continue;
        }
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

/// Compiles YAML with the test controller name.
pub(crate) fn compile_yaml(yaml: &str) -> Compiled {
    compile(
        &snapshot(yaml),
        &CompileOptions {
            controller_name: CONTROLLER.into(),
            ..CompileOptions::default()
        },
    )
}

/// The status of one object.
pub(crate) fn status_of<'a>(compiled: &'a Compiled, kind: &str, name: &str) -> &'a ObjectStatus {
    compiled
        .statuses
        .iter()
        .find(|s| s.kind == kind && s.name == name)
        .unwrap_or_else(|| panic!("no status for {kind} {name}"))
}

/// `(type, status, reason)` of every condition of a route's parent `index`.
pub(crate) fn parent_conditions(
    compiled: &Compiled,
    route: &str,
    index: usize,
) -> Vec<(String, String, String)> {
    let StatusBody::Route(status) = &status_of(compiled, "HTTPRoute", route).status else {
        panic!("not a route")
    };
    status.parents[index]
        .conditions
        .iter()
        .map(|c| {
            (
                c.type_.to_string(),
                c.status.to_string(),
                c.reason.to_string(),
            )
        })
        .collect()
}

/// `(type, status, reason)` of every condition of a Gateway listener.
pub(crate) fn listener_conditions(
    compiled: &Compiled,
    gateway: &str,
    listener: &str,
) -> (i32, Vec<(String, String, String)>) {
    let StatusBody::Gateway(status) = &status_of(compiled, "Gateway", gateway).status else {
        panic!("not a gateway")
    };
    let l = status
        .listeners
        .iter()
        .find(|l| l.name == listener)
        .unwrap();
    (
        l.attached_routes,
        l.conditions
            .iter()
            .map(|c| {
                (
                    c.type_.to_string(),
                    c.status.to_string(),
                    c.reason.to_string(),
                )
            })
            .collect(),
    )
}

/// Shorthand for an expected condition.
pub(crate) fn cond(t: &str, s: &str, r: &str) -> (String, String, String) {
    (t.into(), s.into(), r.into())
}

/// A GatewayClass of ours and a Gateway `gw` in `default` with the given listeners YAML.
pub(crate) fn gateway(listeners: &str) -> String {
    crate::fixtures::gateway(CONTROLLER, listeners)
}

/// A Service `name` in `ns` with one port 8080 named `http`, and a slice with `ip:3000`.
pub(crate) fn service(ns: &str, name: &str, ip: &str) -> String {
    format!(
        "---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {ns}}}
spec:
  ports: [{{name: http, port: 8080, targetPort: 3000}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {name}-abc
  namespace: {ns}
  labels: {{kubernetes.io/service-name: {name}}}
addressType: IPv4
ports: [{{name: http, port: 3000}}]
endpoints:
- addresses: [{ip}]
- addresses: [10.9.9.9]
  conditions: {{ready: false}}
"
    )
}

//! Gateway API manifests for tests, benches and examples (feature `test-util`).
//!
//! Each function returns YAML text (starting with `---` where it is meant to be appended),
//! so a directory source or a test can be fed exactly what a user would write.

use std::net::SocketAddr;

/// GatewayClass `ours` for `controller` and Gateway `default/gw` with `listeners`, given
/// as YAML list items (`  - {name: http, port: 80, protocol: HTTP}`).
pub fn gateway(controller: &str, listeners: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{name: ours}}
spec: {{controllerName: {controller}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw, namespace: default}}
spec:
  gatewayClassName: ours
  listeners:
{listeners}
"
    )
}

/// The listener list item of one HTTP listener `http` on port 80.
pub const HTTP_LISTENER: &str = "  - {name: http, port: 80, protocol: HTTP}";

/// Service `default/<name>` (port 80 named `http`) and an EndpointSlice (label
/// `kubernetes.io/service-name`) whose one ready endpoint is `backend`.
pub fn service(name: &str, backend: SocketAddr) -> String {
    let (ip, port) = (backend.ip(), backend.port());
    format!(
        "---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: default}}
spec:
  ports: [{{name: http, port: 80, targetPort: {port}}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {name}-1
  namespace: default
  labels: {{kubernetes.io/service-name: {name}}}
addressType: IPv4
ports: [{{name: http, port: {port}}}]
endpoints:
- addresses: [\"{ip}\"]
"
    )
}

/// HTTPRoute `default/<name>` attached to `gw`, sending `hostname` + PathPrefix `prefix`
/// to port 80 of Service `backend`.
pub fn route(name: &str, hostname: &str, prefix: &str, backend: &str) -> String {
    format!(
        "---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: default}}
spec:
  parentRefs: [{{name: gw}}]
  hostnames: [\"{hostname}\"]
  rules:
  - matches: [{{path: {{type: PathPrefix, value: \"{prefix}\"}}}}]
    backendRefs: [{{name: {backend}, port: 80}}]
"
    )
}

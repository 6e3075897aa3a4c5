//! kgateway `Backend`s with `spec.static` hosts through the running gateway: an IP host,
//! a host name looked up in DNS (`localhost`), and a Backend that is not valid.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gateway_core::test_util::spawn_echo;
use gateway_routes::fixtures::HTTP_LISTENER;
use http::StatusCode;
use std::{net::SocketAddr, time::Duration};
use support::{apply, client::get, gateway, route, runtime, service};

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Backend `default/<name>` with `spec` (indented under `spec:`).
fn backend(name: &str, spec: &str) -> String {
    format!(
        "---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {{name: {name}, namespace: default}}
spec:
{spec}
"
    )
}

/// HTTPRoute `default/<name>` on `gw` sending `hostname` to the Backend `backend`.
fn route_to_backend(name: &str, hostname: &str, backend: &str) -> String {
    format!(
        "---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: default}}
spec:
  parentRefs: [{{name: gw}}]
  hostnames: [\"{hostname}\"]
  rules:
  - backendRefs: [{{group: gateway.kgateway.dev, kind: Backend, name: {backend}}}]
"
    )
}

#[tokio::test]
async fn an_ip_host_is_served_beside_a_service_and_an_invalid_backend_answers_500() {
    let echo = spawn_echo().await;
    let in_cluster = spawn_echo().await;
    let yaml = gateway(HTTP_LISTENER)
        + &service("svc", in_cluster)
        + &route("svc", "svc.example", "/", "svc")
        + &backend(
            "ip",
            &format!(
                "  type: Static
  static:
    hosts: [{{host: 127.0.0.1, port: {}}}]",
                echo.port()
            ),
        )
        + &backend(
            "lambda",
            "  aws: {accountId: '000000000000', lambda: {functionName: f}}",
        )
        + &route_to_backend("ip", "ip.example", "ip")
        + &route_to_backend("lambda", "lambda.example", "lambda");
    let runtime = runtime(&[80], loopback());
    let addr = apply(&runtime, &yaml, loopback());

    let answer = get(addr, "ip.example", "/static?x=1").await;
    assert_eq!(answer.status, StatusCode::OK);
    let echoed = answer.echo();
    assert_eq!(echoed["backend"], echo.to_string());
    assert_eq!(echoed["host"], "ip.example");
    assert_eq!(echoed["path"], "/static?x=1");

    let answer = get(addr, "svc.example", "/").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.echo()["backend"], in_cluster.to_string());

    let answer = get(addr, "lambda.example", "/").await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn a_host_name_is_looked_up_and_served() {
    let echo = spawn_echo().await;
    let yaml = gateway(HTTP_LISTENER)
        + &backend(
            "named",
            &format!(
                "  static:
    hosts: [{{host: localhost, port: {}}}]",
                echo.port()
            ),
        )
        + &route_to_backend("named", "named.example", "named");
    let runtime = runtime(&[80], loopback());
    let addr = apply(&runtime, &yaml, loopback());

    // The first lookup runs in the background; until it is in, the route answers 503.
    // `localhost` may also resolve to ::1, where the echo does not listen (503 as well).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let answer = get(addr, "named.example", "/dns").await;
        if answer.status == StatusCode::OK {
            break answer;
        }
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{:?}",
            answer.body
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "`localhost` was never served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let echoed = answer.echo();
    assert_eq!(echoed["backend"], echo.to_string());
    assert_eq!(echoed["host"], "named.example");
    assert_eq!(echoed["path"], "/dns");
}

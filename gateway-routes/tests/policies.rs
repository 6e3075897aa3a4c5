//! kgateway TrafficPolicies through the running gateway: real sockets, real backends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gateway_core::test_util::{spawn_echo_named, spawn_hang};
use gateway_routes::fixtures::HTTP_LISTENER;
use http::StatusCode;
use std::net::SocketAddr;
use support::{apply, client::get, gateway, route, runtime, service};

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn policy(name: &str, created: &str, spec: &str) -> String {
    format!(
        "---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: {{name: {name}, namespace: default, creationTimestamp: '{created}'}}
spec:
{spec}
"
    )
}

#[tokio::test]
async fn gateway_and_route_policies_merge_on_live_traffic() {
    let one = spawn_echo_named("one").await;
    let yaml = gateway(HTTP_LISTENER)
        + &service("one", one)
        + &route("r", "a.example", "/", "one")
        + &route("other", "b.example", "/", "one")
        + &policy(
            "gw",
            "2024-01-01T00:00:00Z",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  headerModifiers:
    request: {set: [{name: x-policy, value: gateway}]}
    response: {add: [{name: x-served-by, value: tower-gateway}]}",
        )
        + &policy(
            "route",
            "2024-01-02T00:00:00Z",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  headerModifiers:
    request: {set: [{name: x-policy, value: route}]}",
        );
    let runtime = runtime(&[80], loopback());
    let addr = apply(&runtime, &yaml, loopback());

    // Route r: its own policy wins headerModifiers whole (no x-served-by from the Gateway).
    let answer = get(addr, "a.example", "/").await;
    assert_eq!(answer.echo()["headers"]["x-policy"][0], "route");
    assert!(answer.headers.get("x-served-by").is_none());
    // Route other: only the Gateway's policy.
    let answer = get(addr, "b.example", "/").await;
    assert_eq!(answer.echo()["headers"]["x-policy"][0], "gateway");
    assert_eq!(answer.headers["x-served-by"], "tower-gateway");
}

#[tokio::test]
async fn policy_timeouts_answer_504_and_408() {
    let hang = spawn_hang().await;
    let yaml = gateway(HTTP_LISTENER)
        + &service("hang", hang)
        + &route("slow", "slow.example", "/", "hang")
        + &route("idle", "idle.example", "/", "hang")
        + &policy(
            "request-timeout",
            "2024-01-01T00:00:00Z",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: slow}]
  timeouts: {request: 200ms}",
        )
        + &policy(
            "stream-idle",
            "2024-01-01T00:00:00Z",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: idle}]
  timeouts: {streamIdle: 200ms}",
        );
    let runtime = runtime(&[80], loopback());
    let addr = apply(&runtime, &yaml, loopback());
    assert_eq!(
        get(addr, "slow.example", "/").await.status,
        StatusCode::GATEWAY_TIMEOUT
    );
    assert_eq!(
        get(addr, "idle.example", "/").await.status,
        StatusCode::REQUEST_TIMEOUT
    );
}

#[tokio::test]
async fn an_invalid_policy_is_reported_and_traffic_keeps_flowing() {
    let one = spawn_echo_named("one").await;
    let yaml = gateway(HTTP_LISTENER)
        + &service("one", one)
        + &route("r", "a.example", "/", "one")
        + &policy(
            "broken",
            "2024-01-01T00:00:00Z",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  headerModifiers:
    request: {set: [{name: 'bad header', value: x}]}",
        );
    let runtime = runtime(&[80], loopback());
    let applied = runtime.apply(&support::snapshot(&yaml));
    assert_eq!(
        applied
            .diagnostics
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "TrafficPolicy default/broken: spec.headerModifiers.request.set[0].name: \"bad header\" is not a header name (Invalid)"
        ]
    );
    let addr = runtime.sockets().local_addr(loopback()).unwrap();
    let answer = get(addr, "a.example", "/").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.echo()["headers"].get("bad header").is_none());
}

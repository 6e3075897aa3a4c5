//! `gateway run` reloading its directory: a file that stops parsing leaves the last good
//! configuration serving, and the next valid change is picked up without a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gateway_core::test_util::spawn_echo_named;
use http::StatusCode;
use support::{Gateway, Scratch, echo_json, gateway_yaml, route_yaml, service_yaml, try_get};

/// What the log says when a load fails and the old configuration keeps serving.
const NOT_LOADED: &str = "configuration not loaded";

/// The same route file with an unclosed flow mapping on its `metadata` line.
const BROKEN_ROUTE: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: default
spec:
  parentRefs: [{name: gw}]
";

#[tokio::test]
async fn broken_yaml_keeps_the_last_good_config_and_a_valid_change_applies() {
    let (one, two) = (spawn_echo_named("one").await, spawn_echo_named("two").await);
    let scratch = Scratch::new();
    scratch.write(
        "gateway.yaml",
        &(gateway_yaml() + &service_yaml("one", one) + &service_yaml("two", two)),
    );
    scratch.write("route.yaml", &route_yaml("r", "a.example", "/", "one"));
    let mut gateway = Gateway::start(&scratch);
    gateway.wait_ready().await;
    let addr = gateway.listener;
    let backend_name = || async move {
        let (status, body) = try_get(addr, "a.example", "/").await.ok()?;
        (status == StatusCode::OK).then(|| echo_json(&body)["name"].as_str().map(str::to_owned))?
    };
    let first = gateway
        .eventually("the first config to serve", backend_name)
        .await;
    assert_eq!(first, "one");
    assert!(
        !gateway.log().contains(NOT_LOADED),
        "the first load failed; log:\n{}",
        gateway.log()
    );

    // The route file stops parsing. Had the gateway applied what still parses, the route
    // would be gone and a.example would answer 404.
    scratch.write("route.yaml", BROKEN_ROUTE);
    gateway.wait_for_log(NOT_LOADED).await;
    assert!(
        gateway.log().contains("route.yaml"),
        "the failed load names the file; log:\n{}",
        gateway.log()
    );
    for _ in 0..20 {
        let (status, body) = try_get(addr, "a.example", "/").await.unwrap();
        assert_eq!(status, StatusCode::OK, "log:\n{}", gateway.log());
        assert_eq!(echo_json(&body)["name"], "one");
    }
    let (status, _) = gateway.admin_get("/ready").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "still ready on the last good config"
    );

    // A valid change: the route now sends a.example to backend two.
    scratch.write("route.yaml", &route_yaml("r", "a.example", "/", "two"));
    gateway
        .eventually("the changed route to reach backend two", || async move {
            (backend_name().await? == "two").then_some(())
        })
        .await;

    // A new file with a second route on another host is picked up too.
    scratch.write("other.yaml", &route_yaml("r2", "b.example", "/b", "one"));
    gateway
        .eventually("the added route to serve", || async move {
            let (status, body) = try_get(addr, "b.example", "/b/x").await.ok()?;
            (status == StatusCode::OK && echo_json(&body)["name"] == "one").then_some(())
        })
        .await;
    let (status, body) = try_get(addr, "a.example", "/").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echo_json(&body)["name"], "two");
}

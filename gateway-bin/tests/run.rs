//! `gateway run` end to end: the real binary serves a directory of YAML, its admin server
//! reports readiness, health, status and the compiled plan, traffic reaches a real echo
//! backend, and SIGTERM ends it cleanly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gateway_core::test_util::spawn_echo_named;
use http::StatusCode;
use serde_json::Value;
use support::{Gateway, Scratch, echo_json, gateway_yaml, route_yaml, service_yaml, try_get};

/// The `status` of condition `type_` in a `conditions` array, if present.
fn condition<'a>(conditions: &'a Value, type_: &str) -> Option<&'a str> {
    conditions
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)?
        .get("status")?
        .as_str()
}

/// The entry of the `/status` array for `kind namespace/name`.
fn find<'a>(statuses: &'a [Value], kind: &str, namespace: &str, name: &str) -> &'a Value {
    statuses
        .iter()
        .find(|s| s["kind"] == kind && s["namespace"] == namespace && s["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {namespace}/{name} in /status: {statuses:#?}"))
}

#[tokio::test]
async fn serves_admin_endpoints_and_traffic_then_exits_on_sigterm() {
    let one = spawn_echo_named("one").await;
    let scratch = Scratch::new();
    scratch.write("gateway.yaml", &gateway_yaml());
    scratch.write(
        "app.yaml",
        &(service_yaml("one", one) + &route_yaml("r", "a.example", "/", "one")),
    );
    let mut gateway = Gateway::start(&scratch);
    gateway.wait_ready().await;

    // Liveness.
    let (status, _) = gateway.admin_get("/healthz").await;
    assert_eq!(status, StatusCode::OK);

    // Status: a JSON array with the Gateway and the route, each accepted.
    let (status, body) = gateway.admin_get("/status").await;
    assert_eq!(status, StatusCode::OK);
    let statuses: Vec<Value> = serde_json::from_slice(&body).expect("/status is a JSON array");
    let class = find(&statuses, "GatewayClass", "", "ours");
    assert_eq!(
        condition(&class["status"]["conditions"], "Accepted"),
        Some("True")
    );
    let gw = find(&statuses, "Gateway", "default", "gw");
    assert_eq!(gw["apiVersion"], "gateway.networking.k8s.io/v1");
    let gw_status = &gw["status"];
    assert_eq!(
        condition(&gw_status["conditions"], "Accepted"),
        Some("True")
    );
    assert_eq!(
        condition(&gw_status["conditions"], "Programmed"),
        Some("True")
    );
    assert_eq!(gw_status["listeners"][0]["name"], "http");
    assert_eq!(gw_status["listeners"][0]["attachedRoutes"], 1);
    let route = find(&statuses, "HTTPRoute", "default", "r");
    let parents = route["status"]["parents"]
        .as_array()
        .expect("route status has parents");
    assert_eq!(parents.len(), 1, "{route:#}");
    assert_eq!(parents[0]["parentRef"]["name"], "gw");
    assert_eq!(parents[0]["controllerName"], support::CONTROLLER);
    assert_eq!(
        condition(&parents[0]["conditions"], "Accepted"),
        Some("True")
    );
    assert_eq!(
        condition(&parents[0]["conditions"], "ResolvedRefs"),
        Some("True")
    );

    // Config dump: the compiled plan as JSON, naming the route's host.
    let (status, body) = gateway.admin_get("/config_dump").await;
    assert_eq!(status, StatusCode::OK);
    let dump: Value = serde_json::from_slice(&body).expect("/config_dump is JSON");
    assert!(dump.is_object(), "{dump:#}");
    assert!(
        dump.to_string().contains("a.example"),
        "the plan has the route's hostname: {dump:#}"
    );

    // Traffic with the route's Host reaches the echo backend; another Host matches nothing.
    let (status, body) = try_get(gateway.listener, "a.example", "/hello?x=1")
        .await
        .unwrap_or_else(|err| {
            panic!(
                "request through the listener: {err}; log:\n{}",
                gateway.log()
            )
        });
    assert_eq!(status, StatusCode::OK);
    let echo = echo_json(&body);
    assert_eq!(echo["name"], "one");
    assert_eq!(echo["path"], "/hello?x=1");
    assert_eq!(echo["host"], "a.example");
    let (status, _) = try_get(gateway.listener, "b.example", "/hello")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Metrics: the request above is counted under its route and backend, on both paths
    // Prometheus and Envoy users scrape.
    for path in ["/metrics", "/stats/prometheus"] {
        let (status, body) = gateway.admin_get(path).await;
        assert_eq!(status, StatusCode::OK);
        let text = String::from_utf8(body.to_vec()).unwrap();
        let line = text
            .lines()
            .find(|l| {
                l.starts_with("gateway_requests_total{")
                    && l.contains("route=\"default/r\"")
                    && l.contains("code_class=\"2xx\"")
            })
            .unwrap_or_else(|| panic!("no 2xx series for default/r in {path}:\n{text}"));
        assert!(line.ends_with(" 1"), "{line}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("gateway_upstream_requests_total{")
                    && l.contains("code_class=\"2xx\"")
                    && l.ends_with(" 1")),
            "{text}"
        );
    }

    // SIGTERM: a clean exit.
    gateway.terminate();
    let exit = gateway.wait_exit().await;
    assert!(
        exit.success(),
        "exit after SIGTERM: {exit}; log:\n{}",
        gateway.log()
    );
    assert!(
        tokio::net::TcpStream::connect(gateway.listener)
            .await
            .is_err(),
        "the listener is closed after exit"
    );
}

#[tokio::test]
async fn not_ready_while_a_listener_cannot_bind() {
    // Another socket holds the listener's address: the configuration is applied (status
    // and config dump published) but `/ready` stays 503, while `/healthz` answers 200.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap();
    let scratch = Scratch::new();
    scratch.write("gateway.yaml", &gateway_yaml());
    let admin_port = support::free_ports(1)[0];
    let mut gateway = Gateway::start_on(&scratch, taken, admin_port);
    gateway.wait_for_log("configuration applied").await;

    let (status, _) = gateway.admin_get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = gateway.admin_get("/status").await;
    assert_eq!(status, StatusCode::OK);
    let statuses: Vec<Value> = serde_json::from_slice(&body).unwrap();
    find(&statuses, "Gateway", "default", "gw");
    let (status, _) = gateway.admin_get("/ready").await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "ready although {taken} is not bound; log:\n{}",
        gateway.log()
    );
    assert!(
        gateway.log().contains(&taken.to_string()),
        "the bind failure names the address; log:\n{}",
        gateway.log()
    );
    drop(holder);
}

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

#[tokio::test]
async fn a_direct_response_extension_ref_answers_without_a_backend() {
    let yaml = gateway(HTTP_LISTENER)
        + "---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: DirectResponse
metadata: {name: teapot, namespace: default}
spec: {status: 418, body: short and stout}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [a.example]
  rules:
  - matches: [{path: {type: PathPrefix, value: /tea}}]
    filters:
    - type: ExtensionRef
      extensionRef: {group: gateway.kgateway.dev, kind: DirectResponse, name: teapot}
  - matches: [{path: {type: PathPrefix, value: /missing}}]
    filters:
    - type: ExtensionRef
      extensionRef: {group: gateway.kgateway.dev, kind: DirectResponse, name: nope}
";
    let runtime = runtime(&[80], loopback());
    let applied = runtime.apply(&support::snapshot(&yaml));
    assert!(
        applied.diagnostics.iter().any(|d| d.to_string().contains(
            "spec.rules[1].filters[0].extensionRef: DirectResponse default/nope not found"
        )),
        "{:?}",
        applied.diagnostics
    );
    let addr = runtime.sockets().local_addr(loopback()).unwrap();
    let answer = get(addr, "a.example", "/tea").await;
    assert_eq!(answer.status, StatusCode::IM_A_TEAPOT);
    assert_eq!(answer.body, "short and stout");
    assert_eq!(
        get(addr, "a.example", "/missing").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

/// Sends `method path` with `headers` and `body` to `addr` over HTTP/1.1.
async fn send(
    addr: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &'static str,
) -> http::Response<bytes::Bytes> {
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("host", host);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    gateway_core::test_util::http1_client()
        .send(request.body(gateway_core::body::full(body)).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn kgateway_doc_examples_rate_limit_buffer_fault_csrf_transformation() {
    let one = spawn_echo_named("one").await;
    let on = |route: &str| {
        format!(
            "  targetRefs: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: {route}}}]\n"
        )
    };
    let yaml = gateway(HTTP_LISTENER)
        + &service("one", one)
        + &route("limited", "limited.example", "/", "one")
        + &route("buffered", "buffered.example", "/", "one")
        + &route("faulty", "faulty.example", "/", "one")
        + &route("guarded", "guarded.example", "/", "one")
        + &route("transformed", "transformed.example", "/", "one")
        + &route("rewritten", "rewritten.example", "/", "one")
        + &policy(
            "rate-limit",
            "2024-01-01T00:00:00Z",
            &(on("limited")
                + "  rateLimit:
    local:
      tokenBucket: {maxTokens: 3, tokensPerFill: 3, fillInterval: 60s}"),
        )
        + &policy(
            "buffer",
            "2024-01-01T00:00:00Z",
            &(on("buffered") + "  buffer: {maxRequestSize: '8'}"),
        )
        + &policy(
            "fault",
            "2024-01-01T00:00:00Z",
            &(on("faulty") + "  faultInjection: {abort: {httpStatus: 503, percentage: 100}}"),
        )
        + &policy(
            "csrf",
            "2024-01-01T00:00:00Z",
            &(on("guarded") + "  csrf: {percentageEnabled: 100}"),
        )
        + &policy(
            "transformation",
            "2024-01-01T00:00:00Z",
            &(on("transformed")
                + "  transformation:
    request:
      set: [{name: x-greeting, value: 'hello {{ request_header(\"x-name\") }}'}]"),
        )
        + &policy(
            "rewrite",
            "2024-01-01T00:00:00Z",
            &(on("rewritten")
                + "  urlRewrite: {pathRegex: {pattern: '^/v1/(.*)$', substitution: '/api/\\1'}}"),
        );
    let runtime = runtime(&[80], loopback());
    let applied = runtime.apply(&support::snapshot(&yaml));
    assert!(applied.diagnostics.is_empty(), "{:?}", applied.diagnostics);
    let addr = runtime.sockets().local_addr(loopback()).unwrap();

    // Rate limit 3 per minute: the 4th request is refused the way Envoy does.
    for _ in 0..3 {
        assert_eq!(
            get(addr, "limited.example", "/").await.status,
            StatusCode::OK
        );
    }
    let refused = get(addr, "limited.example", "/").await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.body, "local_rate_limited");

    // Buffer: 8 bytes pass, 9 do not.
    let small = send(addr, "POST", "buffered.example", "/", &[], "12345678").await;
    assert_eq!(small.status(), StatusCode::OK);
    let large = send(addr, "POST", "buffered.example", "/", &[], "123456789").await;
    assert_eq!(large.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Fault injection aborts every request.
    assert_eq!(
        get(addr, "faulty.example", "/").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );

    // CSRF: a cross-origin POST is refused, a same-origin one passes.
    let cross = send(
        addr,
        "POST",
        "guarded.example",
        "/",
        &[("origin", "http://evil.example")],
        "",
    )
    .await;
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    let same = send(
        addr,
        "POST",
        "guarded.example",
        "/",
        &[("origin", "http://guarded.example")],
        "",
    )
    .await;
    assert_eq!(same.status(), StatusCode::OK);

    // Transformation renders a header from a template.
    let transformed = send(
        addr,
        "GET",
        "transformed.example",
        "/",
        &[("x-name", "gateway")],
        "",
    )
    .await;
    let echo: serde_json::Value = serde_json::from_slice(transformed.body()).unwrap();
    assert_eq!(echo["headers"]["x-greeting"][0], "hello gateway");

    // Path regex rewrite.
    let rewritten = get(addr, "rewritten.example", "/v1/items?x=1").await;
    assert_eq!(rewritten.echo()["path"], "/api/items?x=1");
}

#[tokio::test]
async fn a_listener_policy_logs_json_with_response_flags_and_answers_health_checks() {
    let one = spawn_echo_named("one").await;
    let logs = tempfile::tempdir().unwrap();
    let log_path = logs.path().join("access.log");
    let yaml = gateway(HTTP_LISTENER)
        + &service("one", one)
        + &route("r", "a.example", "/", "one")
        + &policy(
            "rate-limit",
            "2024-01-01T00:00:00Z",
            "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: r}]
  rateLimit:
    local:
      tokenBucket: {maxTokens: 1, tokensPerFill: 1, fillInterval: 100s}",
        )
        + &format!(
            "---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: ListenerPolicy
metadata: {{name: access-logs, namespace: default}}
spec:
  targetRefs: [{{group: gateway.networking.k8s.io, kind: Gateway, name: gw}}]
  default:
    httpSettings:
      healthCheck: {{path: /healthz}}
      xffNumTrustedHops: 1
      accessLog:
      - fileSink:
          path: {}
          jsonFormat:
            method: '%REQ(:METHOD)%'
            path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%'
            response_code: '%RESPONSE_CODE%'
            response_flags: '%RESPONSE_FLAGS%'
            client: '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%'
            request_id: '%REQ(X-REQUEST-ID)%'
            route: '%ROUTE_NAME%'
",
            log_path.display()
        );
    let runtime = runtime(&[80], loopback());
    let applied = runtime.apply(&support::snapshot(&yaml));
    assert!(applied.diagnostics.is_empty(), "{:?}", applied.diagnostics);
    let addr = runtime.sockets().local_addr(loopback()).unwrap();

    // The health check path is answered by the listener, whatever the host.
    assert_eq!(
        get(addr, "any.example", "/healthz").await.status,
        StatusCode::OK
    );
    // The first request passes with a generated request id; the second is rate limited.
    let first = get(addr, "a.example", "/first").await;
    assert_eq!(first.status, StatusCode::OK);
    let id = first.echo()["headers"]["x-request-id"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(
        get(addr, "a.example", "/second").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );

    // Lines are written by a background thread: wait until all three are there.
    let mut lines = Vec::new();
    for _ in 0..200 {
        lines = std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect();
        if lines.len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["path"], "/healthz");
    assert_eq!(lines[1]["path"], "/first");
    assert_eq!(lines[1]["response_code"], 200);
    assert_eq!(lines[1]["request_id"], id.as_str());
    assert_eq!(lines[1]["client"], "127.0.0.1");
    assert!(
        lines[1]["route"].as_str().unwrap().starts_with("default/r"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2]["response_code"], 429);
    assert_eq!(lines[2]["response_flags"], "RL");
}

/// A second EndpointSlice for Service `name`, adding `backend` as another endpoint.
fn extra_endpoint(name: &str, backend: SocketAddr) -> String {
    format!(
        "---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {name}-2
  namespace: default
  labels: {{kubernetes.io/service-name: {name}}}
addressType: IPv4
ports: [{{name: http, port: {}}}]
endpoints:
- addresses: [\"{}\"]
",
        backend.port(),
        backend.ip()
    )
}

#[tokio::test]
async fn a_backend_config_policy_hashes_a_header_onto_one_endpoint() {
    let (one, two) = (spawn_echo_named("one").await, spawn_echo_named("two").await);
    let yaml = gateway(HTTP_LISTENER)
        + &service("pool", one)
        + &extra_endpoint("pool", two)
        + &route("r", "a.example", "/", "pool")
        + "---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: BackendConfigPolicy
metadata: {name: sticky, namespace: default}
spec:
  targetRefs: [{group: '', kind: Service, name: pool}]
  loadBalancer:
    ringHash:
      hashPolicies: [{header: {name: x-user}}]
";
    let runtime = runtime(&[80], loopback());
    let applied = runtime.apply(&support::snapshot(&yaml));
    assert!(applied.diagnostics.is_empty(), "{:?}", applied.diagnostics);
    let addr = runtime.sockets().local_addr(loopback()).unwrap();
    let mut seen = std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new();
    for user in 0..16 {
        for _ in 0..4 {
            let answer = send(
                addr,
                "GET",
                "a.example",
                "/",
                &[("x-user", &format!("user-{user}"))],
                "",
            )
            .await;
            let echo: serde_json::Value = serde_json::from_slice(answer.body()).unwrap();
            seen.entry(format!("user-{user}"))
                .or_default()
                .insert(echo["name"].as_str().unwrap().to_owned());
        }
    }
    // Every user sticks to one endpoint, and the users spread over both.
    assert!(seen.values().all(|names| names.len() == 1), "{seen:?}");
    let used: std::collections::BTreeSet<_> = seen.values().flatten().collect();
    assert_eq!(used.len(), 2, "{seen:?}");
}

#[tokio::test]
async fn backend_config_policy_status_names_missing_and_conflicting_targets() {
    let one = spawn_echo_named("one").await;
    let policy = |name: &str, created: &str, target: &str| {
        format!(
            "---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: BackendConfigPolicy
metadata: {{name: {name}, namespace: default, creationTimestamp: '{created}'}}
spec:
  targetRefs: [{{group: '', kind: Service, name: {target}}}]
  connectTimeout: 2s
"
        )
    };
    let yaml = gateway(HTTP_LISTENER)
        + &service("one", one)
        + &route("r", "a.example", "/", "one")
        + &policy("older", "2024-01-01T00:00:00Z", "one")
        + &policy("newer", "2024-02-01T00:00:00Z", "one")
        + &policy("ghost", "2024-01-01T00:00:00Z", "nope");
    let runtime = runtime(&[80], loopback());
    let applied = runtime.apply(&support::snapshot(&yaml));
    let diagnostics: Vec<String> = applied
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        diagnostics,
        [
            "BackendConfigPolicy default/ghost: spec.targetRefs: Service default/nope not found (TargetNotFound)",
            "BackendConfigPolicy default/newer: BackendConfigPolicy default/older already configures Service default/one (Conflicted)",
        ]
    );
    let addr = runtime.sockets().local_addr(loopback()).unwrap();
    assert_eq!(get(addr, "a.example", "/").await.status, StatusCode::OK);
}

#[tokio::test]
async fn kgateway_weighted_split_10_10_80_lands_within_3_percent() {
    let (a, b, c) = (
        spawn_echo_named("a").await,
        spawn_echo_named("b").await,
        spawn_echo_named("c").await,
    );
    let yaml = gateway(HTTP_LISTENER)
        + &service("a", a)
        + &service("b", b)
        + &service("c", c)
        + "---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: split, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [split.example]
  rules:
  - timeouts: {request: 180s}
    backendRefs:
    - {name: a, port: 80, weight: 10}
    - {name: b, port: 80, weight: 10}
    - {name: c, port: 80, weight: 80}
";
    let runtime = runtime(&[80], loopback());
    let addr = apply(&runtime, &yaml, loopback());
    let mut connection = support::client::Connection::h1(addr).await;
    let mut counts = std::collections::BTreeMap::<String, u32>::new();
    for _ in 0..2000 {
        let answer = connection.get("split.example", "/").await.unwrap();
        *counts
            .entry(answer.echo()["name"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    for (name, share) in [("a", 10.0), ("b", 10.0), ("c", 80.0)] {
        let got = f64::from(counts[name]) / 20.0;
        assert!(
            (got - share).abs() <= 3.0,
            "{name}: {got}% of 2000 ({counts:?})"
        );
    }
}

#[tokio::test]
async fn basic_auth_api_keys_and_acl_guard_routes() {
    let one = spawn_echo_named("one").await;
    let on = |route: &str| {
        format!(
            "  targetRefs: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: {route}}}]\n"
        )
    };
    let yaml = gateway(HTTP_LISTENER)
        + &service("one", one)
        + &route("basic", "basic.example", "/", "one")
        + &route("keyed", "keyed.example", "/", "one")
        + &route("walled", "walled.example", "/", "one")
        + "---
apiVersion: v1
kind: Secret
metadata: {name: api-keys, namespace: default}
data: {client1: ay0xMjM=}
" + &policy(
        "basic",
        "2024-01-01T00:00:00Z",
        &(on("basic") + "  basicAuth: {users: ['alice:{SHA}F2GPAaOiG5EcklvLUlodIavTBnM=']}"),
    ) + &policy(
        "keyed",
        "2024-01-01T00:00:00Z",
        &(on("keyed")
            + "  apiKeyAuth:
    secretRef: {name: api-keys}
    keySources: [{header: x-api-key}]
    clientIdHeader: x-client-id"),
    ) + &policy(
        "walled",
        "2024-01-01T00:00:00Z",
        &(on("walled")
            + "  acl:
    defaultAction: allow
    rules: [{cidrs: [127.0.0.0/8], action: deny}]"),
    );
    let runtime = runtime(&[80], loopback());
    let applied = runtime.apply(&support::snapshot(&yaml));
    assert!(applied.diagnostics.is_empty(), "{:?}", applied.diagnostics);
    let addr = runtime.sockets().local_addr(loopback()).unwrap();

    let anonymous = send(addr, "GET", "basic.example", "/", &[], "").await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(
        anonymous.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic realm=")
    );
    let wrong = send(
        addr,
        "GET",
        "basic.example",
        "/",
        &[("authorization", "Basic YWxpY2U6bm9wZQ==")],
        "",
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let alice = send(
        addr,
        "GET",
        "basic.example",
        "/",
        &[("authorization", "Basic YWxpY2U6b3BlbnNlc2FtZQ==")],
        "",
    )
    .await;
    assert_eq!(alice.status(), StatusCode::OK);

    assert_eq!(
        send(
            addr,
            "GET",
            "keyed.example",
            "/",
            &[("x-api-key", "k-999")],
            ""
        )
        .await
        .status(),
        StatusCode::UNAUTHORIZED
    );
    let keyed = send(
        addr,
        "GET",
        "keyed.example",
        "/",
        &[("x-api-key", "k-123")],
        "",
    )
    .await;
    assert_eq!(keyed.status(), StatusCode::OK);
    let echo: serde_json::Value = serde_json::from_slice(keyed.body()).unwrap();
    assert_eq!(echo["headers"]["x-client-id"][0], "client1");
    assert!(
        echo["headers"].get("x-api-key").is_none(),
        "the key is stripped"
    );

    assert_eq!(
        get(addr, "walled.example", "/").await.status,
        StatusCode::FORBIDDEN
    );
}

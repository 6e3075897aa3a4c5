//! Metrics end to end on real sockets: traffic through a listener serving a stack with the
//! metrics layers, then `/metrics` and `/stats/prometheus` scraped from the admin server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use gateway_core::{
    HttpService, Limits, Request, Response, ResponseFlag,
    admin::{AdminState, serve_admin},
    body,
    error::local_response,
    listener::{SocketManager, SocketState},
    metrics::{BackendLabels, Metrics, MetricsLayer, OPENMETRICS_CONTENT_TYPE, RouteLabels},
};
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use std::{collections::HashMap, convert::Infallible, net::SocketAddr, sync::Arc};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::Layer;

const ROUTE: &str = r#"gateway="default/gw",listener="http",route="default/api",rule="0""#;
const BACKEND: &str = r#"backend="default/echo:8080""#;

/// One GET over a fresh HTTP/1.1 connection: status, headers and body.
async fn get(addr: SocketAddr, path: &str) -> (StatusCode, HeaderMap, Bytes) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    let request = http::Request::get(path)
        .header(http::header::HOST, "gw.example")
        .body(body::empty())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let (parts, incoming) = response.into_parts();
    let body = incoming.collect().await.unwrap().to_bytes();
    drop(sender);
    driver.await.unwrap().unwrap();
    (parts.status, parts.headers, body)
}

/// A rule's stack as a builder would make it: the route's metrics layer outermost; `/limited`
/// answered by a rate limit; everything else sent "upstream" through the backend's metrics
/// layer, where `/down` fails to connect.
fn rule_stack(metrics: &Metrics) -> HttpService {
    let route = metrics.route(&RouteLabels::new("default/gw", "http", "default/api", "0"));
    let backend = metrics.backend(&BackendLabels::new("default/echo:8080"));
    let upstream = HttpService::new(
        MetricsLayer::upstream(&backend).layer(tower::service_fn(upstream_answer)),
    );
    let rule = tower::service_fn(move |request: Request| rule_answer(upstream.clone(), request));
    HttpService::new(MetricsLayer::new(&route).layer(rule))
}

/// The rule: a rate limit that refuses `/limited`, then the upstream.
async fn rule_answer(upstream: HttpService, request: Request) -> Result<Response, Infallible> {
    if request.uri().path() == "/limited" {
        return Ok(local_response(
            StatusCode::TOO_MANY_REQUESTS,
            ResponseFlag::RateLimited,
        ));
    }
    upstream.call_shared(request).await
}

/// The "upstream": `/down` fails to connect, everything else answers 200.
async fn upstream_answer(request: Request) -> Result<Response, Infallible> {
    Ok(if request.uri().path() == "/down" {
        local_response(
            StatusCode::SERVICE_UNAVAILABLE,
            ResponseFlag::UpstreamConnectionFailure,
        )
    } else {
        http::Response::new(body::full("hello"))
    })
}

/// `series -> value` of every sample line.
fn samples(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            (series.to_owned(), value.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn admin_serves_what_the_traffic_recorded() {
    let metrics = Arc::new(Metrics::new());

    let manager = SocketManager::new(Limits::default());
    let requested: SocketAddr = "127.0.0.1:0".parse().unwrap();
    manager
        .apply(HashMap::from([(
            requested,
            SocketState {
                http: Some(rule_stack(&metrics)),
                tls: None,
            },
        )]))
        .unwrap();
    let gateway = manager.local_addr(requested).unwrap();

    let admin_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = admin_listener.local_addr().unwrap();
    let state = Arc::new(AdminState::with_metrics(metrics.clone()));
    assert!(Arc::ptr_eq(state.metrics(), &metrics));
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve_admin(admin_listener, state, shutdown.clone()));

    for (path, status) in [
        ("/", StatusCode::OK),
        ("/", StatusCode::OK),
        ("/limited", StatusCode::TOO_MANY_REQUESTS),
        ("/down", StatusCode::SERVICE_UNAVAILABLE),
    ] {
        let (got, _, _) = get(gateway, path).await;
        assert_eq!(got, status, "{path}");
    }

    let (status, headers, body) = get(admin, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[http::header::CONTENT_TYPE],
        OPENMETRICS_CONTENT_TYPE
    );
    let text = std::str::from_utf8(&body).unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let samples = samples(text);
    let expected = [
        (
            format!(r#"gateway_requests_total{{{ROUTE},code_class="2xx"}}"#),
            "2",
        ),
        (
            format!(r#"gateway_requests_total{{{ROUTE},code_class="4xx"}}"#),
            "1",
        ),
        (
            format!(r#"gateway_requests_total{{{ROUTE},code_class="5xx"}}"#),
            "1",
        ),
        (
            format!(r#"gateway_response_flags_total{{{ROUTE},flag="RL"}}"#),
            "1",
        ),
        (
            format!(r#"gateway_response_flags_total{{{ROUTE},flag="UF"}}"#),
            "1",
        ),
        (
            format!("gateway_request_duration_seconds_count{{{ROUTE}}}"),
            "4",
        ),
        (
            format!(r#"gateway_request_duration_seconds_bucket{{le="+Inf",{ROUTE}}}"#),
            "4",
        ),
        (
            format!(r#"gateway_upstream_requests_total{{{BACKEND},code_class="2xx"}}"#),
            "2",
        ),
        (
            format!(r#"gateway_upstream_requests_total{{{BACKEND},code_class="5xx"}}"#),
            "1",
        ),
        (
            format!(r#"gateway_upstream_errors_total{{{BACKEND},flag="UF"}}"#),
            "1",
        ),
        (
            format!("gateway_upstream_request_duration_seconds_count{{{BACKEND}}}"),
            "3",
        ),
        (
            format!("gateway_upstream_active_requests{{{BACKEND}}}"),
            "0",
        ),
    ];
    for (series, value) in &expected {
        assert_eq!(
            samples.get(series).map(String::as_str),
            Some(*value),
            "{series} in\n{text}"
        );
    }
    // The rate-limited request never went upstream.
    assert!(!samples.contains_key(&format!(
        r#"gateway_upstream_errors_total{{{BACKEND},flag="RL"}}"#
    )));

    // Envoy's path serves the same registry.
    let (status, headers, envoy_body) = get(admin, "/stats/prometheus").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[http::header::CONTENT_TYPE],
        OPENMETRICS_CONTENT_TYPE
    );
    assert_eq!(
        self::samples(std::str::from_utf8(&envoy_body).unwrap()),
        samples
    );

    // A new request shows up on the next scrape.
    get(gateway, "/limited").await;
    let (_, _, body) = get(admin, "/metrics").await;
    let after = self::samples(std::str::from_utf8(&body).unwrap());
    assert_eq!(
        after
            .get(&format!(
                r#"gateway_response_flags_total{{{ROUTE},flag="RL"}}"#
            ))
            .map(String::as_str),
        Some("2")
    );

    shutdown.cancel();
    server.await.unwrap();
    manager.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test]
async fn default_admin_state_serves_its_own_empty_registry() {
    let admin_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = admin_listener.local_addr().unwrap();
    let state = Arc::new(AdminState::default());
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve_admin(admin_listener, state.clone(), shutdown.clone()));

    let (status, headers, body) = get(admin, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[http::header::CONTENT_TYPE],
        OPENMETRICS_CONTENT_TYPE
    );
    assert_eq!(body, "# EOF\n");

    // Handles resolved from the state's metrics appear on the admin endpoint.
    state
        .metrics()
        .backend(&BackendLabels::new("default/echo:8080"))
        .ejections()
        .inc();
    let (_, _, body) = get(admin, "/stats/prometheus").await;
    let text = std::str::from_utf8(&body).unwrap();
    assert!(
        text.lines()
            .any(|line| line == format!("gateway_upstream_ejections_total{{{BACKEND}}} 1")),
        "{text}"
    );

    shutdown.cancel();
    server.await.unwrap();
}

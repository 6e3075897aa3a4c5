//! Serving the admin endpoints over HTTP/1.1.

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::{convert::Infallible, sync::Arc, time::Duration};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{AdminState, JsonDocument};
use crate::metrics::OPENMETRICS_CONTENT_TYPE;

/// Time an admin client has to send its request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the admin endpoints on `listener` until `shutdown` is cancelled; then stops
/// accepting, lets requests in flight finish and returns.
pub async fn serve_admin(
    listener: TcpListener,
    state: Arc<AdminState>,
    shutdown: CancellationToken,
) {
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Accept errors (e.g. too many open files) are transient; back off briefly.
                tracing::debug!(error = %err, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let state = state.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(respond(&state, &request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = result {
                tracing::debug!(%peer, error = %err, "admin connection ended with an error");
            }
        });
    }
    connections.close();
    connections.wait().await;
}

/// Answers one admin request.
async fn respond(
    state: &AdminState,
    request: &http::Request<Incoming>,
) -> http::Response<Full<Bytes>> {
    let path = request.uri().path();
    let known = matches!(
        path,
        "/ready" | "/healthz" | "/config_dump" | "/status" | "/metrics" | "/stats/prometheus"
    );
    if !known {
        return text(StatusCode::NOT_FOUND, "not found");
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match path {
        "/ready" if state.is_ready() => text(StatusCode::OK, "ready"),
        "/ready" => text(StatusCode::SERVICE_UNAVAILABLE, "not ready"),
        "/config_dump" => json(written(state.config_dump()).await),
        "/status" => json(written(state.status()).await),
        "/metrics" | "/stats/prometheus" => metrics(state),
        _ => text(StatusCode::OK, "ok"),
    }
}

/// The OpenMetrics exposition of the state's registry.
fn metrics(state: &AdminState) -> http::Response<Full<Bytes>> {
    let mut exposition = String::new();
    if let Err(err) = state.metrics().encode(&mut exposition) {
        tracing::warn!(error = %err, "encoding metrics failed");
        return text(StatusCode::INTERNAL_SERVER_ERROR, "encoding metrics failed");
    }
    let mut response = http::Response::new(Full::new(Bytes::from(exposition)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(OPENMETRICS_CONTENT_TYPE),
    );
    response
}

fn text(status: StatusCode, text: &'static str) -> http::Response<Full<Bytes>> {
    let mut response = http::Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The document's JSON; a document read for the first time is written on the blocking
/// pool (a 10,000-route plan takes tens of milliseconds), not on the worker serving traffic.
async fn written(document: Arc<JsonDocument>) -> Bytes {
    if let Some(json) = document.written() {
        return json;
    }
    let writing = document.clone();
    match tokio::task::spawn_blocking(move || writing.json()).await {
        Ok(json) => json,
        // The blocking pool is shutting down: write it here rather than fail the read.
        Err(_) => document.json(),
    }
}

fn json(body: Bytes) -> http::Response<Full<Bytes>> {
    let mut response = http::Response::new(Full::new(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util;

    async fn start() -> (
        std::net::SocketAddr,
        Arc<AdminState>,
        CancellationToken,
        tokio::task::JoinHandle<()>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(AdminState::default());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve_admin(listener, state.clone(), shutdown.clone()));
        (addr, state, shutdown, task)
    }

    #[tokio::test]
    async fn endpoints_answer_from_state() {
        let (addr, state, shutdown, task) = start().await;

        let (status, _, body) = test_util::get(addr, "admin", "/ready").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "not ready");
        state.set_ready(true);
        assert!(state.is_ready());
        let (status, _, body) = test_util::get(addr, "admin", "/ready").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "ready");

        let (status, _, _) = test_util::get(addr, "admin", "/healthz").await;
        assert_eq!(status, StatusCode::OK);

        let (status, headers, body) = test_util::get(addr, "admin", "/config_dump").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(body, "{}");
        state.set_config_dump(Bytes::from_static(br#"{"listeners":[]}"#));
        let (_, _, body) = test_util::get(addr, "admin", "/config_dump").await;
        assert_eq!(body, r#"{"listeners":[]}"#);

        let (_, headers, body) = test_util::get(addr, "admin", "/status").await;
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(body, "[]");
        state.set_status(Bytes::from_static(br#"[{"kind":"Gateway"}]"#));
        let (_, _, body) = test_util::get(addr, "admin", "/status").await;
        assert_eq!(body, r#"[{"kind":"Gateway"}]"#);
        // A value is written when first read, and that JSON is what later reads share.
        let published = JsonDocument::of(vec![std::collections::BTreeMap::from([(
            "kind",
            "HTTPRoute",
        )])]);
        state.set_status(published);
        assert_eq!(state.status().written(), None);
        let (_, _, body) = test_util::get(addr, "admin", "/status").await;
        assert_eq!(body, r#"[{"kind":"HTTPRoute"}]"#);
        assert_eq!(state.status().written().unwrap(), body);

        let (status, _, _) = test_util::get(addr, "admin", "/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let client = test_util::http1_client();
        let request = http::Request::post(format!("http://{addr}/ready"))
            .body(crate::body::empty())
            .unwrap();
        let response = client.send(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);

        shutdown.cancel();
        task.await.unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn metrics_paths_serve_the_state_registry() {
        let (addr, state, shutdown, task) = start().await;
        // A route registered in the state's metrics: its series exist before any traffic.
        state
            .metrics()
            .route(&crate::metrics::RouteLabels::new(
                "ns/gw", "http", "ns/r", "0",
            ))
            .register();
        for path in ["/metrics", "/stats/prometheus"] {
            let (status, headers, body) = test_util::get(addr, "admin", path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(headers[header::CONTENT_TYPE], OPENMETRICS_CONTENT_TYPE);
            let text = std::str::from_utf8(&body).unwrap();
            assert!(
                text.lines().any(|line| line
                    == r#"gateway_requests_total{gateway="ns/gw",listener="http",route="ns/r",rule="0",code_class="2xx"} 0"#),
                "{text}"
            );
            assert!(text.ends_with("# EOF\n"), "{text}");
        }
        let client = test_util::http1_client();
        let request = http::Request::post(format!("http://{addr}/metrics"))
            .body(crate::body::empty())
            .unwrap();
        let response = client.send(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);

        shutdown.cancel();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn shutdown_closes_idle_keep_alive_connections() {
        let (addr, _state, shutdown, task) = start().await;
        // A pooled client keeps its connection open after the response.
        let client = test_util::http1_client();
        let request = http::Request::get(format!("http://{addr}/healthz"))
            .body(crate::body::empty())
            .unwrap();
        assert_eq!(client.send(request).await.unwrap().status(), StatusCode::OK);
        shutdown.cancel();
        task.await.unwrap();
    }
}

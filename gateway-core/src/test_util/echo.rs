//! An echo backend reporting what it received, as the conformance echo server does.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use std::{collections::BTreeMap, convert::Infallible, net::SocketAddr, sync::Arc};

/// Starts an echo backend speaking HTTP/1.1 and prior-knowledge HTTP/2 (h2c).
///
/// Every request is answered `200` with a JSON body:
///
/// ```json
/// {"method": "GET", "path": "/a?b=c", "host": "example.com", "protocol": "HTTP/1.1",
///  "headers": {"host": ["example.com"], "x-foo": ["1", "2"]},
///  "body": "...", "backend": "127.0.0.1:40001"}
/// ```
///
/// `path` includes the query; `host` is `:authority` for HTTP/2 requests that carry one
/// (as Go's `net/http` reports it) and the `Host` header otherwise; header names are
/// lowercase; the body is decoded as UTF-8, lossily. As the conformance echo server:
/// `X-Echo-Set-Header: name:value,name2:value2` adds response headers, and a path
/// `/status/NNN` answers with status `NNN`.
pub async fn spawn_echo() -> SocketAddr {
    spawn(None, false).await
}

/// Starts an echo backend that only speaks prior-knowledge HTTP/2 (h2c): an HTTP/1.1
/// request fails, which proves the client really used h2c. See [`spawn_echo`].
pub async fn spawn_echo_h2c() -> SocketAddr {
    spawn(None, true).await
}

/// Starts an echo backend (HTTP/1.1 and h2c) whose JSON also has `"name": name`, so tests
/// can tell backends apart. See [`spawn_echo`].
pub async fn spawn_echo_named(name: &str) -> SocketAddr {
    spawn(Some(Arc::from(name)), false).await
}

async fn spawn(name: Option<Arc<str>>, h2_only: bool) -> SocketAddr {
    let listener = super::bind().await;
    let addr = listener.local_addr().expect("local address");
    let backend: Arc<str> = Arc::from(addr.to_string());
    super::serve(listener, move |stream| {
        let name = name.clone();
        let backend = backend.clone();
        async move {
            let service = hyper::service::service_fn(move |request| {
                echo(request, name.clone(), backend.clone())
            });
            let io = TokioIo::new(stream);
            // Errors are the client's doing (tests that hang up); nothing to report.
            if h2_only {
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(io, service)
                    .await;
            } else {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(io, service)
                    .await;
            }
        }
    });
    addr
}

async fn echo(
    request: http::Request<Incoming>,
    name: Option<Arc<str>>,
    backend: Arc<str>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let (parts, incoming) = request.into_parts();
    let body = match incoming.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let mut headers: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, value) in &parts.headers {
        headers
            .entry(name.as_str())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let header_host = parts
        .headers
        .get(header::HOST)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let host = match (parts.version, parts.uri.authority()) {
        (http::Version::HTTP_2, Some(authority)) => Some(authority.to_string()),
        _ => header_host,
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let mut json = serde_json::json!({
        "method": parts.method.as_str(),
        "path": path,
        "host": host,
        "protocol": format!("{:?}", parts.version),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
        "backend": &*backend,
    });
    if let (Some(name), Some(object)) = (name, json.as_object_mut()) {
        object.insert("name".to_owned(), serde_json::Value::from(&*name));
    }

    let mut response = http::Response::new(Full::new(Bytes::from(json.to_string())));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(status) = parts
        .uri
        .path()
        .strip_prefix("/status/")
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
    {
        *response.status_mut() = status;
    }
    for value in parts.headers.get_all("x-echo-set-header") {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(',') {
            let Some((name, value)) = pair.split_once(':') else {
                continue;
            };
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.trim().as_bytes()),
                HeaderValue::from_str(value.trim()),
            ) {
                response.headers_mut().append(name, value);
            }
        }
    }
    Ok(response)
}

//! Backend service against real sockets on 127.0.0.1, and the backend policies.

mod balancing;
mod connections;
mod dns;
mod outlier;
mod validation;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, Version, header};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

use super::*;
use crate::{Limits, Request, Response, ResponseFlag, body, test_util};

fn service(endpoints: &[SocketAddr], protocol: AppProtocol, limits: &Limits) -> BackendService {
    BackendService::new(
        UpstreamClient::new(limits),
        Arc::new(Backend::new(endpoints.to_vec().into(), protocol)),
    )
}

fn http1(endpoints: &[SocketAddr]) -> BackendService {
    service(endpoints, AppProtocol::Http1, &Limits::default())
}

fn get(path: &str) -> Request {
    let mut request = http::Request::get(path).body(body::empty()).unwrap();
    request
        .headers_mut()
        .insert(header::HOST, HeaderValue::from_static("example.com"));
    request
}

async fn call(service: &BackendService, request: Request) -> (Response, Bytes) {
    let response = service.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (http::Response::from_parts(parts, body::empty()), bytes)
}

async fn call_json(service: &BackendService, request: Request) -> serde_json::Value {
    let (response, bytes) = call(service, request).await;
    assert_eq!(response.status(), StatusCode::OK, "{bytes:?}");
    serde_json::from_slice(&bytes).unwrap()
}

fn flag(response: &Response) -> Option<&'static str> {
    response
        .extensions()
        .get::<ResponseFlag>()
        .map(|flag| flag.as_str())
}

#[tokio::test]
async fn round_robin_over_two_backends() {
    let a = test_util::spawn_echo_named("a").await;
    let b = test_util::spawn_echo_named("b").await;
    let service = http1(&[a, b]);
    let mut names = Vec::new();
    for i in 0..4 {
        let mut request = http::Request::post(format!("/echo?i={i}"))
            .body(body::full(format!("body {i}")))
            .unwrap();
        request
            .headers_mut()
            .insert(header::HOST, HeaderValue::from_static("example.com"));
        let (response, bytes) = call(&service, request).await;
        assert_eq!(response.status(), StatusCode::OK);
        let endpoint = response.extensions().get::<UpstreamEndpoint>().unwrap().0;
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["backend"], endpoint.to_string());
        assert_eq!(json["method"], "POST");
        assert_eq!(json["path"], format!("/echo?i={i}"));
        assert_eq!(json["host"], "example.com");
        assert_eq!(json["body"], format!("body {i}"));
        assert_eq!(json["protocol"], "HTTP/1.1");
        names.push(json["name"].as_str().unwrap().to_owned());
    }
    assert_eq!(names, ["a", "b", "a", "b"]);
}

#[tokio::test]
async fn http2_downstream_request_gets_host_from_authority_and_goes_out_as_http11() {
    let echo = test_util::spawn_echo().await;
    let service = http1(&[echo]);
    // What hyper's HTTP/2 server hands over: absolute URI, no Host header.
    let mut request = http::Request::get("https://shop.example.com/cart?x=1")
        .body(body::empty())
        .unwrap();
    *request.version_mut() = Version::HTTP_2;
    let json = call_json(&service, request).await;
    assert_eq!(json["host"], "shop.example.com");
    assert_eq!(json["path"], "/cart?x=1");
    assert_eq!(json["protocol"], "HTTP/1.1");
}

#[tokio::test]
async fn no_endpoints_is_503_uh() {
    let (response, _) = call(&http1(&[]), get("/")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(flag(&response), Some("UH"));
}

#[tokio::test]
async fn refused_connection_is_503_uf() {
    let refused = test_util::spawn_refused().await;
    let (response, _) = call(&http1(&[refused]), get("/")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(flag(&response), Some("UF"));
    assert_eq!(
        response.extensions().get::<UpstreamEndpoint>(),
        Some(&UpstreamEndpoint(refused))
    );
}

#[tokio::test]
async fn hanging_backend_is_504_ut() {
    let hang = test_util::spawn_hang().await;
    let limits = Limits {
        upstream_response_header_timeout: Duration::from_millis(100),
        ..Limits::default()
    };
    for protocol in [AppProtocol::Http1, AppProtocol::H2c] {
        let (response, _) = call(&service(&[hang], protocol, &limits), get("/")).await;
        assert_eq!(
            response.status(),
            StatusCode::GATEWAY_TIMEOUT,
            "{protocol:?}"
        );
        assert_eq!(flag(&response), Some("UT"));
    }
}

#[tokio::test]
async fn reset_is_502_uc() {
    let reset = test_util::spawn_reset().await;
    let (response, _) = call(&http1(&[reset]), get("/")).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(flag(&response), Some("UC"));
}

#[tokio::test]
async fn garbage_is_502_upe() {
    let garbage = test_util::spawn_garbage().await;
    let (response, _) = call(&http1(&[garbage]), get("/")).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(flag(&response), Some("UPE"));
}

#[tokio::test]
async fn h2c_backend_gets_http2_with_the_client_host() {
    let echo = test_util::spawn_echo_h2c().await;
    let service = service(&[echo], AppProtocol::H2c, &Limits::default());
    let mut request = get("/grpc.Echo/Say");
    request
        .headers_mut()
        .insert(header::TE, HeaderValue::from_static("trailers"));
    for _ in 0..2 {
        let json = call_json(&service, clone_request(&request)).await;
        assert_eq!(json["protocol"], "HTTP/2.0");
        assert_eq!(json["path"], "/grpc.Echo/Say");
        assert_eq!(json["headers"]["host"][0], "example.com");
        assert_eq!(json["headers"]["te"][0], "trailers");
    }
    // An h2c-only backend cannot be reached over HTTP/1.1: the h2c pool was really used.
    let (response, _) = call(&http1(&[echo]), get("/")).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
}

fn clone_request(request: &Request) -> Request {
    let mut clone = http::Request::new(body::empty());
    *clone.method_mut() = request.method().clone();
    *clone.uri_mut() = request.uri().clone();
    *clone.headers_mut() = request.headers().clone();
    clone
}

#[tokio::test]
async fn hop_by_hop_headers_are_stripped_both_ways() {
    let echo = test_util::spawn_echo().await;
    let service = http1(&[echo]);
    let mut request = get("/");
    let headers = request.headers_mut();
    for (name, value) in [
        ("connection", "keep-alive, x-private"),
        ("keep-alive", "timeout=5"),
        ("proxy-connection", "keep-alive"),
        ("te", "trailers"),
        ("trailer", "x-checksum"),
        ("upgrade", "h2c"),
        ("x-private", "secret"),
        ("x-kept", "yes"),
        (
            "x-echo-set-header",
            "keep-alive:timeout=9,proxy-connection:close,trailer:x-sum,x-hop:1,connection:x-hop,x-end:1",
        ),
    ] {
        headers.insert(
            http::HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    let (response, bytes) = call(&service, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let seen = json["headers"].as_object().unwrap();
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "x-private",
    ] {
        assert!(
            !seen.contains_key(name),
            "{name} reached the backend: {seen:?}"
        );
    }
    assert_eq!(seen["x-kept"][0], "yes");

    let headers = response.headers();
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "trailer",
        "x-hop",
        "transfer-encoding",
    ] {
        assert!(
            !headers.contains_key(name),
            "{name} reached the client: {headers:?}"
        );
    }
    assert_eq!(headers["x-end"], "1");
}

/// A hyper HTTP/1.1 server in front of `service`, as the listener runs it.
async fn front(service: BackendService) -> SocketAddr {
    let service = crate::HttpService::new(service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = service.clone();
            tokio::spawn(async move {
                let hyper_service = hyper::service::service_fn(
                    move |request: http::Request<hyper::body::Incoming>| {
                        let (parts, incoming) = request.into_parts();
                        let request = http::Request::from_parts(parts, body::boxed(incoming));
                        service.call_shared(request)
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(stream), hyper_service)
                    .await;
            });
        }
    });
    addr
}

async fn read_head(stream: &mut tokio::net::TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.unwrap();
        assert_eq!(n, 1, "connection closed in the response head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[tokio::test]
async fn upgrade_splices_a_bidirectional_stream() {
    let upstream = test_util::spawn_upgrade_echo().await;
    let gateway = front(http1(&[upstream])).await;

    let mut stream = tokio::net::TcpStream::connect(gateway).await.unwrap();
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, Upgrade\r\n\
              Upgrade: websocket\r\nKeep-Alive: timeout=5\r\n\r\n",
        )
        .await
        .unwrap();
    let head = read_head(&mut stream).await.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    assert!(head.contains("connection: upgrade"), "{head}");

    for message in [&b"hello"[..], b"second message"] {
        stream.write_all(message).await.unwrap();
        let mut echoed = vec![0u8; message.len()];
        stream.read_exact(&mut echoed).await.unwrap();
        assert_eq!(echoed, message);
    }
    // Closing our side closes the upstream, which closes back.
    stream.shutdown().await.unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
}

#[tokio::test]
async fn upgrade_refused_by_upstream_is_an_ordinary_response() {
    // The echo backend ignores upgrade requests and answers 200.
    let echo = test_util::spawn_echo().await;
    let gateway = front(http1(&[echo])).await;
    let mut stream = tokio::net::TcpStream::connect(gateway).await.unwrap();
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: example.com\r\nConnection: upgrade\r\n\
              Upgrade: websocket\r\n\r\n",
        )
        .await
        .unwrap();
    let head = read_head(&mut stream).await.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!head.contains("upgrade: websocket"), "{head}");
}

#[tokio::test]
async fn upgrade_to_a_refused_port_is_503_uf() {
    let refused = test_util::spawn_refused().await;
    let mut request = get("/ws");
    let headers = request.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    let (response, _) = call(&http1(&[refused]), request).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(flag(&response), Some("UF"));
}

#[tokio::test]
async fn through_a_front_server_over_h1_and_h2c() {
    let echo = test_util::spawn_echo().await;
    let gateway = front(http1(&[echo])).await;
    let (status, _, bytes) = test_util::get(gateway, "app.example.com", "/x").await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(json["host"], "app.example.com");

    let request = http::Request::get(format!("http://{gateway}/y"))
        .body(body::empty())
        .unwrap();
    let response = test_util::h2c_client().send(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let json: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(json["host"], gateway.to_string());
    assert_eq!(json["protocol"], "HTTP/1.1");
}

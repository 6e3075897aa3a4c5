//! Listener behaviour on real sockets: edge limits, strict framing, idle and drain.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use gateway_core::{
    HttpService, Limits, Request, Response, body,
    extensions::ConnectionInfo,
    listener::{SocketManager, SocketState},
};
use http_body_util::BodyExt;
use std::{collections::HashMap, convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::Notify,
};

/// Generous bound for "the gateway eventually does X"; never a performance assertion.
const EVENTUALLY: Duration = Duration::from_secs(10);

/// Answers with the request's body length, whether it was chunked, and the client address.
fn reporting_service() -> HttpService {
    HttpService::new(tower::service_fn(|request: Request| async move {
        let chunked = request
            .headers()
            .contains_key(http::header::TRANSFER_ENCODING);
        let has_length = request.headers().contains_key(http::header::CONTENT_LENGTH);
        let remote = request
            .extensions()
            .get::<ConnectionInfo>()
            .map(|c| c.remote_addr.ip().to_string())
            .unwrap_or_default();
        let xff = request
            .headers()
            .get("x-forwarded-for")
            .map(|v| v.to_str().unwrap_or("").to_owned())
            .unwrap_or_default();
        let length = request
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes().len());
        let text = format!(
            "len={} chunked={chunked} content-length={has_length} remote={remote} xff={xff}",
            length.unwrap_or(usize::MAX)
        );
        Ok::<Response, Infallible>(http::Response::new(body::full(text)))
    }))
}

fn serve(limits: Limits, service: HttpService) -> (SocketManager, SocketAddr) {
    let manager = SocketManager::new(limits);
    let requested: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let state = SocketState {
        http: Some(service),
        tls: None,
    };
    manager.apply(HashMap::from([(requested, state)])).unwrap();
    let addr = manager.local_addr(requested).unwrap();
    (manager, addr)
}

/// Writes `raw`, then reads until the peer closes or `EVENTUALLY` passes.
async fn exchange(addr: SocketAddr, raw: &[u8]) -> (String, bool) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw).await.unwrap();
    read_until_close(&mut stream).await
}

/// Everything read, and whether the peer closed the connection.
async fn read_until_close(stream: &mut TcpStream) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match tokio::time::timeout(EVENTUALLY, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

#[tokio::test]
async fn requests_get_forwarded_for_and_connection_info() {
    let (_manager, addr) = serve(Limits::default(), reporting_service());
    let (text, _) = exchange(
        addr,
        b"GET / HTTP/1.1\r\nhost: a\r\nx-forwarded-for: 10.0.0.1\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("remote=127.0.0.1 xff=10.0.0.1, 127.0.0.1"),
        "{text}"
    );
}

#[tokio::test]
async fn conflicting_content_lengths_are_400_and_close() {
    let (_manager, addr) = serve(Limits::default(), reporting_service());
    let (text, closed) = exchange(
        addr,
        b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(closed);
}

#[tokio::test]
async fn malformed_content_length_is_400_and_close() {
    let (_manager, addr) = serve(Limits::default(), reporting_service());
    let (text, closed) = exchange(
        addr,
        b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: +3\r\n\r\nabc",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(closed);
}

#[tokio::test]
async fn transfer_encoding_with_content_length_is_never_forwarded_ambiguously() {
    let (_manager, addr) = serve(Limits::default(), reporting_service());
    let (text, closed) = exchange(
        addr,
        b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 100\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    )
    .await;
    // Chunked framing wins, Content-Length is dropped, and the connection is not reused.
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("len=3 chunked=true content-length=false"),
        "{text}"
    );
    assert!(closed);
}

#[tokio::test]
async fn unknown_transfer_encoding_is_400() {
    let (_manager, addr) = serve(Limits::default(), reporting_service());
    let (text, closed) = exchange(
        addr,
        b"POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: gzip\r\n\r\nabc",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(closed);
}

#[tokio::test]
async fn long_uri_is_414() {
    let limits = Limits {
        max_uri_bytes: 64,
        ..Limits::default()
    };
    let (_manager, addr) = serve(limits, reporting_service());
    let request = format!("GET /{} HTTP/1.1\r\nhost: a\r\n\r\n", "a".repeat(100));
    let (text, closed) = exchange(addr, request.as_bytes()).await;
    assert!(text.starts_with("HTTP/1.1 414"), "{text}");
    assert!(closed);
}

#[tokio::test]
async fn too_many_headers_are_refused() {
    let limits = Limits {
        max_headers: 10,
        ..Limits::default()
    };
    let (_manager, addr) = serve(limits, reporting_service());
    let mut request = String::from("GET / HTTP/1.1\r\nhost: a\r\n");
    for i in 0..20 {
        request.push_str(&format!("x-h{i}: v\r\n"));
    }
    request.push_str("\r\n");
    let (text, closed) = exchange(addr, request.as_bytes()).await;
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    assert!(closed);
}

#[tokio::test]
async fn oversized_header_block_is_refused() {
    let limits = Limits {
        max_header_bytes: 8192,
        ..Limits::default()
    };
    let (_manager, addr) = serve(limits, reporting_service());
    let request = format!(
        "GET / HTTP/1.1\r\nhost: a\r\nx-big: {}\r\n\r\n",
        "v".repeat(20_000)
    );
    let (text, closed) = exchange(addr, request.as_bytes()).await;
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    assert!(closed);
}

#[tokio::test]
async fn slow_header_senders_are_cut_off() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let (_manager, addr) = serve(limits, reporting_service());
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: a\r\n")
        .await
        .unwrap();
    let (_, closed) = read_until_close(&mut stream).await;
    assert!(
        closed,
        "a client that never finishes its headers is disconnected"
    );
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let limits = Limits {
        idle_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let (_manager, addr) = serve(limits, reporting_service());
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .unwrap();
    let (text, closed) = read_until_close(&mut stream).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(closed, "the idle keep-alive connection is closed");
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let release = Arc::new(Notify::new());
    let entered = Arc::new(Notify::new());
    let service = {
        let (release, entered) = (release.clone(), entered.clone());
        HttpService::new(tower::service_fn(move |_request: Request| {
            let (release, entered) = (release.clone(), entered.clone());
            async move {
                entered.notify_one();
                release.notified().await;
                Ok::<Response, Infallible>(http::Response::new(body::full(Bytes::from_static(
                    b"finished",
                ))))
            }
        }))
    };
    let (manager, addr) = serve(Limits::default(), service);
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .unwrap();
    entered.notified().await;

    let manager = Arc::new(manager);
    let draining = {
        let manager = manager.clone();
        tokio::spawn(async move { manager.shutdown(EVENTUALLY).await })
    };
    // Stops accepting: new connections are refused once the listener is gone.
    let mut refused = false;
    for _ in 0..200 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "the listener stops accepting on shutdown");
    release.notify_one();
    let (text, closed) = read_until_close(&mut stream).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("finished"), "{text}");
    assert!(closed, "the drained connection is closed after its request");
    draining.await.unwrap();
}

#[tokio::test]
async fn reapplying_keeps_the_socket_and_swaps_the_service() {
    let answer = |text: &'static str| {
        HttpService::new(tower::service_fn(move |_request: Request| async move {
            Ok::<Response, Infallible>(http::Response::new(body::full(text)))
        }))
    };
    let (manager, addr) = serve(Limits::default(), answer("first"));
    let requested: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).ends_with("first"));

    let state = SocketState {
        http: Some(answer("second")),
        tls: None,
    };
    manager.apply(HashMap::from([(requested, state)])).unwrap();
    assert_eq!(manager.local_addr(requested), Some(addr));
    // The same keep-alive connection now reaches the new service.
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .unwrap();
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).ends_with("second"));
}

/// Limits that park HTTP/1.1 connections after 20 ms of quiet.
fn parking_limits() -> Limits {
    Limits {
        idle_release: Duration::from_millis(20),
        ..Limits::default()
    }
}

/// Reads one response with a `content-length` body from a keep-alive connection.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let text = String::from_utf8_lossy(&out).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map(|n| n.parse::<usize>().unwrap());
            if length.is_some_and(|n| body.len() >= n) {
                return text;
            }
        }
        let n = tokio::time::timeout(EVENTUALLY, stream.read(&mut buf))
            .await
            .expect("response in time")
            .unwrap();
        assert!(n > 0, "connection closed mid-response: {text}");
        out.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn quiet_keep_alive_connections_park_and_serve_again() {
    let (_manager, addr) = serve(parking_limits(), reporting_service());
    let mut stream = TcpStream::connect(addr).await.unwrap();
    for round in 0..3 {
        stream
            .write_all(b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n\r\nhello")
            .await
            .unwrap();
        let answer = read_response(&mut stream).await;
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "round {round}: {answer}"
        );
        assert!(answer.contains("len=5"), "round {round}: {answer}");
        // Long enough for the connection to park before the next request.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A request split around a park is reassembled: the bytes read while parked are
    // replayed to the parser that takes over.
    stream.write_all(b"POST / HTTP/1.1\r\nho").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream
        .write_all(b"st: a\r\ncontent-length: 2\r\n\r\nhi")
        .await
        .unwrap();
    let answer = read_response(&mut stream).await;
    assert!(answer.contains("len=2"), "{answer}");
}

#[tokio::test]
async fn a_slow_response_body_is_not_cut_by_parking() {
    let release = Arc::new(Notify::new());
    let gate = release.clone();
    let service = HttpService::new(tower::service_fn(move |_request: Request| {
        let gate = gate.clone();
        async move {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<http_body::Frame<Bytes>, _>>(1);
            tokio::spawn(async move {
                tx.send(Ok(http_body::Frame::data(Bytes::from_static(b"first-"))))
                    .await
                    .unwrap();
                gate.notified().await;
                tx.send(Ok(http_body::Frame::data(Bytes::from_static(b"second"))))
                    .await
                    .unwrap();
            });
            let stream = channel_body(rx);
            Ok::<Response, Infallible>(http::Response::new(stream))
        }
    }));
    let (_manager, addr) = serve(parking_limits(), service);
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .unwrap();
    // The body stalls for many park intervals mid-response; the connection must hold.
    tokio::time::sleep(Duration::from_millis(200)).await;
    release.notify_one();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    release.notify_one();
    let (text, closed) = read_until_close(&mut stream).await;
    assert!(closed);
    assert_eq!(text.matches("first-").count(), 2, "{text}");
    assert_eq!(text.matches("second").count(), 2, "{text}");
}

/// A chunked body fed from a channel.
fn channel_body(
    rx: tokio::sync::mpsc::Receiver<Result<http_body::Frame<Bytes>, gateway_core::BoxError>>,
) -> gateway_core::BoxBody {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|frame| (frame, rx))
    });
    body::boxed(http_body_util::StreamBody::new(stream))
}

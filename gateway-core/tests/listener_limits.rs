//! Per-listener limits ([`ListenerLimits`]) on real sockets: each socket answers with its
//! own idle timeout and request-head limits, next to sockets that keep the manager's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use gateway_core::{
    HttpService, Limits, Request, Response, body,
    limits::ListenerLimits,
    listener::{ServerNamePattern, SocketConfig, SocketManager, SocketState, TlsAction, TlsTable},
};
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::{collections::HashMap, convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::{Instant, timeout},
};

/// Generous bound for "the gateway answers" in real-time tests; never a performance
/// assertion.
const EVENTUALLY: Duration = Duration::from_secs(10);

/// Answers every request `200 ok`.
fn ok_service() -> HttpService {
    HttpService::new(tower::service_fn(|_request: Request| async {
        Ok::<Response, Infallible>(http::Response::new(body::full("ok")))
    }))
}

fn plaintext(limits: ListenerLimits) -> SocketConfig {
    SocketConfig {
        state: SocketState {
            http: Some(ok_service()),
            tls: None,
        },
        limits,
    }
}

/// Binds one socket per configuration, each on its own loopback address, and returns the
/// bound addresses in the same order.
fn serve(limits: Limits, configs: Vec<SocketConfig>) -> (SocketManager, Vec<SocketAddr>) {
    let manager = SocketManager::new(limits);
    let requested: Vec<SocketAddr> = (0..configs.len())
        .map(|i| SocketAddr::from(([127, 0, 0, 1 + u8::try_from(i).unwrap()], 0)))
        .collect();
    manager
        .apply(
            requested
                .iter()
                .copied()
                .zip(configs)
                .collect::<HashMap<_, _>>(),
        )
        .unwrap();
    let bound = requested
        .iter()
        .map(|r| manager.local_addr(*r).unwrap())
        .collect();
    (manager, bound)
}

/// A request head with `headers` headers in all (`host` included).
fn request_with_headers(headers: usize) -> Vec<u8> {
    let mut request = String::from("GET / HTTP/1.1\r\nhost: a\r\n");
    for i in 1..headers {
        request.push_str(&format!("x-h{i}: v\r\n"));
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// A request whose one extra header carries `value_bytes` bytes.
fn request_with_big_header(value_bytes: usize) -> Vec<u8> {
    format!(
        "GET / HTTP/1.1\r\nhost: a\r\nx-big: {}\r\n\r\n",
        "v".repeat(value_bytes)
    )
    .into_bytes()
}

/// Reads one response with a `content-length` body; `None` if the peer closes first.
async fn read_response<S: AsyncRead + Unpin>(stream: &mut S) -> Option<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let text = String::from_utf8_lossy(&out).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map(|n| n.parse::<usize>().unwrap());
            if length.is_some_and(|n| body.len() >= n) {
                return Some(text);
            }
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends `raw` on a new connection; the status line of the answer and the connection.
async fn exchange(addr: SocketAddr, raw: &[u8]) -> (String, TcpStream) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw).await.unwrap();
    let answer = timeout(EVENTUALLY, read_response(&mut stream))
        .await
        .expect("an answer in time")
        .expect("an answer before the connection closed");
    let status = answer.lines().next().unwrap_or_default().to_owned();
    (status, stream)
}

/// Asserts that `raw` is answered 431 and the connection then closed.
async fn assert_refused(addr: SocketAddr, raw: &[u8]) {
    let (status, mut stream) = exchange(addr, raw).await;
    assert!(status.starts_with("HTTP/1.1 431"), "{status}");
    assert!(
        closes_within(&mut stream, EVENTUALLY).await,
        "a refused head ends the connection"
    );
}

/// Asserts that `raw` is answered 200.
async fn assert_served(addr: SocketAddr, raw: &[u8]) {
    let (status, _) = exchange(addr, raw).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
}

/// Whether the peer closes `stream` within `within` (of the test's clock).
async fn closes_within<S: AsyncRead + Unpin>(stream: &mut S, within: Duration) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match timeout(within, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn max_headers_is_per_socket() {
    let strict = ListenerLimits {
        max_headers: Some(5),
        ..ListenerLimits::default()
    };
    let (_manager, addrs) = serve(
        Limits::default(),
        vec![plaintext(strict), plaintext(ListenerLimits::default())],
    );
    assert_refused(addrs[0], &request_with_headers(10)).await;
    assert_served(addrs[0], &request_with_headers(5)).await;
    assert_served(addrs[1], &request_with_headers(10)).await;
}

#[tokio::test]
async fn max_request_header_bytes_is_per_socket() {
    // Below hyper's smallest read buffer (8 KiB), as `maxRequestHeadersKb: 1` asks.
    let strict = ListenerLimits {
        max_request_header_bytes: Some(1024),
        ..ListenerLimits::default()
    };
    let (_manager, addrs) = serve(
        Limits::default(),
        vec![plaintext(strict), plaintext(ListenerLimits::default())],
    );
    assert_refused(addrs[0], &request_with_big_header(2048)).await;
    assert_served(addrs[0], &request_with_big_header(512)).await;
    assert_served(addrs[1], &request_with_big_header(2048)).await;
}

/// Sends a prior-knowledge HTTP/2 request with `headers` headers; the answer's status.
async fn h2c_status(addr: SocketAddr, headers: usize) -> http::StatusCode {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut request = http::Request::builder().uri(format!("http://{addr}/"));
    for i in 1..headers {
        request = request.header(format!("x-h{i}"), "v");
    }
    let request = request.body(Empty::<Bytes>::new()).unwrap();
    timeout(EVENTUALLY, sender.send_request(request))
        .await
        .expect("an answer in time")
        .unwrap()
        .status()
}

#[tokio::test]
async fn max_headers_applies_to_http2() {
    let strict = ListenerLimits {
        max_headers: Some(5),
        ..ListenerLimits::default()
    };
    let (_manager, addrs) = serve(
        Limits::default(),
        vec![plaintext(strict), plaintext(ListenerLimits::default())],
    );
    assert_eq!(
        h2c_status(addrs[0], 10).await,
        http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    assert_eq!(h2c_status(addrs[0], 4).await, http::StatusCode::OK);
    assert_eq!(h2c_status(addrs[1], 10).await, http::StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_is_per_socket() {
    let limits = Limits {
        idle_timeout: Duration::from_secs(3600),
        ..Limits::default()
    };
    let short = ListenerLimits {
        idle_timeout: Some(Duration::from_secs(30)),
        ..ListenerLimits::default()
    };
    let (_manager, addrs) = serve(
        limits,
        vec![plaintext(short), plaintext(ListenerLimits::default())],
    );
    let mut streams = Vec::new();
    for addr in &addrs {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(&request_with_headers(1)).await.unwrap();
        let answer = read_response(&mut stream).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        streams.push(stream);
    }
    let idle_since = Instant::now();
    assert!(
        closes_within(&mut streams[0], Duration::from_secs(120)).await,
        "the socket's own idle timeout closes the keep-alive connection"
    );
    assert!(idle_since.elapsed() >= Duration::from_secs(30));
    assert!(
        !closes_within(&mut streams[1], Duration::from_secs(120)).await,
        "the other socket keeps the manager's hour"
    );
    streams[1]
        .write_all(&request_with_headers(1))
        .await
        .unwrap();
    let answer = read_response(&mut streams[1]).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(start_paused = true)]
async fn zero_idle_timeout_never_closes() {
    let limits = Limits {
        idle_timeout: Duration::from_secs(30),
        ..Limits::default()
    };
    let never = ListenerLimits {
        idle_timeout: Some(Duration::ZERO),
        ..ListenerLimits::default()
    };
    let (_manager, addrs) = serve(limits, vec![plaintext(never)]);
    let mut stream = TcpStream::connect(addrs[0]).await.unwrap();
    stream.write_all(&request_with_headers(1)).await.unwrap();
    assert!(read_response(&mut stream).await.is_some());
    assert!(!closes_within(&mut stream, Duration::from_secs(24 * 3600)).await);
    stream.write_all(&request_with_headers(1)).await.unwrap();
    let answer = read_response(&mut stream).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn reapplied_limits_apply_to_new_connections_only() {
    let manager = SocketManager::new(Limits::default());
    let requested: SocketAddr = "127.0.0.1:0".parse().unwrap();
    manager
        .apply(HashMap::from([(
            requested,
            plaintext(ListenerLimits::default()),
        )]))
        .unwrap();
    let addr = manager.local_addr(requested).unwrap();
    let mut before = TcpStream::connect(addr).await.unwrap();
    before.write_all(&request_with_headers(10)).await.unwrap();
    let answer = read_response(&mut before).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let strict = ListenerLimits {
        max_headers: Some(5),
        ..ListenerLimits::default()
    };
    manager
        .apply(HashMap::from([(requested, plaintext(strict))]))
        .unwrap();
    assert_eq!(
        manager.local_addr(requested),
        Some(addr),
        "the socket is kept"
    );
    assert_refused(addr, &request_with_headers(10)).await;

    // The connection accepted before keeps the limits it started with.
    before.write_all(&request_with_headers(10)).await.unwrap();
    let answer = timeout(EVENTUALLY, read_response(&mut before))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // And back: new connections get the manager's limits again.
    manager
        .apply(HashMap::from([(
            requested,
            SocketState {
                http: Some(ok_service()),
                tls: None,
            },
        )]))
        .unwrap();
    assert_served(addr, &request_with_headers(10)).await;
}

/// A self-signed certificate for `gateway.test`, as a rustls key and as a client root.
fn certificate() -> (Arc<CertifiedKey>, CertificateDer<'static>) {
    let generated = rcgen::generate_simple_self_signed(vec!["gateway.test".to_owned()]).unwrap();
    let der = generated.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        generated.signing_key.serialize_der(),
    ));
    let signing_key = rustls::crypto::ring::sign::any_supported_type(&key).unwrap();
    (
        Arc::new(CertifiedKey::new(vec![der.clone()], signing_key)),
        der,
    )
}

/// Sends `raw` over TLS on a new connection; the status line of the answer.
async fn tls_exchange(addr: SocketAddr, root: &CertificateDer<'static>, raw: &[u8]) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("gateway.test").unwrap();
    let mut tls = connector.connect(name, stream).await.unwrap();
    tls.write_all(raw).await.unwrap();
    let answer = timeout(EVENTUALLY, read_response(&mut tls))
        .await
        .expect("an answer in time")
        .expect("an answer before the connection closed");
    answer.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn tls_sockets_apply_their_limits() {
    let (key, root) = certificate();
    let mut table = TlsTable::builder();
    table.insert(
        ServerNamePattern::Any,
        TlsAction::terminate_http(key).unwrap(),
    );
    let config = SocketConfig {
        state: SocketState {
            http: Some(ok_service()),
            tls: Some(Arc::new(table.build())),
        },
        limits: ListenerLimits {
            max_headers: Some(5),
            ..ListenerLimits::default()
        },
    };
    let (_manager, addrs) = serve(Limits::default(), vec![config]);
    let status = tls_exchange(addrs[0], &root, &request_with_headers(10)).await;
    assert!(status.starts_with("HTTP/1.1 431"), "{status}");
    let status = tls_exchange(addrs[0], &root, &request_with_headers(5)).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
}

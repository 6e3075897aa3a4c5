//! The pools against real sockets: reuse, stale connections, release on body end, the
//! sweep, HTTP/2 sharing and retirement.

use std::{
    net::SocketAddr,
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body_util::BodyExt;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use super::{Pools, Settings};
use crate::{
    Request,
    backend::{AppProtocol, policy::Http2ProtocolOptions},
    body, test_util,
};

fn settings() -> Settings {
    Settings {
        connect_timeout: Duration::from_secs(1),
        tcp_keepalive: None,
        idle_timeout: Some(Duration::from_secs(10)),
        max_idle_per_endpoint: 8,
        max_headers: None,
        max_requests_per_connection: None,
        http2: Http2ProtocolOptions::default(),
    }
}

fn get(protocol: AppProtocol) -> Request {
    let mut request = http::Request::get("/").body(body::empty()).unwrap();
    request
        .headers_mut()
        .insert(header::HOST, HeaderValue::from_static("example.com"));
    if protocol == AppProtocol::H2c {
        *request.uri_mut() = "http://example.com/".parse().unwrap();
        *request.version_mut() = http::Version::HTTP_2;
    }
    request
}

/// Sends one request and reads the whole body, releasing the connection as the
/// gateway's response body does.
async fn exchange(pools: &Pools, protocol: AppProtocol, endpoint: SocketAddr) -> Bytes {
    let (response, mut checkin) = pools.send(protocol, endpoint, get(protocol)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    checkin.release();
    bytes
}

/// A loopback server handing each accepted connection, numbered from 0, to `serve`;
/// counts connections.
async fn spawn_counting<F, Fut>(serve: F) -> (SocketAddr, Arc<AtomicUsize>)
where
    F: Fn(TcpStream, usize) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let id = counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(stream, id));
        }
    });
    (addr, accepted)
}

/// A raw HTTP/1.1 server that answers one request per connection and then closes the
/// socket without saying so (no `connection: close`): every parked connection goes stale.
/// Counts connections.
async fn spawn_one_shot() -> (SocketAddr, Arc<AtomicUsize>) {
    spawn_counting(|mut stream, _| async move {
        let mut buf = vec![0; 4096];
        let mut read = 0;
        while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf[read..]).await {
                Ok(0) | Err(_) => return,
                Ok(n) => read += n,
            }
        }
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .await;
    })
    .await
}

#[tokio::test]
async fn an_http1_connection_is_parked_when_the_body_ends_and_reused() {
    let echo = test_util::spawn_echo().await;
    let pools = Pools::new(settings());
    for _ in 0..5 {
        exchange(&pools, AppProtocol::Http1, echo).await;
        assert_eq!(pools.parked(echo), 1);
    }
    assert_eq!(pools.endpoint_count(), 1);
}

#[tokio::test]
async fn a_body_dropped_before_its_end_does_not_park_the_connection() {
    let echo = test_util::spawn_echo().await;
    let pools = Pools::new(settings());
    let (response, checkin) = pools
        .send(AppProtocol::Http1, echo, get(AppProtocol::Http1))
        .await
        .unwrap();
    drop((response, checkin));
    assert_eq!(pools.parked(echo), 0);
    exchange(&pools, AppProtocol::Http1, echo).await;
    assert_eq!(pools.parked(echo), 1);
}

#[tokio::test]
async fn stale_parked_connections_are_skipped_or_retried() {
    let (addr, accepted) = spawn_one_shot().await;
    let pools = Pools::new(settings());
    for round in 1..=5 {
        assert_eq!(exchange(&pools, AppProtocol::Http1, addr).await, "ok");
        // Each request needed a fresh connection: the parked one had been closed.
        assert_eq!(accepted.load(Ordering::SeqCst), round);
    }
}

#[tokio::test]
async fn max_requests_per_connection_stops_parking() {
    let echo = test_util::spawn_echo().await;
    let pools = Pools::new(Settings {
        max_requests_per_connection: NonZeroU32::new(2),
        ..settings()
    });
    exchange(&pools, AppProtocol::Http1, echo).await;
    assert_eq!(pools.parked(echo), 1);
    exchange(&pools, AppProtocol::Http1, echo).await;
    assert_eq!(pools.parked(echo), 0, "retired after its second request");
}

#[tokio::test]
async fn without_idle_slots_nothing_is_parked() {
    let echo = test_util::spawn_echo().await;
    let pools = Pools::new(Settings {
        max_idle_per_endpoint: 0,
        ..settings()
    });
    exchange(&pools, AppProtocol::Http1, echo).await;
    assert_eq!(pools.parked(echo), 0);
}

#[tokio::test(start_paused = true)]
async fn the_sweep_closes_idle_connections_and_forgets_the_endpoint() {
    let echo = test_util::spawn_echo().await;
    let pools = Pools::new(settings());
    exchange(&pools, AppProtocol::Http1, echo).await;
    assert_eq!(pools.parked(echo), 1);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(pools.parked(echo), 1, "idle for half the timeout");
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(pools.parked(echo), 0);
    assert_eq!(pools.endpoint_count(), 0);
}

/// An h2c server answering with its connection number and the request's `:authority`;
/// counts connections.
async fn spawn_h2c_counting() -> (SocketAddr, Arc<AtomicUsize>) {
    spawn_counting(|stream, id| async move {
        let service = hyper::service::service_fn(move |request: http::Request<_>| {
            let authority = request.uri().authority().map(ToString::to_string);
            async move {
                let body = format!("{id} {}", authority.unwrap_or_default());
                Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
                    Bytes::from(body),
                )))
            }
        });
        let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
            .await;
    })
    .await
}

#[tokio::test]
async fn h2c_requests_share_one_connection_until_it_is_retired() {
    let (addr, accepted) = spawn_h2c_counting().await;
    let pools = Pools::new(Settings {
        max_requests_per_connection: NonZeroU32::new(3),
        ..settings()
    });
    let send = || pools.send(AppProtocol::H2c, addr, get(AppProtocol::H2c));
    // Two streams open at once on the endpoint's one connection.
    let ((first, _), (second, _)) = tokio::try_join!(send(), send()).unwrap();
    for response in [first, second] {
        let body = response.into_body().collect().await.unwrap().to_bytes();
        // The client's host travels as `:authority`.
        assert_eq!(body, "0 example.com");
    }
    assert_eq!(
        exchange(&pools, AppProtocol::H2c, addr).await,
        "0 example.com"
    );
    // The third request retired connection 0.
    assert_eq!(
        exchange(&pools, AppProtocol::H2c, addr).await,
        "1 example.com"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

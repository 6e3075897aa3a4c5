//! Backends that fail in the ways upstreams do: refuse, hang, reset, speak garbage, and a
//! well-behaved upgrade peer.

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::{convert::Infallible, net::SocketAddr, time::Duration};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An address on which nothing listens: connecting is refused.
///
/// The port was free a moment ago; another process could take it, which is unlikely
/// enough for tests.
pub async fn spawn_refused() -> SocketAddr {
    let listener = super::bind().await;
    listener.local_addr().expect("local address")
}

/// A backend that accepts connections and reads requests but never answers.
pub async fn spawn_hang() -> SocketAddr {
    let listener = super::bind().await;
    let addr = listener.local_addr().expect("local address");
    super::serve(listener, |mut stream| async move {
        let mut buf = [0u8; 4096];
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    addr
}

/// A backend that reads the first bytes of a request and then resets the connection
/// (`SO_LINGER` 0, so the close sends an RST).
pub async fn spawn_reset() -> SocketAddr {
    let listener = super::bind().await;
    let addr = listener.local_addr().expect("local address");
    super::serve(listener, |mut stream| async move {
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf).await;
        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
        drop(stream);
    });
    addr
}

/// A backend that reads the first bytes of a request and answers bytes that are not HTTP.
pub async fn spawn_garbage() -> SocketAddr {
    let listener = super::bind().await;
    let addr = listener.local_addr().expect("local address");
    super::serve(listener, |mut stream| async move {
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf).await;
        let _ = stream
            .write_all(b"SPDY/9 what is this\r\n\0\0\0garbage\r\n\r\n")
            .await;
        let _ = stream.shutdown().await;
        // Keep reading so the peer sees our bytes before any reset.
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    addr
}

/// An HTTP/1.1 backend that answers upgrade requests (`Connection: upgrade` +
/// `Upgrade: X`) with `101 Switching Protocols` (`Upgrade: X`) and then echoes every byte
/// it receives. Other requests get `426 Upgrade Required`.
pub async fn spawn_upgrade_echo() -> SocketAddr {
    let listener = super::bind().await;
    let addr = listener.local_addr().expect("local address");
    super::serve(listener, |stream| async move {
        let service = hyper::service::service_fn(upgrade_echo);
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades()
            .await;
    });
    addr
}

async fn upgrade_echo(
    mut request: http::Request<Incoming>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let protocol = request.headers().get(header::UPGRADE).cloned();
    let mut response = http::Response::new(Full::new(Bytes::new()));
    let Some(protocol) = protocol else {
        *response.status_mut() = StatusCode::UPGRADE_REQUIRED;
        return Ok(response);
    };
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let (mut reader, mut writer) = tokio::io::split(TokioIo::new(upgraded));
        let _ = tokio::io::copy(&mut reader, &mut writer).await;
        let _ = writer.shutdown().await;
    });
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, protocol);
    Ok(response)
}

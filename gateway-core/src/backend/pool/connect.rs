//! Making upstream connections: TCP with the pool's socket options, then hyper's HTTP/1.1
//! or HTTP/2 handshake, the connection driven by a task of its own.

use std::{net::SocketAddr, time::Duration};

use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpSocket, TcpStream};

use super::Pools;
use crate::{BoxBody, ProxyError, backend::errors};

/// Connects to `endpoint` within `timeout`, with `TCP_NODELAY` and, when given, TCP
/// keepalive. Failures are `UF` (connection failure).
pub(in crate::backend) async fn connect_tcp(
    endpoint: SocketAddr,
    timeout: Duration,
    keepalive: Option<&socket2::TcpKeepalive>,
) -> Result<TcpStream, ProxyError> {
    let socket = match endpoint {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|err| ProxyError::Connect(Box::new(err)))?;
    if let Err(err) = socket.set_nodelay(true) {
        tracing::debug!(%endpoint, error = %err, "could not set TCP_NODELAY");
    }
    if let Some(keepalive) = keepalive
        && let Err(err) = socket2::SockRef::from(&socket).set_tcp_keepalive(keepalive)
    {
        tracing::debug!(%endpoint, error = %err, "could not set TCP keepalive");
    }
    match tokio::time::timeout(timeout, socket.connect(endpoint)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(err)) => Err(ProxyError::Connect(Box::new(err))),
        Err(_elapsed) => Err(ProxyError::Connect("connect timed out".into())),
    }
}

/// A TCP connection to `endpoint` with the pools' socket settings; the pools' sweep runs
/// from the first one on.
async fn pooled_stream(endpoint: SocketAddr, pools: &Pools) -> Result<TcpStream, ProxyError> {
    let settings = pools.settings();
    let stream = connect_tcp(
        endpoint,
        settings.connect_timeout,
        settings.tcp_keepalive.as_ref(),
    )
    .await?;
    pools.ensure_sweeping();
    Ok(stream)
}

/// A new HTTP/1.1 connection to `endpoint`.
pub(super) async fn http1(
    endpoint: SocketAddr,
    pools: &Pools,
) -> Result<http1::SendRequest<BoxBody>, ProxyError> {
    let settings = pools.settings();
    let stream = pooled_stream(endpoint, pools).await?;
    let mut builder = http1::Builder::new();
    if let Some(max) = settings.max_headers {
        builder.max_headers(max);
    }
    let (sender, connection) = builder
        .handshake(TokioIo::new(stream))
        .await
        .map_err(errors::from_hyper)?;
    drive(endpoint, connection);
    Ok(sender)
}

/// A new prior-knowledge HTTP/2 connection to `endpoint`, with the pool's HTTP/2 settings.
pub(super) async fn h2c(
    endpoint: SocketAddr,
    pools: &Pools,
) -> Result<http2::SendRequest<BoxBody>, ProxyError> {
    let settings = pools.settings();
    let stream = pooled_stream(endpoint, pools).await?;
    let http2 = &settings.http2;
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .initial_stream_window_size(http2.initial_stream_window_size)
        .initial_connection_window_size(http2.initial_connection_window_size)
        .max_concurrent_streams(http2.max_concurrent_streams.map(std::num::NonZeroU32::get));
    if let Some(keepalive) = &http2.connection_keepalive {
        builder
            .keep_alive_interval(keepalive.interval)
            .keep_alive_timeout(keepalive.timeout)
            .keep_alive_while_idle(true);
    }
    let handshake = builder.handshake(TokioIo::new(stream));
    let (sender, connection) = match tokio::time::timeout(settings.connect_timeout, handshake).await
    {
        Ok(result) => result.map_err(errors::from_hyper)?,
        Err(_elapsed) => return Err(ProxyError::Connect("HTTP/2 handshake timed out".into())),
    };
    drive(endpoint, connection);
    Ok(sender)
}

/// Drives an upstream connection in a task of its own until it closes.
fn drive(
    endpoint: SocketAddr,
    connection: impl Future<Output = hyper::Result<()>> + Send + 'static,
) {
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(%endpoint, error = %err, "upstream connection failed");
        }
    });
}

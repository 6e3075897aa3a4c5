//! One accepted connection: plaintext HTTP, or TLS routed by SNI to HTTP, a terminated TCP
//! proxy or a passthrough proxy.

use arc_swap::ArcSwap;
use futures_util::future::Either;
use std::{future::Future, net::SocketAddr, sync::Arc};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::{
    http::{HttpServers, serve_http},
    rewind::Rewind,
    socket::Served,
    tcp,
    tls::peek_client_hello,
    tls::{TlsAction, TlsTable},
};
use crate::{Limits, extensions::ConnectionInfo, limits::ListenerLimits};

/// The limits a connection is served with and the hyper servers configured from them.
///
/// Built once per distinct [`ListenerLimits`] when a configuration is applied and shared,
/// behind an `Arc`, by every connection accepted under it; a connection keeps the one it
/// was accepted with.
#[derive(Debug)]
pub(crate) struct ConnectionSettings {
    /// The overrides these settings were built for.
    pub(crate) overrides: ListenerLimits,
    /// The manager's limits with `overrides` applied.
    pub(crate) limits: Limits,
    pub(crate) servers: HttpServers,
}

impl ConnectionSettings {
    pub(crate) fn new(global: &Limits, overrides: ListenerLimits) -> Self {
        let limits = global.for_listener(&overrides);
        let servers = HttpServers::new(&limits);
        Self {
            overrides,
            limits,
            servers,
        }
    }
}

/// The stream of a terminated TLS connection.
type TlsStream = tokio_rustls::server::TlsStream<Rewind<TcpStream>>;

/// Serves one connection to its end with the socket's state and settings as they are when
/// it starts.
///
/// This future is most of a connection's task, idle or not, so it is made before the task
/// starts and is no larger than what it runs: plaintext HTTP inline, the TLS path (whose
/// states are larger) boxed.
pub(crate) fn serve_connection(
    stream: TcpStream,
    remote_addr: SocketAddr,
    local_addr: SocketAddr,
    served: Arc<ArcSwap<Served>>,
    drain: CancellationToken,
) -> impl Future<Output = ()> + Send {
    let _ = stream.set_nodelay(true);
    let info = ConnectionInfo {
        remote_addr,
        local_addr,
        tls: false,
        server_name: None,
    };
    let (tls_table, settings) = {
        let current = served.load();
        (current.state.tls.clone(), current.settings.clone())
    };
    match tls_table {
        None => Either::Left(serve_http(stream, info, served, settings, drain)),
        Some(table) => Either::Right(Box::pin(serve_tls(
            stream, info, table, served, settings, drain,
        ))),
    }
}

/// Serves a connection on a socket with TLS listeners: peeks the ClientHello, then
/// passes through, terminates to HTTP, or terminates to a TCP backend by SNI.
///
/// The ClientHello peek and the handshake are boxed and gone once the connection is
/// established, and the established TLS stream (over a kilobyte of rustls state) is boxed
/// once, so the future that lives on stays small (an `async` block, as an `async fn`
/// would store its arguments twice).
fn serve_tls(
    mut stream: TcpStream,
    mut info: ConnectionInfo,
    table: Arc<TlsTable>,
    served: Arc<ArcSwap<Served>>,
    settings: Arc<ConnectionSettings>,
    drain: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    let remote_addr = info.remote_addr;
    let handshake_timeout = settings.limits.tls_handshake_timeout;
    let connect_timeout = settings.limits.upstream_connect_timeout;
    async move {
        let hello = Box::pin(tokio::time::timeout(
            handshake_timeout,
            peek_client_hello(&mut stream),
        ))
        .await;
        let (prefix, sni) = match hello {
            Ok(Ok(hello)) => hello,
            Ok(Err(err)) => {
                tracing::debug!(%remote_addr, error = %err, "not a TLS ClientHello");
                return;
            }
            Err(_) => {
                tracing::debug!(%remote_addr, "TLS ClientHello timed out");
                return;
            }
        };
        let Some(action) = table.select(sni.as_deref()).cloned() else {
            tracing::debug!(%remote_addr, sni = ?sni, "no TLS listener or route for this server name");
            return;
        };
        drop(table);
        let stream = Rewind::new(prefix, stream);
        match action {
            TlsAction::Passthrough { backend } => {
                tcp::proxy(stream, backend.as_ref(), connect_timeout).await;
            }
            TlsAction::TerminateHttp { config } => {
                let Some(tls) = handshake(config, stream, handshake_timeout, remote_addr).await
                else {
                    return;
                };
                info.tls = true;
                info.server_name = sni.map(Arc::from);
                serve_http(tls, info, served, settings, drain).await;
            }
            TlsAction::TerminateTcp { config, backend } => {
                if let Some(tls) = handshake(config, stream, handshake_timeout, remote_addr).await {
                    tcp::proxy(tls, backend.as_ref(), connect_timeout).await;
                }
            }
        }
    }
}

/// Completes the TLS handshake within `timeout`; the stream comes back boxed.
async fn handshake(
    config: Arc<rustls::ServerConfig>,
    stream: Rewind<TcpStream>,
    timeout: std::time::Duration,
    remote_addr: SocketAddr,
) -> Option<Box<TlsStream>> {
    let accept = Box::pin(tokio_rustls::TlsAcceptor::from(config).accept(stream));
    match tokio::time::timeout(timeout, accept).await {
        Ok(Ok(tls)) => Some(Box::new(tls)),
        Ok(Err(err)) => {
            tracing::debug!(%remote_addr, error = %err, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%remote_addr, "TLS handshake timed out");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `serve_connection` returns, without calling it.
    fn connection_future_size<A, B, C, D, E, F: Future>(
        _f: impl FnOnce(A, B, C, D, E) -> F,
    ) -> usize {
        std::mem::size_of::<F>()
    }

    /// The size of the future `serve_tls` returns, without calling it.
    fn tls_future_size<A, B, C, D, E, G, F: Future>(
        _f: impl FnOnce(A, B, C, D, E, G) -> F,
    ) -> usize {
        std::mem::size_of::<F>()
    }

    /// The futures a connection's task holds for as long as the connection is open, idle
    /// or not: growing them costs memory on every connection. They were 976 and 4,928
    /// bytes before hyper's and rustls' states were boxed out of them.
    #[test]
    fn connection_futures_stay_small() {
        let plaintext = connection_future_size(serve_connection);
        assert!(
            plaintext <= 640,
            "plaintext connection future: {plaintext} bytes"
        );
        let tls = tls_future_size(serve_tls);
        assert!(tls <= 1024, "TLS connection future: {tls} bytes");
    }
}

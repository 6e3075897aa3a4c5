//! One accepted connection: plaintext HTTP, or TLS routed by SNI to HTTP, a terminated TCP
//! proxy or a passthrough proxy.

use arc_swap::ArcSwap;
use std::{net::SocketAddr, sync::Arc};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::{
    SocketState,
    http::{HttpServers, serve_http},
    rewind::Rewind,
    tcp,
    tls::peek_client_hello,
    tls::{TlsAction, TlsTable},
};
use crate::{Limits, extensions::ConnectionInfo};

/// What every connection of a socket manager shares.
#[derive(Debug)]
pub(crate) struct ConnectionContext {
    pub(crate) limits: Limits,
    pub(crate) servers: HttpServers,
}

/// Serves one connection to its end.
pub(crate) async fn serve_connection(
    stream: TcpStream,
    remote_addr: SocketAddr,
    local_addr: SocketAddr,
    state: Arc<ArcSwap<SocketState>>,
    ctx: Arc<ConnectionContext>,
    drain: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let info = ConnectionInfo {
        remote_addr,
        local_addr,
        tls: false,
        server_name: None,
    };
    let tls_table = state.load().tls.clone();
    match tls_table {
        None => serve_http(stream, info, state, &ctx.servers, &ctx.limits, drain).await,
        // Boxed: the TLS states are large, and plaintext connections should not carry
        // their size in every task.
        Some(table) => Box::pin(serve_tls(stream, info, table, state, ctx, drain)).await,
    }
}

/// Serves a connection on a socket with TLS listeners: peeks the ClientHello, then
/// passes through, terminates to HTTP, or terminates to a TCP backend by SNI.
async fn serve_tls(
    mut stream: TcpStream,
    mut info: ConnectionInfo,
    table: Arc<TlsTable>,
    state: Arc<ArcSwap<SocketState>>,
    ctx: Arc<ConnectionContext>,
    drain: CancellationToken,
) {
    let remote_addr = info.remote_addr;
    let handshake_timeout = ctx.limits.tls_handshake_timeout;
    let (prefix, sni) =
        match tokio::time::timeout(handshake_timeout, peek_client_hello(&mut stream)).await {
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
    let stream = Rewind::new(prefix, stream);
    let connect_timeout = ctx.limits.upstream_connect_timeout;
    match action {
        TlsAction::Passthrough { backend } => {
            tcp::proxy(stream, backend.as_ref(), connect_timeout).await;
        }
        TlsAction::TerminateHttp { config } => {
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            let Some(tls) = handshake(acceptor, stream, handshake_timeout, remote_addr).await
            else {
                return;
            };
            info.tls = true;
            info.server_name = sni.map(Arc::from);
            serve_http(tls, info, state, &ctx.servers, &ctx.limits, drain).await;
        }
        TlsAction::TerminateTcp { config, backend } => {
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            if let Some(tls) = handshake(acceptor, stream, handshake_timeout, remote_addr).await {
                tcp::proxy(tls, backend.as_ref(), connect_timeout).await;
            }
        }
    }
}

async fn handshake(
    acceptor: tokio_rustls::TlsAcceptor,
    stream: Rewind<TcpStream>,
    timeout: std::time::Duration,
    remote_addr: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<Rewind<TcpStream>>> {
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some(tls),
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

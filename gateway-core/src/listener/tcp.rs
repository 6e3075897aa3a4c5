//! Proxying a whole stream to a backend: TLS passthrough and TLS-terminated TLSRoutes.

use std::{sync::Arc, time::Duration};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};

use crate::backend::Backend;

/// Copies bytes both ways between `downstream` and the next endpoint of `backend` until
/// either side closes. An invalid backend or a failed connect closes the downstream.
pub(crate) async fn proxy<S>(
    mut downstream: S,
    backend: Option<&Arc<Backend>>,
    connect_timeout: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(endpoint) = backend.and_then(|b| b.next()) else {
        tracing::debug!("stream dropped: the route has no usable backend");
        return;
    };
    let upstream = match tokio::time::timeout(connect_timeout, TcpStream::connect(endpoint)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => {
            tracing::debug!(%endpoint, error = %err, "upstream connect failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%endpoint, "upstream connect timed out");
            return;
        }
    };
    let _ = upstream.set_nodelay(true);
    let mut upstream = upstream;
    if let Err(err) = tokio::io::copy_bidirectional(&mut downstream, &mut upstream).await {
        tracing::debug!(%endpoint, error = %err, "stream proxy ended with an error");
    }
}

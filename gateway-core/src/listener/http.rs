//! Serving HTTP on an accepted (and possibly TLS-terminated) connection.
//!
//! hyper-util's auto server speaks HTTP/1.1 and HTTP/2 (prior knowledge on plaintext, ALPN
//! on TLS). Each request loads the socket's current router, gets the connection facts as an
//! extension and `X-Forwarded-For`/`-Proto`, and is checked against the URI limit.

use arc_swap::ArcSwap;
use http::{HeaderValue, StatusCode, header::HeaderName};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use std::{convert::Infallible, future::Future, sync::Arc};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use super::{
    SocketState,
    idle::{IdleIo, IdleStamp},
};
use crate::{
    Limits, Response, ResponseFlag, body, error::local_response, extensions::ConnectionInfo,
};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The hyper server configured from [`Limits`].
pub(crate) fn server_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_concurrent_streams)
        .max_pending_accept_reset_streams(limits.h2_max_pending_reset_streams)
        .max_local_error_reset_streams(limits.h2_max_pending_reset_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    builder
}

/// Per-connection request handler.
struct Handler {
    state: Arc<ArcSwap<SocketState>>,
    info: ConnectionInfo,
    client_ip: HeaderValue,
    proto: HeaderValue,
    max_uri_bytes: usize,
}

impl Handler {
    fn handle(
        &self,
        request: http::Request<Incoming>,
    ) -> impl Future<Output = Result<Response, Infallible>> + Send + use<> {
        let service = self.state.load().http.clone();
        let uri_len = request
            .uri()
            .path_and_query()
            .map_or(0, |pq| pq.as_str().len());
        let prepared = if uri_len > self.max_uri_bytes {
            let mut response = local_response(
                StatusCode::URI_TOO_LONG,
                ResponseFlag::DownstreamProtocolError,
            );
            response
                .headers_mut()
                .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
            Err(response)
        } else {
            Ok(self.prepare(request))
        };
        async move {
            let request = match prepared {
                Ok(request) => request,
                Err(response) => return Ok(response),
            };
            match service {
                Some(service) => service.call_shared(request).await,
                None => Ok(local_response(
                    StatusCode::NOT_FOUND,
                    ResponseFlag::NoRouteFound,
                )),
            }
        }
    }

    fn prepare(&self, request: http::Request<Incoming>) -> crate::Request {
        let (mut parts, incoming) = request.into_parts();
        let headers = &mut parts.headers;
        let forwarded_for = match headers.get(&X_FORWARDED_FOR) {
            Some(existing) => {
                let mut joined = Vec::with_capacity(existing.len() + 2 + self.client_ip.len());
                joined.extend_from_slice(existing.as_bytes());
                joined.extend_from_slice(b", ");
                joined.extend_from_slice(self.client_ip.as_bytes());
                HeaderValue::from_bytes(&joined).unwrap_or_else(|_| self.client_ip.clone())
            }
            None => self.client_ip.clone(),
        };
        headers.insert(X_FORWARDED_FOR.clone(), forwarded_for);
        headers.insert(X_FORWARDED_PROTO.clone(), self.proto.clone());
        parts.extensions.insert(self.info.clone());
        http::Request::from_parts(parts, body::boxed(incoming))
    }
}

/// Serves HTTP on `io` until the client leaves, the connection idles out, or `drain` fires
/// (then in-flight requests finish first).
pub(crate) async fn serve_http<I>(
    io: I,
    info: ConnectionInfo,
    state: Arc<ArcSwap<SocketState>>,
    builder: &auto::Builder<TokioExecutor>,
    limits: &Limits,
    drain: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let stamp = IdleStamp::new();
    let io = TokioIo::new(IdleIo::new(io, stamp.clone()));
    let client_ip = HeaderValue::from_str(&info.remote_addr.ip().to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
    let proto = HeaderValue::from_static(info.scheme());
    let handler = Arc::new(Handler {
        state,
        info,
        client_ip,
        proto,
        max_uri_bytes: limits.max_uri_bytes,
    });
    let service = hyper::service::service_fn(move |request| handler.handle(request));
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let idle = limits.idle_timeout;
    let mut draining = false;
    loop {
        let deadline = stamp.idle_deadline(idle);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(error = %err, "downstream connection ended with an error");
                }
                return;
            }
            () = drain.cancelled(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep_until(deadline), if !draining => {
                if Instant::now() >= stamp.idle_deadline(idle) {
                    draining = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

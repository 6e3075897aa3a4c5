//! Serving HTTP on an accepted (and possibly TLS-terminated) connection.
//!
//! The first bytes pick the protocol: the HTTP/2 connection preface means HTTP/2 (prior
//! knowledge on plaintext, or after ALPN `h2` on TLS), anything else HTTP/1.1. Each request
//! loads the socket's current router, gets the connection facts as an extension and
//! `X-Forwarded-For`/`-Proto`, and is checked against the URI and header-count limits.
//!
//! Request-head limits are enforced by hyper where it can: HTTP/1.1 heads larger than
//! [`Limits::max_header_bytes`] or with more than [`Limits::max_headers`] headers are
//! answered 431 by hyper's parser, and HTTP/2 header lists larger than the limit are
//! answered 431 and reset by h2. hyper has no header count for HTTP/2, so the handler
//! answers 431 to an HTTP/2 request with too many headers.
//!
//! An HTTP/1.1 keep-alive connection that stays quiet for [`Limits::idle_release`] is
//! *parked*: hyper lets go of it (and of its read and write buffers) while the socket stays
//! open, and a fresh hyper connection takes over when the client sends again (see
//! [`super::idle`]). A parked plaintext connection then holds about 1.3 KiB of heap in all
//! (its task, the socket's registration and the request handler) instead of about 28 KiB;
//! a TLS one about 10 KiB, most of it rustls' record buffer and keys.

use arc_swap::ArcSwap;
use bytes::Bytes;
use futures_util::task::AtomicWaker;
use http::{HeaderValue, StatusCode, header::HeaderName};
use hyper::{
    body::Incoming,
    server::conn::{http1, http2},
};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::{
    convert::Infallible,
    future::Future,
    pin::{Pin, pin},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite},
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use super::{
    connection::ConnectionSettings,
    idle::{IdleIo, IdleStamp, InFlight},
    socket::Served,
};
use crate::{
    BoxBody, Limits, ResponseFlag, body, error::local_response, extensions::ConnectionInfo,
};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// How far off "never" is for an idle timeout of zero (about 30 years, as tokio's own).
const NEVER: Duration = Duration::from_secs(86_400 * 365 * 30);

/// The HTTP/2 client connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The smallest read buffer limit hyper's HTTP/1 server accepts (it panics below).
const MIN_HTTP1_BUF: usize = 8192;

/// The hyper servers, configured once per distinct [`Limits`] and shared by every
/// connection served with them.
#[derive(Clone, Debug)]
pub(crate) struct HttpServers {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl HttpServers {
    pub(crate) fn new(limits: &Limits) -> Self {
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_headers(limits.max_headers)
            .max_header_size(limits.max_header_bytes)
            .max_buf_size(limits.max_header_bytes.max(MIN_HTTP1_BUF))
            .keep_alive(true);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.h2_max_concurrent_streams)
            .max_pending_accept_reset_streams(limits.h2_max_pending_reset_streams)
            .max_local_error_reset_streams(limits.h2_max_pending_reset_streams)
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
        Self { http1, http2 }
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request counted as in flight until hyper drops it.
    struct TrackedBody {
        #[pin]
        inner: BoxBody,
        in_flight: InFlight,
    }
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = crate::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Per-connection request handler.
struct Handler {
    served: Arc<ArcSwap<Served>>,
    stamp: Arc<IdleStamp>,
    info: ConnectionInfo,
    client_ip: HeaderValue,
    proto: HeaderValue,
    max_uri_bytes: usize,
    max_headers: usize,
}

impl Handler {
    fn handle(
        &self,
        request: http::Request<Incoming>,
    ) -> impl Future<Output = Result<http::Response<TrackedBody>, Infallible>> + Send + use<> {
        let upgrade = request.headers().contains_key(http::header::UPGRADE);
        let in_flight = self.stamp.begin_request(upgrade);
        let service = self.served.load().state.http.clone();
        let uri_len = request
            .uri()
            .path_and_query()
            .map_or(0, |pq| pq.as_str().len());
        let prepared = if uri_len > self.max_uri_bytes {
            Err(refuse(StatusCode::URI_TOO_LONG, request.version()))
        } else if request.headers().len() > self.max_headers {
            Err(refuse(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                request.version(),
            ))
        } else {
            Ok(self.prepare(request))
        };
        async move {
            let response = match (prepared, service) {
                (Err(response), _) => response,
                (Ok(request), Some(service)) => match service.call_shared(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                },
                (Ok(_), None) => local_response(StatusCode::NOT_FOUND, ResponseFlag::NoRouteFound),
            };
            Ok(response.map(|inner| TrackedBody { inner, in_flight }))
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

/// The answer to a request the listener refuses: `status`, and the end of an HTTP/1
/// connection whose framing can no longer be trusted.
fn refuse(status: StatusCode, version: http::Version) -> crate::Response {
    let mut response = local_response(status, ResponseFlag::DownstreamProtocolError);
    if version < http::Version::HTTP_2 {
        response
            .headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Serves HTTP on `io` with `settings` until the client leaves, the connection idles out,
/// or `drain` fires (then in-flight requests finish first).
///
/// The future lives as long as the connection, in every connection's task, so it is kept
/// small: an `async` block over what it needs (an `async fn` would store its arguments
/// twice, as passed and as bound), with hyper's connections and their drivers boxed.
pub(crate) fn serve_http<I>(
    io: I,
    info: ConnectionInfo,
    served: Arc<ArcSwap<Served>>,
    settings: Arc<ConnectionSettings>,
    drain: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = &settings.limits;
    let idle = if limits.idle_timeout.is_zero() {
        NEVER
    } else {
        limits.idle_timeout
    };
    let stamp = IdleStamp::new();
    let mut io = IdleIo::new(io, stamp.clone());
    let client_ip = HeaderValue::from_str(&info.remote_addr.ip().to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
    let handler = Arc::new(Handler {
        served,
        stamp,
        proto: HeaderValue::from_static(info.scheme()),
        info,
        client_ip,
        max_uri_bytes: limits.max_uri_bytes,
        max_headers: limits.max_headers,
    });
    async move {
        let (limits, servers) = (&settings.limits, &settings.servers);
        let stamp = &handler.stamp;
        let first = tokio::select! {
            first = read_first_bytes(&mut io) => first,
            () = tokio::time::sleep(limits.header_read_timeout) => None,
            () = drain.cancelled() => None,
        };
        let Some((is_h2, prefix)) = first else {
            return;
        };
        io.set_prefix(prefix);
        if is_h2 {
            let h = handler.clone();
            let service = hyper::service::service_fn(move |request| h.handle(request));
            let mut connection =
                Box::pin(servers.http2.serve_connection(TokioIo::new(io), service));
            Box::pin(drive(connection.as_mut(), stamp, idle, &drain, None)).await;
            return;
        }
        loop {
            let h = handler.clone();
            let service = hyper::service::service_fn(move |request| h.handle(request));
            // On the heap, so that a parked connection's task keeps none of hyper's state.
            let mut connection = Box::pin(
                servers
                    .http1
                    .serve_connection(TokioIo::new(io), service)
                    .with_upgrades(),
            );
            let release = Some(limits.idle_release);
            Box::pin(drive(connection.as_mut(), stamp, idle, &drain, release)).await;
            if !stamp.take_parked() {
                return;
            }
            let Some((parked, unread)) = Pin::into_inner(connection).into_parts().map(reclaim)
            else {
                return;
            };
            io = parked.into_inner();
            let prefix = if unread.is_empty() {
                // Parked: only the bare stream is kept until the client sends again (an empty
                // read buffer still holds hyper's allocation, so it goes first).
                drop(unread);
                let next = tokio::select! {
                    next = read_some(&mut io) => next,
                    () = tokio::time::sleep_until(stamp.idle_deadline(idle)) => None,
                    () = drain.cancelled() => None,
                };
                match next {
                    Some(bytes) => bytes,
                    None => return,
                }
            } else {
                unread
            };
            io.set_prefix(prefix);
        }
    }
}

/// The stream and the unread bytes of a finished HTTP/1 connection; the rest of hyper's
/// parts (the service) is dropped here.
fn reclaim<I, S>(parts: http1::Parts<I, S>) -> (I, Bytes) {
    (parts.io, parts.read_buf)
}

/// A hyper connection that can be asked to finish gracefully.
trait GracefulConnection: Future<Output = hyper::Result<()>> {
    fn shut_down(self: Pin<&mut Self>);
}

impl<I, S, B> GracefulConnection for http1::UpgradeableConnection<I, S>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<crate::BoxError>,
    B: http_body::Body + 'static,
    B::Error: Into<crate::BoxError>,
{
    fn shut_down(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, B> GracefulConnection for http2::Connection<I, S, TokioExecutor>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<crate::BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<crate::BoxError>,
    TokioExecutor: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    fn shut_down(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Polls `connection` to its end: closes it gracefully when the client idles past `idle`
/// or `drain` fires, and asks the stream to park after `release` of quiet.
///
/// The connection is polled on every wake-up; the drain signal and the timers only when
/// one of them woke the task (tracked by [`SideWake`]), so a busy connection does not
/// pay for its supervisors on every read and write.
async fn drive<C: GracefulConnection>(
    mut connection: Pin<&mut C>,
    stamp: &IdleStamp,
    idle: Duration,
    drain: &CancellationToken,
    release: Option<Duration>,
) {
    let side = Arc::new(SideWake {
        woken: AtomicBool::new(true),
        task: AtomicWaker::new(),
    });
    let side_waker = futures_util::task::waker(side.clone());
    let mut cancelled = pin!(drain.cancelled());
    let mut idle_timer = pin!(tokio::time::sleep_until(stamp.idle_deadline(idle)));
    let far = stamp.idle_deadline(idle);
    let mut release_timer = pin!(tokio::time::sleep_until(
        release.map_or(far, |after| stamp.idle_deadline(after))
    ));
    let mut draining = false;
    std::future::poll_fn(|cx| {
        loop {
            if let Poll::Ready(result) = connection.as_mut().poll(cx) {
                if let Err(err) = result {
                    tracing::debug!(error = %err, "downstream connection ended with an error");
                }
                return Poll::Ready(());
            }
            side.task.register(cx.waker());
            if !side.woken.swap(false, Ordering::AcqRel) || draining {
                return Poll::Pending;
            }
            let mut side_cx = Context::from_waker(&side_waker);
            if cancelled.as_mut().poll(&mut side_cx).is_ready() {
                draining = true;
                connection.as_mut().shut_down();
                continue;
            }
            while idle_timer.as_mut().poll(&mut side_cx).is_ready() {
                let deadline = stamp.idle_deadline(idle);
                if Instant::now() >= deadline {
                    draining = true;
                    connection.as_mut().shut_down();
                    break;
                }
                idle_timer.as_mut().reset(deadline);
            }
            if draining {
                continue;
            }
            if let Some(after) = release {
                while release_timer.as_mut().poll(&mut side_cx).is_ready() {
                    let now = Instant::now();
                    let due = stamp.idle_deadline(after);
                    if now >= due && stamp.is_quiet() {
                        // The next poll of the connection reads the empty socket and parks.
                        stamp.request_park();
                    }
                    release_timer
                        .as_mut()
                        .reset(if now >= due { now + after } else { due });
                }
                if stamp.park_requested() {
                    continue;
                }
            }
            return Poll::Pending;
        }
    })
    .await;
}

/// Records that a supervisor of [`drive`] (drain signal or timer) woke the task.
struct SideWake {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl futures_util::task::ArcWake for SideWake {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.woken.store(true, Ordering::Release);
        arc_self.task.wake();
    }
}

/// Reads the first bytes of a connection, enough to tell the HTTP/2 preface from
/// HTTP/1.1; `None` if the client leaves first.
async fn read_first_bytes<S: AsyncRead + Unpin>(io: &mut S) -> Option<(bool, Bytes)> {
    let mut buf = [0u8; H2_PREFACE.len()];
    let mut filled = 0;
    while filled < buf.len() {
        let n = io.read(&mut buf[filled..]).await.ok()?;
        if n == 0 {
            return None;
        }
        filled += n;
        if buf[..filled] != H2_PREFACE[..filled] {
            return Some((false, Bytes::copy_from_slice(&buf[..filled])));
        }
    }
    Some((true, Bytes::copy_from_slice(&buf)))
}

/// Waits for the client of a parked connection to send again; `None` if it leaves.
async fn read_some<S: AsyncRead + Unpin>(io: &mut S) -> Option<Bytes> {
    let mut buf = [0u8; 64];
    match io.read(&mut buf).await {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(Bytes::copy_from_slice(&buf[..n])),
    }
}

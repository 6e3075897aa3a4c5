//! Pooled upstream connections: one hyper-util client per protocol, built once and shared,
//! and per-backend pools for backends whose policy changes connection settings.

use http::Uri;
use hyper_util::{
    client::legacy::{
        Client, ResponseFuture,
        connect::{Connected, Connection, HttpConnector},
    },
    rt::{TokioExecutor, TokioIo, TokioTimer},
};
use std::{
    fmt,
    future::Future,
    io,
    num::NonZeroU32,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};
use tokio::net::TcpStream;

use super::{
    AppProtocol,
    policy::{BackendPolicy, Http2ProtocolOptions, TcpKeepalive},
};
use crate::{BoxBody, BoxError, Limits};

type PooledClient = Client<Connector, BoxBody>;

/// The connection settings a backend's policy may override. The default overrides nothing,
/// and a backend with default options shares the gateway-wide pools.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct ConnectionOptions {
    connect_timeout: Option<Duration>,
    tcp_keepalive: Option<TcpKeepalive>,
    idle_timeout: Option<Duration>,
    max_headers_count: Option<usize>,
    max_requests_per_connection: Option<NonZeroU32>,
    http2: Http2ProtocolOptions,
}

impl ConnectionOptions {
    /// The connection settings of `policy` that matter for `protocol` (HTTP/2 settings
    /// only for h2c, the header count only for HTTP/1.1), so a setting that cannot apply
    /// does not cost the backend pools of its own.
    pub(super) fn from_policy(policy: &BackendPolicy, protocol: AppProtocol) -> Self {
        let common = &policy.common_http_protocol_options;
        let (max_headers_count, http2) = match protocol {
            AppProtocol::Http1 => (common.max_headers_count, Http2ProtocolOptions::default()),
            AppProtocol::H2c => (None, policy.http2_protocol_options),
        };
        Self {
            connect_timeout: policy.connect_timeout,
            tcp_keepalive: policy.tcp_keepalive,
            idle_timeout: common.idle_timeout,
            max_headers_count,
            max_requests_per_connection: common.max_requests_per_connection,
            http2,
        }
    }

    /// Whether these options change nothing.
    pub(super) fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

struct Inner {
    http1: PooledClient,
    h2c: PooledClient,
    limits: Limits,
    connect_timeout: Duration,
    response_header_timeout: Duration,
    tcp_keepalive: Option<socket2::TcpKeepalive>,
    max_requests_per_connection: Option<NonZeroU32>,
}

/// Connection pools to upstream endpoints, for HTTP/1.1 and prior-knowledge HTTP/2.
///
/// Cloning is cheap and clones share the pools. Connections are keyed by endpoint
/// (`ip:port`), so each endpoint has its own pool; HTTP/2 keeps one multiplexed connection
/// per endpoint. A backend whose [`BackendPolicy`] changes connection settings gets pools of
/// its own, derived from this client by [`BackendService::new`](super::BackendService::new).
#[derive(Clone)]
pub struct UpstreamClient {
    inner: Arc<Inner>,
}

impl UpstreamClient {
    /// Builds both pools from `limits`: connect timeout, idle timeout, idle connections
    /// kept per endpoint, and `TCP_NODELAY` on every connection.
    pub fn new(limits: &Limits) -> Self {
        Self::build(limits, &ConnectionOptions::default())
    }

    /// A client with `options` applied over this client's limits: this client itself when
    /// they change nothing, else new pools.
    pub(super) fn with_options(&self, options: &ConnectionOptions) -> Self {
        if options.is_default() {
            self.clone()
        } else {
            Self::build(&self.inner.limits, options)
        }
    }

    fn build(limits: &Limits, options: &ConnectionOptions) -> Self {
        let connect_timeout = options
            .connect_timeout
            .unwrap_or(limits.upstream_connect_timeout);
        let connector = connector(connect_timeout, options);
        let idle_timeout = match options.idle_timeout {
            None => Some(limits.upstream_idle_timeout),
            Some(Duration::ZERO) => None,
            Some(timeout) => Some(timeout),
        };

        let mut http1 = Client::builder(TokioExecutor::new());
        http1
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(idle_timeout)
            .pool_max_idle_per_host(limits.upstream_max_idle_per_endpoint)
            // Fills in `Host` from the endpoint only when the request has none at all.
            .set_host(true);
        if let Some(max) = options.max_headers_count {
            http1.http1_max_headers(max);
        }
        let mut h2c = Client::builder(TokioExecutor::new());
        h2c.timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(idle_timeout)
            .pool_max_idle_per_host(limits.upstream_max_idle_per_endpoint)
            .http2_only(true);
        let http2 = &options.http2;
        h2c.http2_initial_stream_window_size(http2.initial_stream_window_size)
            .http2_initial_connection_window_size(http2.initial_connection_window_size)
            .http2_max_concurrent_streams(http2.max_concurrent_streams.map(NonZeroU32::get));
        if let Some(keepalive) = &http2.connection_keepalive {
            h2c.http2_keep_alive_interval(keepalive.interval)
                .http2_keep_alive_timeout(keepalive.timeout)
                .http2_keep_alive_while_idle(true);
        }

        let tcp_keepalive = options.tcp_keepalive.map(|keepalive| {
            let mut socket = socket2::TcpKeepalive::new();
            if let Some(time) = keepalive.keep_alive_time {
                socket = socket.with_time(time);
            }
            if let Some(interval) = keepalive.keep_alive_interval {
                socket = socket.with_interval(interval);
            }
            if let Some(probes) = keepalive.keep_alive_probes {
                socket = socket.with_retries(probes);
            }
            socket
        });
        Self {
            inner: Arc::new(Inner {
                http1: http1.build(connector.clone()),
                h2c: h2c.build(connector),
                limits: limits.clone(),
                connect_timeout,
                response_header_timeout: limits.upstream_response_header_timeout,
                tcp_keepalive,
                max_requests_per_connection: options.max_requests_per_connection,
            }),
        }
    }

    /// Sends `request` (whose URI names the endpoint) on a pooled connection of `protocol`.
    pub(crate) fn send(&self, protocol: AppProtocol, request: crate::Request) -> ResponseFuture {
        match protocol {
            AppProtocol::Http1 => self.inner.http1.request(request),
            AppProtocol::H2c => self.inner.h2c.request(request),
        }
    }

    /// Time allowed to establish a TCP connection.
    pub(crate) fn connect_timeout(&self) -> Duration {
        self.inner.connect_timeout
    }

    /// Time allowed between sending a request and receiving response headers.
    pub(crate) fn response_header_timeout(&self) -> Duration {
        self.inner.response_header_timeout
    }

    /// TCP keepalive for connections made outside the pools (upgrades).
    pub(super) fn tcp_keepalive(&self) -> Option<&socket2::TcpKeepalive> {
        self.inner.tcp_keepalive.as_ref()
    }

    /// Requests a pooled connection may carry before it is retired.
    pub(super) fn max_requests_per_connection(&self) -> Option<NonZeroU32> {
        self.inner.max_requests_per_connection
    }
}

impl fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamClient")
            .field("connect_timeout", &self.inner.connect_timeout)
            .field(
                "response_header_timeout",
                &self.inner.response_header_timeout,
            )
            .finish_non_exhaustive()
    }
}

/// The requests a pooled connection has carried, shared with every response it carries
/// (hyper-util copies a connection's "extra" into each response's extensions).
#[derive(Clone, Debug, Default)]
pub(super) struct ConnectionRequests(Arc<AtomicU32>);

impl ConnectionRequests {
    /// Counts one more request and returns the total.
    pub(super) fn increment(&self) -> u32 {
        self.0.fetch_add(1, Ordering::Relaxed).saturating_add(1)
    }
}

/// The connector of pools built with `options`: `TCP_NODELAY`, `connect_timeout`, plain
/// HTTP only, and the policy's TCP keepalive.
pub(super) fn connector(connect_timeout: Duration, options: &ConnectionOptions) -> Connector {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(connect_timeout));
    connector.enforce_http(true);
    if let Some(keepalive) = &options.tcp_keepalive {
        // Any field turns SO_KEEPALIVE on; unset ones keep the system's values.
        connector.set_keepalive(keepalive.keep_alive_time);
        connector.set_keepalive_interval(keepalive.keep_alive_interval);
        connector.set_keepalive_retries(keepalive.keep_alive_probes);
    }
    Connector {
        inner: connector,
        count_requests: options.max_requests_per_connection.is_some(),
    }
}

/// hyper-util's TCP connector, with a request counter on each connection when
/// `maxRequestsPerConnection` is set.
#[derive(Clone, Debug)]
pub(super) struct Connector {
    inner: HttpConnector,
    count_requests: bool,
}

type Connecting = Pin<Box<dyn Future<Output = Result<Conn, BoxError>> + Send>>;

impl tower::Service<Uri> for Connector {
    type Response = Conn;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let requests = self.count_requests.then(ConnectionRequests::default);
        Box::pin(async move {
            let io = connecting.await?;
            Ok(Conn { io, requests })
        })
    }
}

pin_project_lite::pin_project! {
    /// A pooled TCP connection.
    pub(super) struct Conn {
        #[pin]
        io: TokioIo<TcpStream>,
        requests: Option<ConnectionRequests>,
    }
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        let connected = self.io.connected();
        match &self.requests {
            Some(requests) => connected.extra(requests.clone()),
            None => connected,
        }
    }
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().io.poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
impl UpstreamClient {
    /// Whether the two clients use the same pools.
    pub(super) fn shares_pools_with(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

#[cfg(test)]
impl Connector {
    /// Connects to `uri` as the pools would, for tests of socket options.
    pub(super) async fn connect_for_test(&mut self, uri: Uri) -> Result<TcpStream, BoxError> {
        use tower::{Service, ServiceExt};
        let conn = self.ready().await?.call(uri).await?;
        Ok(conn.io.into_inner())
    }
}

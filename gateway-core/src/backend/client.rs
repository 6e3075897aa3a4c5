//! Pooled upstream connections: one hyper-util client per protocol, built once and shared.

use hyper_util::{
    client::legacy::{Client, ResponseFuture, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};
use std::{fmt, sync::Arc, time::Duration};

use super::AppProtocol;
use crate::{BoxBody, Limits};

type PooledClient = Client<HttpConnector, BoxBody>;

struct Inner {
    http1: PooledClient,
    h2c: PooledClient,
    connect_timeout: Duration,
    response_header_timeout: Duration,
}

/// Connection pools to upstream endpoints, for HTTP/1.1 and prior-knowledge HTTP/2.
///
/// Cloning is cheap and clones share the pools. Connections are keyed by endpoint
/// (`ip:port`), so each endpoint has its own pool; HTTP/2 keeps one multiplexed connection
/// per endpoint.
#[derive(Clone)]
pub struct UpstreamClient {
    inner: Arc<Inner>,
}

impl UpstreamClient {
    /// Builds both pools from `limits`: connect timeout, idle timeout, idle connections
    /// kept per endpoint, and `TCP_NODELAY` on every connection.
    pub fn new(limits: &Limits) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(limits.upstream_connect_timeout));
        connector.enforce_http(true);

        let mut http1 = Client::builder(TokioExecutor::new());
        http1
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(limits.upstream_idle_timeout)
            .pool_max_idle_per_host(limits.upstream_max_idle_per_endpoint)
            // Fills in `Host` from the endpoint only when the request has none at all.
            .set_host(true);
        let mut h2c = Client::builder(TokioExecutor::new());
        h2c.timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(limits.upstream_idle_timeout)
            .pool_max_idle_per_host(limits.upstream_max_idle_per_endpoint)
            .http2_only(true);

        Self {
            inner: Arc::new(Inner {
                http1: http1.build(connector.clone()),
                h2c: h2c.build(connector),
                connect_timeout: limits.upstream_connect_timeout,
                response_header_timeout: limits.upstream_response_header_timeout,
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

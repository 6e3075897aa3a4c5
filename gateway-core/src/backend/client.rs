//! The upstream client: the gateway's connection pools, built once and shared, and pools of
//! their own for backends whose policy changes connection settings.

use hyper::body::Incoming;
use std::{fmt, net::SocketAddr, num::NonZeroU32, sync::Arc, time::Duration};

use super::{
    AppProtocol,
    policy::{BackendPolicy, Http2ProtocolOptions, TcpKeepalive},
    pool::{Checkin, Pools, Settings},
};
use crate::{Limits, ProxyError};

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
    pools: Pools,
    limits: Limits,
}

/// Connection pools to upstream endpoints, for HTTP/1.1 and prior-knowledge HTTP/2.
///
/// Cloning is cheap and clones share the pools. Each endpoint (`ip:port`) has its own
/// pool; HTTP/2 keeps one multiplexed connection per endpoint. A backend whose
/// [`BackendPolicy`] changes connection settings gets pools of its own, derived from this
/// client by [`BackendService::new`](super::BackendService::new).
#[derive(Clone)]
pub struct UpstreamClient {
    inner: Arc<Inner>,
}

impl UpstreamClient {
    /// Pools built from `limits`: connect timeout, idle timeout, idle connections kept per
    /// endpoint, and `TCP_NODELAY` on every connection.
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
        let idle_timeout = match options.idle_timeout {
            None => Some(limits.upstream_idle_timeout),
            Some(Duration::ZERO) => None,
            Some(timeout) => Some(timeout),
        };
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
        let pools = Pools::new(Settings {
            connect_timeout: options
                .connect_timeout
                .unwrap_or(limits.upstream_connect_timeout),
            tcp_keepalive,
            idle_timeout,
            max_idle_per_endpoint: limits.upstream_max_idle_per_endpoint,
            max_headers: options.max_headers_count,
            max_requests_per_connection: options.max_requests_per_connection,
            http2: options.http2,
        });
        Self {
            inner: Arc::new(Inner {
                pools,
                limits: limits.clone(),
            }),
        }
    }

    /// Sends `request` (origin-form URI for HTTP/1.1, absolute for HTTP/2) to `endpoint`
    /// on a pooled connection of `protocol`; the [`Checkin`] goes with the response body.
    pub(crate) async fn send(
        &self,
        protocol: AppProtocol,
        endpoint: SocketAddr,
        request: crate::Request,
    ) -> Result<(http::Response<Incoming>, Checkin), ProxyError> {
        self.inner.pools.send(protocol, endpoint, request).await
    }

    /// Time allowed to establish a TCP connection.
    pub(crate) fn connect_timeout(&self) -> Duration {
        self.inner.pools.settings().connect_timeout
    }

    /// Time allowed between sending a request and receiving response headers.
    pub(crate) fn response_header_timeout(&self) -> Duration {
        self.inner.limits.upstream_response_header_timeout
    }

    /// TCP keepalive for connections made outside the pools (upgrades).
    pub(super) fn tcp_keepalive(&self) -> Option<&socket2::TcpKeepalive> {
        self.inner.pools.settings().tcp_keepalive.as_ref()
    }
}

impl fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamClient")
            .field("connect_timeout", &self.connect_timeout())
            .field("response_header_timeout", &self.response_header_timeout())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
impl UpstreamClient {
    /// Whether the two clients use the same pools.
    pub(super) fn shares_pools_with(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

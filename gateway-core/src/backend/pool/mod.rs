//! The gateway's own upstream connection pools: one entry per endpoint address, HTTP/1.1
//! connections parked in a lock-free queue between requests, one shared multiplexed
//! connection per endpoint for prior-knowledge HTTP/2.
//!
//! Why not hyper-util's pooled client: it keys its pool by `(scheme, authority)` and hashes
//! the authority byte by byte with SipHash on every checkout and every return, spawns a task
//! per HTTP/1.1 response to wait for the connection to become idle, and copies connection
//! metadata into every response's extensions; together that was about a fifth of the
//! instructions the gateway spent per proxied request. Here a request finds its endpoint
//! with one lock-free map read keyed by socket address, takes a parked connection with one
//! queue pop, and the response body puts the connection back when it ends.
//!
//! - A parked HTTP/1.1 connection is reused only when hyper says it is ready; one closed by
//!   the upstream while parked is skipped, and a request hyper hands back unsent (the
//!   connection closed under it) is retried on another connection.
//! - Connections idle longer than the idle timeout are closed by a background sweep (every
//!   quarter of the timeout), which also forgets endpoints nobody uses any more.
//! - `maxRequestsPerConnection` retires a connection after that many requests: an HTTP/1.1
//!   connection is not parked again, an HTTP/2 connection is replaced for new requests
//!   while its open streams finish.

mod connect;
mod endpoint;
mod sweep;

use std::{
    net::SocketAddr,
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use arc_swap::ArcSwap;
use hyper::body::Incoming;

use super::{AppProtocol, policy::Http2ProtocolOptions};
use crate::{ProxyError, Request};

pub(super) use connect::connect_tcp;
pub(super) use endpoint::Checkin;
use endpoint::EndpointPool;

/// Endpoint pools by address. foldhash: endpoint addresses come from configuration and DNS,
/// not from clients, and the map is read on every request.
type EndpointMap =
    std::collections::HashMap<SocketAddr, Arc<EndpointPool>, foldhash::fast::RandomState>;

/// How the pools connect and how long they keep connections.
#[derive(Debug)]
pub(super) struct Settings {
    /// Time allowed to establish a TCP connection.
    pub(super) connect_timeout: Duration,
    /// `SO_KEEPALIVE` settings for new connections, if any.
    pub(super) tcp_keepalive: Option<socket2::TcpKeepalive>,
    /// How long a connection may stay unused before it is closed; `None` keeps it.
    pub(super) idle_timeout: Option<Duration>,
    /// HTTP/1.1 connections parked per endpoint; 0 turns HTTP/1.1 pooling off.
    pub(super) max_idle_per_endpoint: usize,
    /// The most response headers an HTTP/1.1 upstream may send.
    pub(super) max_headers: Option<usize>,
    /// Requests a connection carries before it is retired.
    pub(super) max_requests_per_connection: Option<NonZeroU32>,
    /// HTTP/2 settings for h2c connections.
    pub(super) http2: Http2ProtocolOptions,
}

/// Connection pools for every endpoint, sharing one set of [`Settings`]. Cloning is cheap
/// and clones share the pools.
#[derive(Clone, Debug)]
pub(super) struct Pools {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    settings: Settings,
    endpoints: ArcSwap<EndpointMap>,
    /// Whether the background sweep runs (it starts with the first connection, inside the
    /// runtime).
    sweeping: AtomicBool,
    /// Sweeps so far: a coarse clock for HTTP/2 idleness that costs requests nothing.
    sweeps: AtomicU64,
}

impl Pools {
    /// Empty pools with `settings`.
    pub(super) fn new(settings: Settings) -> Self {
        Self {
            shared: Arc::new(Shared {
                settings,
                endpoints: ArcSwap::from_pointee(EndpointMap::default()),
                sweeping: AtomicBool::new(false),
                sweeps: AtomicU64::new(0),
            }),
        }
    }

    /// The settings these pools were made with.
    pub(super) fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    /// Sends `request` to `endpoint` over a pooled connection of `protocol`, connecting
    /// when none is available. The [`Checkin`] must travel with the response body and be
    /// released when the body ends, which parks an HTTP/1.1 connection for the next request.
    pub(super) async fn send(
        &self,
        protocol: AppProtocol,
        endpoint: SocketAddr,
        request: Request,
    ) -> Result<(http::Response<Incoming>, Checkin), ProxyError> {
        let pool = self.endpoint(endpoint);
        match protocol {
            AppProtocol::Http1 => pool.send_http1(self, request).await,
            AppProtocol::H2c => pool.send_h2c(self, request).await,
        }
    }

    /// The pool of `endpoint`, created on first use.
    fn endpoint(&self, endpoint: SocketAddr) -> Arc<EndpointPool> {
        if let Some(pool) = self.shared.endpoints.load().get(&endpoint) {
            return pool.clone();
        }
        let new_pool = || {
            Arc::new(EndpointPool::new(
                endpoint,
                self.settings().max_idle_per_endpoint,
            ))
        };
        self.shared.endpoints.rcu(|map| {
            let mut map = EndpointMap::clone(map);
            map.entry(endpoint).or_insert_with(new_pool);
            map
        });
        match self.shared.endpoints.load().get(&endpoint) {
            Some(pool) => pool.clone(),
            // Swept away between the two reads: a detached pool still serves this request.
            None => new_pool(),
        }
    }

    /// Starts the background sweep if it is not running yet. Called when a connection is
    /// made, so it always runs inside the runtime.
    fn ensure_sweeping(&self) {
        if self.shared.sweeping.swap(true, Ordering::Relaxed) {
            return;
        }
        let period = sweep::period(self.shared.settings.idle_timeout);
        tokio::spawn(sweep::run(Arc::downgrade(&self.shared), period));
    }

    /// The sweep count, as HTTP/2 connections record their last use.
    fn sweeps(&self) -> u64 {
        self.shared.sweeps.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    /// Endpoints that have a pool.
    pub(super) fn endpoint_count(&self) -> usize {
        self.shared.endpoints.load().len()
    }

    #[cfg(test)]
    /// HTTP/1.1 connections parked for `endpoint`.
    pub(super) fn parked(&self, endpoint: SocketAddr) -> usize {
        self.shared
            .endpoints
            .load()
            .get(&endpoint)
            .map_or(0, |pool| pool.parked())
    }
}

#[cfg(test)]
mod tests;

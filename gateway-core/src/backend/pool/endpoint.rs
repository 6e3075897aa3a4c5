//! One endpoint's connections: parked HTTP/1.1 connections and the shared HTTP/2 one.

use std::{
    net::SocketAddr,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU32, AtomicU64, Ordering},
    },
    time::Duration,
};

use arc_swap::ArcSwapOption;
use crossbeam_queue::ArrayQueue;
use hyper::{
    body::Incoming,
    client::conn::{http1, http2},
};
use tokio::time::Instant;

use super::{Pools, Settings, connect};
use crate::{BoxBody, ProxyError, Request, backend::errors};

/// How many parked connections a request tries before it opens a new one, when each in
/// turn hands the request back unsent (closed by the upstream while parked).
const STALE_RETRIES: usize = 3;

/// The request hyper handed back unsent (the connection closed before it was written, so
/// another connection may carry it), or the exchange's error.
fn unsent(mut err: hyper::client::conn::TrySendError<Request>) -> Result<Request, ProxyError> {
    match err.take_message() {
        Some(request) => Ok(request),
        None => Err(errors::from_hyper(err.into_error())),
    }
}

/// An HTTP/1.1 connection waiting for its next request.
struct Parked {
    sender: http1::SendRequest<BoxBody>,
    since: Instant,
    requests: u32,
}

/// The shared HTTP/2 connection of an endpoint.
struct H2Connection {
    sender: http2::SendRequest<BoxBody>,
    requests: AtomicU32,
    /// The pools' sweep count at the last request: idleness measured in sweeps.
    last_used: AtomicU64,
}

/// The connections of one endpoint.
pub(super) struct EndpointPool {
    addr: SocketAddr,
    /// How many HTTP/1.1 connections may be parked (0: none).
    capacity: usize,
    /// Parked HTTP/1.1 connections, made on first return (h2c endpoints never need it).
    parked: OnceLock<ArrayQueue<Parked>>,
    h2: ArcSwapOption<H2Connection>,
    /// Held while an HTTP/2 connection is being made, so concurrent requests share it.
    h2_connecting: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for EndpointPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointPool")
            .field("addr", &self.addr)
            .field("parked", &self.parked())
            .finish_non_exhaustive()
    }
}

impl EndpointPool {
    pub(super) fn new(addr: SocketAddr, capacity: usize) -> Self {
        Self {
            addr,
            capacity,
            parked: OnceLock::new(),
            h2: ArcSwapOption::empty(),
            h2_connecting: tokio::sync::Mutex::new(()),
        }
    }

    /// HTTP/1.1 connections parked now.
    pub(super) fn parked(&self) -> usize {
        self.parked.get().map_or(0, ArrayQueue::len)
    }

    /// Sends over a parked HTTP/1.1 connection, or a new one.
    pub(super) async fn send_http1(
        self: Arc<Self>,
        pools: &Pools,
        mut request: Request,
    ) -> Result<(http::Response<Incoming>, Checkin), ProxyError> {
        for _ in 0..STALE_RETRIES {
            let Some(mut parked) = self.take_parked() else {
                break;
            };
            match parked.sender.try_send_request(request).await {
                Ok(response) => {
                    let checkin = self.checkin(pools.settings(), parked.sender, parked.requests);
                    return Ok((response, checkin));
                }
                Err(err) => request = unsent(err)?,
            }
        }
        let mut sender = connect::http1(self.addr, pools).await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(errors::from_hyper)?;
        let checkin = self.checkin(pools.settings(), sender, 0);
        Ok((response, checkin))
    }

    /// A parked connection that is still usable, if any.
    fn take_parked(&self) -> Option<Parked> {
        let queue = self.parked.get()?;
        while let Some(parked) = queue.pop() {
            if parked.sender.is_ready() {
                return Some(parked);
            }
        }
        None
    }

    /// What the response body releases when it ends: the connection, to be parked again,
    /// unless it has carried its last request.
    fn checkin(
        self: Arc<Self>,
        settings: &Settings,
        sender: http1::SendRequest<BoxBody>,
        requests: u32,
    ) -> Checkin {
        let requests = requests.saturating_add(1);
        let retired = settings
            .max_requests_per_connection
            .is_some_and(|max| requests >= max.get());
        if retired || self.capacity == 0 {
            return Checkin::none();
        }
        Checkin(Some(Returning {
            pool: self,
            sender,
            requests,
        }))
    }

    /// Parks `sender` once it is ready for another request.
    fn park(self: Arc<Self>, sender: http1::SendRequest<BoxBody>, requests: u32) {
        if sender.is_ready() {
            let queue = self.parked.get_or_init(|| ArrayQueue::new(self.capacity));
            // A full queue drops the connection, which closes it.
            let _ = queue.push(Parked {
                sender,
                since: Instant::now(),
                requests,
            });
        } else if !sender.is_closed() {
            // The connection is still finishing this exchange (the request body is being
            // sent, say): park it when hyper says it is ready.
            let mut sender = sender;
            tokio::spawn(async move {
                if sender.ready().await.is_ok() {
                    self.park(sender, requests);
                }
            });
        }
    }

    /// Sends over the endpoint's HTTP/2 connection, making it first if needed.
    pub(super) async fn send_h2c(
        self: Arc<Self>,
        pools: &Pools,
        mut request: Request,
    ) -> Result<(http::Response<Incoming>, Checkin), ProxyError> {
        for _ in 0..STALE_RETRIES {
            let connection = self.h2_connection(pools).await?;
            let mut sender = connection.sender.clone();
            match sender.try_send_request(request).await {
                Ok(response) => return Ok((response, Checkin::none())),
                Err(err) => {
                    request = unsent(err)?;
                    self.h2.compare_and_swap(&Some(connection), None);
                }
            }
        }
        Err(ProxyError::Reset(
            "upstream HTTP/2 connections kept closing".into(),
        ))
    }

    /// The shared HTTP/2 connection, counted for this request.
    async fn h2_connection(&self, pools: &Pools) -> Result<Arc<H2Connection>, ProxyError> {
        if let Some(connection) = self.usable_h2(pools) {
            return Ok(connection);
        }
        let _connecting = self.h2_connecting.lock().await;
        if let Some(connection) = self.usable_h2(pools) {
            return Ok(connection);
        }
        let sender = connect::h2c(self.addr, pools).await?;
        let connection = Arc::new(H2Connection {
            sender,
            requests: AtomicU32::new(1),
            last_used: AtomicU64::new(pools.sweeps()),
        });
        let retired = pools
            .settings()
            .max_requests_per_connection
            .is_some_and(|max| max.get() == 1);
        if !retired {
            self.h2.store(Some(connection.clone()));
        }
        Ok(connection)
    }

    /// The current HTTP/2 connection if it is open and may carry another request; a
    /// connection reaching `maxRequestsPerConnection` is replaced for later requests.
    fn usable_h2(&self, pools: &Pools) -> Option<Arc<H2Connection>> {
        let connection = self.h2.load_full()?;
        if connection.sender.is_closed() {
            self.h2.compare_and_swap(&Some(connection), None);
            return None;
        }
        let requests = connection.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(max) = pools.settings().max_requests_per_connection {
            if requests > max.get() {
                return None;
            }
            if requests == max.get() {
                self.h2.compare_and_swap(&Some(connection.clone()), None);
            }
        }
        connection
            .last_used
            .store(pools.sweeps(), Ordering::Relaxed);
        Some(connection)
    }

    /// Closes connections idle for `idle_timeout` (parked since before `now - idle_timeout`,
    /// or HTTP/2 unused for `idle_sweeps` sweeps) and ones the upstream closed.
    pub(super) fn sweep(
        &self,
        now: Instant,
        idle_timeout: Option<Duration>,
        sweeps: u64,
        idle_sweeps: u64,
    ) {
        if let Some(queue) = self.parked.get() {
            for _ in 0..queue.len() {
                let Some(parked) = queue.pop() else { break };
                let expired = idle_timeout
                    .is_some_and(|timeout| now.saturating_duration_since(parked.since) >= timeout);
                if !expired && !parked.sender.is_closed() {
                    let _ = queue.push(parked);
                }
            }
        }
        if let Some(connection) = self.h2.load_full() {
            let idle = sweeps.saturating_sub(connection.last_used.load(Ordering::Relaxed));
            if connection.sender.is_closed() || (idle_timeout.is_some() && idle >= idle_sweeps) {
                self.h2.compare_and_swap(&Some(connection), None);
            }
        }
    }

    /// Whether the pool holds no connection.
    pub(super) fn is_empty(&self) -> bool {
        self.parked() == 0 && self.h2.load().is_none()
    }
}

/// A connection travelling with its response body, parked again when the body ends.
pub(crate) struct Checkin(Option<Returning>);

struct Returning {
    pool: Arc<EndpointPool>,
    sender: http1::SendRequest<BoxBody>,
    requests: u32,
}

impl Checkin {
    /// Nothing to return (HTTP/2 streams, connections that carried their last request).
    pub(crate) fn none() -> Self {
        Self(None)
    }

    /// The response body ended cleanly: the connection may carry another request.
    /// Dropping a `Checkin` without releasing it closes an HTTP/1.1 connection.
    pub(crate) fn release(&mut self) {
        if let Some(returning) = self.0.take() {
            let Returning {
                pool,
                sender,
                requests,
            } = returning;
            pool.park(sender, requests);
        }
    }
}

impl std::fmt::Debug for Checkin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Checkin").field(&self.0.is_some()).finish()
    }
}

//! The shared, lock-free state of a backend's endpoints: availability (active health checks
//! and outlier ejection), in-flight counts, and the admission of requests through circuit
//! breakers and connection or stream slots.
//!
//! Each endpoint keeps a small set of atomic flags; the backend keeps the number of
//! available endpoints, so a pick knows in one load whether every endpoint is usable (the
//! common case, with no filtering at all), whether some must be skipped, or whether the
//! backend is in panic mode.

use http::uri::Authority;
use std::{
    net::SocketAddr,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Instant,
};

use crate::metrics::PolicyCounter;

use super::{
    AppProtocol,
    balance::{Balancer, Usable},
    circuit::{CircuitBreaker, Overflow, acquire_slot},
    hash::{RequestHash, hash_request},
    policy::{BackendPolicy, OutlierDetection},
};

/// The endpoint failed active health checks.
const FAILED_HEALTH_CHECK: u8 = 1;
/// The endpoint is ejected by outlier detection.
const EJECTED: u8 = 2;

/// Envoy's `max_ejection_time` default: ejections never last longer than this (or the base
/// ejection time, if longer).
const MAX_EJECTION_TIME: Duration = Duration::from_secs(300);

/// One endpoint. Aligned to a cache line so that the counters of neighbouring endpoints
/// do not share one.
#[derive(Debug)]
#[repr(align(64))]
pub(super) struct Host {
    /// The endpoint's address.
    pub(super) addr: SocketAddr,
    /// The address as a URI authority, made once so requests do not format it.
    pub(super) authority: Option<Authority>,
    /// HTTP/2 stream slots (`maxConcurrentStreams`), for h2c backends that limit them.
    streams: Option<Arc<Semaphore>>,
    /// Requests in flight, kept only for least request.
    active: AtomicU32,
    /// `FAILED_HEALTH_CHECK | EJECTED`; the endpoint is available when zero.
    down: AtomicU8,
    /// Failures in a row, for outlier detection.
    consecutive_failures: AtomicU32,
    /// The ejection multiplier: times ejected, less one per interval spent in service.
    ejections: AtomicU32,
    /// When the current ejection ends (milliseconds since the backend's epoch).
    ejected_until: AtomicU64,
    /// When the endpoint last returned from an ejection (milliseconds since the epoch).
    returned_at: AtomicU64,
}

impl Host {
    fn new(addr: SocketAddr, streams: Option<usize>) -> Self {
        Self {
            addr,
            authority: Authority::try_from(addr.to_string()).ok(),
            streams: streams.map(|max| Arc::new(Semaphore::new(max))),
            active: AtomicU32::new(0),
            down: AtomicU8::new(0),
            consecutive_failures: AtomicU32::new(0),
            ejections: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
            returned_at: AtomicU64::new(0),
        }
    }

    /// Whether the endpoint may take traffic outside panic mode.
    pub(super) fn is_available(&self) -> bool {
        self.down.load(Ordering::Acquire) == 0
    }

    /// Requests in flight (counted only when the balancer reads them).
    pub(super) fn active_requests(&self) -> u32 {
        self.active.load(Ordering::Relaxed)
    }
}

/// Outlier detection settings in milliseconds, and the ejection bookkeeping.
#[derive(Debug)]
struct Outlier {
    consecutive_5xx: u32,
    enforcing: u8,
    interval_ms: u64,
    base_ms: u64,
    max_ms: u64,
    /// Most endpoints ejected at once.
    max_ejected: usize,
    /// Endpoints ejected now.
    ejected: AtomicUsize,
    /// The earliest end of a current ejection (`u64::MAX`: none, or a sweep is running).
    next_return: AtomicU64,
    /// A pick is returning endpoints whose ejection is over.
    sweeping: AtomicBool,
}

impl Outlier {
    fn new(config: &OutlierDetection, endpoints: usize) -> Self {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1);
        let base_ms = millis(config.base_ejection_time);
        Self {
            consecutive_5xx: config.consecutive_5xx,
            enforcing: config.enforcing_consecutive_5xx.min(100),
            interval_ms: millis(config.interval),
            base_ms,
            max_ms: base_ms.max(millis(MAX_EJECTION_TIME)),
            max_ejected: endpoints * usize::from(config.max_ejection_percent.min(100)) / 100,
            ejected: AtomicUsize::new(0),
            next_return: AtomicU64::new(u64::MAX),
            sweeping: AtomicBool::new(false),
        }
    }
}

/// How a request to an endpoint ended, for outlier detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// A non-5xx response.
    Success,
    /// A 5xx response, or a failure the gateway answered for (connect, reset, timeout).
    Failure,
}

/// An endpoint's health as seen by the load balancers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointStatus {
    /// The endpoint.
    pub address: SocketAddr,
    /// `false` while active health checks find the endpoint unhealthy.
    pub healthy: bool,
    /// `true` while outlier detection has the endpoint ejected.
    pub ejected: bool,
}

/// Everything a backend's requests share.
///
/// A backend whose endpoints come from DNS builds a new state each time the answer changes
/// (see [`next_generation`](Self::next_generation)); the backend-wide limits and counters
/// (circuit breakers, connection slots, the ejection counter) carry over to it, while the
/// per-endpoint state starts afresh.
#[derive(Debug)]
pub(super) struct BackendState {
    /// The endpoints, in [`hosts`](Self::hosts) order.
    pub(super) endpoints: Arc<[SocketAddr]>,
    pub(super) hosts: Box<[Host]>,
    balancer: Balancer,
    /// Endpoints with no `down` flag.
    available: AtomicUsize,
    /// `healthyPanicThreshold` in percent.
    panic_threshold: usize,
    outlier: Option<Outlier>,
    pub(super) breaker: Option<CircuitBreaker>,
    /// HTTP/1.1 connection slots (`maxConnections`).
    connection_slots: Option<Arc<Semaphore>>,
    /// `maxStreamDuration`.
    pub(super) max_stream_duration: Option<Duration>,
    /// Where ejections are counted (`gateway_upstream_ejections_total`), once set; shared
    /// by every generation of the backend's state.
    ejections: Arc<OnceLock<PolicyCounter>>,
    /// Time zero of the millisecond clocks above.
    epoch: Instant,
}

/// The backend-wide parts of a [`BackendState`], kept from one generation to the next.
struct Carried {
    breaker: Option<CircuitBreaker>,
    connection_slots: Option<Arc<Semaphore>>,
    ejections: Arc<OnceLock<PolicyCounter>>,
}

impl BackendState {
    /// Counts this backend's outlier ejections in `counter` (the first counter given
    /// stays); without outlier detection there is nothing to count.
    pub(super) fn count_ejections(&self, counter: PolicyCounter) {
        if self.outlier.is_some() {
            let _ = self.ejections.set(counter);
        }
    }

    /// The state of `endpoints` under `policy`.
    pub(super) fn new(
        endpoints: &[SocketAddr],
        protocol: AppProtocol,
        policy: &BackendPolicy,
    ) -> Self {
        let breaker = policy.circuit_breakers.map(CircuitBreaker::new);
        let connection_slots = match protocol {
            AppProtocol::Http1 => breaker.as_ref().map(CircuitBreaker::connection_slots),
            AppProtocol::H2c => None,
        };
        let carried = Carried {
            breaker,
            connection_slots,
            ejections: Arc::default(),
        };
        Self::build(endpoints, protocol, policy, carried)
    }

    /// The state of the same backend over new `endpoints` (built with the same `protocol`
    /// and `policy` as `self`): the circuit breakers, connection slots and ejection counter
    /// are shared with `self`, so requests still in flight on the old state count against
    /// the same limits; health, ejections and the balancer start afresh.
    pub(super) fn next_generation(
        &self,
        endpoints: &[SocketAddr],
        protocol: AppProtocol,
        policy: &BackendPolicy,
    ) -> Self {
        let carried = Carried {
            breaker: self.breaker.clone(),
            connection_slots: self.connection_slots.clone(),
            ejections: self.ejections.clone(),
        };
        Self::build(endpoints, protocol, policy, carried)
    }

    fn build(
        endpoints: &[SocketAddr],
        protocol: AppProtocol,
        policy: &BackendPolicy,
        carried: Carried,
    ) -> Self {
        let streams = match protocol {
            AppProtocol::H2c => policy
                .http2_protocol_options
                .max_concurrent_streams
                .map(|max| usize::try_from(max.get()).unwrap_or(Semaphore::MAX_PERMITS)),
            AppProtocol::Http1 => None,
        };
        let hosts: Box<[Host]> = endpoints
            .iter()
            .map(|addr| Host::new(*addr, streams))
            .collect();
        let keys: Vec<String> = endpoints.iter().map(SocketAddr::to_string).collect();
        Self {
            endpoints: Arc::from(endpoints),
            available: AtomicUsize::new(hosts.len()),
            outlier: policy
                .outlier_detection
                .as_ref()
                .map(|config| Outlier::new(config, hosts.len())),
            hosts,
            balancer: Balancer::new(&policy.load_balancer.algorithm, &keys),
            panic_threshold: usize::from(policy.load_balancer.healthy_panic_threshold.min(100)),
            breaker: carried.breaker,
            connection_slots: carried.connection_slots,
            max_stream_duration: policy.common_http_protocol_options.max_stream_duration,
            ejections: carried.ejections,
            epoch: Instant::now(),
        }
    }

    /// Hashes `request` with the balancer's hash policies (nothing for other balancers).
    pub(super) fn hash<B>(&self, request: &http::Request<B>) -> RequestHash {
        let policies = self.balancer.hash_policies();
        if policies.is_empty() {
            RequestHash::default()
        } else {
            hash_request(policies, request)
        }
    }

    /// Picks an endpoint index for a request with key `hash`: among the available
    /// endpoints, or among all of them in panic mode (fewer than `healthyPanicThreshold`
    /// percent available). `None` when there are no endpoints, or none is available and
    /// the panic threshold is 0.
    pub(super) fn pick(&self, hash: Option<u64>) -> Option<usize> {
        let total = self.hosts.len();
        if total == 0 {
            return None;
        }
        self.return_ejected();
        let available = self.available.load(Ordering::Acquire);
        let usable = if available >= total || available * 100 < self.panic_threshold * total {
            Usable::All
        } else if available == 0 {
            return None;
        } else {
            Usable::Available(available)
        };
        self.balancer.pick(&self.hosts, usable, hash)
    }

    /// Milliseconds since the epoch, plus one so that zero means "never".
    fn now_ms(&self) -> u64 {
        let elapsed = Instant::now().saturating_duration_since(self.epoch);
        u64::try_from(elapsed.as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    /// Sets `flag` on endpoint `index`; returns whether it was newly set.
    fn set_down(&self, index: usize, flag: u8) -> bool {
        let Some(host) = self.hosts.get(index) else {
            return false;
        };
        let previous = host.down.fetch_or(flag, Ordering::AcqRel);
        if previous & flag != 0 {
            return false;
        }
        if previous == 0 {
            self.available.fetch_sub(1, Ordering::AcqRel);
        }
        true
    }

    /// Clears `flag` on endpoint `index`; returns whether it was set.
    fn clear_down(&self, index: usize, flag: u8) -> bool {
        let Some(host) = self.hosts.get(index) else {
            return false;
        };
        let previous = host.down.fetch_and(!flag, Ordering::AcqRel);
        if previous & flag == 0 {
            return false;
        }
        if previous == flag {
            self.available.fetch_add(1, Ordering::AcqRel);
        }
        true
    }

    /// Records the active health check verdict on endpoint `index`. A healthy verdict
    /// also ends an outlier ejection.
    pub(super) fn set_healthy(&self, index: usize, healthy: bool) {
        if healthy {
            self.clear_down(index, FAILED_HEALTH_CHECK);
            self.return_from_ejection(index, self.now_ms());
        } else {
            self.set_down(index, FAILED_HEALTH_CHECK);
        }
    }

    /// Records how a request to endpoint `index` ended; ejects the endpoint after
    /// `consecutive5xx` failures in a row.
    pub(super) fn record(&self, index: usize, outcome: Outcome) {
        let (Some(outlier), Some(host)) = (&self.outlier, self.hosts.get(index)) else {
            return;
        };
        if outlier.consecutive_5xx == 0 {
            return;
        }
        if outcome == Outcome::Success {
            // Read first: a store on every success would bounce the cache line around.
            if host.consecutive_failures.load(Ordering::Relaxed) != 0 {
                host.consecutive_failures.store(0, Ordering::Relaxed);
            }
            return;
        }
        let failures = host.consecutive_failures.fetch_add(1, Ordering::AcqRel) + 1;
        if failures < outlier.consecutive_5xx {
            return;
        }
        host.consecutive_failures.store(0, Ordering::Relaxed);
        if host.down.load(Ordering::Acquire) & EJECTED != 0 {
            return;
        }
        if outlier.enforcing < 100 && fastrand::u8(..100) >= outlier.enforcing {
            return;
        }
        self.eject(outlier, index, host);
    }

    /// Ejects endpoint `index` unless `maxEjectionPercent` are ejected already.
    fn eject(&self, outlier: &Outlier, index: usize, host: &Host) {
        let reserved =
            outlier
                .ejected
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |ejected| {
                    (ejected < outlier.max_ejected).then_some(ejected + 1)
                });
        if reserved.is_err() {
            return;
        }
        let now = self.now_ms();
        // One off the multiplier for every interval spent in service since the last return.
        let in_service = now.saturating_sub(host.returned_at.load(Ordering::Acquire));
        let decay = u32::try_from(in_service / outlier.interval_ms).unwrap_or(u32::MAX);
        let ejections = host
            .ejections
            .load(Ordering::Acquire)
            .saturating_sub(decay)
            .saturating_add(1);
        host.ejections.store(ejections, Ordering::Release);
        let until = now.saturating_add(
            outlier
                .base_ms
                .saturating_mul(u64::from(ejections))
                .min(outlier.max_ms),
        );
        host.ejected_until.store(until, Ordering::SeqCst);
        if !self.set_down(index, EJECTED) {
            outlier.ejected.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        outlier.next_return.fetch_min(until, Ordering::SeqCst);
        if let Some(counter) = self.ejections.get() {
            counter.inc();
        }
        tracing::debug!(endpoint = %host.addr, ejections, "endpoint ejected by outlier detection");
    }

    /// Ends the ejection of endpoint `index`, if it is ejected.
    fn return_from_ejection(&self, index: usize, now: u64) {
        let (Some(outlier), Some(host)) = (&self.outlier, self.hosts.get(index)) else {
            return;
        };
        if self.clear_down(index, EJECTED) {
            outlier.ejected.fetch_sub(1, Ordering::AcqRel);
            host.returned_at.store(now, Ordering::Release);
            tracing::debug!(endpoint = %host.addr, "endpoint returned from ejection");
        }
    }

    /// Returns endpoints whose ejection is over. Costs one load while nothing is ejected,
    /// and a clock read while something is but nothing is due.
    fn return_ejected(&self) {
        let Some(outlier) = &self.outlier else {
            return;
        };
        if outlier.ejected.load(Ordering::Acquire) == 0 {
            return;
        }
        let now = self.now_ms();
        if now < outlier.next_return.load(Ordering::SeqCst) {
            return;
        }
        if outlier.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        // Cleared first, so an ejection during the sweep lowers it again with `fetch_min`,
        // whether or not the sweep below sees it.
        outlier.next_return.store(u64::MAX, Ordering::SeqCst);
        let mut next = u64::MAX;
        for (index, host) in self.hosts.iter().enumerate() {
            if host.down.load(Ordering::SeqCst) & EJECTED == 0 {
                continue;
            }
            let until = host.ejected_until.load(Ordering::SeqCst);
            if until <= now {
                self.return_from_ejection(index, now);
            } else {
                next = next.min(until);
            }
        }
        outlier.next_return.fetch_min(next, Ordering::SeqCst);
        outlier.sweeping.store(false, Ordering::Release);
    }

    /// Every endpoint's status.
    pub(super) fn statuses(&self) -> Vec<EndpointStatus> {
        self.return_ejected();
        self.hosts
            .iter()
            .map(|host| {
                let down = host.down.load(Ordering::Acquire);
                EndpointStatus {
                    address: host.addr,
                    healthy: down & FAILED_HEALTH_CHECK == 0,
                    ejected: down & EJECTED != 0,
                }
            })
            .collect()
    }

    /// Admits a request to endpoint `index`: waits for a connection or stream slot if the
    /// backend limits them (a pending request), then counts it against `maxRequests`.
    pub(super) async fn admit(state: Arc<Self>, index: usize) -> Result<InFlight, Overflow> {
        let host = state.hosts.get(index).ok_or(Overflow)?;
        let slots = state.connection_slots.as_ref().or(host.streams.as_ref());
        let slot = match slots {
            Some(slots) => Some(acquire_slot(slots, state.breaker.as_ref()).await?),
            None => None,
        };
        let mut counted = 0;
        if let Some(breaker) = &state.breaker {
            if !breaker.try_start_request() {
                return Err(Overflow);
            }
            counted |= COUNTED_REQUEST;
        }
        if state.balancer.reads_active_requests() {
            host.active.fetch_add(1, Ordering::Relaxed);
            counted |= COUNTED_ACTIVE;
        }
        Ok(InFlight {
            state,
            index,
            counted,
            _slot: slot,
        })
    }
}

/// The request holds a `maxRequests` slot.
const COUNTED_REQUEST: u8 = 1;
/// The request is counted in its endpoint's in-flight count.
const COUNTED_ACTIVE: u8 = 2;

/// A request in flight to one endpoint: holds its circuit-breaker and connection slots
/// until dropped, at the end of the response body.
#[derive(Debug)]
pub(super) struct InFlight {
    state: Arc<BackendState>,
    index: usize,
    counted: u8,
    _slot: Option<OwnedSemaphorePermit>,
}

impl InFlight {
    /// The backend's state.
    pub(super) fn state(&self) -> &Arc<BackendState> {
        &self.state
    }

    /// The endpoint's index.
    pub(super) fn index(&self) -> usize {
        self.index
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.counted & COUNTED_REQUEST != 0
            && let Some(breaker) = &self.state.breaker
        {
            breaker.release_request();
        }
        if self.counted & COUNTED_ACTIVE != 0
            && let Some(host) = self.state.hosts.get(self.index)
        {
            host.active.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

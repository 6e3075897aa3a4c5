//! Per-client buckets (`perClient`): governor's GCRA over a bounded, sharded map.
//!
//! A client's key is hashed once per request with a per-layer random SipHash key into a
//! `u64`, and the map stores only that and the bucket's state: no allocation per request,
//! a fixed size per client, and request buffers are never kept alive by the table. Two
//! clients share a bucket only if their 64-bit hashes collide (less than one chance in a
//! billion among 100 000 clients; the random key stops a client from aiming for one).
//!
//! The map is governor's `DashMap` store: a request takes one shard's read lock for the
//! lookup (a new client that shard's write lock, once), and the bucket update itself is a
//! compare-and-swap; the eviction task write-locks one shard at a time.
//!
//! Memory is bounded twice: the table holds at most `maxKeys` clients, and a task owned by
//! the layer evicts idle clients (those whose bucket has filled up again, so forgetting
//! them changes nothing) every time a bucket takes to refill, clamped to 1 s – 60 s, and
//! at once (at most once a second) when the table is full.

use governor::{
    RateLimiter,
    clock::Clock,
    middleware::NoOpMiddleware,
    nanos::Nanos,
    state::{
        InMemoryState, NotKeyed, StateStore,
        keyed::{DashMapStateStore, ShrinkableKeyedStateStore},
    },
};
use std::{
    hash::{BuildHasher, Hash, Hasher, RandomState},
    net::IpAddr,
    sync::{
        Arc, OnceLock, Weak,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::{sync::Notify, task::AbortHandle, time::MissedTickBehavior};

use super::{ClientKey, PerClientLimit, TokenBucket};

/// Shortest time between two evictions, whatever triggers them.
const MIN_SWEEP_GAP: Duration = Duration::from_secs(1);

/// Longest time between two evictions.
const MAX_SWEEP_PERIOD: Duration = Duration::from_secs(60);

/// Tags keeping the kinds of key apart in the hash: a header value that happens to read
/// like an address is not that address.
const TAG_VALUE: u8 = 1;
const TAG_ADDRESS: u8 = 2;
const TAG_UNKNOWN: u8 = 3;

/// The client address of a request: the [`ClientAddr`](gateway_core::extensions::ClientAddr)
/// the listener trusted, else the connection's peer; IPv4-mapped IPv6 addresses as IPv4.
pub(crate) fn client_ip<B>(request: &http::Request<B>) -> Option<IpAddr> {
    let extensions = request.extensions();
    extensions
        .get::<gateway_core::extensions::ClientAddr>()
        .map(|client| client.0)
        .or_else(|| {
            extensions
                .get::<gateway_core::extensions::ConnectionInfo>()
                .map(|connection| connection.remote_addr.ip())
        })
        .map(|ip| ip.to_canonical())
}

/// The per-client buckets: a bounded map of hashed keys to GCRA states.
pub(super) struct ClientStore {
    map: DashMapStateStore<u64>,
    /// Clients in `map`: counted up on insert, re-read from the map after each eviction.
    len: AtomicUsize,
    max_keys: usize,
    /// The bucket shared by the clients that found the table full.
    overflow: InMemoryState,
    /// Wakes the eviction task when a client found the table full.
    full: Arc<Notify>,
}

impl StateStore for ClientStore {
    type Key = u64;

    fn measure_and_replace<T, F, E>(&self, key: &u64, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if let Some(state) = self.map.get(key) {
            return state.measure_and_replace(&NotKeyed::NonKey, f);
        }
        if self.len.load(Ordering::Relaxed) >= self.max_keys {
            self.full.notify_one();
            return self.overflow.measure_and_replace(&NotKeyed::NonKey, f);
        }
        let state = self.map.entry(*key).or_insert_with(|| {
            self.len.fetch_add(1, Ordering::Relaxed);
            InMemoryState::default()
        });
        state.measure_and_replace(&NotKeyed::NonKey, f)
    }
}

impl ShrinkableKeyedStateStore<u64> for ClientStore {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&self.map, drop_below);
        // Clients inserted while this runs are in the map's length; one inserted between
        // reading it and storing it is missed until the next eviction (the cap may then be
        // passed by the handful of clients that arrived in that instant).
        self.len.store(self.map.len(), Ordering::Relaxed);
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Aborts the eviction task when the limiter goes away.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A per-client limit: the buckets, how to key a request, and the eviction task.
pub(super) struct ClientLimiter<C: Clock> {
    limiter: RateLimiter<u64, ClientStore, C, NoOpMiddleware<C::Instant>>,
    key: ClientKey,
    hasher: RandomState,
    sweep_period: Duration,
    full: Arc<Notify>,
    /// Started at the first request (a tokio runtime is certain to be there); `None` if
    /// there was none.
    sweeper: OnceLock<Option<AbortOnDrop>>,
}

impl<C: Clock> ClientLimiter<C> {
    pub(super) fn new(config: &PerClientLimit, clock: C) -> Self {
        let full = Arc::new(Notify::new());
        let store = ClientStore {
            map: DashMapStateStore::default(),
            len: AtomicUsize::new(0),
            max_keys: config.max_keys.get(),
            overflow: InMemoryState::default(),
            full: full.clone(),
        };
        Self {
            limiter: RateLimiter::new(config.token_bucket.quota(), store, clock),
            key: config.key.clone(),
            hasher: RandomState::new(),
            sweep_period: sweep_period(&config.token_bucket),
            full,
            sweeper: OnceLock::new(),
        }
    }

    /// Takes a token from the request's client's bucket; `false` when it is empty.
    pub(super) fn check<B>(&self, request: &http::Request<B>) -> bool {
        self.limiter.check_key(&self.key_of(request)).is_ok()
    }

    /// The request's client, hashed.
    fn key_of<B>(&self, request: &http::Request<B>) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        let header = match &self.key {
            ClientKey::RemoteAddress => None,
            ClientKey::Header(name) | ClientKey::Claim { header: name, .. } => {
                request.headers().get(name)
            }
        };
        if let Some(value) = header {
            hasher.write_u8(TAG_VALUE);
            hasher.write(value.as_bytes());
        } else if let Some(ip) = client_ip(request) {
            hasher.write_u8(TAG_ADDRESS);
            ip.hash(&mut hasher);
        } else {
            hasher.write_u8(TAG_UNKNOWN);
        }
        hasher.finish()
    }

    /// Clients with a bucket of their own.
    pub(super) fn len(&self) -> usize {
        self.limiter.len()
    }

    /// Forgets the clients whose bucket is full again.
    fn sweep(&self) {
        self.limiter.retain_recent();
    }
}

impl<C: Clock + Send + Sync + 'static> ClientLimiter<C> {
    /// Starts the eviction task on the current tokio runtime, once; without a runtime the
    /// table still never holds more than `max_keys` clients.
    pub(super) fn start_sweeper(self: &Arc<Self>) {
        self.sweeper.get_or_init(|| {
            let runtime = tokio::runtime::Handle::try_current().ok()?;
            let task = runtime.spawn(evict_idle_clients(
                Arc::downgrade(self),
                self.full.clone(),
                self.sweep_period,
            ));
            Some(AbortOnDrop(task.abort_handle()))
        });
    }
}

/// Evicts idle clients every `period`, and soon after the table fills up.
async fn evict_idle_clients<C: Clock>(
    limiter: Weak<ClientLimiter<C>>,
    full: Arc<Notify>,
    period: Duration,
) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = full.notified() => {}
        }
        let Some(limiter) = limiter.upgrade() else {
            return;
        };
        limiter.sweep();
        drop(limiter);
        tokio::time::sleep(MIN_SWEEP_GAP).await;
    }
}

/// How long an empty bucket takes to fill up, clamped to [`MIN_SWEEP_GAP`] –
/// [`MAX_SWEEP_PERIOD`]: a client idle that long is indistinguishable from a new one.
fn sweep_period(bucket: &TokenBucket) -> Duration {
    bucket
        .quota()
        .replenish_interval()
        .checked_mul(bucket.max_tokens.get())
        .unwrap_or(MAX_SWEEP_PERIOD)
        .clamp(MIN_SWEEP_GAP, MAX_SWEEP_PERIOD)
}

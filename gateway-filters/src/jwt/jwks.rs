//! Remote key sets: fetched from a JWKS server over HTTP or HTTPS, cached, and refreshed by
//! a background task.
//!
//! - One task and one pooled HTTP client (see [`client`](super::client)) per remote provider of a
//!   [`JwtLayer`](super::JwtLayer), shared by its clones and services. The task starts when the layer
//!   is built inside a Tokio runtime (or else with the first request), and stops when the
//!   last clone of the layer and its services is dropped.
//! - The task fetches at once, then again `cache_duration` after each successful fetch and
//!   `failed_refetch` after a failed one (after the retries of `retry`, if any). A failed
//!   fetch (connection, timeout, status other than `200`, a body over `max_response_bytes`,
//!   a document with no usable key) is logged and the last good keys stay in use.
//! - Requests read the current keys with one `ArcSwap` load: no lock.
//! - A token whose `kid` is not in the set (or any token while no fetch has succeeded yet)
//!   asks for a fetch now, at most once per `unknown_kid_refetch_interval`; it then waits
//!   for that fetch (or the one in flight), at most `timeout`, and is checked again.

use arc_swap::{ArcSwap, Guard};
use http::{
    HeaderValue, StatusCode,
    header::{ACCEPT, HOST},
};
use http_body_util::{BodyExt, Empty, Limited};
use parking_lot::Mutex;
use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::{
    sync::{Notify, oneshot, watch},
    time::Instant,
};

use super::{
    client::{JwksClient, client, error_chain},
    config::RemoteJwks,
    keys::KeySet,
};

/// `last_demand` before any fetch was asked for.
const NEVER: u64 = u64::MAX;
/// A remote key set, as the request path sees it.
pub(crate) struct RemoteKeys {
    cell: Arc<Cell>,
    started: AtomicBool,
    /// The task, until it is spawned.
    task: Mutex<Option<Task>>,
    /// Dropped with the last clone of the layer: the task then stops.
    _stop: oneshot::Sender<()>,
}

/// What the background task and the request path share.
struct Cell {
    keys: ArcSwap<KeySet>,
    /// Whether a fetch is under way (or was just asked for).
    in_flight: AtomicBool,
    /// Wakes the task for a fetch before its timer.
    demand: Notify,
    /// The number of fetches completed, successful or not.
    completed: watch::Sender<u64>,
    /// When a request last asked for a fetch, in milliseconds since `epoch`.
    last_demand: AtomicU64,
    epoch: Instant,
    refetch_interval: Duration,
    wait_limit: Duration,
    fetch_success: AtomicU64,
    fetch_failed: AtomicU64,
}

/// The background task, before it runs.
struct Task {
    provider: Arc<str>,
    config: RemoteJwks,
    stop: oneshot::Receiver<()>,
}

/// How a request waits for keys.
#[derive(Debug)]
pub(crate) enum Waiter {
    /// The keys changed since the request looked: check again at once.
    Now,
    /// Wait for the next fetch to complete, at most `limit`.
    Next {
        completed: watch::Receiver<u64>,
        limit: Duration,
    },
}

impl Waiter {
    /// Waits as told; a fetch that does not complete in time is not waited for further.
    pub(crate) async fn wait(self) {
        if let Self::Next {
            mut completed,
            limit,
        } = self
        {
            // A timeout, or a task gone, both mean: check again with the keys there are.
            let _ = tokio::time::timeout(limit, completed.changed()).await;
        }
    }
}

impl RemoteKeys {
    /// The remote key set of `provider`; nothing is fetched before [`RemoteKeys::start`].
    pub(crate) fn new(provider: Arc<str>, config: RemoteJwks) -> Self {
        let (stop_tx, stop) = oneshot::channel();
        let cell = Cell {
            keys: ArcSwap::from_pointee(KeySet::empty()),
            in_flight: AtomicBool::new(false),
            demand: Notify::new(),
            completed: watch::Sender::new(0),
            last_demand: AtomicU64::new(NEVER),
            epoch: Instant::now(),
            refetch_interval: config.unknown_kid_refetch_interval,
            wait_limit: config.timeout,
            fetch_success: AtomicU64::new(0),
            fetch_failed: AtomicU64::new(0),
        };
        Self {
            cell: Arc::new(cell),
            started: AtomicBool::new(false),
            task: Mutex::new(Some(Task {
                provider,
                config,
                stop,
            })),
            _stop: stop_tx,
        }
    }

    /// Spawns the background task on the current Tokio runtime, once; without a runtime,
    /// nothing happens (the next call tries again).
    pub(crate) fn start(&self) {
        if self.started.load(Ordering::Acquire) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Some(task) = self.task.lock().take() else {
            return;
        };
        self.cell.in_flight.store(true, Ordering::SeqCst);
        self.started.store(true, Ordering::Release);
        runtime.spawn(run(self.cell.clone(), task));
    }

    /// The current keys (empty until a fetch succeeds).
    pub(crate) fn current(&self) -> Guard<Arc<KeySet>> {
        self.cell.keys.load()
    }

    /// Asks for keys newer than `seen`: joins the fetch in flight, or asks for one if none
    /// was asked for within the refetch interval. `None`: nothing to wait for.
    pub(crate) fn request_refresh(&self, seen: &Arc<KeySet>) -> Option<Waiter> {
        // Subscribed before looking, so that a fetch completing meanwhile is not missed.
        let completed = self.cell.completed.subscribe();
        let joined = self.cell.in_flight.load(Ordering::SeqCst) || self.ask_for_fetch();
        // Keys are stored before `in_flight` is cleared: a fetch that completed since the
        // request looked shows here.
        if !Arc::ptr_eq(seen, &self.cell.keys.load()) {
            return Some(Waiter::Now);
        }
        joined.then_some(Waiter::Next {
            completed,
            limit: self.cell.wait_limit,
        })
    }

    /// Wakes the task for a fetch, unless one was asked for within the refetch interval.
    fn ask_for_fetch(&self) -> bool {
        let cell = &*self.cell;
        let now = u64::try_from(cell.epoch.elapsed().as_millis()).unwrap_or(NEVER - 1);
        let last = cell.last_demand.load(Ordering::SeqCst);
        let interval = u64::try_from(cell.refetch_interval.as_millis()).unwrap_or(u64::MAX);
        if last != NEVER && now.saturating_sub(last) < interval {
            return false;
        }
        if cell
            .last_demand
            .compare_exchange(last, now, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return false;
        }
        cell.in_flight.store(true, Ordering::SeqCst);
        cell.demand.notify_one();
        true
    }

    /// Follows the count of completed fetches.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.cell.completed.subscribe()
    }

    /// Successful and failed fetches so far.
    pub(crate) fn fetch_counts(&self) -> (u64, u64) {
        (
            self.cell.fetch_success.load(Ordering::Relaxed),
            self.cell.fetch_failed.load(Ordering::Relaxed),
        )
    }
}

impl fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("keys", &**self.cell.keys.load())
            .field("started", &self.started.load(Ordering::Relaxed))
            .finish()
    }
}

/// The background task: fetch, store, sleep until the next refresh or a request's demand;
/// until the layer is gone.
async fn run(cell: Arc<Cell>, task: Task) {
    let Task {
        provider,
        config,
        mut stop,
    } = task;
    let client = client(&config);
    loop {
        cell.in_flight.store(true, Ordering::SeqCst);
        let fetched = tokio::select! {
            biased;
            _ = &mut stop => return,
            fetched = fetch_with_retries(&client, &config) => fetched,
        };
        let next = match fetched {
            Ok(keys) => {
                tracing::debug!(%provider, uri = %config.uri, keys = keys.len(), "JWKS fetched");
                cell.keys.store(Arc::new(keys));
                cell.fetch_success.fetch_add(1, Ordering::Relaxed);
                config.cache_duration
            }
            Err(error) => {
                tracing::warn!(
                    %provider,
                    uri = %config.uri,
                    %error,
                    "JWKS fetch failed; the last good keys stay in use"
                );
                cell.fetch_failed.fetch_add(1, Ordering::Relaxed);
                config.failed_refetch
            }
        };
        cell.in_flight.store(false, Ordering::SeqCst);
        cell.completed.send_modify(|count| *count += 1);
        tokio::select! {
            biased;
            _ = &mut stop => return,
            () = tokio::time::sleep(next) => {}
            () = cell.demand.notified() => {}
        }
    }
}

/// One round: a fetch and its retries, with full-jitter exponential backoff between them.
async fn fetch_with_retries(client: &JwksClient, config: &RemoteJwks) -> Result<KeySet, String> {
    let mut attempt: u32 = 0;
    loop {
        let error = match fetch(client, config).await {
            Ok(keys) => return Ok(keys),
            Err(error) => error,
        };
        let Some(retry) = config.retry.filter(|retry| attempt < retry.retries) else {
            return Err(error);
        };
        let ceiling = retry
            .base_interval
            .saturating_mul(1 << attempt.min(16))
            .min(retry.max_interval);
        let backoff = ceiling.mul_f64(fastrand::f64());
        tracing::debug!(uri = %config.uri, %error, ?backoff, "JWKS fetch failed; retrying");
        tokio::time::sleep(backoff).await;
        attempt += 1;
    }
}

/// One `GET` of the JWKS, bounded in time and size.
async fn fetch(client: &JwksClient, config: &RemoteJwks) -> Result<KeySet, String> {
    let mut request = http::Request::new(Empty::new());
    *request.uri_mut() = config.uri.clone();
    let headers = request.headers_mut();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    if let Some(host) = &config.host {
        headers.insert(HOST, host.clone());
    }
    let body = tokio::time::timeout(config.timeout, async {
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("request failed: {}", error_chain(&e)))?;
        if response.status() != StatusCode::OK {
            return Err(format!("answered {}", response.status()));
        }
        Limited::new(response.into_body(), config.max_response_bytes)
            .collect()
            .await
            .map(|body| body.to_bytes())
            .map_err(|e| format!("reading the body failed: {e}"))
    })
    .await
    .map_err(|_| format!("no complete answer within {:?}", config.timeout))??;
    let text = std::str::from_utf8(&body).map_err(|_| "the body is not UTF-8".to_owned())?;
    KeySet::from_jwks(text).map_err(|e| e.to_string())
}

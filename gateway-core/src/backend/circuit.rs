//! Circuit breakers: counters of requests, pending requests and retries in flight, checked
//! with atomics and never waited on, so an overloaded backend answers 503 `UO` at once
//! instead of queueing without bound.

use std::sync::{
    Arc,
    atomic::{AtomicU32, Ordering},
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use super::policy::CircuitBreakers;

/// The circuit breakers of one backend ([`CircuitBreakers`] in force). Cloning is cheap
/// and clones share the counters.
///
/// [`BackendService`](super::BackendService) puts a clone in the extensions of every
/// response of a backend that has circuit breakers, so a retry layer can ask
/// [`try_acquire_retry`](Self::try_acquire_retry) before it retries.
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    limits: CircuitBreakers,
    requests: AtomicU32,
    pending: AtomicU32,
    retries: AtomicU32,
}

/// Increments `counter` unless that would pass `max`; returns whether it did.
fn try_increment(counter: &AtomicU32, max: u32) -> bool {
    let previous = counter.fetch_add(1, Ordering::AcqRel);
    if previous < max {
        true
    } else {
        counter.fetch_sub(1, Ordering::AcqRel);
        false
    }
}

impl CircuitBreaker {
    /// Breakers enforcing `limits` (limits of zero act as one, the smallest kgateway allows,
    /// except `max_retries`, where zero forbids retries).
    pub fn new(limits: CircuitBreakers) -> Self {
        Self {
            inner: Arc::new(Inner {
                limits: CircuitBreakers {
                    max_connections: limits.max_connections.max(1),
                    max_pending_requests: limits.max_pending_requests.max(1),
                    max_requests: limits.max_requests.max(1),
                    max_retries: limits.max_retries,
                },
                requests: AtomicU32::new(0),
                pending: AtomicU32::new(0),
                retries: AtomicU32::new(0),
            }),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &CircuitBreakers {
        &self.inner.limits
    }

    /// Takes a retry slot (`maxRetries`), or `None` when as many retries as allowed are
    /// already in flight: the caller should not retry. The slot is given back when the
    /// permit is dropped, which should be when the retried attempt is over.
    pub fn try_acquire_retry(&self) -> Option<RetryPermit> {
        try_increment(&self.inner.retries, self.inner.limits.max_retries).then(|| RetryPermit {
            inner: self.inner.clone(),
        })
    }

    /// Requests in flight counted against `maxRequests`.
    pub fn active_requests(&self) -> u32 {
        self.inner.requests.load(Ordering::Acquire)
    }

    /// Requests waiting for a connection or stream, counted against `maxPendingRequests`.
    pub fn pending_requests(&self) -> u32 {
        self.inner.pending.load(Ordering::Acquire)
    }

    /// Retries in flight, counted against `maxRetries`.
    pub fn active_retries(&self) -> u32 {
        self.inner.retries.load(Ordering::Acquire)
    }

    /// Counts a request in flight unless `maxRequests` are already; the caller releases it
    /// with [`release_request`](Self::release_request).
    pub(super) fn try_start_request(&self) -> bool {
        try_increment(&self.inner.requests, self.inner.limits.max_requests)
    }

    /// Gives back a slot taken by [`try_start_request`](Self::try_start_request).
    pub(super) fn release_request(&self) {
        self.inner.requests.fetch_sub(1, Ordering::AcqRel);
    }

    /// A semaphore of `maxConnections` HTTP/1.1 connection slots.
    pub(super) fn connection_slots(&self) -> Arc<Semaphore> {
        Arc::new(Semaphore::new(self.inner.limits.max_connections as usize))
    }

    /// Counts a pending request unless `maxPendingRequests` are already waiting.
    fn try_start_pending(&self) -> Option<PendingGuard<'_>> {
        try_increment(&self.inner.pending, self.inner.limits.max_pending_requests)
            .then(|| PendingGuard(&self.inner.pending))
    }
}

/// One retry in flight; dropping it gives the slot back.
#[derive(Debug)]
pub struct RetryPermit {
    inner: Arc<Inner>,
}

impl Drop for RetryPermit {
    fn drop(&mut self) {
        self.inner.retries.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A pending request; dropping it (when it gets its slot or gives up) uncounts it.
struct PendingGuard<'a>(&'a AtomicU32);

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The request was refused by a circuit breaker (`UO`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Overflow;

/// Takes a slot of `slots` (HTTP/1.1 connections, or HTTP/2 streams of an endpoint): at once
/// when one is free, else after waiting as a pending request, which `breaker` (when set)
/// bounds with `maxPendingRequests`.
pub(super) async fn acquire_slot(
    slots: &Arc<Semaphore>,
    breaker: Option<&CircuitBreaker>,
) -> Result<OwnedSemaphorePermit, Overflow> {
    match slots.clone().try_acquire_owned() {
        Ok(permit) => return Ok(permit),
        Err(TryAcquireError::Closed) => return Err(Overflow),
        Err(TryAcquireError::NoPermits) => {}
    }
    let _pending = match breaker {
        Some(breaker) => Some(breaker.try_start_pending().ok_or(Overflow)?),
        None => None,
    };
    slots.clone().acquire_owned().await.map_err(|_| Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(max_pending_requests: u32, max_requests: u32, max_retries: u32) -> CircuitBreaker {
        CircuitBreaker::new(CircuitBreakers {
            max_connections: 1,
            max_pending_requests,
            max_requests,
            max_retries,
        })
    }

    #[test]
    fn retries_are_bounded_and_given_back() {
        let breaker = breaker(1, 1, 2);
        let first = breaker.try_acquire_retry().unwrap();
        let second = breaker.try_acquire_retry().unwrap();
        assert!(breaker.try_acquire_retry().is_none());
        assert_eq!(breaker.active_retries(), 2);
        drop(first);
        let third = breaker.try_acquire_retry().unwrap();
        drop((second, third));
        assert_eq!(breaker.active_retries(), 0);
        assert!(self::breaker(1, 1, 0).try_acquire_retry().is_none());
    }

    #[test]
    fn requests_are_bounded() {
        let breaker = breaker(1, 2, 0);
        assert!(breaker.try_start_request());
        assert!(breaker.try_start_request());
        assert!(!breaker.try_start_request());
        assert_eq!(breaker.active_requests(), 2);
        breaker.release_request();
        assert!(breaker.try_start_request());
    }

    #[tokio::test]
    async fn slots_queue_pending_requests_up_to_the_limit() {
        let breaker = breaker(1, 10, 0);
        let slots = breaker.connection_slots();
        let held = acquire_slot(&slots, Some(&breaker)).await.unwrap();
        // The second waits as the one pending request; a third overflows.
        let waiter = tokio::spawn({
            let (slots, breaker) = (slots.clone(), breaker.clone());
            async move { acquire_slot(&slots, Some(&breaker)).await.is_ok() }
        });
        while breaker.pending_requests() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            acquire_slot(&slots, Some(&breaker)).await.err(),
            Some(Overflow)
        );
        drop(held);
        assert!(waiter.await.unwrap());
        assert_eq!(breaker.pending_requests(), 0);
    }
}

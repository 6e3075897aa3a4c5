//! What the admin endpoints report, updated by the control loop.

use arc_swap::ArcSwap;
use bytes::Bytes;
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use crate::metrics::Metrics;

/// Shared, lock-free state behind the admin endpoints.
#[derive(Debug)]
pub struct AdminState {
    ready: AtomicBool,
    config_dump: ArcSwap<Bytes>,
    status: ArcSwap<Bytes>,
    metrics: Arc<Metrics>,
}

impl Default for AdminState {
    /// Not ready, an empty JSON object as config dump, an empty JSON array as status, and
    /// a [`Metrics`] of its own (reach it with [`AdminState::metrics`]).
    fn default() -> Self {
        Self::with_metrics(Arc::new(Metrics::new()))
    }
}

impl AdminState {
    /// Like [`AdminState::default`], serving `metrics` on `/metrics` and
    /// `/stats/prometheus`: the same `Arc` the route stacks record into.
    pub fn with_metrics(metrics: Arc<Metrics>) -> Self {
        Self {
            ready: AtomicBool::new(false),
            config_dump: ArcSwap::from_pointee(Bytes::from_static(b"{}")),
            status: ArcSwap::from_pointee(Bytes::from_static(b"[]")),
            metrics,
        }
    }

    /// The metrics served by `/metrics`, for the code that builds route stacks.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Marks the gateway ready (listeners bound, first configuration applied) or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// Whether `/ready` answers 200.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Publishes the JSON served by `/config_dump`.
    pub fn set_config_dump(&self, json: Bytes) {
        self.config_dump.store(Arc::new(json));
    }

    /// Publishes the JSON array served by `/status`.
    pub fn set_status(&self, json: Bytes) {
        self.status.store(Arc::new(json));
    }

    /// The current `/config_dump` JSON.
    pub fn config_dump(&self) -> Bytes {
        Bytes::clone(&self.config_dump.load())
    }

    /// The current `/status` JSON.
    pub fn status(&self) -> Bytes {
        Bytes::clone(&self.status.load())
    }
}

//! What the admin endpoints report, updated by the control loop.

use arc_swap::ArcSwap;
use bytes::Bytes;
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use super::JsonDocument;
use crate::metrics::Metrics;

/// Shared, lock-free state behind the admin endpoints.
#[derive(Debug)]
pub struct AdminState {
    ready: AtomicBool,
    config_dump: ArcSwap<JsonDocument>,
    status: ArcSwap<JsonDocument>,
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
            config_dump: ArcSwap::from_pointee(Bytes::from_static(b"{}").into()),
            status: ArcSwap::from_pointee(Bytes::from_static(b"[]").into()),
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

    /// Publishes what `/config_dump` serves (a value is written as JSON on the first
    /// read); returns the document it replaces, for the caller to free where it likes.
    pub fn set_config_dump(&self, document: impl Into<JsonDocument>) -> Arc<JsonDocument> {
        self.config_dump.swap(Arc::new(document.into()))
    }

    /// Publishes what `/status` serves (a JSON array, or a value serializing to one);
    /// returns the document it replaces.
    pub fn set_status(&self, document: impl Into<JsonDocument>) -> Arc<JsonDocument> {
        self.status.swap(Arc::new(document.into()))
    }

    /// The current `/config_dump` document.
    pub fn config_dump(&self) -> Arc<JsonDocument> {
        self.config_dump.load_full()
    }

    /// The current `/status` document.
    pub fn status(&self) -> Arc<JsonDocument> {
        self.status.load_full()
    }
}

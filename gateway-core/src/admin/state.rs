//! What the admin endpoints report, updated by the control loop.

use arc_swap::ArcSwap;
use bytes::Bytes;
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

/// Shared, lock-free state behind the admin endpoints.
#[derive(Debug)]
pub struct AdminState {
    ready: AtomicBool,
    config_dump: ArcSwap<Bytes>,
    status: ArcSwap<Bytes>,
}

impl Default for AdminState {
    /// Not ready, an empty JSON object as config dump and an empty JSON array as status.
    fn default() -> Self {
        Self {
            ready: AtomicBool::new(false),
            config_dump: ArcSwap::from_pointee(Bytes::from_static(b"{}")),
            status: ArcSwap::from_pointee(Bytes::from_static(b"[]")),
        }
    }
}

impl AdminState {
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

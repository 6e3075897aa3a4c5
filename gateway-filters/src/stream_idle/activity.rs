//! The shared "last frame seen" clock of one request.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};
use tokio::time::Instant;

/// When the request last moved, shared by its request body, its response future and its
/// response body.
#[derive(Debug)]
pub(super) struct Activity {
    start: Instant,
    /// Nanoseconds from `start` to the last frame.
    last: AtomicU64,
    timeout: Duration,
}

impl Activity {
    pub(super) fn new(timeout: Duration) -> Self {
        Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
            timeout,
        }
    }

    /// Records a frame now.
    pub(super) fn touch(&self) {
        let elapsed = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last.fetch_max(elapsed, Ordering::Relaxed);
    }

    /// When the stream times out unless something moves first.
    pub(super) fn deadline(&self) -> Instant {
        self.start + Duration::from_nanos(self.last.load(Ordering::Relaxed)) + self.timeout
    }
}

//! Resolved handles: clones of the `Arc`s behind one route rule's or one backend's series.

use prometheus_client::metrics::{counter::Counter, gauge::Gauge};
use std::{fmt, sync::Arc, time::Duration};

use super::{
    registry::{BackendLabels, RouteLabels},
    series::{CODE_CLASSES, DurationHistogram, FlagCounts, code_class_index},
};
use crate::ResponseFlag;

/// What a [`MetricsLayer`](super::MetricsLayer) records into: per-class counters, flag
/// counters, a duration histogram and, upstream, an in-flight gauge.
#[derive(Debug)]
pub(crate) struct Recorder {
    by_class: [Counter; CODE_CLASSES.len()],
    flags: Arc<FlagCounts>,
    duration: DurationHistogram,
    active: Option<Gauge>,
}

impl Recorder {
    pub(crate) fn new(
        by_class: [Counter; CODE_CLASSES.len()],
        flags: Arc<FlagCounts>,
        duration: DurationHistogram,
        active: Option<Gauge>,
    ) -> Arc<Self> {
        Arc::new(Self {
            by_class,
            flags,
            duration,
            active,
        })
    }

    /// A request entered.
    pub(crate) fn started(&self) {
        if let Some(active) = &self.active {
            active.inc();
        }
    }

    /// A request left, answered or abandoned.
    pub(crate) fn ended(&self) {
        if let Some(active) = &self.active {
            active.dec();
        }
    }

    /// A request was answered with `status` (and `flag`) after `elapsed`.
    pub(crate) fn answered(
        &self,
        status: http::StatusCode,
        flag: Option<ResponseFlag>,
        elapsed: Duration,
    ) {
        if let Some(counter) = self.by_class.get(code_class_index(status)) {
            counter.inc();
        }
        if let Some(flag) = flag {
            self.flags.inc(flag);
        }
        self.duration.observe(elapsed);
    }
}

/// A counter a policy layer bumps when its outcome happens (a retry sent, an endpoint
/// ejected): one relaxed atomic add, no lookup. Cloning it shares the count.
///
/// [`PolicyCounter::default`] is a counter registered nowhere, for layers built without
/// metrics, so that they can hold a counter unconditionally.
#[derive(Clone, Default)]
pub struct PolicyCounter(Counter);

impl PolicyCounter {
    pub(crate) fn from_counter(counter: Counter) -> Self {
        Self(counter)
    }

    /// Counts one occurrence.
    pub fn inc(&self) {
        self.0.inc();
    }

    /// Counts `n` occurrences.
    pub fn inc_by(&self, n: u64) {
        self.0.inc_by(n);
    }

    /// The count so far.
    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

impl fmt::Debug for PolicyCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PolicyCounter").field(&self.get()).finish()
    }
}

/// The series of one route rule, resolved once by [`Metrics::route`](super::Metrics::route)
/// when the rule's stack is built. Cloning shares them.
///
/// Give it to [`MetricsLayer::new`](super::MetricsLayer::new) (requests, status classes,
/// response flags, durations) and hand [`RouteMetrics::retries`] to the retry layer.
#[derive(Clone, Debug)]
pub struct RouteMetrics {
    recorder: Arc<Recorder>,
    retries: PolicyCounter,
    labels: RouteLabels,
}

impl RouteMetrics {
    pub(crate) fn new(
        recorder: Arc<Recorder>,
        retries: PolicyCounter,
        labels: RouteLabels,
    ) -> Self {
        Self {
            recorder,
            retries,
            labels,
        }
    }

    /// `gateway_retries_total` of this rule: the retry layer calls `inc()` once per retry
    /// it sends (not for the first try).
    pub fn retries(&self) -> &PolicyCounter {
        &self.retries
    }

    /// The labels the series carry.
    pub fn labels(&self) -> &RouteLabels {
        &self.labels
    }

    pub(crate) fn recorder(&self) -> &Arc<Recorder> {
        &self.recorder
    }
}

/// The series of one backend, resolved once by [`Metrics::backend`](super::Metrics::backend)
/// when a stack sending to it is built. Cloning shares them.
///
/// Give it to [`MetricsLayer::upstream`](super::MetricsLayer::upstream) (upstream requests,
/// errors, durations, in-flight requests) and hand [`BackendMetrics::ejections`] to the
/// code that ejects endpoints.
#[derive(Clone, Debug)]
pub struct BackendMetrics {
    recorder: Arc<Recorder>,
    ejections: PolicyCounter,
    labels: BackendLabels,
}

impl BackendMetrics {
    pub(crate) fn new(
        recorder: Arc<Recorder>,
        ejections: PolicyCounter,
        labels: BackendLabels,
    ) -> Self {
        Self {
            recorder,
            ejections,
            labels,
        }
    }

    /// `gateway_upstream_ejections_total` of this backend: `inc()` once per endpoint
    /// ejection (outlier detection, failed health checks).
    pub fn ejections(&self) -> &PolicyCounter {
        &self.ejections
    }

    /// The labels the series carry.
    pub fn labels(&self) -> &BackendLabels {
        &self.labels
    }

    pub(crate) fn recorder(&self) -> &Arc<Recorder> {
        &self.recorder
    }
}

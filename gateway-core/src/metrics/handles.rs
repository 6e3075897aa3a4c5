//! Handles: what a layer records into. A backend's handle holds its series, created when
//! the handle is; a route rule's holds its labels and creates its series on first use.

use prometheus_client::metrics::{counter::Counter, gauge::Gauge};
use std::{
    fmt,
    sync::{Arc, OnceLock},
    time::Duration,
};

use super::{
    registry::{BackendLabels, RouteFamilies, RouteLabels},
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
    ) -> Self {
        Self {
            by_class,
            flags,
            duration,
            active,
        }
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
/// A route rule's counter ([`RouteMetrics::retries`]) creates the rule's series on its
/// first use, like the rule's first answer does (see [`Metrics::route`](super::Metrics::route)).
/// [`PolicyCounter::default`] is a counter registered nowhere, for layers built without
/// metrics, so that they can hold a counter unconditionally.
#[derive(Clone)]
pub struct PolicyCounter(CounterCell);

/// Where a [`PolicyCounter`] counts.
#[derive(Clone)]
enum CounterCell {
    /// A counter of its own (registered, or not).
    Counter(Counter),
    /// The `gateway_retries_total` series of a route rule, created on first use.
    RouteRetries(Arc<RouteSeries>),
}

impl Default for PolicyCounter {
    fn default() -> Self {
        Self(CounterCell::Counter(Counter::default()))
    }
}

impl PolicyCounter {
    pub(crate) fn from_counter(counter: Counter) -> Self {
        Self(CounterCell::Counter(counter))
    }

    fn counter(&self) -> &Counter {
        match &self.0 {
            CounterCell::Counter(counter) => counter,
            CounterCell::RouteRetries(series) => &series.cells().retries,
        }
    }

    /// Counts one occurrence.
    pub fn inc(&self) {
        self.counter().inc();
    }

    /// Counts `n` occurrences.
    pub fn inc_by(&self, n: u64) {
        self.counter().inc_by(n);
    }

    /// The count so far (for a route rule's counter, of every handle of its labels; reading
    /// creates the rule's series like a bump does).
    pub fn get(&self) -> u64 {
        self.counter().get()
    }
}

impl fmt::Debug for PolicyCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut tuple = f.debug_tuple("PolicyCounter");
        match &self.0 {
            CounterCell::Counter(counter) => tuple.field(&counter.get()),
            CounterCell::RouteRetries(series) => match series.cells.get() {
                Some(cells) => tuple.field(&cells.retries.get()),
                None => tuple.field(&"no series yet"),
            },
        };
        tuple.finish()
    }
}

/// The cells of one route rule's series.
#[derive(Debug)]
pub(crate) struct RouteCells {
    recorder: Recorder,
    retries: Counter,
}

impl RouteCells {
    pub(crate) fn new(recorder: Recorder, retries: Counter) -> Self {
        Self { recorder, retries }
    }
}

/// One route rule's labels and, once it has recorded, its cells.
#[derive(Debug)]
pub(crate) struct RouteSeries {
    families: Arc<RouteFamilies>,
    labels: RouteLabels,
    /// Set by the first recording: from then on, finding the cells is one atomic load.
    cells: OnceLock<RouteCells>,
}

impl RouteSeries {
    /// The rule's cells, creating its series in the families on first use (a lock and a
    /// few hashes, once per handle).
    fn cells(&self) -> &RouteCells {
        self.cells
            .get_or_init(|| self.families.resolve(&self.labels))
    }
}

/// The handles of one route rule, from [`Metrics::route`](super::Metrics::route) when the
/// rule's stack is built. Cloning shares them. The rule's series are created when it first
/// records, not when the handle is made: building thousands of rules costs no registry
/// work, and a rule that never serves adds no series.
///
/// Give it to [`MetricsLayer::new`](super::MetricsLayer::new) (requests, status classes,
/// response flags, durations) and hand [`RouteMetrics::retries`] to the retry layer.
#[derive(Clone, Debug)]
pub struct RouteMetrics {
    series: Arc<RouteSeries>,
    retries: PolicyCounter,
}

impl RouteMetrics {
    pub(crate) fn new(families: Arc<RouteFamilies>, labels: RouteLabels) -> Self {
        let series = Arc::new(RouteSeries {
            families,
            labels,
            cells: OnceLock::new(),
        });
        Self {
            retries: PolicyCounter(CounterCell::RouteRetries(series.clone())),
            series,
        }
    }

    /// `gateway_retries_total` of this rule: the retry layer calls `inc()` once per retry
    /// it sends (not for the first try).
    pub fn retries(&self) -> &PolicyCounter {
        &self.retries
    }

    /// The labels the series carry.
    pub fn labels(&self) -> &RouteLabels {
        &self.series.labels
    }

    /// Creates the rule's series now (zero-valued) rather than at its first answer, for a
    /// scrape that should list the rule before it has served anything. Idempotent.
    pub fn register(&self) {
        self.series.cells();
    }

    pub(crate) fn recording(&self) -> Recording {
        Recording::Route(self.series.clone())
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

    pub(crate) fn recording(&self) -> Recording {
        Recording::Upstream(self.recorder.clone())
    }
}

/// What a [`MetricsLayer`](super::MetricsLayer) records into.
#[derive(Clone, Debug)]
pub(crate) enum Recording {
    /// A route rule's downstream series, created at its first answer.
    Route(Arc<RouteSeries>),
    /// A backend's upstream series, created with its handle.
    Upstream(Arc<Recorder>),
}

impl Recording {
    /// A request entered: counted in flight upstream (routes have no such gauge, so their
    /// series are not created for it).
    pub(crate) fn started(&self) {
        if let Self::Upstream(recorder) = self {
            recorder.started();
        }
    }

    /// A request left, answered or abandoned.
    pub(crate) fn ended(&self) {
        if let Self::Upstream(recorder) = self {
            recorder.ended();
        }
    }

    /// A request was answered with `status` (and `flag`) after `elapsed`.
    pub(crate) fn answered(
        &self,
        status: http::StatusCode,
        flag: Option<ResponseFlag>,
        elapsed: Duration,
    ) {
        let recorder = match self {
            Self::Route(series) => &series.cells().recorder,
            Self::Upstream(recorder) => recorder,
        };
        recorder.answered(status, flag, elapsed);
    }
}

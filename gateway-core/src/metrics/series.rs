//! The metric cells the request path updates, and how prometheus-client encodes them.
//!
//! prometheus-client's own `Histogram` takes a mutex on every `observe`, and a `Family` of
//! counters keyed by response flag would create sixteen zero series per route. The two
//! types here keep the request path to relaxed atomic adds: [`DurationHistogram`] (fixed
//! buckets, one atomic per bucket) and [`FlagFamily`] (one atomic per response flag per
//! label set, exposed only once non-zero). Both implement prometheus-client's
//! [`EncodeMetric`], so they live in the same [`Registry`](prometheus_client::registry::Registry)
//! as its counters and gauges.

use parking_lot::Mutex;
use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeMetric, LabelSetEncoder, MetricEncoder, NoLabelSet},
    metrics::{MetricType, TypedMetric},
};
use std::{
    collections::HashMap,
    fmt,
    hash::Hash,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use crate::ResponseFlag;

// === status classes ===

/// The `code_class` label values, in the order of a handle's per-class counters.
pub(crate) const CODE_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Index of `status` in [`CODE_CLASSES`]. Codes 600–999, which `http` accepts but HTTP
/// gives no meaning, count as `5xx`.
pub(crate) fn code_class_index(status: http::StatusCode) -> usize {
    match status.as_u16() {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        _ => 4,
    }
}

// === response flags ===

/// Every [`ResponseFlag`], in the order of [`flag_index`].
pub(crate) const FLAGS: [ResponseFlag; 18] = [
    ResponseFlag::NoRouteFound,
    ResponseFlag::NoHealthyUpstream,
    ResponseFlag::UpstreamConnectionFailure,
    ResponseFlag::UpstreamRequestTimeout,
    ResponseFlag::UpstreamConnectionTermination,
    ResponseFlag::UpstreamProtocolError,
    ResponseFlag::UpstreamRetryLimitExceeded,
    ResponseFlag::DownstreamConnectionTermination,
    ResponseFlag::RateLimited,
    ResponseFlag::UnauthorizedExternalService,
    ResponseFlag::DownstreamProtocolError,
    ResponseFlag::FaultInjected,
    ResponseFlag::DelayInjected,
    ResponseFlag::UpstreamOverflow,
    ResponseFlag::StreamIdleTimeout,
    ResponseFlag::InvalidBackend,
    ResponseFlag::RateLimitServiceError,
    ResponseFlag::UpstreamMaxStreamDurationReached,
];

/// Position of `flag` in [`FLAGS`]. The match is exhaustive so that a new flag does not
/// compile until it has a cell.
pub(crate) const fn flag_index(flag: ResponseFlag) -> usize {
    match flag {
        ResponseFlag::NoRouteFound => 0,
        ResponseFlag::NoHealthyUpstream => 1,
        ResponseFlag::UpstreamConnectionFailure => 2,
        ResponseFlag::UpstreamRequestTimeout => 3,
        ResponseFlag::UpstreamConnectionTermination => 4,
        ResponseFlag::UpstreamProtocolError => 5,
        ResponseFlag::UpstreamRetryLimitExceeded => 6,
        ResponseFlag::DownstreamConnectionTermination => 7,
        ResponseFlag::RateLimited => 8,
        ResponseFlag::UnauthorizedExternalService => 9,
        ResponseFlag::DownstreamProtocolError => 10,
        ResponseFlag::FaultInjected => 11,
        ResponseFlag::DelayInjected => 12,
        ResponseFlag::UpstreamOverflow => 13,
        ResponseFlag::StreamIdleTimeout => 14,
        ResponseFlag::InvalidBackend => 15,
        ResponseFlag::RateLimitServiceError => 16,
        ResponseFlag::UpstreamMaxStreamDurationReached => 17,
    }
}

/// One counter per response flag for one label set.
#[derive(Debug, Default)]
pub(crate) struct FlagCounts([AtomicU64; FLAGS.len()]);

impl FlagCounts {
    /// Counts one response carrying `flag`.
    pub(crate) fn inc(&self, flag: ResponseFlag) {
        if let Some(cell) = self.0.get(flag_index(flag)) {
            cell.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many responses carried `flag`.
    pub(crate) fn get(&self, flag: ResponseFlag) -> u64 {
        self.0
            .get(flag_index(flag))
            .map_or(0, |cell| cell.load(Ordering::Relaxed))
    }
}

/// A counter family `{<labels>, flag}` whose series appear once non-zero.
///
/// Handles are resolved once with [`FlagFamily::get_or_create`] (a lock, at stack-build
/// time); counting is an atomic add on the resolved [`FlagCounts`].
#[derive(Debug)]
pub(crate) struct FlagFamily<L> {
    series: Arc<Mutex<HashMap<L, Arc<FlagCounts>>>>,
}

impl<L> Clone for FlagFamily<L> {
    fn clone(&self) -> Self {
        Self {
            series: self.series.clone(),
        }
    }
}

impl<L> Default for FlagFamily<L> {
    fn default() -> Self {
        Self {
            series: Arc::default(),
        }
    }
}

impl<L: Clone + Hash + Eq> FlagFamily<L> {
    /// The cells of `labels`, created on first use and shared by later calls.
    pub(crate) fn get_or_create(&self, labels: &L) -> Arc<FlagCounts> {
        self.series
            .lock()
            .entry(labels.clone())
            .or_default()
            .clone()
    }
}

/// A label set followed by `flag="<code>"`.
struct WithFlag<'a, L> {
    labels: &'a L,
    flag: &'static str,
}

impl<L: EncodeLabelSet> EncodeLabelSet for WithFlag<'_, L> {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> fmt::Result {
        self.labels.encode(encoder)?;
        [("flag", self.flag)].encode(encoder)
    }
}

impl<L> EncodeMetric for FlagFamily<L>
where
    L: EncodeLabelSet + fmt::Debug + Send + Sync + 'static,
{
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> fmt::Result {
        let series = self.series.lock();
        for (labels, counts) in series.iter() {
            for flag in FLAGS {
                let value = counts.get(flag);
                if value == 0 {
                    continue;
                }
                let labels = WithFlag {
                    labels,
                    flag: flag.as_str(),
                };
                encoder
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
            }
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }

    fn is_empty(&self) -> bool {
        let series = self.series.lock();
        series
            .values()
            .all(|counts| FLAGS.iter().all(|flag| counts.get(*flag) == 0))
    }
}

// === durations ===

/// Upper bounds of the duration histograms, in seconds: Envoy's default buckets from
/// 0.5 ms to 60 s (Envoy's go on to 1 h; a request that slow lands in `+Inf`).
pub const DURATION_BUCKETS_SECONDS: [f64; 15] = [
    0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// [`DURATION_BUCKETS_SECONDS`] in nanoseconds, so `observe` compares integers.
const DURATION_BUCKETS_NANOS: [u64; 15] = [
    500_000,
    1_000_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    30_000_000_000,
    60_000_000_000,
];

#[derive(Debug, Default)]
struct HistogramCounts {
    /// Non-cumulative count per bucket; the last one is `+Inf`.
    buckets: [AtomicU64; DURATION_BUCKETS_NANOS.len() + 1],
    /// Sum of observations in microseconds (rounded): an integer add, and a `u64` of
    /// microseconds lasts millennia of summed latency.
    sum_micros: AtomicU64,
}

/// A latency histogram over [`DURATION_BUCKETS_SECONDS`] whose `observe` is two relaxed
/// atomic adds. The exposed `_count` is the sum of the buckets, so it always equals the
/// `+Inf` bucket even while requests are being recorded during a scrape.
#[derive(Clone, Debug, Default)]
pub(crate) struct DurationHistogram(Arc<HistogramCounts>);

impl DurationHistogram {
    /// Records one duration.
    pub(crate) fn observe(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        // `le` buckets: the first bound at or above the value.
        let index = DURATION_BUCKETS_NANOS.partition_point(|bound| *bound < nanos);
        if let Some(bucket) = self.0.buckets.get(index) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.0
            .sum_micros
            .fetch_add(nanos.saturating_add(500) / 1_000, Ordering::Relaxed);
    }
}

impl TypedMetric for DurationHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for DurationHistogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> fmt::Result {
        let mut count = 0u64;
        let buckets: Vec<(f64, u64)> = self
            .0
            .buckets
            .iter()
            .enumerate()
            .map(|(index, cell)| {
                let value = cell.load(Ordering::Relaxed);
                count = count.saturating_add(value);
                let bound = DURATION_BUCKETS_SECONDS
                    .get(index)
                    .copied()
                    .unwrap_or(f64::INFINITY);
                (bound, value)
            })
            .collect();
        let sum = self.0.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_index_is_the_position_in_flags() {
        for (position, flag) in FLAGS.iter().enumerate() {
            assert_eq!(flag_index(*flag), position, "{flag}");
        }
    }

    #[test]
    fn bucket_bounds_agree() {
        for (seconds, nanos) in DURATION_BUCKETS_SECONDS
            .iter()
            .zip(DURATION_BUCKETS_NANOS.iter())
        {
            assert_eq!(
                Duration::from_secs_f64(*seconds).as_nanos(),
                u128::from(*nanos)
            );
        }
        assert!(DURATION_BUCKETS_NANOS.is_sorted());
    }

    #[test]
    fn code_classes() {
        let class =
            |code| CODE_CLASSES[code_class_index(http::StatusCode::from_u16(code).unwrap())];
        assert_eq!(class(101), "1xx");
        assert_eq!(class(200), "2xx");
        assert_eq!(class(308), "3xx");
        assert_eq!(class(499), "4xx");
        assert_eq!(class(503), "5xx");
        assert_eq!(class(999), "5xx");
    }

    #[test]
    fn observations_land_in_le_buckets() {
        let histogram = DurationHistogram::default();
        histogram.observe(Duration::from_micros(500)); // exactly on 0.0005: that bucket
        histogram.observe(Duration::from_micros(501)); // just above: 0.001
        histogram.observe(Duration::from_secs(61)); // past the last bound: +Inf
        let counts: Vec<u64> = histogram
            .0
            .buckets
            .iter()
            .map(|cell| cell.load(Ordering::Relaxed))
            .collect();
        assert_eq!(counts[0], 1);
        assert_eq!(counts[1], 1);
        assert_eq!(counts[15], 1);
        assert_eq!(counts.iter().sum::<u64>(), 3);
        assert_eq!(histogram.0.sum_micros.load(Ordering::Relaxed), 61_001_001);
    }
}

//! Configuration of the retry policy.

use gateway_core::ResponseFlag;
use http::StatusCode;
use serde::Serialize;
use std::time::Duration;

/// Gateway API `HTTPRouteRule.retry` (GEP-1731).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryConfig {
    /// Response codes that are retried (besides connection failures and resets).
    #[serde(skip)]
    pub codes: Vec<StatusCode>,
    /// Maximum number of retries after the first try.
    pub attempts: u32,
    /// Minimum wait before each retry. Retry `n` waits a random duration between `backoff`
    /// and `backoff * 2^(n-1)`, the upper bound capped at 10x `backoff`.
    #[serde(serialize_with = "gateway_core::serde_http::duration")]
    pub backoff: Duration,
    /// Largest request body buffered so it can be replayed; bigger bodies are not retried.
    pub max_buffered_body: usize,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            codes: Vec::new(),
            attempts: 1,
            backoff: Duration::from_millis(25),
            max_buffered_body: 64 * 1024,
        }
    }
}

/// The response flags of connection-level failures, which are always retried: the
/// Gateway API asks to retry "connection errors (disconnect, reset, timeout, TCP failure)".
const RETRIED_FLAGS: [ResponseFlag; 4] = [
    ResponseFlag::UpstreamConnectionFailure,
    ResponseFlag::UpstreamConnectionTermination,
    ResponseFlag::NoHealthyUpstream,
    // Only a per-try timeout (`timeouts.backendRequest`) can be seen here: the
    // whole-request timeout wraps the retry layer.
    ResponseFlag::UpstreamRequestTimeout,
];

impl RetryConfig {
    /// Whether a try that ended with `status` (and `flag`, when the gateway answered for
    /// the upstream) is worth another try.
    pub fn is_retryable(&self, status: StatusCode, flag: Option<ResponseFlag>) -> bool {
        flag.is_some_and(|flag| RETRIED_FLAGS.contains(&flag)) || self.codes.contains(&status)
    }

    /// The shortest and longest wait before retry number `retry` (1 for the first retry).
    pub fn backoff_range(&self, retry: u32) -> (Duration, Duration) {
        let doublings = retry.saturating_sub(1).min(4);
        let exponential = self.backoff.saturating_mul(1 << doublings);
        (
            self.backoff,
            exponential.min(self.backoff.saturating_mul(10)),
        )
    }

    /// A wait before retry number `retry`, uniformly within [`Self::backoff_range`].
    pub fn backoff_for(&self, retry: u32) -> Duration {
        let (low, high) = self.backoff_range(retry);
        low + (high - low).mul_f64(fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_and_caps_at_ten_times_the_base() {
        let config = RetryConfig {
            backoff: Duration::from_millis(100),
            ..RetryConfig::default()
        };
        let ms = |r: u32| {
            let (low, high) = config.backoff_range(r);
            (low.as_millis(), high.as_millis())
        };
        assert_eq!(ms(1), (100, 100));
        assert_eq!(ms(2), (100, 200));
        assert_eq!(ms(3), (100, 400));
        assert_eq!(ms(4), (100, 800));
        assert_eq!(ms(5), (100, 1000));
        assert_eq!(ms(40), (100, 1000));
        for retry in 1..10 {
            let (low, high) = config.backoff_range(retry);
            let wait = config.backoff_for(retry);
            assert!(low <= wait && wait <= high);
        }
    }

    #[test]
    fn connection_failures_and_listed_codes_are_retryable() {
        let config = RetryConfig {
            codes: vec![StatusCode::INTERNAL_SERVER_ERROR],
            ..RetryConfig::default()
        };
        assert!(config.is_retryable(StatusCode::INTERNAL_SERVER_ERROR, None));
        assert!(!config.is_retryable(StatusCode::SERVICE_UNAVAILABLE, None));
        assert!(config.is_retryable(
            StatusCode::SERVICE_UNAVAILABLE,
            Some(ResponseFlag::UpstreamConnectionFailure)
        ));
        assert!(config.is_retryable(
            StatusCode::BAD_GATEWAY,
            Some(ResponseFlag::UpstreamConnectionTermination)
        ));
        assert!(config.is_retryable(
            StatusCode::SERVICE_UNAVAILABLE,
            Some(ResponseFlag::NoHealthyUpstream)
        ));
        assert!(!config.is_retryable(
            StatusCode::TOO_MANY_REQUESTS,
            Some(ResponseFlag::RateLimited)
        ));
    }
}

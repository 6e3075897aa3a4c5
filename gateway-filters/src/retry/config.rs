//! Configuration of the retry policy.

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
    /// Base backoff between tries (exponential with jitter, capped at 10x base).
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

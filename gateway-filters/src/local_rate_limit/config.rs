//! Configuration of the local rate limit.

use governor::Quota;
use serde::Serialize;
use std::{num::NonZeroU32, time::Duration};

use crate::spec::Percent;

/// What a kgateway `rateLimit` field compiles to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitConfig {
    /// The local (in-process) rate limit, when the policy has one.
    pub local: Option<LocalRateLimit>,
}

/// A kgateway `rateLimit.local` field.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LocalRateLimit {
    /// `local: {}`: kgateway's way to switch off a local rate limit that a less specific
    /// policy (on the Gateway, say) would apply; nothing is limited and no layer is built.
    Disabled,
    /// A token bucket to enforce.
    Limit(LocalRateLimitConfig),
}

/// A local rate limit: one token bucket shared by every request through the layer (and its
/// clones), as Envoy's local rate limit shares one bucket per process.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalRateLimitConfig {
    /// The bucket.
    pub token_bucket: TokenBucket,
    /// Share of requests the limiter looks at (and takes a token from); the others pass
    /// without one. kgateway's default: 100.
    pub percent_enabled: Percent,
    /// Share of the requests over the limit that are refused; the others pass (and are
    /// logged at debug level). kgateway's default: 100.
    pub percent_enforced: Percent,
}

impl LocalRateLimitConfig {
    /// A limit enforcing `token_bucket` on every request (kgateway's defaults: enabled and
    /// enforced for 100 %).
    pub fn new(token_bucket: TokenBucket) -> Self {
        Self {
            token_bucket,
            percent_enabled: Percent::HUNDRED,
            percent_enforced: Percent::HUNDRED,
        }
    }
}

/// Envoy's (and kgateway's) token bucket: it holds at most `max_tokens`, every request takes
/// one, and `tokens_per_fill` come back every `fill_interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenBucket {
    /// Capacity of the bucket: the largest burst. The bucket starts full.
    pub max_tokens: NonZeroU32,
    /// Tokens returned per `fill_interval`.
    pub tokens_per_fill: NonZeroU32,
    /// Time between two fills.
    #[serde(serialize_with = "gateway_core::serde_http::duration")]
    pub fill_interval: Duration,
}

impl TokenBucket {
    /// The governor quota for this bucket: one token every
    /// `fill_interval / tokens_per_fill` (truncated to whole nanoseconds, at least one), at
    /// most `max_tokens` at once.
    ///
    /// Governor's GCRA returns tokens one at a time, evenly spread, where Envoy adds
    /// `tokens_per_fill` at once at each fill: with `tokens_per_fill: 3` and
    /// `fill_interval: 1m` a token is back after 20 s here, the three after a minute in
    /// both. The long-run rate and the burst are the same.
    pub fn quota(&self) -> Quota {
        let period = (self.fill_interval / self.tokens_per_fill.get()).max(Duration::from_nanos(1));
        Quota::with_period(period)
            // Not taken: `with_period` refuses only a zero period.
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(self.max_tokens)
    }
}

//! The kgateway field: `TrafficPolicy.spec.rateLimit` (its `local` part).

use serde::{Deserialize, Serialize};
use std::{num::NonZeroU32, time::Duration};

use super::{LocalRateLimit, LocalRateLimitConfig, RateLimitConfig, TokenBucket};
use crate::spec::{FieldError, GoDuration, Percent};

/// The shortest `fillInterval` kgateway's CRD validation accepts.
const MIN_FILL_INTERVAL: Duration = Duration::from_millis(50);

/// kgateway `RateLimit`. Only `local` is read here; `global` (an external rate limit
/// service) is not, so a policy using it is reported as using an unsupported field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitSpec {
    /// The local (in-process) token bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalRateLimitSpec>,
}

impl RateLimitSpec {
    /// Validates the policy; errors name the field (`local.tokenBucket.maxTokens`).
    pub fn compile(&self) -> Result<RateLimitConfig, FieldError> {
        let local = self
            .local
            .as_ref()
            .map(|local| local.compile().map_err(|error| error.within("local")))
            .transpose()?;
        Ok(RateLimitConfig { local })
    }
}

/// kgateway `LocalRateLimitPolicy`. Empty, it switches off a local rate limit inherited
/// from a less specific policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalRateLimitSpec {
    /// The bucket; required unless the whole policy is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_bucket: Option<TokenBucketSpec>,
    /// Share of requests the limiter applies to (0 to 100, default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent_enabled: Option<Percent>,
    /// Share of the limited requests that are refused (0 to 100, default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent_enforced: Option<Percent>,
}

impl LocalRateLimitSpec {
    /// Validates the policy; an empty one compiles to [`LocalRateLimit::Disabled`].
    pub fn compile(&self) -> Result<LocalRateLimit, FieldError> {
        let Some(bucket) = &self.token_bucket else {
            if self.percent_enabled.is_none() && self.percent_enforced.is_none() {
                return Ok(LocalRateLimit::Disabled);
            }
            return Err(FieldError::new(
                "tokenBucket",
                "required (only an empty local policy, which disables local rate limiting, \
                 may leave it out)",
            ));
        };
        let token_bucket = bucket
            .compile()
            .map_err(|error| error.within("tokenBucket"))?;
        Ok(LocalRateLimit::Limit(LocalRateLimitConfig {
            token_bucket,
            percent_enabled: self.percent_enabled.unwrap_or(Percent::HUNDRED),
            percent_enforced: self.percent_enforced.unwrap_or(Percent::HUNDRED),
        }))
    }
}

/// kgateway `TokenBucket`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenBucketSpec {
    /// Capacity of the bucket (the largest burst); at least 1.
    pub max_tokens: i32,
    /// Tokens added per fill; at least 1, default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_fill: Option<i32>,
    /// Time between fills; at least 50ms.
    pub fill_interval: GoDuration,
}

impl TokenBucketSpec {
    /// Validates the bucket.
    pub fn compile(&self) -> Result<TokenBucket, FieldError> {
        let at_least_one = |field: &str, value: i32| {
            u32::try_from(value)
                .ok()
                .and_then(NonZeroU32::new)
                .ok_or_else(|| FieldError::new(field, format!("{value}: must be at least 1")))
        };
        let max_tokens = at_least_one("maxTokens", self.max_tokens)?;
        let tokens_per_fill = at_least_one("tokensPerFill", self.tokens_per_fill.unwrap_or(1))?;
        let fill_interval = self.fill_interval.0;
        if fill_interval < MIN_FILL_INTERVAL {
            return Err(FieldError::new(
                "fillInterval",
                format!("{}: must be at least 50ms", self.fill_interval),
            ));
        }
        Ok(TokenBucket {
            max_tokens,
            tokens_per_fill,
            fill_interval,
        })
    }
}

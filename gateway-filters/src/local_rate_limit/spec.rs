//! The kgateway field: `TrafficPolicy.spec.rateLimit` (its `local` part).

use http::HeaderName;
use serde::{Deserialize, Serialize};
use std::{
    num::{NonZeroU32, NonZeroUsize},
    time::Duration,
};

use super::{
    ClientKey, DEFAULT_MAX_CLIENTS, LocalRateLimit, LocalRateLimitConfig, MAX_CLIENTS_LIMIT,
    PerClientLimit, RateLimitConfig, TokenBucket,
};
use crate::spec::{FieldError, GoDuration, Percent};

/// The shortest `fillInterval` kgateway's CRD validation accepts.
const MIN_FILL_INTERVAL: Duration = Duration::from_millis(50);

/// kgateway `RateLimit`. Only `local` is read here; `global` (an external rate limit
/// service) is [`crate::global_rate_limit::GlobalRateLimitSpec`], compiled with the
/// rate limit provider it names, so it is not part of this type.
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

/// kgateway `LocalRateLimitPolicy`, plus our `perClient` extension. Empty, it switches
/// off a local rate limit inherited from a less specific policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalRateLimitSpec {
    /// The bucket shared by every request; required unless the whole policy is empty or
    /// it has `perClient`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_bucket: Option<TokenBucketSpec>,
    /// Share of requests the limiter applies to (0 to 100, default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent_enabled: Option<Percent>,
    /// Share of the limited requests that are refused (0 to 100, default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent_enforced: Option<Percent>,
    /// Our extension (not in kgateway or Envoy): one bucket per client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_client: Option<PerClientSpec>,
}

impl LocalRateLimitSpec {
    /// Validates the policy; an empty one compiles to [`LocalRateLimit::Disabled`].
    pub fn compile(&self) -> Result<LocalRateLimit, FieldError> {
        if self.token_bucket.is_none() && self.per_client.is_none() {
            if self.percent_enabled.is_none() && self.percent_enforced.is_none() {
                return Ok(LocalRateLimit::Disabled);
            }
            return Err(FieldError::new(
                "tokenBucket",
                "required unless perClient is set (only an empty local policy, which \
                 disables local rate limiting, may leave both out)",
            ));
        }
        let token_bucket = self
            .token_bucket
            .as_ref()
            .map(|bucket| {
                bucket
                    .compile()
                    .map_err(|error| error.within("tokenBucket"))
            })
            .transpose()?;
        let per_client = self
            .per_client
            .as_ref()
            .map(|per_client| {
                per_client
                    .compile()
                    .map_err(|error| error.within("perClient"))
            })
            .transpose()?;
        Ok(LocalRateLimit::Limit(LocalRateLimitConfig {
            token_bucket,
            per_client,
            percent_enabled: self.percent_enabled.unwrap_or(Percent::HUNDRED),
            percent_enforced: self.percent_enforced.unwrap_or(Percent::HUNDRED),
        }))
    }
}

/// `rateLimit.local.perClient` (our extension): a token bucket per client.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PerClientSpec {
    /// What tells clients apart.
    pub key: ClientKeySpec,
    /// Each client's bucket.
    pub token_bucket: TokenBucketSpec,
    /// How many clients get a bucket of their own at most (1 to 1 000 000, default
    /// 100 000); later clients share an overflow bucket until idle ones are evicted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_keys: Option<i64>,
}

impl PerClientSpec {
    /// Validates the per-client limit; errors name the field (`key.header`, `maxKeys`).
    pub fn compile(&self) -> Result<PerClientLimit, FieldError> {
        let key = self.key.compile().map_err(|error| error.within("key"))?;
        let token_bucket = self
            .token_bucket
            .compile()
            .map_err(|error| error.within("tokenBucket"))?;
        let max_keys = match self.max_keys {
            None => DEFAULT_MAX_CLIENTS,
            Some(value) => usize::try_from(value)
                .ok()
                .filter(|value| *value <= MAX_CLIENTS_LIMIT)
                .and_then(NonZeroUsize::new)
                .ok_or_else(|| {
                    FieldError::new(
                        "maxKeys",
                        format!("{value}: must be between 1 and {MAX_CLIENTS_LIMIT}"),
                    )
                })?,
        };
        Ok(PerClientLimit {
            key,
            token_bucket,
            max_keys,
        })
    }
}

/// What identifies a client: exactly one of `remoteAddress: {}`, `header: <name>` or
/// `claim: {name, header}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientKeySpec {
    /// The client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_address: Option<RemoteAddressKeySpec>,
    /// A request header's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// A JWT claim, as the JWT policy copies it into a request header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<ClaimKeySpec>,
}

impl ClientKeySpec {
    /// Validates the key.
    pub fn compile(&self) -> Result<ClientKey, FieldError> {
        match (&self.remote_address, &self.header, &self.claim) {
            (Some(_), None, None) => Ok(ClientKey::RemoteAddress),
            (None, Some(header), None) => Ok(ClientKey::Header(header_name("header", header)?)),
            (None, None, Some(claim)) => {
                if claim.name.is_empty() {
                    return Err(FieldError::new("claim.name", "must not be empty"));
                }
                Ok(ClientKey::Claim {
                    name: claim.name.clone(),
                    header: header_name("claim.header", &claim.header)?,
                })
            }
            _ => Err(FieldError::new(
                "",
                "exactly one of remoteAddress, header or claim must be set",
            )),
        }
    }
}

/// `remoteAddress: {}`: key clients by their address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct RemoteAddressKeySpec {}

/// `claim: {name, header}`: key clients by a JWT claim that a JWT policy copies into a
/// request header (kgateway `claimsToHeaders`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimKeySpec {
    /// The claim, e.g. `sub`.
    pub name: String,
    /// The request header the JWT policy writes the claim to, e.g. `x-jwt-sub`.
    pub header: String,
}

/// A request header name as written in a policy (any case; not a pseudo-header).
fn header_name(field: &str, name: &str) -> Result<HeaderName, FieldError> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| FieldError::new(field, format!("{name:?} is not a header name")))
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

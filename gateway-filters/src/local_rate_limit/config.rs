//! Configuration of the local rate limit.

use governor::Quota;
use http::HeaderName;
use serde::Serialize;
use std::{
    num::{NonZeroU32, NonZeroUsize},
    time::Duration,
};

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

/// A local rate limit: a token bucket shared by every request through the layer (and its
/// clones), as Envoy's local rate limit shares one bucket per process, and/or one bucket per
/// client (our `perClient` extension). A request must find a token in each bucket it is
/// subject to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalRateLimitConfig {
    /// The bucket every request draws from (kgateway `tokenBucket`); `None` when the policy
    /// only limits each client.
    pub token_bucket: Option<TokenBucket>,
    /// One bucket per client (`perClient`, our extension; see the [module docs](super)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_client: Option<PerClientLimit>,
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
            token_bucket: Some(token_bucket),
            per_client: None,
            percent_enabled: Percent::HUNDRED,
            percent_enforced: Percent::HUNDRED,
        }
    }

    /// A limit of one bucket per client only, enabled and enforced for every request.
    pub fn per_client(per_client: PerClientLimit) -> Self {
        Self {
            token_bucket: None,
            per_client: Some(per_client),
            percent_enabled: Percent::HUNDRED,
            percent_enforced: Percent::HUNDRED,
        }
    }

    /// The same limit, with one bucket per client as well.
    #[must_use]
    pub fn with_per_client(mut self, per_client: PerClientLimit) -> Self {
        self.per_client = Some(per_client);
        self
    }
}

/// How many clients a per-client limit tracks unless told otherwise.
pub const DEFAULT_MAX_CLIENTS: NonZeroUsize = NonZeroUsize::MIN.saturating_add(99_999);

/// The most clients a per-client limit may be told to track (about 50 MB of buckets).
pub const MAX_CLIENTS_LIMIT: usize = 1_000_000;

/// One token bucket per client (`rateLimit.local.perClient`, our extension).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PerClientLimit {
    /// What tells clients apart.
    pub key: ClientKey,
    /// Each client's bucket; every client starts with a full one.
    pub token_bucket: TokenBucket,
    /// How many clients have a bucket of their own at most. Clients that arrive while
    /// the table is full share one overflow bucket until idle clients are evicted.
    pub max_keys: NonZeroUsize,
}

impl PerClientLimit {
    /// A bucket per client told apart by `key`, tracking at most [`DEFAULT_MAX_CLIENTS`].
    pub fn new(key: ClientKey, token_bucket: TokenBucket) -> Self {
        Self {
            key,
            token_bucket,
            max_keys: DEFAULT_MAX_CLIENTS,
        }
    }
}

/// What identifies a client for a per-client limit. A request without the header (or
/// claim) is keyed by its client address instead, so leaving the header out does not
/// escape the limit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ClientKey {
    /// The client's address: [`ClientAddr`](gateway_core::extensions::ClientAddr) (the
    /// address the listener's `X-Forwarded-For` settings trust), else the connection's
    /// peer address. IPv4-mapped IPv6 addresses count as their IPv4 address.
    RemoteAddress,
    /// The (first) value of a request header, e.g. an API key or a tenant id.
    Header(#[serde(serialize_with = "gateway_core::serde_http::header_name")] HeaderName),
    /// A JWT claim, read from the request header a JWT policy copies it to (kgateway
    /// `jwtAuth` providers' `claimsToHeaders`). The JWT layer must run before this one and
    /// must own the header (reject requests without a valid token, or remove the header
    /// from them): otherwise a client can pick its own key.
    Claim {
        /// The claim (e.g. `sub`), for the configuration dump and logs.
        name: String,
        /// The header the JWT layer writes the claim to (e.g. `x-jwt-sub`).
        #[serde(serialize_with = "gateway_core::serde_http::header_name")]
        header: HeaderName,
    },
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

/// The longest time a bucket may take to fill up from empty: a century. Governor counts time
/// in `u64` nanoseconds (about 584 years); a longer refill would overflow its arithmetic.
pub const MAX_REFILL_TIME: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

impl TokenBucket {
    /// The governor quota for this bucket: one token every
    /// `fill_interval / tokens_per_fill` (truncated to whole nanoseconds, at least one), at
    /// most `max_tokens` at once.
    ///
    /// Governor's GCRA returns tokens one at a time, evenly spread, where Envoy adds
    /// `tokens_per_fill` at once at each fill: with `tokens_per_fill: 3` and
    /// `fill_interval: 1m` a token is back after 20 s here, the three after a minute in
    /// both. The long-run rate and the burst are the same.
    ///
    /// A bucket that would take longer than [`MAX_REFILL_TIME`] to fill up (say two billion
    /// tokens, one a day) gets its tokens back faster, so that it fills up in a century:
    /// never, as far as a gateway process can tell.
    pub fn quota(&self) -> Quota {
        let longest = MAX_REFILL_TIME / self.max_tokens.get();
        let period = (self.fill_interval / self.tokens_per_fill.get())
            .min(longest)
            .max(Duration::from_nanos(1));
        Quota::with_period(period)
            // Not taken: `with_period` refuses only a zero period.
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(self.max_tokens)
    }
}

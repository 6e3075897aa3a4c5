//! Configuration of the global rate limit: the validated form of a kgateway
//! `GatewayExtension` of type `RateLimit` (the provider) and of a TrafficPolicy's
//! `rateLimit.global` (the descriptors).

use http::{HeaderName, uri::Authority};
use serde::{Serialize, Serializer};
use std::{net::SocketAddr, sync::Arc, time::Duration};

/// How long a call to the rate limit service may take unless the provider says otherwise:
/// kgateway's default `timeout`, 100 ms.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(100);

/// What the [global rate limit layer](super::GlobalRateLimitLayer) runs on.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GlobalRateLimitConfig {
    /// The rate limit service and how to use it (kgateway
    /// `GatewayExtension.spec.rateLimit`).
    pub provider: RateLimitProvider,
    /// Where the rate limit service listens, as the policy compiler resolves the provider's
    /// `grpcService.backendRef`. Calls are balanced over them; with none, every call fails
    /// (and `failOpen` decides).
    pub endpoints: Arc<[SocketAddr]>,
    /// The descriptors sent with each request (`rateLimit.global.descriptors`), in order.
    pub descriptors: Arc<[RateLimitDescriptor]>,
}

impl GlobalRateLimitConfig {
    /// Limits requests with `provider`'s service at `endpoints`, describing each request
    /// with `descriptors`.
    pub fn new(
        provider: RateLimitProvider,
        endpoints: impl Into<Arc<[SocketAddr]>>,
        descriptors: impl Into<Arc<[RateLimitDescriptor]>>,
    ) -> Self {
        Self {
            provider,
            endpoints: endpoints.into(),
            descriptors: descriptors.into(),
        }
    }
}

/// A rate limit service (kgateway `RateLimitProvider`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitProvider {
    /// The service's configuration domain for these requests (`domain`).
    pub domain: String,
    /// The `:authority` of the calls (`grpcService.authority`); the endpoint's address when
    /// `None`.
    #[serde(serialize_with = "opt_authority")]
    pub authority: Option<Authority>,
    /// Let requests through when the service cannot be asked (`failOpen`, default `true`);
    /// otherwise answer them `500`, as Envoy's `failure_mode_deny` does.
    pub fail_open: bool,
    /// How long a call may take, connecting included (`timeout`, default 100 ms; the
    /// smaller of it and `grpcService.requestTimeout`).
    #[serde(serialize_with = "gateway_core::serde_http::duration")]
    pub timeout: Duration,
    /// Which `X-RateLimit-*` headers to add from the service's answer (`xRateLimitHeaders`).
    pub x_rate_limit_headers: XRateLimitHeaders,
}

impl RateLimitProvider {
    /// A provider for `domain` with kgateway's defaults: fail open, 100 ms timeout, no
    /// `X-RateLimit-*` headers.
    pub fn new(domain: impl Into<String>) -> Self {
        Self {
            domain: domain.into(),
            authority: None,
            fail_open: true,
            timeout: DEFAULT_TIMEOUT,
            x_rate_limit_headers: XRateLimitHeaders::Off,
        }
    }
}

/// kgateway `XRateLimitHeadersStandard` (Envoy's `enable_x_ratelimit_headers`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub enum XRateLimitHeaders {
    /// No `X-RateLimit-*` headers (the default).
    #[default]
    Off,
    /// `X-RateLimit-Limit`, `-Remaining` and `-Reset` as in the IETF draft
    /// `draft-polli-ratelimit-headers-03`, from the descriptor closest to its limit.
    DraftVersion03,
}

/// One descriptor: a list of entries sent together; the service applies the most specific
/// limit it has for them. A descriptor with an entry that has no value for a request (a
/// missing header, an address that is not IP) is not sent for that request, as in Envoy.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitDescriptor {
    /// The entries, in order.
    pub entries: Vec<DescriptorEntry>,
}

/// One descriptor entry, as kgateway turns it into an Envoy rate limit action.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DescriptorEntry {
    /// A fixed `key`/`value` pair (Envoy's `generic_key`).
    Generic {
        /// The entry's key.
        key: String,
        /// The entry's value.
        value: String,
    },
    /// A request header's (first) value under `key`, the header's name as the policy spells
    /// it (Envoy's `request_headers`, kgateway uses the name as the descriptor key).
    Header {
        /// The header to read.
        #[serde(serialize_with = "gateway_core::serde_http::header_name")]
        name: HeaderName,
        /// The entry's key: the header name as written in the policy.
        key: String,
    },
    /// The client address under `remote_address` (Envoy's `remote_address`): the
    /// [`ClientAddr`](gateway_core::extensions::ClientAddr) the listener trusted, else the
    /// connection's peer, without a port.
    RemoteAddress,
    /// The request's path and query (Envoy's `:path` header) under `path`.
    Path,
}

/// `Option<Authority>` as its text.
fn opt_authority<S: Serializer>(authority: &Option<Authority>, s: S) -> Result<S::Ok, S::Error> {
    match authority {
        Some(authority) => s.collect_str(authority),
        None => s.serialize_none(),
    }
}

//! Global rate limiting (kgateway `TrafficPolicy.spec.rateLimit.global` with a
//! `GatewayExtension` of type `RateLimit`; Envoy's `ratelimit` filter).
//!
//! Each request is described by the policy's descriptors and sent, with the provider's
//! `domain`, to a rate limit service speaking Envoy's protocol
//! (`envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`, e.g.
//! `envoyproxy/ratelimit`), which counts across every gateway replica and decides.
//!
//! Descriptors are built as kgateway configures Envoy's rate limit actions, one Envoy
//! descriptor per kgateway descriptor, entries in order:
//!
//! | kgateway entry | key | value |
//! |---|---|---|
//! | `Generic` | `generic.key` | `generic.value` |
//! | `Header` | the header name as written in the policy | the header's (first) value |
//! | `RemoteAddress` | `remote_address` | the client address ([`ClientAddr`](gateway_core::extensions::ClientAddr), else the peer), no port |
//! | `Path` | `path` | the path and query (Envoy's `:path`) |
//!
//! A descriptor with an entry that has no value (the header is missing) is not sent, as in
//! Envoy; when no descriptor is left, the service is not asked and the request goes on.
//!
//! The answer, as Envoy's filter reads it:
//! - `OVER_LIMIT`: the gateway answers `429` with `x-envoy-ratelimited: true`, the
//!   service's `response_headers_to_add` and its `raw_body` (empty unless it sent one;
//!   `content-type: text/plain` for a body, unless the service sent a `content-type`),
//!   flagged [`ResponseFlag::RateLimited`](gateway_core::ResponseFlag) (`RL`).
//! - `OK` (or `UNKNOWN`): the request goes on with the service's `request_headers_to_add`
//!   appended; its `response_headers_to_add` are appended to the response.
//! - With `xRateLimitHeaders: DraftVersion03`, `x-ratelimit-limit`, `x-ratelimit-remaining`
//!   and `x-ratelimit-reset` are added to either answer, from the descriptor status closest
//!   to its limit (Envoy's `enable_x_ratelimit_headers`).
//! - The call fails, or takes longer than `timeout` (default 100 ms, connecting included):
//!   with `failOpen` (kgateway's default, `true`) the request goes on; otherwise the
//!   gateway answers `500` with an empty body, as Envoy's `failure_mode_deny` does,
//!   flagged `RLSE` as Envoy flags it.
//!
//! One gRPC channel (HTTP/2, connecting lazily at the first request, balanced over the
//! endpoints) per layer, shared by every clone; the request waits for the answer, never
//! longer than `timeout`. [`GlobalRateLimitLayer::stats`] reports Envoy's counters.
//!
//! Configuration: [`GlobalRateLimitSpec`] reads `rateLimit.global` (its descriptors;
//! `extensionRef` names the provider), [`RateLimitProviderSpec`] the `GatewayExtension`'s
//! `rateLimit`; the policy compiler resolves the provider's `grpcService.backendRef` into
//! socket addresses for [`GlobalRateLimitConfig::new`]. The provider's
//! `grpcService.retry` is not read.
//!
//! Bodies: the request body must be `Send` (it waits for the answer); the response body
//! must be a [`FullBody`](crate::buffer::FullBody) (the proxy's
//! [`BoxBody`](gateway_core::BoxBody) is) for the gateway's own answers. The wrapped
//! service must be `Clone`.
//!
//! ```
//! use gateway_core::{Request, Response, body};
//! use gateway_filters::global_rate_limit::{
//!     GlobalRateLimitConfig, GlobalRateLimitLayer, GlobalRateLimitSpec, RateLimitProviderSpec,
//! };
//! use http::StatusCode;
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let policy: GlobalRateLimitSpec = serde_json::from_str(
//!     r#"{"extensionRef": {"name": "ratelimit"},
//!         "descriptors": [{"entries": [{"type": "RemoteAddress"}]},
//!                         {"entries": [{"type": "Generic", "generic": {"key": "route", "value": "api"}},
//!                                      {"type": "Header", "header": "x-user"}]}]}"#,
//! )
//! .unwrap();
//! let provider: RateLimitProviderSpec = serde_json::from_str(
//!     r#"{"domain": "api", "failOpen": false, "timeout": "50ms",
//!         "grpcService": {"backendRef": {"name": "ratelimit", "port": 8081}}}"#,
//! )
//! .unwrap();
//! // The compiler resolves the provider's backendRef; nothing listens here.
//! let config = GlobalRateLimitConfig::new(
//!     provider.compile().unwrap(),
//!     vec!["127.0.0.1:1".parse().unwrap()],
//!     policy.compile().unwrap(),
//! );
//! let service = ServiceBuilder::new()
//!     .layer(GlobalRateLimitLayer::new(config))
//!     .service(service_fn(|_: Request| async {
//!         Ok::<_, Infallible>(Response::new(body::full("from the backend")))
//!     }));
//!
//! let request = http::Request::builder()
//!     .uri("/orders")
//!     .header("x-user", "alice")
//!     .body(body::empty())
//!     .unwrap();
//! // The service cannot be asked and the provider does not fail open.
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
//! # }
//! ```

mod client;
mod config;
mod service;
mod spec;
#[cfg(test)]
mod tests;

pub use config::{
    DEFAULT_TIMEOUT, DescriptorEntry, GlobalRateLimitConfig, RateLimitDescriptor,
    RateLimitProvider, XRateLimitHeaders,
};
pub use service::{GlobalRateLimitLayer, GlobalRateLimitService, GlobalRateLimitStats};
pub use spec::{
    DescriptorEntryType, GenericEntrySpec, GlobalRateLimitSpec, RateLimitDescriptorEntrySpec,
    RateLimitDescriptorSpec, RateLimitProviderSpec, XRateLimitHeadersSpec,
};

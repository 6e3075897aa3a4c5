//! Local rate limiting (kgateway `TrafficPolicy.spec.rateLimit.local`, Envoy's
//! `local_ratelimit` filter).
//!
//! Policy: a token bucket of `maxTokens` tokens, starting full, gets `tokensPerFill`
//! (default 1) tokens back every `fillInterval` (at least 50ms). Each request takes a token;
//! a request that finds the bucket empty is answered by the gateway with
//! `429 Too Many Requests`, the body `local_rate_limited`, `content-type: text/plain` and
//! `x-envoy-ratelimited: true`, exactly as Envoy answers, flagged
//! [`ResponseFlag::RateLimited`](gateway_core::ResponseFlag) (`RL`). The backend never sees
//! it. `percentEnabled` (default 100) is the share of requests the limiter looks at (the
//! others take no token); `percentEnforced` (default 100) the share of limited requests
//! that are refused (the others pass, logged at debug level).
//!
//! One bucket per layer: every service the layer wraps, and every clone of those, draw from
//! it (Envoy's default, a bucket per process), so it limits the route as a whole, not each
//! connection. The bucket is governor's lock-free GCRA limiter; how Envoy's bucket maps onto
//! it, and the one difference (tokens come back one at a time, evenly spread, rather than
//! `tokensPerFill` at once), is on [`TokenBucket::quota`].
//!
//! # Per-client buckets (`perClient`, our extension)
//!
//! kgateway's local rate limit shares one bucket among all clients; a limit per client
//! needs the global rate limit service (an external store) there. This gateway adds
//! `rateLimit.local.perClient`, a field of its own that kgateway does not have:
//!
//! ```yaml
//! rateLimit:
//!   local:
//!     tokenBucket: {maxTokens: 1000, fillInterval: 1s}   # optional: the route as a whole
//!     perClient:
//!       key: {header: x-api-key}        # or {remoteAddress: {}}, or {claim: {name: sub, header: x-jwt-sub}}
//!       tokenBucket: {maxTokens: 10, tokensPerFill: 10, fillInterval: 1m}
//!       maxKeys: 100000                 # default; at most 1 000 000
//! ```
//!
//! - **Key**: `remoteAddress: {}` is the client address
//!   ([`ClientAddr`](gateway_core::extensions::ClientAddr), which the listener's
//!   `X-Forwarded-For` settings decide, else the connection's peer); `header: <name>` the
//!   first value of a request header; `claim: {name, header}` a JWT claim, read from the
//!   request header a JWT policy copies it to with kgateway's `claimsToHeaders` (the JWT
//!   layer must run first and own that header, or clients choose their own key). A request
//!   without the header is keyed by its client address, so leaving it out does not escape
//!   the limit.
//! - **Buckets**: each client gets `tokenBucket` (starting full), with the same mapping
//!   onto governor as the shared bucket. With both buckets, a request needs a token from
//!   each; the client's own is asked first, so a client over its limit does not drain the
//!   shared one. `percentEnabled` and `percentEnforced` apply to both. The answer is the
//!   same `429 local_rate_limited`, flagged `RL`.
//! - **Memory**: at most `maxKeys` clients have a bucket of their own (a hashed key and the
//!   bucket state, a few dozen bytes each). When the table is full, newly seen clients
//!   share one overflow bucket (of the same size) rather than being refused or let through
//!   unlimited: established clients keep their buckets, a flood of new keys cannot lock
//!   everyone out, and it cannot escape the limit either. A task owned by the layer evicts
//!   idle clients (whose bucket has refilled, so forgetting them changes nothing) every
//!   time a bucket takes to refill (1 s to 60 s), and soon after the table fills up; it
//!   stops when the layer and all its services are dropped.
//!   [`LocalRateLimitLayer::tracked_clients`] tells how many clients are tracked.
//!
//! kgateway's newest API adds `local.descriptors` with Envoy's dynamic descriptors
//! (`maxDynamicDescriptors`); those are not read here.
//!
//! Bodies: any request body; the response body must be a
//! [`FullBody`](crate::buffer::FullBody) (the proxy's [`BoxBody`](gateway_core::BoxBody)
//! is) for the `429`'s text. [`RateLimitSpec`] reads the kgateway field; `global` rate
//! limiting (an external service) is [`crate::global_rate_limit`].
//!
//! ```
//! use gateway_core::{Request, Response, ResponseFlag, body};
//! use gateway_filters::local_rate_limit::{LocalRateLimit, LocalRateLimitLayer, RateLimitSpec};
//! use http::StatusCode;
//! use http_body_util::BodyExt;
//! use std::convert::Infallible;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let spec: RateLimitSpec = serde_json::from_str(
//!     r#"{"local": {"tokenBucket": {"maxTokens": 2, "fillInterval": "1m"}}}"#,
//! )
//! .unwrap();
//! let Some(LocalRateLimit::Limit(config)) = spec.compile().unwrap().local else {
//!     unreachable!("the policy has a bucket")
//! };
//! let mut service = ServiceBuilder::new()
//!     .layer(LocalRateLimitLayer::new(config))
//!     .service(service_fn(|_: Request| async {
//!         Ok::<_, Infallible>(Response::new(body::full("from the backend")))
//!     }));
//!
//! for _ in 0..2 {
//!     let response = service.ready().await.unwrap().call(Request::default()).await.unwrap();
//!     assert_eq!(response.status(), StatusCode::OK);
//! }
//! let response = service.ready().await.unwrap().call(Request::default()).await.unwrap();
//! assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
//! assert_eq!(response.extensions().get::<ResponseFlag>(), Some(&ResponseFlag::RateLimited));
//! let text = response.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(text, "local_rate_limited");
//! # }
//! ```

mod config;
mod keyed;
mod service;
mod spec;
#[cfg(test)]
mod tests;

pub use config::{
    ClientKey, DEFAULT_MAX_CLIENTS, LocalRateLimit, LocalRateLimitConfig, MAX_CLIENTS_LIMIT,
    MAX_REFILL_TIME, PerClientLimit, RateLimitConfig, TokenBucket,
};
pub(crate) use keyed::client_ip;
pub use service::{LocalRateLimitLayer, LocalRateLimitService};
pub use spec::{
    ClaimKeySpec, ClientKeySpec, LocalRateLimitSpec, PerClientSpec, RateLimitSpec,
    RemoteAddressKeySpec, TokenBucketSpec,
};

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
//! Bodies: any request body; the response body must be a
//! [`FullBody`](crate::buffer::FullBody) (the proxy's [`BoxBody`](gateway_core::BoxBody)
//! is) for the `429`'s text. [`RateLimitSpec`] reads the kgateway field; `global`
//! rate limiting (an external service) is not part of it.
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
mod service;
mod spec;
#[cfg(test)]
mod tests;

pub use config::{LocalRateLimit, LocalRateLimitConfig, RateLimitConfig, TokenBucket};
pub use service::{LocalRateLimitLayer, LocalRateLimitService};
pub use spec::{LocalRateLimitSpec, RateLimitSpec, TokenBucketSpec};

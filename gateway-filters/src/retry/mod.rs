//! Gateway API `HTTPRouteRule.retry` (`HTTPRouteRetry`, GEP-1731).
//!
//! Policy: a try is retried when its response status is one of [`RetryConfig::codes`], or
//! when the gateway answered for a connection-level failure, recognised by the response
//! flag: `UF` (connect failed), `UC` (connection reset or closed mid-request), `UH` (no
//! healthy endpoint) and `UT` (the per-try timeout `timeouts.backendRequest` fired) — the
//! Gateway API asks to retry "connection errors (disconnect, reset, timeout, TCP
//! failure)". [`RetryConfig::attempts`] is the number of retries, so a request is tried at
//! most `1 + attempts` times; when they are used up the last response goes to the client
//! (flagged `URX` unless it already carries a flag). `Err` from the inner service is a
//! broken connection and is returned at once.
//!
//! Before retry `n` the layer waits between [`RetryConfig::backoff`] and
//! `backoff * 2^(n-1)` (capped at 10x `backoff`), never less than `backoff` as the Gateway
//! API requires. The request body is read into memory first, up to
//! [`RetryConfig::max_buffered_body`], so that each try gets the same bytes; a larger body
//! (or one whose length says so up front) is forwarded once, without retries, and so are
//! upgrade requests. Envoy's equivalent is the route `retry_policy` (`retry_on:
//! connect-failure,reset,retriable-status-codes`, `num_retries`,
//! `retry_back_off.base_interval`). Defaults ([`RetryConfig::default`]): 1 retry, 25 ms
//! backoff, 64 KiB buffered, no status codes. Works over the proxy's
//! [`Request`](gateway_core::Request)/[`Response`](gateway_core::Response) types.
//!
//! ```
//! use gateway_core::{Request, Response, body};
//! use gateway_filters::retry::{RetryConfig, RetryLayer};
//! use http::StatusCode;
//! use std::{convert::Infallible, sync::{Arc, atomic::{AtomicUsize, Ordering}}};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let config = RetryConfig {
//!     codes: vec![StatusCode::INTERNAL_SERVER_ERROR],
//!     attempts: 3,
//!     ..RetryConfig::default()
//! };
//! // A backend failing its first two requests with 500.
//! let calls = Arc::new(AtomicUsize::new(0));
//! let seen = calls.clone();
//! let service = ServiceBuilder::new()
//!     .layer(RetryLayer::new(config))
//!     .service(service_fn(move |_: Request| {
//!         let n = seen.fetch_add(1, Ordering::SeqCst);
//!         async move {
//!             let mut response = Response::new(body::empty());
//!             if n < 2 {
//!                 *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
//!             }
//!             Ok::<_, Infallible>(response)
//!         }
//!     }));
//! let response = service.oneshot(Request::new(body::empty())).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(calls.load(Ordering::SeqCst), 3);
//! # }
//! ```

mod body;
mod config;
mod service;
#[cfg(test)]
mod tests;

pub use config::*;
pub use service::{ResponseFuture, RetryLayer, RetryService};

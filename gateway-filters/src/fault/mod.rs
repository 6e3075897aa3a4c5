//! Fault injection (kgateway `TrafficPolicy.spec.faultInjection`, Envoy's `fault` filter),
//! for testing how clients and services cope with a slow or failing backend.
//!
//! Policy, per request, each part drawn on its own with its `percentage` (default 100;
//! 0 % and 100 % draw nothing):
//!
//! - **delay**: the request waits `fixedDelay` (1ms to 1h) before it goes on; its response
//!   is flagged [`ResponseFlag::DelayInjected`](gateway_core::ResponseFlag) (`DI`) unless
//!   the inner service flagged it already;
//! - **abort**: the gateway answers itself, after the delay when there is one, with
//!   `httpStatus` and the body `fault filter abort` (`text/plain`), or for `grpcStatus` with
//!   a gRPC error (`200`, `content-type: application/grpc`, `grpc-status`,
//!   `grpc-message: fault filter abort`, no body), flagged
//!   [`ResponseFlag::FaultInjected`](gateway_core::ResponseFlag) (`FI`); the backend never
//!   sees the request;
//! - **responseRateLimit**: the response body is let through at `kbitsPerSecond` × 1024
//!   bytes per second. (kgateway passes the number to Envoy's `limit_kbps`, which Envoy
//!   reads as KiB/s despite the field's name; the gateway matches what Envoy does.) Like
//!   Envoy, the body may start with 50 ms worth at once and is released in steps of at
//!   most 50 ms, with up to one second's allowance saved while the backend is slow.
//!
//! `maxActiveFaults` caps how many requests carry a fault at once, across every service the
//! layer wraps (a throttled response counts until its body ends); over the cap, requests
//! get no fault. Header-controlled faults (Envoy's `x-envoy-fault-*`) are not part of
//! kgateway's API and are not read.
//!
//! Bodies: any request body; the response body must be a
//! [`FullBody`](crate::buffer::FullBody) (for the abort text) and a [`ThrottleBody`] (the
//! proxy's [`BoxBody`](gateway_core::BoxBody) is both). [`FaultInjectionSpec`] reads the
//! kgateway field.
//!
//! ```
//! use gateway_core::{Request, Response, ResponseFlag, body};
//! use gateway_filters::fault::{FaultInjectionSpec, FaultLayer};
//! use http::StatusCode;
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let spec: FaultInjectionSpec = serde_json::from_str(
//!     r#"{"delay": {"fixedDelay": "2s"}, "abort": {"httpStatus": 503, "percentage": 100}}"#,
//! )
//! .unwrap();
//! let service = ServiceBuilder::new()
//!     .layer(FaultLayer::new(spec.compile().unwrap()))
//!     .service(service_fn(|_: Request| async {
//!         Ok::<_, Infallible>(Response::new(body::full("from the backend")))
//!     }));
//!
//! let started = tokio::time::Instant::now();
//! let response = service.oneshot(Request::default()).await.unwrap();
//! assert_eq!(started.elapsed(), std::time::Duration::from_secs(2));
//! assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
//! assert_eq!(response.extensions().get::<ResponseFlag>(), Some(&ResponseFlag::FaultInjected));
//! # }
//! ```

mod body;
mod config;
mod service;
mod spec;
#[cfg(test)]
mod tests;

pub use body::{Throttle, ThrottleBody, ThrottledBody};
pub use config::{AbortStatus, FaultAbort, FaultConfig, FaultDelay, ResponseRateLimit};
pub use service::{FaultLayer, FaultService, ResponseFuture};
pub use spec::{FaultAbortSpec, FaultDelaySpec, FaultInjectionSpec, FaultResponseRateLimitSpec};

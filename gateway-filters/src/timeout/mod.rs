//! Request timeouts (Gateway API `HTTPRouteRule.timeouts.request` and
//! `timeouts.backendRequest`).
//!
//! Policy: when the inner service has not produced the response headers within the
//! configured duration, the inner future is dropped (which cancels the upstream request)
//! and the gateway answers `504 Gateway Timeout`, flagged
//! [`ResponseFlag::UpstreamRequestTimeout`](gateway_core::ResponseFlag) (`UT`), as Envoy's
//! route `timeout` does. The deadline covers the response headers only: a body that is
//! still streaming when the deadline passes is not cut. There is no default duration: a
//! rule without a timeout gets no layer. The gateway uses it twice: around the whole rule
//! (`timeouts.request`, retries included) and around each try
//! (`timeouts.backendRequest`). The `504` has an empty body of the service's own body type,
//! so the layer works over any request and response body.
//!
//! ```
//! use gateway_core::ResponseFlag;
//! use gateway_filters::timeout::TimeoutLayer;
//! use http::{Request, Response, StatusCode};
//! use std::{convert::Infallible, time::Duration};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let service = ServiceBuilder::new()
//!     .layer(TimeoutLayer::new(Duration::from_millis(500)))
//!     .service(service_fn(|_: Request<()>| async {
//!         // A backend that takes a second to answer.
//!         tokio::time::sleep(Duration::from_secs(1)).await;
//!         Ok::<_, Infallible>(Response::new(String::from("late")))
//!     }));
//! let response = service.oneshot(Request::new(())).await.unwrap();
//! assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
//! assert_eq!(
//!     response.extensions().get::<ResponseFlag>(),
//!     Some(&ResponseFlag::UpstreamRequestTimeout)
//! );
//! # }
//! ```

mod service;
#[cfg(test)]
mod tests;

pub use service::{ResponseFuture, TimeoutLayer, TimeoutService};

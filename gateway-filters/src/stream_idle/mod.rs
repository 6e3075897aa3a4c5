//! Stream idle timeout (kgateway `TrafficPolicy.timeouts.streamIdle`).
//!
//! Policy: a request may stay quiet — no request body data arriving, no response headers,
//! no response body data leaving — for at most the configured duration; every frame in
//! either direction restarts the clock, as Envoy's per-route `idle_timeout` does. When the
//! clock runs out before the response headers, the gateway answers `408 Request Timeout`
//! (flag `SI`); after them, the response body ends with an error, which resets the stream
//! (HTTP/2) or closes the connection (HTTP/1.1). A long download that keeps sending is
//! never cut; a stalled one is.
//!
//! ```
//! use gateway_core::ResponseFlag;
//! use gateway_filters::stream_idle::{IdleBody, StreamIdleLayer};
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Empty;
//! use std::{convert::Infallible, time::Duration};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let service = ServiceBuilder::new()
//!     .layer(StreamIdleLayer::new(Duration::from_secs(1)))
//!     .service(service_fn(|_: Request<IdleBody<Empty<bytes::Bytes>>>| async {
//!         // A backend that says nothing for a minute.
//!         tokio::time::sleep(Duration::from_secs(60)).await;
//!         Ok::<_, Infallible>(Response::new(gateway_core::body::empty()))
//!     }));
//! let response = service.oneshot(Request::new(Empty::new())).await.unwrap();
//! assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
//! assert_eq!(
//!     response.extensions().get::<ResponseFlag>(),
//!     Some(&ResponseFlag::StreamIdleTimeout)
//! );
//! # }
//! ```

mod activity;
mod body;
mod service;
#[cfg(test)]
mod tests;

pub use body::{IdleBody, StreamIdleElapsed};
pub use service::{ResponseFuture, StreamIdleLayer, StreamIdleService};

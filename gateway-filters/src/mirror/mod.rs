//! Gateway API `RequestMirror` filter (`HTTPRequestMirrorFilter`).
//!
//! Policy: a sampled share of the requests ([`MirrorConfig`]: `numerator / denominator`,
//! all of them by default; Gateway API `percent` or `fraction`) is also sent to a mirror
//! service (the filter's `backendRef`). The copy has the same method, URI, headers
//! (`Host` included: Envoy appends `-shadow` to it, the Gateway API only asks that the
//! mirror receives the request), extensions and body. It is sent on a spawned task and
//! its response is dropped unread: the main request is never delayed nor failed by the
//! mirror.
//!
//! The body is teed: each frame the main request reads is offered to the mirror through a
//! bounded channel (16 frames). If the mirror falls behind, its copy is abandoned — its
//! body ends with an error so the mirror never sees a truncated request as complete —
//! while the main request carries on. A mirror that has not answered within
//! [`DEFAULT_MIRROR_TIMEOUT`] (15 s, Envoy's default route timeout, which shadows obey;
//! see [`MirrorLayer::with_timeout`]) is given up, so a stuck mirror cannot pile up tasks.
//!
//! Upgrade requests (WebSocket, `CONNECT`) are not mirrored: the copy could take over the
//! client's connection. Envoy's equivalent is the route's `request_mirror_policies`
//! (`runtime_fraction`). Works over the proxy's [`Request`](gateway_core::Request) type;
//! mirroring needs a tokio runtime (without one the request is simply not mirrored).
//!
//! ```
//! use gateway_core::{HttpService, Request, Response, body};
//! use gateway_filters::mirror::{MirrorConfig, MirrorLayer};
//! use http_body_util::BodyExt;
//! use std::convert::Infallible;
//! use tokio::sync::mpsc;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // The mirror reports the bodies it receives.
//! let (tx, mut received) = mpsc::unbounded_channel();
//! let mirror = HttpService::new(service_fn(move |request: Request| {
//!     let tx = tx.clone();
//!     async move {
//!         let bytes = request.into_body().collect().await.unwrap().to_bytes();
//!         tx.send(bytes).unwrap();
//!         Ok::<_, Infallible>(Response::new(body::empty()))
//!     }
//! }));
//! let service = ServiceBuilder::new()
//!     .layer(MirrorLayer::new(MirrorConfig::default(), mirror))
//!     .service(service_fn(|request: Request| async move {
//!         let bytes = request.into_body().collect().await.unwrap().to_bytes();
//!         Ok::<_, Infallible>(Response::new(body::full(bytes)))
//!     }));
//! let response = service.oneshot(Request::new(body::full("payload"))).await.unwrap();
//! assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "payload");
//! assert_eq!(received.recv().await.unwrap(), "payload");
//! # }
//! ```

mod config;
mod service;
mod tee;
#[cfg(test)]
mod tests;

pub use config::*;
pub use service::{DEFAULT_MIRROR_TIMEOUT, MirrorLayer, MirrorService};

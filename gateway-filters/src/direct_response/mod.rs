//! kgateway `DirectResponse` (`gateway.kgateway.dev/v1alpha1`, referenced from an HTTPRoute
//! rule's `ExtensionRef` filter): the gateway answers the request itself.
//!
//! Policy, as Envoy's route `direct_response` action (which kgateway configures from this
//! resource) answers: every request gets [`DirectResponseSpec::status`] and, when set,
//! [`DirectResponseSpec::body`] with `content-type: text/plain`; the inner service (the
//! rule's backends) is never called, and the request body is not read. No response flag is
//! recorded: the answer is the configured one, not a failure. kgateway's validation is kept:
//! the status must be between 200 and 599 and the body, when present, 1 to 4096 characters.
//! `bodyFormat` (Envoy format strings) is not implemented; a spec using it is reported by the
//! policy compiler as an unknown field.
//!
//! Works over any request body; the answer's body is the inner service's response body type,
//! which must be a [`FullBody`](crate::buffer::FullBody) (the proxy's
//! [`BoxBody`](gateway_core::BoxBody) is).
//!
//! ```
//! use gateway_core::Request;
//! use gateway_filters::direct_response::{DirectResponseLayer, DirectResponseSpec};
//! use http::StatusCode;
//! use http_body_util::BodyExt;
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let spec: DirectResponseSpec =
//!     serde_json::from_str(r#"{"status": 503, "body": "down for maintenance"}"#).unwrap();
//! let service = ServiceBuilder::new()
//!     .layer(DirectResponseLayer::new(spec.compile().unwrap()))
//!     .service(service_fn(|_: Request| async {
//!         // Never called: the direct response answers first.
//!         Ok::<_, Infallible>(http::Response::new(gateway_core::body::empty()))
//!     }));
//! let response = service
//!     .oneshot(http::Request::new(gateway_core::body::empty()))
//!     .await
//!     .unwrap();
//! assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
//! assert_eq!(response.headers()["content-type"], "text/plain");
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(body, "down for maintenance");
//! # }
//! ```

mod config;
mod service;
mod spec;
#[cfg(test)]
mod tests;

pub use config::DirectResponseConfig;
pub use service::{DirectResponseLayer, DirectResponseService};
pub use spec::DirectResponseSpec;

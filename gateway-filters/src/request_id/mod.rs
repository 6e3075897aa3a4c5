//! Request ids: kgateway's `httpSettings.generateRequestId` and
//! `httpSettings.preserveExternalRequestId` (Envoy's HTTP connection manager options of
//! the same names, with the UUID request id extension).
//!
//! Policy:
//!
//! | `generateRequestId` | `preserveExternalRequestId` | `x-request-id` sent on |
//! |---|---|---|
//! | `true` (default) | `false` (default) | a fresh UUIDv4, replacing any the client sent |
//! | `true` | `true` | the client's, when it sent a non-empty one; else a fresh UUIDv4 |
//! | `false` | either | whatever the client sent (or nothing) |
//!
//! Envoy replaces the id of *edge* requests (external origin) unless
//! `preserveExternalRequestId` is set, and keeps the id of *internal* ones. Which requests
//! are internal depends on Envoy's `internal_address_config`, which kgateway does not set
//! and whose current default treats no address as internal; this gateway does the same and
//! treats every request as an edge request, so the table above holds for all clients.
//!
//! The id the request leaves with is also put in the request extensions as
//! [`RequestId`](gateway_core::extensions::RequestId), for the access log (`%STREAM_ID%`)
//! and for tracing. It is not echoed in the response: Envoy does that only with
//! `always_set_request_id_in_response` (or forced tracing), which kgateway does not expose.
//! kgateway's `uuidRequestIdConfig` (trace-reason packing) is not implemented: there is no
//! tracing to pack a reason for.
//!
//! Put the layer outside the access log so that `%REQ(X-REQUEST-ID)%` logs the id sent on.
//! It works over any request and response body and never answers by itself.
//!
//! ```
//! use gateway_core::extensions::RequestId;
//! use gateway_filters::request_id::{RequestIdLayer, RequestIdSpec};
//! use http::{Request, Response};
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let spec: RequestIdSpec = serde_json::from_str(r#"{"preserveExternalRequestId": true}"#).unwrap();
//! let service = ServiceBuilder::new()
//!     .layer(RequestIdLayer::new(spec.compile().unwrap()))
//!     .service(service_fn(|request: Request<()>| async move {
//!         let header = request.headers()["x-request-id"].clone();
//!         let extension = request.extensions().get::<RequestId>().unwrap().0.clone();
//!         assert_eq!(header, extension);
//!         Ok::<_, Infallible>(Response::new(header))
//!     }));
//!
//! // The client's id is kept...
//! let request = Request::builder().header("x-request-id", "abc-123").body(()).unwrap();
//! let response = service.clone().oneshot(request).await.unwrap();
//! assert_eq!(response.body(), "abc-123");
//! // ...and a request without one gets a UUID.
//! let response = service.oneshot(Request::new(())).await.unwrap();
//! assert_eq!(response.body().len(), 36);
//! # }
//! ```

mod config;
mod service;
mod spec;
#[cfg(test)]
mod tests;

pub use config::RequestIdConfig;
pub use service::{RequestIdLayer, RequestIdService, X_REQUEST_ID};
pub use spec::RequestIdSpec;

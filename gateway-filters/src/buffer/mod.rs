//! Request buffering with a size limit (kgateway `TrafficPolicy.spec.buffer`, Envoy's
//! buffer filter).
//!
//! Policy: the request body is read in full before the request goes on, so the inner
//! service (and the backend) gets it in one piece with a `Content-Length` (any
//! `Transfer-Encoding` is dropped). Reading stops at `maxRequestSize`:
//!
//! - a request whose `Content-Length` is already above the limit is answered
//!   `413 Payload Too Large` at once, without reading its body (a client that sent
//!   `Expect: 100-continue` is never asked for it);
//! - a body that grows past the limit while it streams in (chunked, HTTP/2 frames) is
//!   answered `413` as soon as it does; what was read is dropped.
//!
//! At most `maxRequestSize` bytes are held per request. A body that fails while it is read
//! (the client went away) is answered `400` flagged
//! [`ResponseFlag::DownstreamConnectionTermination`](gateway_core::ResponseFlag) (`DC`).
//! Requests without a body pass untouched; trailers are kept. Envoy records no response
//! flag for its `413`, and neither does this layer.
//!
//! Bodies: the inner service gets the same body type the layer received, rebuilt from the
//! buffered bytes, so the body type must be a [`FullBody`] (the proxy's
//! [`BoxBody`](gateway_core::BoxBody) is); the `413` is a [`FullBody`] of the response body
//! type. [`BufferSpec`] reads the kgateway field (`maxRequestSize` is a Kubernetes quantity
//! such as `1Mi`, more than 0 and less than `4Gi`).
//!
//! ```
//! use gateway_core::{Request, Response, body};
//! use gateway_filters::buffer::{BufferLayer, BufferSpec};
//! use http::StatusCode;
//! use http_body_util::BodyExt;
//! use std::convert::Infallible;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let spec: BufferSpec = serde_json::from_str(r#"{"maxRequestSize": "1Ki"}"#).unwrap();
//! let mut service = ServiceBuilder::new()
//!     .layer(BufferLayer::new(spec.compile().unwrap()))
//!     .service(service_fn(|request: Request| async move {
//!         // The backend sees the whole body, with its length.
//!         let length = request.headers()["content-length"].clone();
//!         let mut response = Response::new(body::empty());
//!         response.headers_mut().insert("x-seen-length", length);
//!         Ok::<_, Infallible>(response)
//!     }));
//!
//! let small = http::Request::post("/upload").body(body::full("hello")).unwrap();
//! let response = service.ready().await.unwrap().call(small).await.unwrap();
//! assert_eq!(response.headers()["x-seen-length"], "5");
//!
//! let large = http::Request::post("/upload").body(body::full(vec![0u8; 4096])).unwrap();
//! let response = service.ready().await.unwrap().call(large).await.unwrap();
//! assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
//! let text = response.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(text, "Payload Too Large");
//! # }
//! ```

mod body;
mod config;
mod service;
mod spec;
#[cfg(test)]
mod tests;

pub use body::FullBody;
pub use config::BufferConfig;
pub use service::{BufferLayer, BufferService, ResponseFuture};
pub use spec::BufferSpec;

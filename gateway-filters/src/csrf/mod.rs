//! Cross-site request forgery protection (kgateway `TrafficPolicy.spec.csrf`, Envoy's
//! `csrf` filter).
//!
//! Policy, as Envoy's filter applies it (origin verification):
//!
//! - Only mutating requests are checked: `POST`, `PUT`, `DELETE`, `PATCH`.
//! - The **source origin** is the `host[:port]` of the `Origin` header, or, when `Origin` is
//!   absent or empty, of `Referer`. A request with neither is invalid.
//! - It is valid when the source origin is the **destination**, the `Host` header (or the
//!   `:authority` of an HTTP/2 request), or matches one of `additionalOrigins` (string
//!   matchers: `exact`, `prefix`, `suffix`, `contains`, `safeRegex`, with `ignoreCase`;
//!   they see `host[:port]`, e.g. `app.example.com`, not the scheme). Schemes are not
//!   compared, as in Envoy; hosts are compared without regard to ASCII case.
//! - An invalid request is answered `403` with the body `Invalid origin` when the filter is
//!   enabled for it (`percentageEnabled`); when it is only shadowed
//!   (`percentageShadowed`) it goes on, counted and logged at debug level.
//!
//! kgateway's default for `percentageEnabled` is 0: a policy must set it (or
//! `percentageShadowed`) to do anything; [`CsrfConfig::default`] is the same.
//! [`CsrfLayer::stats`] reports Envoy's counters (valid, invalid, missing source origin).
//! Envoy records no response flag for its `403`, and neither does this layer.
//!
//! Bodies: any request body; the response body must be a
//! [`FullBody`](crate::buffer::FullBody) (the proxy's [`BoxBody`](gateway_core::BoxBody)
//! is) for the `403`'s text. [`CsrfSpec`] reads the kgateway field.
//!
//! ```
//! use gateway_core::{Request, Response, body};
//! use gateway_filters::csrf::{CsrfLayer, CsrfSpec};
//! use http::{Method, StatusCode};
//! use std::convert::Infallible;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let spec: CsrfSpec = serde_json::from_str(
//!     r#"{"percentageEnabled": 100, "additionalOrigins": [{"suffix": ".partner.example"}]}"#,
//! )
//! .unwrap();
//! let mut service = ServiceBuilder::new()
//!     .layer(CsrfLayer::new(spec.compile().unwrap()))
//!     .service(service_fn(|_: Request| async {
//!         Ok::<_, Infallible>(Response::new(body::full("done")))
//!     }));
//! let post = |origin: &str| {
//!     http::Request::builder()
//!         .method(Method::POST)
//!         .uri("/transfer")
//!         .header("host", "bank.example")
//!         .header("origin", origin)
//!         .body(body::empty())
//!         .unwrap()
//! };
//!
//! for (origin, status) in [
//!     ("https://bank.example", StatusCode::OK),
//!     ("https://app.partner.example", StatusCode::OK),
//!     ("https://evil.example", StatusCode::FORBIDDEN),
//! ] {
//!     let response = service.ready().await.unwrap().call(post(origin)).await.unwrap();
//!     assert_eq!(response.status(), status, "{origin}");
//! }
//! # }
//! ```

mod config;
mod service;
mod spec;
#[cfg(test)]
mod tests;

pub use config::{CsrfConfig, OriginMatcher};
pub use service::{CsrfLayer, CsrfService, CsrfStats};
pub use spec::{CsrfSpec, StringMatcherSpec};

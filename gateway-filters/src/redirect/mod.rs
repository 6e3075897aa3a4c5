//! Gateway API `RequestRedirect` filter (`HTTPRequestRedirectFilter`).
//!
//! Policy: the gateway answers the request itself with [`RedirectConfig::status`] (301,
//! 302, 303, 307 or 308; 302 by default) and a `Location` built from the request URL:
//!
//! - scheme: [`RedirectConfig::scheme`], else the scheme the client used (TLS on the
//!   [`ConnectionInfo`](gateway_core::extensions::ConnectionInfo), default `http`);
//! - host: [`RedirectConfig::hostname`], else the request's `Host` without its port;
//! - port: [`RedirectConfig::port`]; else, when a scheme is configured, that scheme's
//!   well-known port; else the Gateway listener's port (the router's
//!   [`RouteContext`](gateway_core::extensions::RouteContext), or a
//!   [`ListenerPort`](gateway_core::extensions::ListenerPort) extension: the port written
//!   in the Gateway, not the one a listen map binds). A port equal to the scheme's
//!   well-known one (http/80, https/443) is left out of `Location`;
//! - path: [`RedirectConfig::path`] (`ReplaceFullPath`, or `ReplacePrefixMatch` of the
//!   [`MatchedPrefix`](gateway_core::extensions::MatchedPrefix), see
//!   [`crate::path_modifier`]), else the request path; the query string is kept.
//!
//! Envoy's equivalent is the route's `redirect` action. The response has an empty body and
//! no response flag (a redirect is the configured answer, not a failure); the inner service
//! is never called. Works over any request body and any response body with a `Default`.
//!
//! ```
//! use gateway_core::extensions::ListenerPort;
//! use gateway_filters::redirect::{RedirectConfig, RedirectLayer};
//! use http::{Request, Response, StatusCode};
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let config = RedirectConfig {
//!     scheme: Some("https".into()),
//!     status: StatusCode::MOVED_PERMANENTLY,
//!     ..RedirectConfig::default()
//! };
//! let service = ServiceBuilder::new()
//!     .layer(RedirectLayer::new(config))
//!     .service(service_fn(|_: Request<()>| async {
//!         Ok::<_, Infallible>(Response::new(String::from("never reached")))
//!     }));
//! let mut request = Request::builder()
//!     .uri("/scheme-and-status?q=1")
//!     .header("host", "example.org:8080")
//!     .body(())
//!     .unwrap();
//! request.extensions_mut().insert(ListenerPort(8080));
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
//! assert_eq!(response.headers()["location"], "https://example.org/scheme-and-status?q=1");
//! assert!(response.body().is_empty());
//! # }
//! ```

mod config;
mod location;
mod service;
#[cfg(test)]
mod tests;

pub use config::*;
pub use service::{RedirectLayer, RedirectService};

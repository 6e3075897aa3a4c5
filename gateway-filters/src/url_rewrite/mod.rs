//! Gateway API `URLRewrite` filter (`HTTPURLRewriteFilter`).
//!
//! Policy: before the request is forwarded, [`UrlRewriteConfig::hostname`] replaces the
//! `Host` header (and the URI authority, for HTTP/2 and absolute-form requests), and
//! [`UrlRewriteConfig::path`] replaces the path:
//!
//! - `ReplaceFullPath`: the whole path becomes the configured one;
//! - `ReplacePrefixMatch`: the prefix the route matched (from the router's
//!   [`RouteContext`](gateway_core::extensions::RouteContext), or a
//!   [`MatchedPrefix`](gateway_core::extensions::MatchedPrefix) extension in other stacks)
//!   is replaced on segment boundaries, see [`crate::path_modifier`]. Without that
//!   extension, or when the path does not start with it, the path is left unchanged.
//!
//! The query string is always kept. Envoy's equivalents are `host_rewrite_literal`,
//! `prefix_rewrite` / `regex_rewrite`. Defaults: each part is unchanged when not configured.
//! Works over any request and response body type.
//!
//! ```
//! use gateway_core::extensions::MatchedPrefix;
//! use gateway_filters::{path_modifier::PathModifier, url_rewrite::{UrlRewriteConfig, UrlRewriteLayer}};
//! use http::{HeaderValue, Request, Response};
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let config = UrlRewriteConfig {
//!     hostname: Some(HeaderValue::from_static("one.example.org")),
//!     path: Some(PathModifier::ReplacePrefixMatch("/one".into())),
//! };
//! // The "backend" answers with the host and URI it received.
//! let service = ServiceBuilder::new()
//!     .layer(UrlRewriteLayer::new(config))
//!     .service(service_fn(|request: Request<()>| async move {
//!         let host = request.headers()["host"].clone();
//!         Ok::<_, Infallible>(Response::new((host, request.uri().to_string())))
//!     }));
//! let mut request = Request::builder()
//!     .uri("/prefix/one/two?a=1")
//!     .header("host", "rewrite.example")
//!     .body(())
//!     .unwrap();
//! request.extensions_mut().insert(MatchedPrefix("/prefix/one".into()));
//! let (host, uri) = service.oneshot(request).await.unwrap().into_body();
//! assert_eq!(host, "one.example.org");
//! assert_eq!(uri, "/one/two?a=1");
//! # }
//! ```

mod config;
mod service;
#[cfg(test)]
mod tests;

pub use config::*;
pub use service::{UrlRewriteLayer, UrlRewriteService};

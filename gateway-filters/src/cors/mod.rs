//! Gateway API `CORS` filter (`HTTPCORSFilter`, GEP-1767).
//!
//! Policy, as the Gateway API field docs and Envoy's CORS filter describe it:
//!
//! - A **preflight** (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is
//!   answered by the gateway with `200` and an empty body; the backend never sees it. When
//!   the origin is allowed the answer carries:
//!   - `access-control-allow-origin`: the request's origin, or `*` when the origin matched
//!     the `*` pattern and credentials are off;
//!   - `access-control-allow-methods`: the configured methods (`GET, OPTIONS`), or, for
//!     `allowMethods: ["*"]`, the requested method;
//!   - `access-control-allow-headers`: the configured headers, or, for
//!     `allowHeaders: ["*"]`, the requested ones;
//!   - `access-control-expose-headers` (when configured), `access-control-max-age`, and
//!     `access-control-allow-credentials: true` when `allowCredentials` is set.
//!
//!   A preflight from a disallowed origin gets a `200` with none of these headers, so the
//!   browser fails the cross-origin request.
//! - An **actual request** with an allowed `Origin` goes to the backend; the response gets
//!   `access-control-allow-origin`, `access-control-expose-headers` and
//!   `access-control-allow-credentials` as above (replacing any the backend set). Requests
//!   without `Origin`, or from a disallowed origin, pass through untouched.
//!
//! Whenever the answer echoes the origin, `vary: origin` is added. Origins are matched as
//! [`parse_origin`] explains (`https://*.bar.com` matches any number of labels in place of
//! the `*`, but not `bar.com` itself). Defaults ([`CorsConfig::default`]): nothing allowed,
//! no credentials, `maxAge` 5 seconds. Works over any request body and any response body
//! with a `Default` (the preflight answer's empty body). Checked against the conformance
//! test `HTTPRouteCORS`.
//!
//! ```
//! use gateway_filters::cors::{CorsConfig, CorsLayer, parse_origin};
//! use http::{Method, Request, Response, StatusCode};
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let config = CorsConfig {
//!     allow_origins: vec![parse_origin("https://*.bar.com").unwrap()],
//!     allow_methods: vec![Method::GET, Method::OPTIONS],
//!     max_age: 3600,
//!     ..CorsConfig::default()
//! };
//! let service = ServiceBuilder::new()
//!     .layer(CorsLayer::new(config))
//!     .service(service_fn(|_: Request<()>| async {
//!         Ok::<_, Infallible>(Response::new(String::from("from the backend")))
//!     }));
//! let preflight = Request::builder()
//!     .method(Method::OPTIONS)
//!     .header("origin", "https://www.bar.com")
//!     .header("access-control-request-method", "GET")
//!     .body(())
//!     .unwrap();
//! let response = service.oneshot(preflight).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! assert!(response.body().is_empty());
//! assert_eq!(response.headers()["access-control-allow-origin"], "https://www.bar.com");
//! assert_eq!(response.headers()["access-control-allow-methods"], "GET, OPTIONS");
//! assert_eq!(response.headers()["access-control-max-age"], "3600");
//! # }
//! ```

mod config;
mod origin;
mod policy;
mod service;
#[cfg(test)]
mod tests;

pub use config::*;
pub use origin::parse_origin;
pub use service::{CorsLayer, CorsService, ResponseFuture};

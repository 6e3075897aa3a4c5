//! kgateway `TrafficPolicy.spec.urlRewrite.pathRegex`: rewrite the request path with a
//! regular expression.
//!
//! Policy, as Envoy's route `regex_rewrite` (which kgateway configures from this field)
//! applies it: every non-overlapping match of [`PathRegexSpec::pattern`] in the request path
//! is replaced by [`PathRegexSpec::substitution`]. The pattern is not anchored: write `^…$`
//! to match the whole path. Only the path is rewritten; the query string is kept as it was.
//! A path the pattern does not match is left alone (and costs no allocation).
//!
//! The pattern is an RE2-style expression, compiled with the `regex` crate (linear-time
//! matching, so a pattern cannot make a request slow; look-around and backreferences in the
//! pattern are refused, as RE2 refuses them). The substitution takes RE2/Envoy-style
//! references: `\1` … `\9` for numbered groups (`\0` for the whole match), `\g<name>` for a
//! named group, `\\` for a literal backslash; a literal `$` is just a `$`. They are converted
//! once, at compile time, into the `regex` crate's `${1}` form, and a reference to a group
//! the pattern does not have is refused then. Characters of the substitution that cannot
//! appear raw in a path (space, `?`, `#`, controls, …) are percent-encoded; captured text is
//! taken from the path as is. A rewrite that leaves the path empty or without its leading
//! `/` gets one, since an origin-form request target must start with `/`.
//!
//! Works over any request and response body.
//!
//! ```
//! use gateway_filters::path_regex::{PathRegexLayer, PathRegexSpec};
//! use http::{Request, Response};
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let config = PathRegexSpec {
//!     pattern: "^/service/([^/]+)(/.*)$".into(),
//!     substitution: r"\2/instance/\1".into(),
//! }
//! .compile()
//! .unwrap();
//! // The "backend" answers with the URI it received.
//! let service = ServiceBuilder::new()
//!     .layer(PathRegexLayer::new(config))
//!     .service(service_fn(|request: Request<()>| async move {
//!         Ok::<_, Infallible>(Response::new(request.uri().to_string()))
//!     }));
//! let request = Request::builder().uri("/service/foo/v1/api?x=1").body(()).unwrap();
//! let uri = service.oneshot(request).await.unwrap().into_body();
//! assert_eq!(uri, "/v1/api/instance/foo?x=1");
//! # }
//! ```

mod config;
mod service;
mod spec;
#[cfg(test)]
mod tests;

pub use config::PathRegexConfig;
pub use service::{PathRegexLayer, PathRegexService};
pub use spec::{PathRegexSpec, UrlRewriteSpec};

//! Gateway API `RequestHeaderModifier` and `ResponseHeaderModifier` filters
//! (`HTTPHeaderFilter`).
//!
//! Policy: the rule's [`HeaderModifierConfig`] changes the request headers on their way to
//! the backend ([`HeaderModifierLayer`]) or the response headers on their way back to the
//! client ([`ResponseHeaderModifierLayer`]). Changes are applied in this order:
//!
//! 1. `set`: replaces every existing value of the header with the configured one;
//! 2. `add`: appends the value after any existing ones, as a further header line, so a
//!    reader joining the lines sees `existing,added` (the conformance tests
//!    `HTTPRouteRequestHeaderModifier` / `HTTPRouteResponseHeaderModifier` expect exactly
//!    `some-other-value,add-appends-values`);
//! 3. `remove`: deletes every value of the header.
//!
//! Header names are case-insensitive (`x-header-set` matches `X-Header-Set`). Envoy's
//! equivalent is `request_headers_to_add` (with `OVERWRITE_IF_EXISTS_OR_ADD` for `set`,
//! `APPEND_IF_EXISTS_OR_ADD` for `add`) and `request_headers_to_remove`, and the
//! `response_*` fields. Defaults: an empty configuration changes nothing. Both layers work
//! over any request and response body type.
//!
//! ```
//! use gateway_filters::header_modifier::{HeaderModifierConfig, HeaderModifierLayer, HeaderPair};
//! use http::{HeaderName, HeaderValue, Request, Response};
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let config = HeaderModifierConfig {
//!     set: vec![],
//!     add: vec![HeaderPair {
//!         name: HeaderName::from_static("x-header-add"),
//!         value: HeaderValue::from_static("add-appends-values"),
//!     }],
//!     remove: vec![HeaderName::from_static("x-header-remove")],
//! };
//! // The "backend" answers with the header values it received.
//! let service = ServiceBuilder::new()
//!     .layer(HeaderModifierLayer::new(config))
//!     .service(service_fn(|request: Request<()>| async move {
//!         let seen: Vec<_> = request.headers().get_all("x-header-add").iter().cloned().collect();
//!         let removed = !request.headers().contains_key("x-header-remove");
//!         Ok::<_, Infallible>(Response::new((seen, removed)))
//!     }));
//! let request = Request::builder()
//!     .header("X-Header-Add", "some-other-value")
//!     .header("X-Header-Remove", "val")
//!     .body(())
//!     .unwrap();
//! let (seen, removed) = service.oneshot(request).await.unwrap().into_body();
//! assert_eq!(seen, ["some-other-value", "add-appends-values"]);
//! assert!(removed);
//! # }
//! ```

mod config;
mod request;
mod response;
#[cfg(test)]
mod tests;

pub use config::*;
pub use request::{HeaderModifierLayer, HeaderModifierService};
pub use response::{ResponseFuture, ResponseHeaderModifierLayer, ResponseHeaderModifierService};

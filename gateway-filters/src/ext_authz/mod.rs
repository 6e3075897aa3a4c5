//! External authorization: kgateway `TrafficPolicy.spec.extAuth` with a `GatewayExtension`
//! of type `ExtAuth`, as Envoy's `ext_authz` HTTP filter does it, so existing authorization
//! servers work unchanged.
//!
//! Before a request goes on, the layer asks the provider's authorization server about it
//! and acts on the answer. The server is given as endpoints ([`ExtAuthConfig::endpoints`]:
//! the policy compiler resolves the provider's `backendRef`); each layer keeps one client to
//! it, shared by all its clones.
//!
//! # gRPC (`grpcService`)
//!
//! `envoy.service.auth.v3.Authorization/Check` over one tonic channel (balanced over the
//! endpoints, `:authority` from `authority`, `grpc-timeout` sent). The `CheckRequest`
//! carries Envoy's attributes: source (the [`ClientAddr`](gateway_core::extensions::ClientAddr)
//! or the connection's peer) and destination addresses, the time, and the HTTP request:
//! `id` (the request id), `method`, `path` (with the query), `host`, `scheme`, `protocol`
//! (`HTTP/1.1`, `HTTP/2`, ...), `size` (bytes read, else `Content-Length`, else -1), the
//! headers (lowercase, with `:authority`, `:method`, `:path`, `:scheme`; several values of
//! one header joined with `,`; only `headersToForward` when set) and, with `withRequestBody`,
//! the body (`body` as text, or `raw_body` with `packAsBytes`) and
//! `x-envoy-auth-partial-body`. The route's `contextExtensions` go in `context_extensions`.
//!
//! - **`OK` status** (also a response without a status, as in Envoy): the request goes on
//!   with the `ok_response` changes: `headers` set on it (appended to the client's value
//!   with `,` when `append` is true, and then only if the client sent the header, as in
//!   Envoy 1.36), `headers_to_remove` removed (never `Host`),
//!   `query_parameters_to_set` / `_to_remove` applied; `response_headers_to_add` go on the
//!   response to the client (`append`, else `append_action`).
//! - **Another status**: denied. The client gets the `denied_response` status (`403` when
//!   unset), headers and body, flagged
//!   [`UnauthorizedExternalService`](gateway_core::ResponseFlag) (`UAEX`).
//! - **`error_response`**, a failed call, or no answer in time: an error (below).
//!
//! # HTTP (`httpService`)
//!
//! The authorization request has the client's method, the client's path and query behind
//! `pathPrefix`, the client's `Host`, its `Authorization` and `headersToForward` headers,
//! `Content-Length` of the body sent (the body read with `withRequestBody`, else none), and
//! `authorizationRequest.headersToAdd` (literal values). It goes over the gateway's pooled
//! HTTP/1.1 client.
//!
//! - **`200`**: allowed. `authorizationResponse.headersToBackend` from the answer replace
//!   the client's on the upstream request; headers listed in the answer's
//!   `x-envoy-auth-headers-to-remove` are removed from it; `headersToClientOnSuccess` are
//!   added to the client's response. As in Envoy, only `200` allows: another `2xx` denies.
//! - **`5xx`**, or the server not reached (connect failure, no endpoint): an error.
//! - **Anything else** (`3xx`, `4xx`, another `2xx`): denied with the server's status, body
//!   and headers (all of them when `headersToClient` is empty, else those plus `Location`
//!   and `WWW-Authenticate`), flagged `UAEX`.
//!
//! # Errors, timeouts and bodies
//!
//! Each check is bounded by `requestTimeout` (default 200 ms for gRPC, Envoy's; 2 s for
//! HTTP, kgateway's). When the server fails, `failOpen` lets the request go on unchanged;
//! otherwise the client gets `statusOnError` (default `403`) with an empty body (or a gRPC
//! `error_response`'s status, headers and body), flagged `UAEX`.
//!
//! With `withRequestBody` (the route's setting overrides the provider's) the body is read
//! before the check, up to `maxRequestBytes`, and handed on whole to the upstream. A longer
//! body is answered `413 Payload Too Large` (at once when its `Content-Length` says so),
//! unless `allowPartialMessage`: then the first `maxRequestBytes` are sent with the check and
//! the upstream still gets the whole body, streamed on. Requests without a body and upgrades
//! are checked without one. `percentageEnabled` checks only that share of requests.
//!
//! Not implemented (a provider setting them is reported by the policy compiler):
//! `clearRouteCache`, `statPrefix`, the services' `retry`, and Envoy format specifiers in
//! `headersToAdd`. Works over any request body that is a [`PartialBody`] (the proxy's
//! [`BoxBody`](gateway_core::BoxBody) is) and any response body that is a
//! [`FullBody`](crate::buffer::FullBody). Requests that are not checked cost no allocation
//! for the future; a checked request runs in one boxed future.
//!
//! ```
//! use gateway_core::{Request, ResponseFlag, body};
//! use gateway_filters::ext_authz::{
//!     ExtAuthConfig, ExtAuthLayer, ExtAuthPolicy, ExtAuthPolicySpec, ExtAuthProviderSpec,
//! };
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // The GatewayExtension's provider and the TrafficPolicy's field, as kgateway writes them.
//! let provider: ExtAuthProviderSpec = serde_json::from_str(
//!     r#"{"grpcService": {"backendRef": {"name": "authz", "port": 9000},
//!                         "requestTimeout": "500ms"},
//!         "statusOnError": 503}"#,
//! )
//! .unwrap();
//! let policy: ExtAuthPolicySpec = serde_json::from_str(
//!     r#"{"extensionRef": {"name": "authz"}, "contextExtensions": {"team": "payments"}}"#,
//! )
//! .unwrap();
//! let ExtAuthPolicy::Enabled(route) = policy.compile().unwrap() else {
//!     unreachable!("the policy is not disabled")
//! };
//! // The policy compiler resolves the backendRef; here nothing listens at the address.
//! let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
//! let config = ExtAuthConfig::new(provider.compile().unwrap(), vec![gone]).with_check(route.check);
//!
//! let service = ServiceBuilder::new()
//!     .layer(ExtAuthLayer::new(config))
//!     .service(service_fn(|_: Request| async {
//!         Ok::<_, Infallible>(http::Response::new(body::full("from the backend")))
//!     }));
//! let response = service.oneshot(http::Request::new(body::empty())).await.unwrap();
//! // The server cannot be reached and the provider fails closed: statusOnError.
//! assert_eq!(response.status(), 503);
//! assert_eq!(
//!     response.extensions().get::<ResponseFlag>(),
//!     Some(&ResponseFlag::UnauthorizedExternalService)
//! );
//! # }
//! ```

mod body;
mod config;
mod decision;
mod grpc;
mod http;
mod service;
mod spec;
#[cfg(test)]
mod tests;

pub use body::PartialBody;
pub use config::*;
pub use service::{ExtAuthLayer, ExtAuthService, ResponseFuture};
pub use spec::*;

/// The protobuf types of Envoy's protocols (`envoy-types`), re-exported so that a program
/// embedding the layer can run an authorization server of the very versions it speaks.
pub use envoy_types;
/// The gRPC library (`tonic`) the layer's client uses, re-exported for the same reason.
pub use tonic;

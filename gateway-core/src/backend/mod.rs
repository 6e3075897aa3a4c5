//! Upstream side of the proxy: backends, their endpoints, pooled connections and the
//! service that forwards a request to one endpoint.
//!
//! A [`Backend`] is the resolved form of a Gateway API `backendRef` (a Service port and its
//! endpoints, with the port's `appProtocol`): a fixed list of endpoint addresses picked in
//! round-robin order. An [`UpstreamClient`] owns the connection pools, one for HTTP/1.1 and
//! one for prior-knowledge HTTP/2 (`appProtocol: kubernetes.io/h2c`), and is shared by every
//! backend. A [`BackendService`] ties the two together as the innermost service of a route
//! rule's stack:
//!
//! - it picks the next endpoint and rewrites the request URI to it, keeping the client's
//!   `Host` (or, for HTTP/2 clients, setting `Host` from `:authority`);
//! - it strips hop-by-hop headers (RFC 9110 §7.6.1) both ways;
//! - it always speaks HTTP/1.1 (or HTTP/2 to h2c backends) upstream, whatever the client spoke;
//! - it bounds the wait for response headers by
//!   [`Limits::upstream_response_header_timeout`](crate::Limits);
//! - it never fails: errors become Envoy-style local responses through
//!   [`ProxyError::into_response`](crate::ProxyError::into_response) (`UH`, `UF`, `UT`,
//!   `UC`, `UPE`);
//! - HTTP/1.1 upgrade requests (WebSocket) go over a fresh, unpooled connection and, on
//!   `101 Switching Protocols`, the two upgraded streams are spliced together.
//!
//! # Limitation for h2c backends
//!
//! hyper-util's pooled client keys connections by the request URI's authority and sends
//! that authority as HTTP/2 `:authority`. Since the URI names the endpoint (so that round
//! robin gets one pool per endpoint), an h2c backend sees `:authority` = the endpoint
//! address; the client's host travels in a regular `host` header. Servers that read the
//! host from `:authority` (Go's `net/http`, for example) see the endpoint address.

mod client;
mod endpoint;
mod errors;
mod headers;
mod service;
#[cfg(test)]
mod tests;
mod upgrade;

pub use client::UpstreamClient;
pub use endpoint::{AppProtocol, Backend, UpstreamEndpoint};
pub use service::{BackendService, ResponseFuture};

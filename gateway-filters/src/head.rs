//! Request-head helpers shared by the layers that send a request more than once (retry,
//! mirror).

use http::{HeaderMap, Method, header::UPGRADE, request::Parts};

/// Whether the request hands its connection over (WebSocket-style `Upgrade`, `CONNECT`).
/// Such a request is sent exactly once: hyper keeps the client connection's pending upgrade
/// in the request extensions, and a copy could take it away from the real request.
pub(crate) fn is_upgrade(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::CONNECT || headers.contains_key(UPGRADE)
}

/// A new request with a copy of the head in `parts` (method, URI, version, headers,
/// extensions) and `body`.
pub(crate) fn copy_head<B>(parts: &Parts, body: B) -> http::Request<B> {
    let mut request = http::Request::new(body);
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    *request.extensions_mut() = parts.extensions.clone();
    request
}

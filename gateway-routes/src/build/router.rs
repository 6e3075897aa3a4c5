//! The per-socket HTTP router: picks the listener by `Host`, then the virtual host (most
//! specific hostname first, falling back to less specific ones), then the first match in
//! precedence order, and hands the request to that rule's stack.
//!
//! A rule whose TrafficPolicy has `jwtAuth` authenticates here, before its stack: once the
//! token is verified and its claims are copied into headers, the route is chosen again,
//! so that HTTPRoute header matches can route on claims (Envoy clears its route cache
//! after `jwt_authn` for the same reason). The route chosen the second time runs its stack
//! without authenticating again. CORS preflights are not authenticated (Envoy's
//! `bypass_cors_preflight`): the CORS layer of the rule answers them.

use foldhash::HashMap;
use gateway_core::{
    HttpService, Request, Response, ResponseFlag,
    error::local_response,
    extensions::{ListenerPort, MatchedPrefix, MatchedRouteCell, RouteContext},
    service::ResponseFuture,
};
use gateway_filters::jwt::JwtLayer;
use http::{
    Method, StatusCode,
    header::{ACCESS_CONTROL_REQUEST_METHOD, HOST, ORIGIN},
};
use std::{
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
};

use super::matcher::request_matches;
use crate::plan::{HostMatch, PathMatch, RequestMatch};

/// One match entry of a virtual host and the stack it leads to.
#[derive(Debug)]
pub(crate) struct RouteSlot {
    pub(crate) matcher: RequestMatch,
    /// The facts the request carries into the rule's stack (route, prefix, port).
    pub(crate) context: RouteContext,
    /// JWT authentication to pass before the route is chosen again with the claims.
    pub(crate) jwt: Option<JwtLayer>,
    pub(crate) service: HttpService,
}

/// The matches of one hostname pattern.
#[derive(Debug, Default)]
pub(crate) struct VirtualHostRouter {
    pub(crate) slots: Vec<RouteSlot>,
}

impl VirtualHostRouter {
    fn find<B>(&self, request: &http::Request<B>) -> Option<&RouteSlot> {
        self.slots
            .iter()
            .find(|slot| request_matches(&slot.matcher, request))
    }
}

/// The virtual hosts of one listener, indexed by hostname.
#[derive(Debug)]
pub(crate) struct ListenerRouter {
    pub(crate) hostname: HostMatch,
    pub(crate) port: ListenerPort,
    pub(crate) exact: HashMap<Arc<str>, VirtualHostRouter>,
    /// Keyed by suffix with its leading dot (`.example.com`).
    pub(crate) wildcard: HashMap<Arc<str>, VirtualHostRouter>,
    pub(crate) any: Option<VirtualHostRouter>,
}

impl ListenerRouter {
    /// The first matching slot, trying the exact host, then wildcard suffixes from the
    /// longest, then the catch-all.
    fn route<B>(&self, host: &str, request: &http::Request<B>) -> Option<&RouteSlot> {
        if let Some(slot) = self.exact.get(host).and_then(|v| v.find(request)) {
            return Some(slot);
        }
        if !self.wildcard.is_empty() {
            // Suffixes of `a.b.example.com`: `.b.example.com`, `.example.com`, `.com`.
            let mut rest = host;
            while let Some(dot) = rest.find('.') {
                let suffix = &rest[dot..];
                if let Some(slot) = self.wildcard.get(suffix).and_then(|v| v.find(request)) {
                    return Some(slot);
                }
                rest = &rest[dot + 1..];
            }
        }
        self.any.as_ref().and_then(|v| v.find(request))
    }
}

/// Routes requests arriving on one socket to the rule stacks of its listeners.
#[derive(Clone, Debug)]
pub struct SocketRouter {
    listeners: Arc<[ListenerRouter]>,
}

impl SocketRouter {
    /// A router over listeners already sorted most specific hostname first.
    pub(crate) fn new(listeners: Vec<ListenerRouter>) -> Self {
        Self {
            listeners: listeners.into(),
        }
    }

    /// Routes one request.
    pub fn route(&self, request: Request) -> ResponseFuture {
        let Some(slot) = self.find(&request) else {
            return no_route();
        };
        match &slot.jwt {
            Some(jwt) if !is_cors_preflight(&request) => {
                let authenticated = jwt.authenticate(request);
                let router = self.clone();
                Box::pin(async move {
                    match authenticated.await {
                        Ok(request) => router.route_authenticated(request).await,
                        Err(refusal) => Ok(refusal),
                    }
                })
            }
            _ => dispatch(slot, request),
        }
    }

    /// Routes a request that passed its first route's JWT authentication, with the claim
    /// headers it gained.
    fn route_authenticated(&self, request: Request) -> ResponseFuture {
        match self.find(&request) {
            Some(slot) => dispatch(slot, request),
            None => no_route(),
        }
    }

    /// The route slot of a request.
    fn find(&self, request: &Request) -> Option<&RouteSlot> {
        let host = lowercase(request_host(request));
        let listener = self.listeners.iter().find(|l| l.hostname.matches(&host))?;
        listener.route(&host, request)
    }
}

/// Hands a request to its rule's stack, recording what was matched.
fn dispatch(slot: &RouteSlot, mut request: Request) -> ResponseFuture {
    let extensions = request.extensions_mut();
    if let Some(cell) = extensions.get::<MatchedRouteCell>() {
        cell.report(&slot.context.route);
    }
    extensions.insert(slot.context.clone());
    slot.service.call_shared(request)
}

/// A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
fn is_cors_preflight<B>(request: &http::Request<B>) -> bool {
    request.method() == Method::OPTIONS
        && request.headers().contains_key(ORIGIN)
        && request
            .headers()
            .contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

impl tower::Service<Request> for SocketRouter {
    type Response = Response;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        self.route(request)
    }
}

fn no_route() -> ResponseFuture {
    Box::pin(std::future::ready(Ok(local_response(
        StatusCode::NOT_FOUND,
        ResponseFlag::NoRouteFound,
    ))))
}

/// The request's host without port: the `Host` header, else the URI authority (HTTP/2).
fn request_host<B>(request: &http::Request<B>) -> &str {
    let raw = request
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().host())
        .unwrap_or("");
    strip_port(raw)
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(v6, _)| &v6[1..]);
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(name, _)| name)
        .trim_end_matches('.')
}

fn lowercase(host: &str) -> std::borrow::Cow<'_, str> {
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(host.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(host)
    }
}

/// The prefix to record for `ReplacePrefixMatch`, when the match is a prefix match.
pub(crate) fn matched_prefix(m: &RequestMatch) -> Option<MatchedPrefix> {
    match &m.path {
        PathMatch::Prefix(p) => Some(MatchedPrefix(p.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lose_their_port_and_trailing_dot() {
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("example.com."), "example.com");
        assert_eq!(strip_port("[::1]:80"), "::1");
        assert_eq!(strip_port("example.com"), "example.com");
    }
}

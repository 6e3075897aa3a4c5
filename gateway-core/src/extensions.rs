//! Typed request extensions set by the listener and the router, read by layers and logs.
//!
//! Layers learn about the connection and the matched route through these instead of
//! re-parsing anything.

use std::{net::SocketAddr, sync::Arc};

/// Facts about the downstream connection a request arrived on.
#[derive(Clone, Debug)]
pub struct ConnectionInfo {
    /// The client's address as seen on the socket.
    pub remote_addr: SocketAddr,
    /// The local address the connection was accepted on.
    pub local_addr: SocketAddr,
    /// `true` when the connection is TLS-terminated by the gateway.
    pub tls: bool,
    /// The SNI the client sent, when the connection is TLS.
    pub server_name: Option<Arc<str>>,
}

impl ConnectionInfo {
    /// The scheme clients used to reach the gateway.
    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }
}

/// The Gateway listener port a request arrived on, as written in the Gateway (not the
/// port actually bound, which a listen map may change). Redirects use it as the default port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenerPort(pub u16);

/// Identity of a configuration object, used for logs, metrics and status.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ResourceRef {
    /// API group (`gateway.networking.k8s.io`, `""` for core).
    pub group: Arc<str>,
    /// Kind (`HTTPRoute`, `Service`, ...).
    pub kind: Arc<str>,
    /// Namespace (`""` for cluster-scoped objects).
    pub namespace: Arc<str>,
    /// Name.
    pub name: Arc<str>,
    /// Section within the object (listener name, rule name or index), when relevant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section: Option<Arc<str>>,
}

impl ResourceRef {
    /// A reference without a section.
    pub fn new(group: &str, kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            group: group.into(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
            section: None,
        }
    }

    /// The same reference pointing at one section of the object.
    pub fn with_section(mut self, section: impl Into<Arc<str>>) -> Self {
        self.section = Some(section.into());
        self
    }
}

impl std::fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)?;
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)?;
        }
        if let Some(section) = &self.section {
            write!(f, " ({section})")?;
        }
        Ok(())
    }
}

/// The route rule a request matched, set by the router before the rule's stack runs.
#[derive(Clone, Debug)]
pub struct MatchedRoute(pub Arc<ResourceRef>);

/// Where the router reports the route it chose, for layers in front of it (the access
/// log's `%ROUTE_NAME%`): a layer that wants to know puts one in the request's extensions
/// before the router runs, and reads it once the response is back.
#[derive(Clone, Debug, Default)]
pub struct MatchedRouteCell(pub Arc<std::sync::OnceLock<MatchedRoute>>);

impl MatchedRouteCell {
    /// Records the route the router chose (the first report wins).
    pub fn report(&self, route: &MatchedRoute) {
        let _ = self.0.set(route.clone());
    }

    /// The route the router chose, once it has.
    pub fn get(&self) -> Option<&MatchedRoute> {
        self.0.get()
    }
}

/// The path prefix the router matched (for `PathPrefix` matches), so that
/// `ReplacePrefixMatch` redirects and rewrites know what to replace.
#[derive(Clone, Debug)]
pub struct MatchedPrefix(pub Arc<str>);

/// What the router learned about a request, set as one extension before the rule's stack
/// runs: one insertion instead of three keeps the request's extension map within its first
/// table. Layers read it through [`listener_port`], [`matched_route`] and
/// [`matched_prefix`], which also accept the separate [`ListenerPort`], [`MatchedRoute`] and
/// [`MatchedPrefix`] extensions a stack without the gateway's router may set.
#[derive(Clone, Debug)]
pub struct RouteContext {
    /// The Gateway listener port.
    pub port: ListenerPort,
    /// The route rule matched.
    pub route: MatchedRoute,
    /// The path prefix matched, for `PathPrefix` matches.
    pub prefix: Option<MatchedPrefix>,
}

/// The listener port of a request: the router's [`RouteContext`], else a [`ListenerPort`].
pub fn listener_port(extensions: &http::Extensions) -> Option<ListenerPort> {
    match extensions.get::<RouteContext>() {
        Some(context) => Some(context.port),
        None => extensions.get::<ListenerPort>().copied(),
    }
}

/// The route rule a request matched: the router's [`RouteContext`], else a
/// [`MatchedRoute`].
pub fn matched_route(extensions: &http::Extensions) -> Option<&MatchedRoute> {
    match extensions.get::<RouteContext>() {
        Some(context) => Some(&context.route),
        None => extensions.get::<MatchedRoute>(),
    }
}

/// The path prefix a request matched: the router's [`RouteContext`] (which has none for
/// other kinds of path match), else a [`MatchedPrefix`].
pub fn matched_prefix(extensions: &http::Extensions) -> Option<&MatchedPrefix> {
    match extensions.get::<RouteContext>() {
        Some(context) => context.prefix.as_ref(),
        None => extensions.get::<MatchedPrefix>(),
    }
}

/// The address of the client as the listener's policy computes it: the peer address, or
/// an address taken from `X-Forwarded-For` past the trusted hops. Set before the router
/// runs; IP rules, per-client rate limits and the access log read it. When absent, layers
/// fall back to [`ConnectionInfo::remote_addr`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::IpAddr);

/// The request id (`x-request-id`) the listener generated or preserved, for the access log
/// and tracing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub http::HeaderValue);

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str) -> MatchedRoute {
        MatchedRoute(Arc::new(ResourceRef::new(
            "gateway.networking.k8s.io",
            "HTTPRoute",
            "default",
            name,
        )))
    }

    #[test]
    fn the_router_context_answers_before_separate_extensions() {
        let mut extensions = http::Extensions::new();
        extensions.insert(ListenerPort(8080));
        extensions.insert(route("separate"));
        extensions.insert(MatchedPrefix("/separate".into()));
        assert_eq!(listener_port(&extensions), Some(ListenerPort(8080)));
        assert_eq!(&*matched_route(&extensions).unwrap().0.name, "separate");
        assert_eq!(&*matched_prefix(&extensions).unwrap().0, "/separate");

        extensions.insert(RouteContext {
            port: ListenerPort(80),
            route: route("routed"),
            prefix: None,
        });
        assert_eq!(listener_port(&extensions), Some(ListenerPort(80)));
        assert_eq!(&*matched_route(&extensions).unwrap().0.name, "routed");
        // The router matched no prefix: a stale separate prefix does not leak through.
        assert!(matched_prefix(&extensions).is_none());
    }

    #[test]
    fn nothing_set_is_nothing_matched() {
        let extensions = http::Extensions::new();
        assert_eq!(listener_port(&extensions), None);
        assert!(matched_route(&extensions).is_none());
        assert!(matched_prefix(&extensions).is_none());
    }
}

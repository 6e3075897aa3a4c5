//! Building the `Location` of a redirect from the configuration and the request.

use gateway_core::extensions::{ConnectionInfo, listener_port, matched_prefix};
use http::header::HOST;

use super::RedirectConfig;

/// The absolute URL the client is redirected to (a path-only reference when the request
/// carried no host at all and the configuration names none).
pub(super) fn location<B>(config: &RedirectConfig, request: &http::Request<B>) -> String {
    let scheme: &str = match &config.scheme {
        Some(scheme) => scheme,
        None => request_scheme(request),
    };
    let (request_host, request_port) = request_authority(request);
    let host = config.hostname.as_deref().unwrap_or(request_host);
    let port = match (config.port, &config.scheme) {
        (Some(port), _) => Some(port),
        // A scheme without a port means that scheme's well-known port.
        (None, Some(_)) => None,
        // Neither: the Gateway listener's port (as written in the Gateway, not the bound one).
        (None, None) => listener_port(request.extensions())
            .map(|p| p.0)
            .or(request_port),
    }
    .filter(|port| Some(*port) != well_known_port(scheme));

    let uri = request.uri();
    let prefix = matched_prefix(request.extensions()).map(|p| p.0.clone());
    let new_path = config
        .path
        .as_ref()
        .and_then(|modifier| modifier.apply(uri.path(), prefix.as_deref()));
    let path = match (&new_path, uri.path()) {
        (Some(path), _) => path.as_str(),
        (None, "") => "/",
        (None, path) => path,
    };

    let mut out = String::with_capacity(scheme.len() + host.len() + path.len() + 16);
    if !host.is_empty() {
        out.push_str(scheme);
        out.push_str("://");
        out.push_str(host);
        if let Some(port) = port {
            out.push(':');
            out.push_str(&port.to_string());
        }
    }
    out.push_str(path);
    if let Some(query) = uri.query() {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// The scheme the client used: TLS on the connection, else the URI's, else `http`.
fn request_scheme<B>(request: &http::Request<B>) -> &'static str {
    if let Some(info) = request.extensions().get::<ConnectionInfo>() {
        return info.scheme();
    }
    match request.uri().scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    }
}

/// Host (brackets kept for IPv6) and port of the request: the `Host` header, else the URI
/// authority (HTTP/2).
fn request_authority<B>(request: &http::Request<B>) -> (&str, Option<u16>) {
    let raw = request
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or("");
    split_host_port(raw)
}

/// Splits `host[:port]` (or `[v6]:port`), dropping any `userinfo@`.
fn split_host_port(authority: &str) -> (&str, Option<u16>) {
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = if authority.starts_with('[') {
        match authority.split_once(']') {
            Some((v6, rest)) => (&authority[..v6.len() + 1], rest.strip_prefix(':')),
            None => (authority, None),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    (host, port.and_then(|p| p.parse().ok()))
}

/// The port a scheme implies when a URL names none.
fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_split_into_host_and_port() {
        assert_eq!(
            split_host_port("example.com:8080"),
            ("example.com", Some(8080))
        );
        assert_eq!(split_host_port("example.com"), ("example.com", None));
        assert_eq!(split_host_port("[::1]:80"), ("[::1]", Some(80)));
        assert_eq!(split_host_port("[::1]"), ("[::1]", None));
        assert_eq!(split_host_port("user@host:1"), ("host", Some(1)));
        assert_eq!(split_host_port(""), ("", None));
    }
}

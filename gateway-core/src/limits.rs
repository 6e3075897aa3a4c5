//! Edge-safe limits for downstream connections and upstream calls.
//!
//! Every limit has a default chosen for an internet-facing gateway; each can be overridden
//! from a JSON file (`gateway run --limits FILE`) where omitted fields keep their default.
//!
//! [`Limits`] apply to every listener socket; [`ListenerLimits`] overrides a few of them for
//! one socket (what kgateway's ListenerPolicy and HTTPListenerPolicy set per port), and
//! [`Limits::for_listener`] tells what a socket's connections then get.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Limits applied by listeners and the upstream client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Limits {
    /// Time a client has to send a complete request head; slow clients are cut off.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Largest request head in bytes; larger ones are answered 431. HTTP/1.1 counts the
    /// request line and header lines as received; HTTP/2 counts the decoded header list
    /// (names, values and 32 bytes per field, RFC 9113 §6.5.2).
    pub max_header_bytes: usize,
    /// Most request headers accepted on one request; more are answered 431.
    pub max_headers: usize,
    /// Longest request URI in bytes; longer ones are answered 414.
    pub max_uri_bytes: usize,
    /// HTTP/2 streams one connection may have open at once.
    pub h2_max_concurrent_streams: u32,
    /// HTTP/2 stream resets one connection may cause before it is closed (rapid reset).
    pub h2_max_pending_reset_streams: usize,
    /// A connection that moves no bytes for this long is closed (gracefully: a request
    /// still in flight finishes first; HTTP/2 gets a GOAWAY). Zero never closes a
    /// connection for idleness, as Envoy's `idle_timeout: 0`.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// An HTTP/1.1 keep-alive connection quiet for this long gives its buffers back and
    /// waits for the client with only its socket (a fresh parser takes over when it sends).
    /// Short by default, as nginx frees a keep-alive connection's buffers as soon as it is
    /// idle: a busy connection never waits this long, and waking a parked one costs a few
    /// microseconds.
    #[serde(with = "humantime_serde")]
    pub idle_release: Duration,
    /// Time a client has to finish the TLS handshake.
    #[serde(with = "humantime_serde")]
    pub tls_handshake_timeout: Duration,
    /// Downstream connections served at once per socket; further ones wait in the backlog.
    pub max_connections: usize,
    /// Time to establish an upstream TCP connection.
    #[serde(with = "humantime_serde")]
    pub upstream_connect_timeout: Duration,
    /// Time an upstream has to answer with response headers once the request is sent.
    #[serde(with = "humantime_serde")]
    pub upstream_response_header_timeout: Duration,
    /// Idle pooled upstream connections are closed after this long.
    #[serde(with = "humantime_serde")]
    pub upstream_idle_timeout: Duration,
    /// Idle pooled upstream connections kept per endpoint.
    pub upstream_max_idle_per_endpoint: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            max_uri_bytes: 8 * 1024,
            h2_max_concurrent_streams: 100,
            h2_max_pending_reset_streams: 20,
            idle_timeout: Duration::from_secs(60),
            idle_release: Duration::from_millis(250),
            tls_handshake_timeout: Duration::from_secs(10),
            max_connections: 100_000,
            upstream_connect_timeout: Duration::from_secs(5),
            upstream_response_header_timeout: Duration::from_secs(15),
            upstream_idle_timeout: Duration::from_secs(90),
            upstream_max_idle_per_endpoint: 64,
        }
    }
}

impl Limits {
    /// These limits with a listener's `overrides` applied: what the connections of a socket
    /// carrying `overrides` are served with.
    pub fn for_listener(&self, overrides: &ListenerLimits) -> Self {
        Self {
            idle_timeout: overrides.idle_timeout.unwrap_or(self.idle_timeout),
            max_header_bytes: overrides
                .max_request_header_bytes
                .unwrap_or(self.max_header_bytes),
            max_headers: overrides.max_headers.unwrap_or(self.max_headers),
            ..self.clone()
        }
    }
}

/// Limits of one listener socket that replace the gateway-wide [`Limits`].
///
/// kgateway's ListenerPolicy and HTTPListenerPolicy set them per Gateway port; the policy
/// compiler puts them in the [`SocketConfig`](crate::listener::SocketConfig) of the socket
/// that port binds. `None` keeps the gateway-wide value, so the default overrides nothing.
///
/// They are read when a connection is accepted: applying new values changes what new
/// connections get, while connections already open keep the values they started with.
///
/// The compiler validates the values (kgateway requires `maxRequestHeadersKb >= 1`, Envoy
/// `max_headers_count >= 1`); this type applies them as given, and a zero header limit
/// refuses every request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ListenerLimits {
    /// Replaces [`Limits::idle_timeout`]: a connection with no traffic for this long is
    /// closed; zero disables the timeout. kgateway `httpSettings.idleTimeout` (Envoy's
    /// `common_http_protocol_options.idle_timeout`).
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<Duration>,
    /// Replaces [`Limits::max_header_bytes`]: larger request heads are answered 431.
    /// kgateway `httpSettings.maxRequestHeadersKb` × 1024 (Envoy's `max_request_headers_kb`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_request_header_bytes: Option<usize>,
    /// Replaces [`Limits::max_headers`]: requests with more headers are answered 431.
    /// Envoy's `common_http_protocol_options.max_headers_count`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_headers: Option<usize>,
}

impl ListenerLimits {
    /// Whether nothing is overridden (for `skip_serializing_if` in a shown plan).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omitted_fields_keep_their_defaults() {
        let limits: Limits =
            serde_json::from_str(r#"{"maxHeaders": 10, "idleTimeout": "5s"}"#).unwrap();
        assert_eq!(limits.max_headers, 10);
        assert_eq!(limits.idle_timeout, Duration::from_secs(5));
        assert_eq!(limits.max_uri_bytes, Limits::default().max_uri_bytes);
    }

    #[test]
    fn listener_limits_replace_only_what_they_set() {
        let global = Limits::default();
        assert_eq!(global.for_listener(&ListenerLimits::default()), global);
        let overrides = ListenerLimits {
            idle_timeout: Some(Duration::from_secs(5)),
            max_request_header_bytes: Some(2048),
            max_headers: None,
        };
        let limits = global.for_listener(&overrides);
        assert_eq!(limits.idle_timeout, Duration::from_secs(5));
        assert_eq!(limits.max_header_bytes, 2048);
        assert_eq!(limits.max_headers, global.max_headers);
        assert_eq!(limits.max_uri_bytes, global.max_uri_bytes);
        assert!(!overrides.is_empty());
        assert!(ListenerLimits::default().is_empty());
    }

    #[test]
    fn listener_limits_read_and_show_as_json() {
        let overrides: ListenerLimits =
            serde_json::from_str(r#"{"idleTimeout": "30s", "maxHeaders": 50}"#).unwrap();
        assert_eq!(overrides.idle_timeout, Some(Duration::from_secs(30)));
        assert_eq!(overrides.max_headers, Some(50));
        assert_eq!(overrides.max_request_header_bytes, None);
        assert_eq!(
            serde_json::to_string(&overrides).unwrap(),
            r#"{"idleTimeout":"30s","maxHeaders":50}"#
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<Limits>(r#"{"maxHeader": 10}"#).unwrap_err();
        assert!(err.to_string().contains("maxHeader"), "{err}");
    }
}

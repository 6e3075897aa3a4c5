//! Edge-safe limits for downstream connections and upstream calls.
//!
//! Every limit has a default chosen for an internet-facing gateway; each can be overridden
//! from a JSON file (`gateway run --limits FILE`) where omitted fields keep their default.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Limits applied by listeners and the upstream client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Limits {
    /// Time a client has to send a complete request head; slow clients are cut off.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Largest request head (request line plus headers) in bytes.
    pub max_header_bytes: usize,
    /// Most request headers accepted on one request.
    pub max_headers: usize,
    /// Longest request URI in bytes; longer ones are answered 414.
    pub max_uri_bytes: usize,
    /// HTTP/2 streams one connection may have open at once.
    pub h2_max_concurrent_streams: u32,
    /// HTTP/2 stream resets one connection may cause before it is closed (rapid reset).
    pub h2_max_pending_reset_streams: usize,
    /// A connection with no request in flight for this long is closed.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// An HTTP/1.1 keep-alive connection quiet for this long gives its buffers back and
    /// waits for the client with only its socket (a fresh parser takes over when it sends).
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
            idle_release: Duration::from_secs(1),
            tls_handshake_timeout: Duration::from_secs(10),
            max_connections: 100_000,
            upstream_connect_timeout: Duration::from_secs(5),
            upstream_response_header_timeout: Duration::from_secs(15),
            upstream_idle_timeout: Duration::from_secs(90),
            upstream_max_idle_per_endpoint: 64,
        }
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
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<Limits>(r#"{"maxHeader": 10}"#).unwrap_err();
        assert!(err.to_string().contains("maxHeader"), "{err}");
    }
}

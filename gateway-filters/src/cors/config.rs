//! Configuration of the CORS filter.

use http::{HeaderName, HeaderValue, Method};
use serde::Serialize;
use std::sync::Arc;

/// An allowed origin: `*`, an exact origin, or an origin whose host starts with `*.`
/// (any number of labels in place of the `*`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum OriginPattern {
    /// Any origin.
    Any,
    /// Exactly this origin (`scheme://host[:port]`, compared case-insensitively).
    Exact(Arc<str>),
    /// `scheme://*.suffix[:port]`: the scheme and port must match, the host must end with
    /// `.suffix` (stored here as `scheme`, `suffix` with its leading dot, and `port`).
    Wildcard {
        /// Scheme, e.g. `https`.
        scheme: Arc<str>,
        /// Host suffix including the leading dot, e.g. `.bar.com`.
        suffix: Arc<str>,
        /// Port when the pattern has one.
        port: Option<u16>,
    },
}

/// Gateway API `CORS` filter (GEP-1767).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CorsConfig {
    /// Allowed origins; none allowed when empty.
    pub allow_origins: Vec<OriginPattern>,
    /// Whether `Access-Control-Allow-Credentials: true` is sent.
    pub allow_credentials: bool,
    /// Allowed methods; `allow_any_method` covers `*`.
    #[serde(skip)]
    pub allow_methods: Vec<Method>,
    /// `*` was listed in `allowMethods`.
    pub allow_any_method: bool,
    /// Allowed request headers; `allow_any_header` covers `*`.
    #[serde(serialize_with = "gateway_core::serde_http::header_names")]
    pub allow_headers: Vec<HeaderName>,
    /// `*` was listed in `allowHeaders`.
    pub allow_any_header: bool,
    /// Headers exposed to scripts (`*` allowed as a literal).
    #[serde(skip)]
    pub expose_headers: Vec<HeaderValue>,
    /// `Access-Control-Max-Age` in seconds.
    pub max_age: u32,
}

impl Default for CorsConfig {
    /// Nothing allowed: no origins, methods or headers, no credentials, and the Gateway API
    /// default `maxAge` of 5 seconds.
    fn default() -> Self {
        Self {
            allow_origins: Vec::new(),
            allow_credentials: false,
            allow_methods: Vec::new(),
            allow_any_method: false,
            allow_headers: Vec::new(),
            allow_any_header: false,
            expose_headers: Vec::new(),
            max_age: 5,
        }
    }
}

//! Configuration of the redirect filter.

use http::StatusCode;
use serde::Serialize;
use std::sync::Arc;

use crate::path_modifier::PathModifier;

/// Gateway API `RequestRedirect`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectConfig {
    /// `http` or `https`; the request's scheme when absent.
    pub scheme: Option<Arc<str>>,
    /// Hostname in `Location`; the request's host (without port) when absent.
    pub hostname: Option<Arc<str>>,
    /// Path change; the request path when absent.
    pub path: Option<PathModifier>,
    /// Port in `Location`; derived from the scheme or listener port when absent.
    pub port: Option<u16>,
    /// 301, 302, 303, 307 or 308.
    #[serde(serialize_with = "gateway_core::serde_http::status_code")]
    pub status: StatusCode,
}

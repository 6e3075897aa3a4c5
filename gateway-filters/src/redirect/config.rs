//! Configuration of the redirect filter.

use http::StatusCode;
use serde::Serialize;
use std::sync::Arc;

use crate::path_modifier::PathModifier;

/// Gateway API `RequestRedirect`. The default answers `302 Found` to the same URL on the
/// listener's scheme and port (a loop unless another field is set).
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

impl Default for RedirectConfig {
    fn default() -> Self {
        Self {
            scheme: None,
            hostname: None,
            path: None,
            port: None,
            status: StatusCode::FOUND,
        }
    }
}

impl RedirectConfig {
    /// Checks what the Gateway API CRD validation would: the status is one of 301, 302, 303,
    /// 307, 308 and the scheme is `http` or `https`. The error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.status.as_u16(), 301 | 302 | 303 | 307 | 308) {
            return Err(format!(
                "statusCode: {} is not one of 301, 302, 303, 307, 308",
                self.status.as_u16()
            ));
        }
        if let Some(scheme) = &self.scheme
            && !matches!(scheme.as_ref(), "http" | "https")
        {
            return Err(format!("scheme: {scheme:?} must be http or https"));
        }
        if self.port == Some(0) {
            return Err("port: 0 is not a port".to_owned());
        }
        Ok(())
    }
}

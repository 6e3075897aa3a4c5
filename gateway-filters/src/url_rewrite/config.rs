//! Configuration of the URL rewrite filter.

use http::HeaderValue;
use serde::Serialize;

use crate::path_modifier::PathModifier;

/// Gateway API `URLRewrite`. The default rewrites nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlRewriteConfig {
    /// New `Host` (authority) sent upstream.
    #[serde(serialize_with = "gateway_core::serde_http::opt_header_value")]
    pub hostname: Option<HeaderValue>,
    /// Path change.
    pub path: Option<PathModifier>,
}

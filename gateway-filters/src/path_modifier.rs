//! The path change shared by `RequestRedirect` and `URLRewrite` (Gateway API
//! `HTTPPathModifier`).

use serde::Serialize;
use std::sync::Arc;

/// How to change the request path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PathModifier {
    /// Replace the whole path (query preserved).
    ReplaceFullPath(Arc<str>),
    /// Replace the prefix the route matched (see `gateway_core::extensions::MatchedPrefix`),
    /// keeping the rest of the path, on segment boundaries.
    ReplacePrefixMatch(Arc<str>),
}

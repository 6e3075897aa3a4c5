//! Configuration of the header modifier.

use http::{HeaderName, HeaderValue};
use serde::Serialize;

/// One header to set or add.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeaderPair {
    /// Header name.
    #[serde(serialize_with = "gateway_core::serde_http::header_name")]
    pub name: HeaderName,
    /// Header value.
    #[serde(serialize_with = "gateway_core::serde_http::header_value")]
    pub value: HeaderValue,
}

/// Header changes, applied in the order remove, set, add... see module docs for the exact
/// Gateway API semantics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HeaderModifierConfig {
    /// Headers whose existing values are replaced.
    pub set: Vec<HeaderPair>,
    /// Headers appended to existing values.
    pub add: Vec<HeaderPair>,
    /// Headers removed.
    #[serde(serialize_with = "gateway_core::serde_http::header_names")]
    pub remove: Vec<HeaderName>,
}

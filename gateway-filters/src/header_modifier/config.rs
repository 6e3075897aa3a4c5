//! Configuration of the header modifier.

use http::{HeaderMap, HeaderName, HeaderValue};
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

/// Header changes, applied in the order set, add, remove (see the module docs for the exact
/// Gateway API semantics). The default changes nothing.
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

impl HeaderModifierConfig {
    /// Whether the configuration changes nothing.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }

    /// Applies the changes to `headers`: `set` replaces every existing value of the name,
    /// `add` appends one more value (a further header line, which readers join with `,`),
    /// then `remove` deletes every value of the name. Names compare case-insensitively.
    pub fn apply(&self, headers: &mut HeaderMap) {
        for pair in &self.set {
            headers.insert(pair.name.clone(), pair.value.clone());
        }
        for pair in &self.add {
            headers.append(pair.name.clone(), pair.value.clone());
        }
        for name in &self.remove {
            headers.remove(name);
        }
    }
}

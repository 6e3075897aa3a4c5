//! A document an admin endpoint serves as JSON (`/config_dump`, `/status`), written out
//! when it is first read rather than when it is published.
//!
//! Serializing the plan and status of 10,000 routes costs more CPU than compiling them;
//! a reload that wrote them out eagerly would spend it on every change, on the CPU the
//! workers serve from, for documents nobody may read. A [`JsonDocument`] keeps the value
//! and writes it once, on the first read; later reads share those bytes.

use bytes::Bytes;
use serde::Serialize;
use std::{fmt, sync::OnceLock};

/// Writes the kept value as JSON.
type Render = Box<dyn Fn() -> serde_json::Result<Vec<u8>> + Send + Sync>;

/// A value served as JSON, serialized on its first read and cached.
pub struct JsonDocument {
    /// Writes the value; `None` when the document was published as JSON already.
    render: Option<Render>,
    json: OnceLock<Bytes>,
}

impl JsonDocument {
    /// A document that serializes `value` when first read.
    pub fn of<T: Serialize + Send + Sync + 'static>(value: T) -> Self {
        Self {
            render: Some(Box::new(move || serde_json::to_vec(&value))),
            json: OnceLock::new(),
        }
    }

    /// A document that is this JSON already.
    pub fn from_json(json: Bytes) -> Self {
        Self {
            render: None,
            json: OnceLock::from(json),
        }
    }

    /// The JSON, if it has been written (reading it now would not block).
    pub fn written(&self) -> Option<Bytes> {
        self.json.get().cloned()
    }

    /// The JSON, written now if this is the first read. A value that fails to serialize
    /// (a map with non-string keys, say) reads as `null` and is logged.
    pub fn json(&self) -> Bytes {
        self.json
            .get_or_init(|| match self.render.as_ref().map(|render| render()) {
                Some(Ok(json)) => json.into(),
                Some(Err(err)) => {
                    tracing::error!(error = %err, "serializing an admin document");
                    Bytes::from_static(b"null")
                }
                None => Bytes::from_static(b"null"),
            })
            .clone()
    }
}

impl From<Bytes> for JsonDocument {
    fn from(json: Bytes) -> Self {
        Self::from_json(json)
    }
}

impl fmt::Debug for JsonDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonDocument")
            .field("written", &self.json.get().map(Bytes::len))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_value_is_written_on_first_read_and_then_shared() {
        let document = JsonDocument::of(vec![("a", 1), ("b", 2)]);
        assert_eq!(document.written(), None);
        let first = document.json();
        assert_eq!(first, r#"[["a",1],["b",2]]"#);
        let second = document.written().expect("written by the first read");
        assert_eq!(first.as_ptr(), second.as_ptr());
    }

    #[test]
    fn published_json_is_served_as_is() {
        let document = JsonDocument::from(Bytes::from_static(br#"{"listeners":[]}"#));
        assert_eq!(
            document.written().as_deref(),
            Some(&br#"{"listeners":[]}"#[..])
        );
        assert_eq!(document.json(), r#"{"listeners":[]}"#);
    }

    #[test]
    fn a_value_json_cannot_write_reads_as_null() {
        let map: BTreeMap<(u8, u8), u8> = BTreeMap::from([((1, 2), 3)]);
        assert_eq!(JsonDocument::of(map).json(), "null");
    }
}

//! Configuration of the buffer layer.

use serde::Serialize;

/// How much of a request body the [buffer layer](super::BufferLayer) holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BufferConfig {
    /// Largest request body in bytes; a request with a longer body is answered `413`.
    pub max_request_bytes: u32,
}

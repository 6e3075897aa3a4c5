//! The validated answer.

use bytes::Bytes;
use http::StatusCode;
use serde::{Serialize, Serializer};

/// The answer a direct response gives: a status and a body (empty for none); see the
/// [module docs](super).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectResponseConfig {
    /// Status of the answer.
    #[serde(serialize_with = "gateway_core::serde_http::status_code")]
    pub status: StatusCode,
    /// Body of the answer, sent as `text/plain` when not empty.
    #[serde(serialize_with = "lossy_text")]
    pub body: Bytes,
}

impl DirectResponseConfig {
    /// An answer with `status` and `body`.
    pub fn new(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            body: body.into(),
        }
    }
}

/// Serialises bytes as text (lossy for bytes that are not UTF-8).
fn lossy_text<S: Serializer>(body: &Bytes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(body))
}

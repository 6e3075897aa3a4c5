//! The kgateway field: `TrafficPolicy.spec.buffer`.

use serde::{Deserialize, Serialize};

use super::BufferConfig;
use crate::spec::{ByteQuantity, FieldError};

/// kgateway `Buffer`: the largest request body the gateway buffers before passing the
/// request on. (`disable`, which switches off a buffer policy inherited from a less specific
/// attachment, is not read here.)
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BufferSpec {
    /// Largest request body in bytes, as a Kubernetes quantity (`1Mi`, `512Ki`, `1Gi`);
    /// more than 0 and less than 4Gi. Larger requests are answered `413`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_size: Option<ByteQuantity>,
}

impl BufferSpec {
    /// Validates the limit: present, more than 0 and less than 4Gi (as kgateway's CRD
    /// validation requires; Envoy holds the limit in a `uint32`).
    pub fn compile(&self) -> Result<BufferConfig, FieldError> {
        let size = self
            .max_request_size
            .ok_or_else(|| FieldError::new("maxRequestSize", "required"))?;
        match u32::try_from(size.0) {
            Ok(max_request_bytes) if max_request_bytes > 0 => {
                Ok(BufferConfig { max_request_bytes })
            }
            _ => Err(FieldError::new(
                "maxRequestSize",
                format!("{size} bytes: must be more than 0 and less than 4Gi"),
            )),
        }
    }
}

//! The kgateway resource: `DirectResponse.spec`.

use bytes::Bytes;
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::DirectResponseConfig;
use crate::spec::FieldError;

/// Longest body kgateway accepts, in characters.
const MAX_BODY_LENGTH: usize = 4096;

/// kgateway `DirectResponseSpec`: the answer a route with this `DirectResponse` gives.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectResponseSpec {
    /// HTTP status code of the answer (200 to 599).
    pub status: i32,
    /// Body of the answer (1 to 4096 characters); no body when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

impl DirectResponseSpec {
    /// Validates the spec as kgateway's CRD does; errors name `status` or `body`.
    pub fn compile(&self) -> Result<DirectResponseConfig, FieldError> {
        let status = u16::try_from(self.status)
            .ok()
            .filter(|status| (200..=599).contains(status))
            .and_then(|status| StatusCode::from_u16(status).ok())
            .ok_or_else(|| FieldError::new("status", "must be between 200 and 599"))?;
        let body = match &self.body {
            None => Bytes::new(),
            Some(body) if body.is_empty() => {
                return Err(FieldError::new("body", "must not be empty when set"));
            }
            Some(body) if body.chars().count() > MAX_BODY_LENGTH => {
                return Err(FieldError::new(
                    "body",
                    format!("must be at most {MAX_BODY_LENGTH} characters"),
                ));
            }
            Some(body) => Bytes::copy_from_slice(body.as_bytes()),
        };
        Ok(DirectResponseConfig { status, body })
    }
}

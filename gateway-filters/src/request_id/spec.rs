//! kgateway's request id fields of `HTTPSettings`.

use serde::{Deserialize, Serialize};

use super::RequestIdConfig;
use crate::spec::FieldError;

/// The request id fields of kgateway's `httpSettings`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestIdSpec {
    /// Whether the gateway sets `x-request-id` (default `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_request_id: Option<bool>,
    /// Whether an `x-request-id` sent by the client is kept (default `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preserve_external_request_id: Option<bool>,
}

impl RequestIdSpec {
    /// The configuration with kgateway's defaults filled in; both fields are booleans, so
    /// this cannot fail, but it has the shape of every other spec's `compile`.
    pub fn compile(&self) -> Result<RequestIdConfig, FieldError> {
        let defaults = RequestIdConfig::default();
        Ok(RequestIdConfig {
            generate: self.generate_request_id.unwrap_or(defaults.generate),
            preserve_external: self
                .preserve_external_request_id
                .unwrap_or(defaults.preserve_external),
        })
    }
}

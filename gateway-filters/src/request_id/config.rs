//! What the request id layer does.

use serde::Serialize;

/// Request id policy; see the [module docs](super) for the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestIdConfig {
    /// Set `x-request-id` on requests (Envoy's `generate_request_id`).
    pub generate: bool,
    /// Keep an `x-request-id` the client sent (Envoy's `preserve_external_request_id`).
    pub preserve_external: bool,
}

impl Default for RequestIdConfig {
    /// Envoy's and kgateway's defaults: generate, and replace what clients send.
    fn default() -> Self {
        Self {
            generate: true,
            preserve_external: false,
        }
    }
}

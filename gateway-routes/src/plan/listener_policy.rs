//! The HTTP settings a kgateway ListenerPolicy (or HTTPListenerPolicy) gives a listener.

use gateway_filters::{
    access_log::AccessLogConfig, client_addr::ClientAddrConfig,
    header_modifier::HeaderModifierConfig, health_check::HealthCheckConfig,
    request_id::RequestIdConfig,
};
use serde::Serialize;
use std::time::Duration;

/// `httpSettings` of a listener, validated; applied in front of the listener's router.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerHttpPlan {
    /// The policy it came from (`Kind namespace/name`).
    pub source: String,
    /// `accessLog`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_log: Option<AccessLogConfig>,
    /// `useRemoteAddress`, `xffNumTrustedHops`, `xffTrustedCIDRs`, `skipXFFAppend`.
    pub client_addr: ClientAddrConfig,
    /// `generateRequestId`, `preserveExternalRequestId`.
    pub request_id: RequestIdConfig,
    /// `healthCheck.path`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckConfig>,
    /// `earlyRequestHeaderModifier`: header changes before route selection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub early_request_header_modifier: Option<HeaderModifierConfig>,
    /// `streamIdleTimeout`: the stream idle timeout of every request on the listener.
    #[serde(serialize_with = "gateway_core::serde_http::opt_duration")]
    pub stream_idle_timeout: Option<Duration>,
}

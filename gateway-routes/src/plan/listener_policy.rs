//! The HTTP settings a kgateway ListenerPolicy (or HTTPListenerPolicy) gives a listener.

use gateway_core::limits::ListenerLimits;
use gateway_filters::{
    access_log::AccessLogConfig, client_addr::ClientAddrConfig,
    header_modifier::HeaderModifierConfig, health_check::HealthCheckConfig, otel::TracingConfig,
    request_id::RequestIdConfig,
};
use serde::Serialize;
use std::{sync::Arc, time::Duration};

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
    /// `idleTimeout`, `maxRequestHeadersKb` and our `maxHeadersCount`: the connection
    /// limits of the listener's socket, replacing the gateway-wide ones.
    #[serde(skip_serializing_if = "ListenerLimits::is_empty")]
    pub limits: ListenerLimits,
    /// `tracing`: OpenTelemetry spans of the listener's requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing: Option<Arc<TracingConfig>>,
}

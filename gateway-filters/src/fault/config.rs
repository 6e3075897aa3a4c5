//! Configuration of fault injection.

use http::StatusCode;
use serde::Serialize;
use std::time::Duration;

use crate::spec::Percent;

/// Faults to inject (kgateway `FaultInjectionPolicy`, Envoy's `HTTPFault`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultConfig {
    /// Holds requests back before they go on.
    pub delay: Option<FaultDelay>,
    /// Answers requests with an error instead of passing them on.
    pub abort: Option<FaultAbort>,
    /// Slows response bodies down.
    pub response_rate_limit: Option<ResponseRateLimit>,
    /// Most requests with a fault at once (counted from the decision to the end of the
    /// response, or of its throttled body); further requests get none. `None`: no limit.
    pub max_active_faults: Option<u32>,
}

/// Latency injection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultDelay {
    /// How long a chosen request waits before it goes on.
    #[serde(serialize_with = "gateway_core::serde_http::duration")]
    pub fixed_delay: Duration,
    /// Share of requests delayed (kgateway's default: 100).
    pub percentage: Percent,
}

/// Abort injection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultAbort {
    /// What the aborted request is answered with.
    pub status: AbortStatus,
    /// Share of requests aborted (kgateway's default: 100).
    pub percentage: Percent,
}

/// The answer to an aborted request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AbortStatus {
    /// This HTTP status, with the body `fault filter abort`.
    Http(#[serde(serialize_with = "gateway_core::serde_http::status_code")] StatusCode),
    /// A gRPC error with this status code (0 to 16): `200` with `content-type:
    /// application/grpc`, `grpc-status` and `grpc-message: fault filter abort`, no body.
    Grpc(u8),
}

/// Response body throttling (kgateway `responseRateLimit`, Envoy's `response_rate_limit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseRateLimit {
    /// Bytes per second a chosen response body is let through at.
    pub bytes_per_second: u64,
    /// Share of responses throttled (kgateway's default: 100).
    pub percentage: Percent,
}

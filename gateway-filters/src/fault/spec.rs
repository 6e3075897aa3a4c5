//! The kgateway field: `TrafficPolicy.spec.faultInjection`.

use http::StatusCode;
use serde::{Deserialize, Serialize};
use std::time::Duration;

use super::{AbortStatus, FaultAbort, FaultConfig, FaultDelay, ResponseRateLimit};
use crate::spec::{FieldError, GoDuration, Percent};

/// kgateway `FaultInjectionPolicy`. (`disable`, which switches off a fault policy inherited
/// from a less specific attachment, is not read here.)
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultInjectionSpec {
    /// Latency to inject before requests go on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<FaultDelaySpec>,
    /// Errors to answer requests with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<FaultAbortSpec>,
    /// Response body throttling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_rate_limit: Option<FaultResponseRateLimitSpec>,
    /// Most faults active at once; unlimited when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_active_faults: Option<u32>,
}

impl FaultInjectionSpec {
    /// Validates the policy; errors name the field (`abort.httpStatus`).
    pub fn compile(&self) -> Result<FaultConfig, FieldError> {
        if self.delay.is_none() && self.abort.is_none() && self.response_rate_limit.is_none() {
            return Err(FieldError::new(
                "",
                "set at least one of delay, abort and responseRateLimit",
            ));
        }
        let delay = self
            .delay
            .as_ref()
            .map(|delay| delay.compile().map_err(|error| error.within("delay")))
            .transpose()?;
        let abort = self
            .abort
            .as_ref()
            .map(|abort| abort.compile().map_err(|error| error.within("abort")))
            .transpose()?;
        let response_rate_limit = self
            .response_rate_limit
            .as_ref()
            .map(|limit| {
                limit
                    .compile()
                    .map_err(|error| error.within("responseRateLimit"))
            })
            .transpose()?;
        Ok(FaultConfig {
            delay,
            abort,
            response_rate_limit,
            max_active_faults: self.max_active_faults,
        })
    }
}

/// kgateway `FaultDelay`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultDelaySpec {
    /// The delay: at least 1ms, at most 1h.
    pub fixed_delay: GoDuration,
    /// Share of requests delayed (0 to 100, default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<Percent>,
}

impl FaultDelaySpec {
    /// Validates the delay's bounds.
    pub fn compile(&self) -> Result<FaultDelay, FieldError> {
        let fixed_delay = self.fixed_delay.0;
        if !(Duration::from_millis(1)..=Duration::from_secs(3600)).contains(&fixed_delay) {
            return Err(FieldError::new(
                "fixedDelay",
                format!("{}: must be at least 1ms and at most 1h", self.fixed_delay),
            ));
        }
        Ok(FaultDelay {
            fixed_delay,
            percentage: self.percentage.unwrap_or(Percent::HUNDRED),
        })
    }
}

/// kgateway `FaultAbort`: exactly one of `httpStatus` and `grpcStatus`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultAbortSpec {
    /// HTTP status to answer with (200 to 599).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<i32>,
    /// gRPC status code to answer with (0 to 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_status: Option<i32>,
    /// Share of requests aborted (0 to 100, default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<Percent>,
}

impl FaultAbortSpec {
    /// Validates the status.
    pub fn compile(&self) -> Result<FaultAbort, FieldError> {
        let status = match (self.http_status, self.grpc_status) {
            (Some(code), None) => u16::try_from(code)
                .ok()
                .filter(|code| (200..=599).contains(code))
                .and_then(|code| StatusCode::from_u16(code).ok())
                .map(AbortStatus::Http)
                .ok_or_else(|| {
                    FieldError::new("httpStatus", format!("{code}: must be from 200 to 599"))
                })?,
            (None, Some(code)) => u8::try_from(code)
                .ok()
                .filter(|code| *code <= 16)
                .map(AbortStatus::Grpc)
                .ok_or_else(|| {
                    FieldError::new("grpcStatus", format!("{code}: must be from 0 to 16"))
                })?,
            _ => {
                return Err(FieldError::new(
                    "",
                    "set exactly one of httpStatus and grpcStatus",
                ));
            }
        };
        Ok(FaultAbort {
            status,
            percentage: self.percentage.unwrap_or(Percent::HUNDRED),
        })
    }
}

/// kgateway `FaultResponseRateLimit`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultResponseRateLimitSpec {
    /// The rate, at least 1. kgateway hands it to Envoy's `limit_kbps`, which Envoy reads
    /// as KiB per second; the gateway does the same (1 means 1024 bytes per second).
    pub kbits_per_second: u64,
    /// Share of responses throttled (0 to 100, default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<Percent>,
}

impl FaultResponseRateLimitSpec {
    /// Validates the rate.
    pub fn compile(&self) -> Result<ResponseRateLimit, FieldError> {
        let bytes_per_second = self
            .kbits_per_second
            .checked_mul(1024)
            .filter(|rate| *rate > 0)
            .ok_or_else(|| {
                FieldError::new(
                    "kbitsPerSecond",
                    format!(
                        "{}: must be at least 1 and at most {}",
                        self.kbits_per_second,
                        u64::MAX / 1024
                    ),
                )
            })?;
        Ok(ResponseRateLimit {
            bytes_per_second,
            percentage: self.percentage.unwrap_or(Percent::HUNDRED),
        })
    }
}

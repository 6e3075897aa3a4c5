//! The kgateway field: `httpSettings.tracing` of a ListenerPolicy or HTTPListenerPolicy
//! (kgateway `Tracing`, Envoy's HTTP connection manager tracing with the OpenTelemetry
//! tracer).

use http::HeaderName;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::{CustomAttribute, DEFAULT_MAX_PATH_TAG_LENGTH, TracingConfig};
use crate::spec::{BackendRefSpec, FieldError, Percent, grpc_authority};

/// kgateway `Tracing`. (`verbose`, `spawnUpstreamSpan`, metadata attributes and resource
/// detectors are not implemented: a policy that sets them is reported by the compiler.)
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TracingSpec {
    /// Where spans go (required).
    pub provider: TracingProviderSpec,
    /// Share of requests carrying `x-client-trace-id` that are traced (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_sampling: Option<Percent>,
    /// Share of other requests without a sampled parent that are traced (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_sampling: Option<Percent>,
    /// Share of the requests picked so far that are finally traced (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overall_sampling: Option<Percent>,
    /// Longest `url.path` attribute (default 256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_path_tag_length: Option<i32>,
    /// Extra attributes on every span.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<CustomAttributeSpec>,
}

/// kgateway `TracingProvider`: exactly one provider (only `openTelemetry` exists).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TracingProviderSpec {
    /// Envoy's OpenTelemetry tracer: OTLP over gRPC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_telemetry: Option<OpenTelemetryTracingSpec>,
}

/// kgateway `OpenTelemetryTracingConfig`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenTelemetryTracingSpec {
    /// The collector (its `backendRef` is resolved by the policy compiler).
    pub grpc_service: TracingGrpcServiceSpec,
    /// `service.name` of the spans' resource; the Gateway's `name.namespace` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// `alwaysOnConfig` is the only sampler kgateway has, and the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampler: Option<SamplerSpec>,
}

/// kgateway `Sampler`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SamplerSpec {
    /// Every span the sampling percentages pick is recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_on_config: Option<AlwaysOnSpec>,
}

/// kgateway `AlwaysOnConfig`: an empty object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct AlwaysOnSpec {}

/// kgateway `CommonGrpcService`, the fields used here.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TracingGrpcServiceSpec {
    /// The collector's Service (or kgateway Backend); its namespace is the policy's when
    /// absent (OTLP/gRPC collectors listen on 4317).
    pub backend_ref: BackendRefSpec,
    /// The `:authority` of the export calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
}

/// kgateway `CustomAttribute`: a name and one source.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomAttributeSpec {
    /// The attribute's name.
    pub name: String,
    /// A fixed value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub literal: Option<LiteralSpec>,
    /// The value of an environment variable of the gateway process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<NamedValueSpec>,
    /// The value of a request header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_header: Option<NamedValueSpec>,
}

/// kgateway `CustomAttributeLiteral`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct LiteralSpec {
    /// The value.
    pub value: String,
}

/// kgateway `CustomAttributeEnvironment` and `CustomAttributeHeader`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedValueSpec {
    /// The variable or header name.
    pub name: String,
    /// The value when it is absent; no attribute without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
}

impl TracingSpec {
    /// Validates the spec; `collector` is the resolved `grpcService.backendRef` and
    /// `default_service_name` the name used when `serviceName` is absent. Errors name the
    /// field (`provider.openTelemetry.grpcService.authority`).
    pub fn compile(
        &self,
        collector: http::Uri,
        default_service_name: &str,
    ) -> Result<TracingConfig, FieldError> {
        let otel = self.provider.open_telemetry.as_ref().ok_or_else(|| {
            FieldError::new("provider.openTelemetry", "required (the only provider)")
        })?;
        let authority = grpc_authority(otel.grpc_service.authority.as_deref())
            .map_err(|e| e.within("provider.openTelemetry.grpcService"))?;
        let max_path_tag_length = match self.max_path_tag_length {
            None => DEFAULT_MAX_PATH_TAG_LENGTH,
            Some(n) => usize::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
                FieldError::new("maxPathTagLength", format!("{n}: must be at least 1"))
            })?,
        };
        let attributes = self
            .attributes
            .iter()
            .enumerate()
            .map(|(i, a)| {
                a.compile()
                    .map_err(|e| e.within(&format!("attributes[{i}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TracingConfig {
            service_name: otel
                .service_name
                .as_deref()
                .unwrap_or(default_service_name)
                .into(),
            collector,
            authority,
            client_sampling: self.client_sampling.unwrap_or(Percent::HUNDRED),
            random_sampling: self.random_sampling.unwrap_or(Percent::HUNDRED),
            overall_sampling: self.overall_sampling.unwrap_or(Percent::HUNDRED),
            max_path_tag_length,
            attributes: attributes.into(),
        })
    }
}

impl CustomAttributeSpec {
    fn compile(&self) -> Result<CustomAttribute, FieldError> {
        if self.name.is_empty() {
            return Err(FieldError::new("name", "must not be empty"));
        }
        let name: Arc<str> = self.name.as_str().into();
        match (&self.literal, &self.environment, &self.request_header) {
            (Some(literal), None, None) => Ok(CustomAttribute::Fixed {
                name,
                value: literal.value.as_str().into(),
            }),
            (None, Some(env), None) => {
                // Read once, when the policy is compiled: the process environment does not
                // change under a running gateway.
                match std::env::var(&env.name).ok().or(env.default_value.clone()) {
                    Some(value) => Ok(CustomAttribute::Fixed {
                        name,
                        value: value.into(),
                    }),
                    None => Ok(CustomAttribute::Absent),
                }
            }
            (None, None, Some(header)) => Ok(CustomAttribute::RequestHeader {
                name,
                header: HeaderName::from_bytes(header.name.as_bytes()).map_err(|_| {
                    FieldError::new(
                        "requestHeader.name",
                        format!("{:?} is not a header name", header.name),
                    )
                })?,
                default_value: header.default_value.as_deref().map(Into::into),
            }),
            _ => Err(FieldError::new(
                "",
                "exactly one of literal, environment and requestHeader must be set",
            )),
        }
    }
}

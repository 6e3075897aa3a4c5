//! The kgateway fields: `GatewayExtension.spec.extProc` (the processor and how to use it)
//! and `TrafficPolicy.spec.extProc` (which extension a route uses, and its processing mode).

use serde::{Deserialize, Serialize};

use super::{BodySendMode, ExtProcConfig, GrpcServer, HeaderSendMode, ProcessingMode};
use crate::{
    compression::PolicyDisable,
    spec::{BackendRefSpec, FieldError, GoDuration, NamespacedObjectReferenceSpec, grpc_authority},
};

/// kgateway `ExtProcProvider`: `GatewayExtension.spec.extProc`. (`statPrefix`,
/// `routeCacheAction`, `metadataOptions` and `grpcService.requestTimeout`/`retry` are not
/// read here: the policy compiler reports them as not implemented.)
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtProcProviderSpec {
    /// The processor's gRPC service (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_service: Option<ExtProcGrpcServiceSpec>,
    /// Whether requests go on when the processor is unavailable or fails; `true` when
    /// absent (kgateway's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_open: Option<bool>,
    /// Which parts of the messages the processor sees; Envoy's defaults when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_mode: Option<ProcessingModeSpec>,
    /// Whether the processor may override the processing mode; `false` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_processing_mode_override: Option<bool>,
    /// The modes an override may select; any when empty or absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_processing_mode_overrides: Option<Vec<ProcessingModeSpec>>,
    /// How long each answer may take; 200ms when absent, at least 1ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_timeout: Option<GoDuration>,
    /// The longest `override_message_timeout` the processor may ask for; overrides are
    /// refused when absent. At least 1ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_message_timeout: Option<GoDuration>,
}

/// kgateway `ExtGrpcService`, the fields ext-proc implements: the processor's Service and
/// the `:authority` to call it with. (`requestTimeout` and `retry` are absent, so the
/// policy compiler reports them; ext-authz and rate limit take the whole service,
/// [`ExtGrpcServiceSpec`](crate::spec::ExtGrpcServiceSpec).)
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtProcGrpcServiceSpec {
    /// The Service (or kgateway Backend) serving gRPC, in the extension's namespace when it
    /// names none; the policy compiler resolves it into the [`GrpcServer`] given to
    /// [`ExtProcProviderSpec::compile`]. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_ref: Option<BackendRefSpec>,
    /// The `:authority` of the gRPC requests; the endpoint's address when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
}

/// kgateway `ProcessingMode`: each field a string as Envoy's enum names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessingModeSpec {
    /// `DEFAULT`, `SEND` or `SKIP`; `SEND` when absent or `DEFAULT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_header_mode: Option<HeaderModeSpec>,
    /// `DEFAULT`, `SEND` or `SKIP`; `SEND` when absent or `DEFAULT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_header_mode: Option<HeaderModeSpec>,
    /// `NONE`, `STREAMED`, `BUFFERED` or `BUFFERED_PARTIAL`; `NONE` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body_mode: Option<BodyModeSpec>,
    /// `NONE`, `STREAMED`, `BUFFERED` or `BUFFERED_PARTIAL`; `NONE` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body_mode: Option<BodyModeSpec>,
    /// `DEFAULT`, `SEND` or `SKIP`; `SKIP` when absent or `DEFAULT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_trailer_mode: Option<HeaderModeSpec>,
    /// `DEFAULT`, `SEND` or `SKIP`; `SKIP` when absent or `DEFAULT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_trailer_mode: Option<HeaderModeSpec>,
}

/// A header or trailer send mode, as kgateway spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HeaderModeSpec {
    /// The default of the field.
    Default,
    /// Send.
    Send,
    /// Skip.
    Skip,
}

/// A body send mode, as kgateway spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BodyModeSpec {
    /// Not sent.
    None,
    /// Sent chunk by chunk.
    Streamed,
    /// Sent whole, up to the body limit.
    Buffered,
    /// Sent whole up to the body limit; the rest goes on unprocessed.
    BufferedPartial,
    /// Envoy's full-duplex streaming; not implemented (refused by `compile`).
    FullDuplexStreamed,
}

/// kgateway `ExtProcPolicy`: `TrafficPolicy.spec.extProc`. Exactly one of `extensionRef`
/// and `disable`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtProcPolicySpec {
    /// The `GatewayExtension` (type `ExtProc`) to use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension_ref: Option<NamespacedObjectReferenceSpec>,
    /// Replaces the extension's processing mode for the targeted routes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_mode: Option<ProcessingModeSpec>,
    /// Turns external processing off (overriding a policy attached higher up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable: Option<PolicyDisable>,
}

/// What a compiled [`ExtProcPolicySpec`] asks of the routes it targets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ExtProcPolicy {
    /// No external processing.
    Disabled,
    /// Processing by the referenced extension.
    Enabled {
        /// The `GatewayExtension` to resolve.
        extension_ref: NamespacedObjectReferenceSpec,
        /// The mode replacing the extension's, when the policy sets one.
        processing_mode: Option<ProcessingMode>,
    },
}

impl ExtProcProviderSpec {
    /// Validates the spec and builds the configuration for `server` (the resolved
    /// `grpcService.backendRef`). Errors name the field relative to `extProc`
    /// (`grpcService.authority`, `processingMode.requestBodyMode`).
    pub fn compile(&self, server: GrpcServer) -> Result<ExtProcConfig, FieldError> {
        let grpc = self
            .grpc_service
            .as_ref()
            .ok_or_else(|| FieldError::new("grpcService", "required"))?;
        let within_grpc = |e: FieldError| e.within("grpcService");
        BackendRefSpec::required(grpc.backend_ref.as_ref()).map_err(within_grpc)?;
        let server = match grpc_authority(grpc.authority.as_deref()).map_err(within_grpc)? {
            Some(authority) => server.with_authority(authority),
            None => server,
        };
        let processing_mode = self
            .processing_mode
            .as_ref()
            .map(|mode| mode.compile().map_err(|e| e.within("processingMode")))
            .transpose()?
            .unwrap_or_default();
        let allowed_override_modes = self
            .allowed_processing_mode_overrides
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, mode)| {
                mode.compile()
                    .map_err(|e| e.within(&format!("allowedProcessingModeOverrides[{i}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut config = ExtProcConfig::new(server).with_processing_mode(processing_mode);
        config.fail_open = self.fail_open.unwrap_or(true);
        config.allow_mode_override = self.allow_processing_mode_override.unwrap_or(false);
        config.allowed_override_modes = allowed_override_modes;
        if let Some(timeout) = self.message_timeout {
            config.message_timeout = timeout.at_least_1ms("messageTimeout")?;
        }
        if let Some(timeout) = self.max_message_timeout {
            config.max_message_timeout = timeout.at_least_1ms("maxMessageTimeout")?;
        }
        Ok(config)
    }
}

impl ProcessingModeSpec {
    /// The mode, with kgateway's defaults for absent fields; errors name the field
    /// (`requestBodyMode`).
    pub fn compile(&self) -> Result<ProcessingMode, FieldError> {
        let defaults = ProcessingMode::default();
        Ok(ProcessingMode {
            request_header_mode: header(self.request_header_mode, defaults.request_header_mode),
            response_header_mode: header(self.response_header_mode, defaults.response_header_mode),
            request_body_mode: body(self.request_body_mode, "requestBodyMode")?,
            response_body_mode: body(self.response_body_mode, "responseBodyMode")?,
            request_trailer_mode: header(self.request_trailer_mode, defaults.request_trailer_mode),
            response_trailer_mode: header(
                self.response_trailer_mode,
                defaults.response_trailer_mode,
            ),
        })
    }
}

fn header(mode: Option<HeaderModeSpec>, default: HeaderSendMode) -> HeaderSendMode {
    match mode {
        None | Some(HeaderModeSpec::Default) => default,
        Some(HeaderModeSpec::Send) => HeaderSendMode::Send,
        Some(HeaderModeSpec::Skip) => HeaderSendMode::Skip,
    }
}

fn body(mode: Option<BodyModeSpec>, field: &str) -> Result<BodySendMode, FieldError> {
    Ok(match mode {
        None | Some(BodyModeSpec::None) => BodySendMode::None,
        Some(BodyModeSpec::Streamed) => BodySendMode::Streamed,
        Some(BodyModeSpec::Buffered) => BodySendMode::Buffered,
        Some(BodyModeSpec::BufferedPartial) => BodySendMode::BufferedPartial,
        Some(BodyModeSpec::FullDuplexStreamed) => {
            return Err(FieldError::new(
                field,
                "FULL_DUPLEX_STREAMED is not supported (use STREAMED)",
            ));
        }
    })
}

impl ExtProcPolicySpec {
    /// Validates the spec; errors name the field relative to `extProc`.
    pub fn compile(&self) -> Result<ExtProcPolicy, FieldError> {
        match (&self.extension_ref, &self.disable) {
            (Some(_), Some(_)) => Err(FieldError::new(
                "disable",
                "exactly one of extensionRef and disable may be set",
            )),
            (None, None) => Err(FieldError::new(
                "extensionRef",
                "exactly one of extensionRef and disable must be set",
            )),
            (None, Some(_)) => Ok(ExtProcPolicy::Disabled),
            (Some(extension_ref), None) => {
                extension_ref
                    .validate()
                    .map_err(|e| e.within("extensionRef"))?;
                let processing_mode = self
                    .processing_mode
                    .as_ref()
                    .map(|mode| mode.compile().map_err(|e| e.within("processingMode")))
                    .transpose()?;
                Ok(ExtProcPolicy::Enabled {
                    extension_ref: extension_ref.clone(),
                    processing_mode,
                })
            }
        }
    }
}

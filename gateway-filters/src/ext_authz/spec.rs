//! The kgateway fields: `GatewayExtension.spec.extAuth` (the provider) and
//! `TrafficPolicy.spec.extAuth` (the route's use of it).

use http::{HeaderName, HeaderValue, StatusCode, uri::PathAndQuery};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::{
    AuthProtocol, BodySettings, CheckSettings, ExtAuthPolicy, ExtAuthProvider, ExtAuthRoute,
    GrpcSettings, HeaderEntry, HttpSettings,
};
use crate::{
    compression::PolicyDisable,
    spec::{
        BackendRefSpec, ExtGrpcServiceSpec, FieldError, GoDuration, NamespacedObjectReferenceSpec,
        Percent,
    },
};

/// The pseudo-headers a `headersToForward` entry may name.
const PSEUDO_HEADERS: [&str; 4] = [":authority", ":method", ":path", ":scheme"];

/// kgateway `ExtAuthPolicy` (`TrafficPolicy.spec.extAuth`): exactly one of `extensionRef`
/// and `disable`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtAuthPolicySpec {
    /// The `GatewayExtension` (of type `ExtAuth`) that checks the requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension_ref: Option<NamespacedObjectReferenceSpec>,
    /// Sends the request body with the check, overriding the provider's setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_request_body: Option<ExtAuthBufferSettings>,
    /// Extra context sent to a gRPC server (`context_extensions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_extensions: Option<BTreeMap<String, String>>,
    /// Turns ext-authz off for the targets (overriding a policy attached higher up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable: Option<PolicyDisable>,
}

/// kgateway `ExtAuthBufferSettings`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtAuthBufferSettings {
    /// Most body bytes read and sent (at least 1); longer bodies are answered `413`
    /// unless `allowPartialMessage`.
    pub max_request_bytes: i32,
    /// Send the first `maxRequestBytes` of a longer body instead of answering `413`.
    #[serde(default)]
    pub allow_partial_message: bool,
    /// Send the body as bytes (`raw_body`) rather than UTF-8 text (`body`).
    #[serde(default)]
    pub pack_as_bytes: bool,
}

/// kgateway `ExtAuthProvider` (`GatewayExtension.spec.extAuth`): exactly one of
/// `grpcService` and `httpService`. (`clearRouteCache`, `statPrefix` and the services'
/// `retry` are not implemented, so a provider that sets them is reported, not served.)
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtAuthProviderSpec {
    /// A gRPC authorization server (Envoy's `Authorization/Check`); a check may take
    /// its `requestTimeout`, 200ms by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_service: Option<ExtGrpcServiceSpec>,
    /// A plain HTTP authorization server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_service: Option<ExtHttpServiceSpec>,
    /// Client request headers sent to the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers_to_forward: Option<Vec<String>>,
    /// Let requests through when the server cannot answer (default `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_open: Option<bool>,
    /// Sends the request body with the check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_request_body: Option<ExtAuthBufferSettings>,
    /// Status answered when the server fails and `failOpen` is off (100 to 511, default
    /// 403).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_on_error: Option<i32>,
    /// Share of requests checked (0 to 100, default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage_enabled: Option<Percent>,
}

/// kgateway `ExtHttpService`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtHttpServiceSpec {
    /// The server's Service (resolved by the policy compiler); required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_ref: Option<BackendRefSpec>,
    /// Prefix of the authorization request's path (`/verify`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// Timeout of one check (at least 1ms; default 2s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<GoDuration>,
    /// What is added to the authorization request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_request: Option<AuthorizationRequestSpec>,
    /// Which headers of the server's answer go where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_response: Option<AuthorizationResponseSpec>,
}

/// kgateway `AuthorizationRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationRequestSpec {
    /// Headers set on the authorization request, replacing the client's. Values are
    /// literal: Envoy's `%…%` format specifiers are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers_to_add: Option<BTreeMap<String, String>>,
}

/// kgateway `AuthorizationResponse`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationResponseSpec {
    /// Headers of an allowing answer copied onto the upstream request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers_to_backend: Option<Vec<String>>,
    /// Headers of a denying answer passed to the client (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers_to_client: Option<Vec<String>>,
    /// Headers of an allowing answer added to the client's response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers_to_client_on_success: Option<Vec<String>>,
}

impl ExtAuthPolicySpec {
    /// Validates the policy; errors name the field relative to `extAuth`.
    pub fn compile(&self) -> Result<ExtAuthPolicy, FieldError> {
        let with_request_body = self
            .with_request_body
            .map(|settings| settings.compile().map_err(|e| e.within("withRequestBody")))
            .transpose()?;
        match (&self.extension_ref, self.disable) {
            (Some(_), Some(_)) => Err(FieldError::new(
                "disable",
                "exactly one of extensionRef and disable may be set",
            )),
            (None, Some(_)) => Ok(ExtAuthPolicy::Disabled),
            (None, None) => Err(FieldError::new(
                "extensionRef",
                "required (or disable, to turn ext-authz off)",
            )),
            (Some(reference), None) => {
                reference.validate().map_err(|e| e.within("extensionRef"))?;
                Ok(ExtAuthPolicy::Enabled(ExtAuthRoute {
                    extension_ref: reference.clone(),
                    check: CheckSettings {
                        with_request_body,
                        context_extensions: self.context_extensions.clone().unwrap_or_default(),
                    },
                }))
            }
        }
    }
}

impl ExtAuthBufferSettings {
    /// Validates the settings; errors name the field relative to `withRequestBody`.
    pub fn compile(&self) -> Result<BodySettings, FieldError> {
        let max_request_bytes = u32::try_from(self.max_request_bytes)
            .ok()
            .filter(|max| *max >= 1)
            .ok_or_else(|| {
                FieldError::new(
                    "maxRequestBytes",
                    format!("{}: must be at least 1", self.max_request_bytes),
                )
            })?;
        Ok(BodySettings {
            max_request_bytes,
            allow_partial_message: self.allow_partial_message,
            pack_as_bytes: self.pack_as_bytes,
        })
    }
}

impl ExtAuthProviderSpec {
    /// Validates the provider as kgateway's CRD does; errors name the field relative to
    /// `extAuth` (`httpService.authorizationResponse.headersToBackend[1]`). The services'
    /// `backendRef` must be present; resolving it into endpoints is the policy compiler's
    /// part ([`ExtAuthConfig::new`](super::ExtAuthConfig::new)).
    pub fn compile(&self) -> Result<ExtAuthProvider, FieldError> {
        let protocol = match (&self.grpc_service, &self.http_service) {
            (Some(_), Some(_)) => {
                return Err(FieldError::new(
                    "httpService",
                    "exactly one of grpcService and httpService may be set",
                ));
            }
            (None, None) => {
                return Err(FieldError::new(
                    "grpcService",
                    "one of grpcService and httpService is required",
                ));
            }
            (Some(grpc), None) => {
                let grpc = grpc.compile().map_err(|e| e.within("grpcService"))?;
                AuthProtocol::Grpc(GrpcSettings {
                    authority: grpc.authority,
                    timeout: grpc.request_timeout.unwrap_or(super::DEFAULT_GRPC_TIMEOUT),
                })
            }
            (None, Some(http)) => {
                AuthProtocol::Http(http.compile().map_err(|e| e.within("httpService"))?)
            }
        };
        let headers_to_forward = self
            .headers_to_forward
            .as_ref()
            .map(|names| forwarded_names(names).map_err(|e| e.within("headersToForward")))
            .transpose()?;
        let status_on_error = match self.status_on_error {
            None => StatusCode::FORBIDDEN,
            Some(code) => u16::try_from(code)
                .ok()
                .filter(|code| (100..=511).contains(code))
                .and_then(|code| StatusCode::from_u16(code).ok())
                .ok_or_else(|| {
                    FieldError::new("statusOnError", format!("{code}: must be from 100 to 511"))
                })?,
        };
        let with_request_body = self
            .with_request_body
            .map(|settings| settings.compile().map_err(|e| e.within("withRequestBody")))
            .transpose()?;
        Ok(ExtAuthProvider {
            protocol,
            headers_to_forward,
            fail_open: self.fail_open.unwrap_or(false),
            status_on_error,
            with_request_body,
            percentage_enabled: self.percentage_enabled.unwrap_or(Percent::HUNDRED),
        })
    }
}

impl ExtHttpServiceSpec {
    /// Validates the service; errors name the field relative to `httpService`.
    pub fn compile(&self) -> Result<HttpSettings, FieldError> {
        BackendRefSpec::required(self.backend_ref.as_ref())?;
        let path_prefix = self.path_prefix.clone().unwrap_or_default();
        if !path_prefix.is_empty() {
            let valid = path_prefix.starts_with('/')
                && !path_prefix.contains(['?', '#'])
                && path_prefix.parse::<PathAndQuery>().is_ok();
            if !valid {
                return Err(FieldError::new(
                    "pathPrefix",
                    format!("{path_prefix:?} is not a path (it must start with /)"),
                ));
            }
        }
        let headers_to_add = match self
            .authorization_request
            .as_ref()
            .and_then(|request| request.headers_to_add.as_ref())
        {
            None => Vec::new(),
            Some(headers) => headers_to_add(headers)
                .map_err(|e| e.within("authorizationRequest.headersToAdd"))?,
        };
        let response = self.authorization_response.clone().unwrap_or_default();
        let names = |list: &Option<Vec<String>>, field: &str| {
            header_names(list.as_deref().unwrap_or_default())
                .map_err(|e| e.within(&format!("authorizationResponse.{field}")))
        };
        Ok(HttpSettings {
            path_prefix,
            timeout: self
                .request_timeout
                .map_or(Ok(super::DEFAULT_HTTP_TIMEOUT), |timeout| {
                    timeout.at_least_1ms("requestTimeout")
                })?,
            headers_to_add,
            headers_to_backend: names(&response.headers_to_backend, "headersToBackend")?,
            headers_to_client: names(&response.headers_to_client, "headersToClient")?,
            headers_to_client_on_success: names(
                &response.headers_to_client_on_success,
                "headersToClientOnSuccess",
            )?,
        })
    }
}

/// `headersToForward`: header names (or the pseudo-headers), lowercased.
fn forwarded_names(names: &[String]) -> Result<Vec<String>, FieldError> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let lower = name.to_ascii_lowercase();
            if PSEUDO_HEADERS.contains(&lower.as_str()) || HeaderName::try_from(&lower).is_ok() {
                Ok(lower)
            } else {
                Err(FieldError::new(
                    format!("[{i}]"),
                    format!("{name:?} is not a header name"),
                ))
            }
        })
        .collect()
}

/// A list of header names.
fn header_names(names: &[String]) -> Result<Vec<HeaderName>, FieldError> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            HeaderName::try_from(name.as_str()).map_err(|_| {
                FieldError::new(format!("[{i}]"), format!("{name:?} is not a header name"))
            })
        })
        .collect()
}

/// `headersToAdd`: literal values only.
fn headers_to_add(headers: &BTreeMap<String, String>) -> Result<Vec<HeaderEntry>, FieldError> {
    headers
        .iter()
        .map(|(name, value)| {
            let header = HeaderName::try_from(name.as_str())
                .map_err(|_| FieldError::new(name.clone(), "not a header name"))?;
            if value.contains('%') {
                return Err(FieldError::new(
                    name.clone(),
                    "Envoy format specifiers (%…%) are not supported: give a literal value",
                ));
            }
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|_| FieldError::new(name.clone(), "not a valid header value"))?;
            Ok(HeaderEntry {
                name: header,
                value,
            })
        })
        .collect()
}

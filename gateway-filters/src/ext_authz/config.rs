//! Configuration of the ext-authz layer: the validated form of a kgateway `GatewayExtension`
//! of type `ExtAuth` (the provider) and of the `extAuth` field of a TrafficPolicy (the
//! per-route check settings).

use http::{HeaderName, HeaderValue, StatusCode, uri::Authority};
use serde::{Serialize, Serializer};
use std::{collections::BTreeMap, net::SocketAddr, sync::Arc, time::Duration};

use crate::spec::{NamespacedObjectReferenceSpec, Percent};

/// How long a gRPC check may take when `requestTimeout` is not set: Envoy's default for
/// the ext_authz filter's gRPC service, 200 ms.
pub const DEFAULT_GRPC_TIMEOUT: Duration = Duration::from_millis(200);

/// How long an HTTP check may take when `requestTimeout` is not set: kgateway's
/// `HTTPDefaultTimeout`, 2 s.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(2);

/// What the [ext-authz layer](super::ExtAuthLayer) runs on: the provider, where its
/// authorization server listens, and the route's check settings.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtAuthConfig {
    /// The provider (kgateway `GatewayExtension.spec.extAuth`).
    pub provider: ExtAuthProvider,
    /// The authorization server's endpoints, as the policy compiler resolves the provider's
    /// `backendRef`. The layer balances checks over them; with none, every check fails
    /// (and `failOpen` / `statusOnError` decide).
    pub endpoints: Arc<[SocketAddr]>,
    /// What the route adds to the provider (kgateway `TrafficPolicy.spec.extAuth`).
    pub check: CheckSettings,
}

impl ExtAuthConfig {
    /// A configuration checking every request with `provider`'s server at `endpoints`,
    /// without route settings.
    pub fn new(provider: ExtAuthProvider, endpoints: impl Into<Arc<[SocketAddr]>>) -> Self {
        Self {
            provider,
            endpoints: endpoints.into(),
            check: CheckSettings::default(),
        }
    }

    /// The same configuration with the route's settings.
    #[must_use]
    pub fn with_check(mut self, check: CheckSettings) -> Self {
        self.check = check;
        self
    }

    /// How the request body is sent to the server: the route's `withRequestBody` when it
    /// has one (Envoy's per-route `check_settings` override), else the provider's.
    pub fn body_settings(&self) -> Option<BodySettings> {
        self.check
            .with_request_body
            .or(self.provider.with_request_body)
    }

    /// How long one check may take.
    pub fn timeout(&self) -> Duration {
        match &self.provider.protocol {
            AuthProtocol::Grpc(grpc) => grpc.timeout,
            AuthProtocol::Http(http) => http.timeout,
        }
    }
}

/// kgateway `ExtAuthProvider`, validated: how to reach the authorization server and what
/// to do when it cannot answer.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtAuthProvider {
    /// The protocol spoken to the server and its settings.
    pub protocol: AuthProtocol,
    /// Request headers sent to the server (`headersToForward`, lowercase; pseudo-headers
    /// `:method`, `:path`, `:authority` and `:scheme` allowed). `None`: every header for
    /// gRPC; `Host`, method, path, `Content-Length` and `Authorization` only for HTTP, which
    /// always sends those besides the listed ones.
    pub headers_to_forward: Option<Vec<String>>,
    /// Let requests through when the server fails (transport error, timeout, 5xx from an
    /// HTTP server); `false` answers `status_on_error` instead.
    pub fail_open: bool,
    /// The status answered when the server fails and `fail_open` is off (default `403`).
    #[serde(serialize_with = "gateway_core::serde_http::status_code")]
    pub status_on_error: StatusCode,
    /// Sending the request body to the server (`withRequestBody`), unless the route says
    /// otherwise.
    pub with_request_body: Option<BodySettings>,
    /// The share of requests that are checked (`percentageEnabled`, default 100 %); the
    /// others go through unchecked.
    pub percentage_enabled: Percent,
}

impl ExtAuthProvider {
    /// A provider with kgateway's defaults speaking `protocol`: all headers forwarded (gRPC),
    /// fail closed with `403`, no body, every request checked.
    pub fn new(protocol: AuthProtocol) -> Self {
        Self {
            protocol,
            headers_to_forward: None,
            fail_open: false,
            status_on_error: StatusCode::FORBIDDEN,
            with_request_body: None,
            percentage_enabled: Percent::HUNDRED,
        }
    }
}

/// The protocol the authorization server speaks.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AuthProtocol {
    /// Envoy's `envoy.service.auth.v3.Authorization/Check` over gRPC (`grpcService`).
    Grpc(GrpcSettings),
    /// A plain HTTP server that answers `200` to allow (`httpService`).
    Http(HttpSettings),
}

/// kgateway `ExtGrpcService`, validated (the `backendRef` is resolved into
/// [`ExtAuthConfig::endpoints`]).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrpcSettings {
    /// The `:authority` of the check calls; the endpoint's address when `None`.
    #[serde(serialize_with = "authority")]
    pub authority: Option<Authority>,
    /// How long one check may take (default [`DEFAULT_GRPC_TIMEOUT`]).
    #[serde(serialize_with = "gateway_core::serde_http::duration")]
    pub timeout: Duration,
}

impl Default for GrpcSettings {
    fn default() -> Self {
        Self {
            authority: None,
            timeout: DEFAULT_GRPC_TIMEOUT,
        }
    }
}

/// kgateway `ExtHttpService`, validated (the `backendRef` is resolved into
/// [`ExtAuthConfig::endpoints`]).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpSettings {
    /// Prepended to the request's path in the authorization request (`/verify`); empty
    /// sends the path as it is.
    pub path_prefix: String,
    /// How long one check may take, response body included (default
    /// [`DEFAULT_HTTP_TIMEOUT`]).
    #[serde(serialize_with = "gateway_core::serde_http::duration")]
    pub timeout: Duration,
    /// Headers set on every authorization request, replacing the client's
    /// (`authorizationRequest.headersToAdd`).
    pub headers_to_add: Vec<HeaderEntry>,
    /// Headers of an allowing answer copied onto the upstream request, replacing the
    /// client's (`authorizationResponse.headersToBackend`).
    #[serde(serialize_with = "gateway_core::serde_http::header_names")]
    pub headers_to_backend: Vec<HeaderName>,
    /// Headers of a denying answer passed to the client
    /// (`authorizationResponse.headersToClient`). Empty passes them all; otherwise the
    /// listed ones plus `Location` and `WWW-Authenticate`, as Envoy does.
    #[serde(serialize_with = "gateway_core::serde_http::header_names")]
    pub headers_to_client: Vec<HeaderName>,
    /// Headers of an allowing answer added to the client's response
    /// (`authorizationResponse.headersToClientOnSuccess`).
    #[serde(serialize_with = "gateway_core::serde_http::header_names")]
    pub headers_to_client_on_success: Vec<HeaderName>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            path_prefix: String::new(),
            timeout: DEFAULT_HTTP_TIMEOUT,
            headers_to_add: Vec::new(),
            headers_to_backend: Vec::new(),
            headers_to_client: Vec::new(),
            headers_to_client_on_success: Vec::new(),
        }
    }
}

/// A header name and value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeaderEntry {
    /// The name.
    #[serde(serialize_with = "gateway_core::serde_http::header_name")]
    pub name: HeaderName,
    /// The value.
    #[serde(serialize_with = "gateway_core::serde_http::header_value")]
    pub value: HeaderValue,
}

/// kgateway `ExtAuthBufferSettings`: the request body is read before the check and sent
/// with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BodySettings {
    /// Most body bytes read (and sent to the server); at least 1.
    pub max_request_bytes: u32,
    /// A longer body is sent cut at `max_request_bytes` (the upstream still gets all of
    /// it) instead of being answered `413`.
    pub allow_partial_message: bool,
    /// Send the body as bytes (`raw_body`) instead of UTF-8 text (`body`); gRPC only.
    pub pack_as_bytes: bool,
}

/// What a route adds to the provider (kgateway `ExtAuthPolicy`, Envoy's per-route
/// `check_settings`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckSettings {
    /// Overrides the provider's `withRequestBody` when set.
    pub with_request_body: Option<BodySettings>,
    /// Sent in every gRPC check request's `context_extensions`.
    pub context_extensions: BTreeMap<String, String>,
}

/// kgateway `ExtAuthPolicy`, validated: the provider a route uses, or none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ExtAuthPolicy {
    /// `disable: {}`: no ext-authz for the targets, whatever is attached higher up.
    Disabled,
    /// Check requests with the referenced provider.
    Enabled(ExtAuthRoute),
}

/// The provider a route uses and what the route adds to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtAuthRoute {
    /// The `GatewayExtension` holding the provider.
    pub extension_ref: NamespacedObjectReferenceSpec,
    /// The route's check settings.
    pub check: CheckSettings,
}

/// Serializes an optional authority as its text.
fn authority<S: Serializer>(authority: &Option<Authority>, s: S) -> Result<S::Ok, S::Error> {
    match authority {
        Some(authority) => s.serialize_some(authority.as_str()),
        None => s.serialize_none(),
    }
}

//! TLSRoute: routes TLS connections by SNI.

use serde::{Deserialize, Serialize};

use super::{BackendRef, ObjectMeta, ParentReference};

/// `gateway.networking.k8s.io/v1 TLSRoute` (also read as v1alpha2/v1alpha3).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsRoute {
    /// Object metadata.
    pub metadata: ObjectMeta,
    /// Desired state.
    pub spec: TlsRouteSpec,
}

/// Spec of a TLSRoute.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsRouteSpec {
    /// Gateways (and listeners) to attach to.
    #[serde(default)]
    pub parent_refs: Vec<ParentReference>,
    /// SNI hostnames this route serves.
    #[serde(default)]
    pub hostnames: Vec<String>,
    /// Rules; each forwards the connection to weighted backends.
    #[serde(default)]
    pub rules: Vec<TlsRouteRule>,
}

/// One TLSRoute rule.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsRouteRule {
    /// Optional rule name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Backends.
    #[serde(default)]
    pub backend_refs: Vec<BackendRef>,
}

//! kgateway's policy and extension kinds (`gateway.kgateway.dev/v1alpha1`), and Envoy
//! Gateway's `SecurityPolicy` (`gateway.envoyproxy.io/v1alpha1`), read as metadata plus a
//! raw `spec`.
//!
//! The spec stays raw JSON here so that the policy compiler can decode it field by field
//! with serde_ignored: a field we do not implement makes the policy `Invalid` with a
//! message naming it, instead of being dropped silently while the object parses.

use serde::{Deserialize, Serialize};

use super::ObjectMeta;

/// kgateway's API group.
pub const KGATEWAY_GROUP: &str = "gateway.kgateway.dev";

/// Envoy Gateway's API group.
pub const ENVOY_GATEWAY_GROUP: &str = "gateway.envoyproxy.io";

/// The policy kinds the gateway reads: kgateway's, and Envoy Gateway's `SecurityPolicy`
/// (so that its users can bring that policy too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum KgatewayKind {
    /// `TrafficPolicy`: per-route (or per-Gateway) traffic behaviour.
    TrafficPolicy,
    /// `HTTPListenerPolicy` (kgateway 2.0/2.1): HTTP settings of Gateway listeners.
    HttpListenerPolicy,
    /// `ListenerPolicy`: listener settings, `default` and `perPort`.
    ListenerPolicy,
    /// `BackendConfigPolicy`: connection and load-balancing settings of backends.
    BackendConfigPolicy,
    /// `DirectResponse`: a fixed response, referenced by an HTTPRoute `ExtensionRef` filter.
    DirectResponse,
    /// `Backend`: an external backend (`static` hosts).
    Backend,
    /// `GatewayExtension`: an external service (ext-authz, ext-proc, rate limit) or JWT
    /// providers, named by TrafficPolicies.
    GatewayExtension,
    /// Envoy Gateway's `SecurityPolicy` (its `authorization` on client CIDRs), attached
    /// and merged like a TrafficPolicy.
    SecurityPolicy,
}

impl KgatewayKind {
    /// Every kind, in a stable order.
    pub const ALL: [Self; 8] = [
        Self::TrafficPolicy,
        Self::HttpListenerPolicy,
        Self::ListenerPolicy,
        Self::BackendConfigPolicy,
        Self::DirectResponse,
        Self::Backend,
        Self::GatewayExtension,
        Self::SecurityPolicy,
    ];

    /// The kind for a manifest's API group and `kind`, if the gateway reads it.
    pub fn from_group_kind(group: &str, kind: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.group() == group && k.as_str() == kind)
    }

    /// The API group of the kind.
    pub const fn group(self) -> &'static str {
        match self {
            Self::SecurityPolicy => ENVOY_GATEWAY_GROUP,
            _ => KGATEWAY_GROUP,
        }
    }

    /// The manifest `kind`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TrafficPolicy => "TrafficPolicy",
            Self::HttpListenerPolicy => "HTTPListenerPolicy",
            Self::ListenerPolicy => "ListenerPolicy",
            Self::BackendConfigPolicy => "BackendConfigPolicy",
            Self::DirectResponse => "DirectResponse",
            Self::Backend => "Backend",
            Self::GatewayExtension => "GatewayExtension",
            Self::SecurityPolicy => "SecurityPolicy",
        }
    }
}

/// The body of a kgateway object as a manifest carries it.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct KgatewayBody {
    /// Object metadata.
    pub metadata: ObjectMeta,
    /// The spec, decoded by the policy compiler.
    #[serde(default)]
    pub spec: serde_json::Value,
}

/// One kgateway object.
#[derive(Clone, Debug)]
pub struct KgatewayResource {
    /// Which kind it is.
    pub kind: KgatewayKind,
    /// Object metadata.
    pub metadata: ObjectMeta,
    /// The raw spec.
    pub spec: serde_json::Value,
}

impl KgatewayResource {
    /// A resource of `kind` from its manifest body.
    pub fn new(kind: KgatewayKind, body: KgatewayBody) -> Self {
        Self {
            kind,
            metadata: body.metadata,
            spec: body.spec,
        }
    }

    /// `Kind namespace/name`, as diagnostics name resources.
    pub fn display_name(&self) -> String {
        format!(
            "{} {}/{}",
            self.kind.as_str(),
            self.metadata.namespace.as_deref().unwrap_or_default(),
            self.metadata.name.as_deref().unwrap_or_default()
        )
    }
}

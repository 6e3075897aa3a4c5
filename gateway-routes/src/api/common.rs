//! Types shared by several Gateway API resources.

use serde::{Deserialize, Serialize};
use std::{borrow::Cow, sync::Arc};

/// A reference from a route to the Gateway (or other parent) it attaches to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentReference {
    /// API group of the parent; defaults to `gateway.networking.k8s.io`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Kind of the parent; defaults to `Gateway`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Namespace of the parent; defaults to the route's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name of the parent.
    pub name: String,
    /// Listener name within the Gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section_name: Option<String>,
    /// Listener port within the Gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

impl ParentReference {
    /// The group, with the API server's default filled in.
    pub fn group(&self) -> &str {
        self.group.as_deref().unwrap_or(crate::api::GATEWAY_GROUP)
    }

    /// The kind, with the API server's default filled in.
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("Gateway")
    }
}

/// A reference to a backend (by default a core `Service`): Gateway API's
/// `BackendObjectReference`, the same shape policies use for their servers' `backendRef`.
pub use gateway_filters::spec::BackendRefSpec as BackendObjectReference;

/// A reference to a Secret (or other object) holding a certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretObjectReference {
    /// API group; `""` (core) by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Kind; `Secret` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name of the referent.
    pub name: String,
    /// Namespace; the Gateway's namespace by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl SecretObjectReference {
    /// The group, defaulted to core (`""`).
    pub fn group(&self) -> &str {
        self.group.as_deref().unwrap_or("")
    }

    /// The kind, defaulted to `Secret`.
    pub fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("Secret")
    }
}

/// A group and kind pair.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteGroupKind {
    /// API group; defaults to `gateway.networking.k8s.io`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Kind.
    pub kind: String,
}

impl RouteGroupKind {
    /// The group, defaulted to the Gateway API group.
    pub fn group(&self) -> &str {
        self.group.as_deref().unwrap_or(crate::api::GATEWAY_GROUP)
    }
}

/// A Kubernetes condition, in the shape `metav1.Condition` is stored.
///
/// A compile writes a few conditions per route, so for thousands of routes the fields
/// that repeat are shared rather than copied: type, status and reason are almost always
/// constants (borrowed), and every condition of one compile shares one transition time.
/// They serialize exactly as plain strings.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type (`Accepted`, `Programmed`, `ResolvedRefs`, ...).
    #[serde(rename = "type")]
    pub type_: Cow<'static, str>,
    /// `"True"`, `"False"` or `"Unknown"`.
    pub status: Cow<'static, str>,
    /// Machine-readable reason.
    pub reason: Cow<'static, str>,
    /// Human-readable detail.
    pub message: String,
    /// The `metadata.generation` this condition was computed from.
    pub observed_generation: i64,
    /// When the status last changed (RFC 3339), shared by the conditions of one compile.
    pub last_transition_time: Arc<str>,
}

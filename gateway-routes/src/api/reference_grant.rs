//! ReferenceGrant: permission for cross-namespace references.

use serde::{Deserialize, Serialize};

use super::ObjectMeta;

/// `gateway.networking.k8s.io/v1beta1 ReferenceGrant`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferenceGrant {
    /// Object metadata; the namespace is the namespace references may point into.
    pub metadata: ObjectMeta,
    /// Desired state.
    pub spec: ReferenceGrantSpec,
}

/// Spec of a ReferenceGrant.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferenceGrantSpec {
    /// Who may refer.
    #[serde(default)]
    pub from: Vec<ReferenceGrantFrom>,
    /// What they may refer to, in this grant's namespace.
    #[serde(default)]
    pub to: Vec<ReferenceGrantTo>,
}

/// A group/kind/namespace allowed to refer.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferenceGrantFrom {
    /// API group of the referrer (`""` for core).
    #[serde(default)]
    pub group: String,
    /// Kind of the referrer.
    pub kind: String,
    /// Namespace of the referrer.
    pub namespace: String,
}

/// A group/kind (and optionally name) that may be referred to.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferenceGrantTo {
    /// API group of the referent (`""` for core).
    #[serde(default)]
    pub group: String,
    /// Kind of the referent.
    pub kind: String,
    /// Name of the referent; all of that kind when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

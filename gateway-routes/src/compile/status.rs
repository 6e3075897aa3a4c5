//! Status as Kubernetes stores it: `GatewayClassStatus`, `GatewayStatus`, `RouteStatus`.
//!
//! The compiler fills these; the admin `/status` endpoint serves them and `gateway check`
//! prints them. Field names and nesting follow the Gateway API CRDs exactly.

use serde::Serialize;
use std::{borrow::Cow, sync::Arc};

use super::CompileOptions;
use crate::api::{Condition, ObjectMeta, ParentReference, RouteGroupKind};

/// `apiVersion` of the Gateway API objects this controller writes status for.
pub(crate) const GATEWAY_API_VERSION: &str = "gateway.networking.k8s.io/v1";

/// The status of one object, with its identity.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStatus {
    /// `group/version` of the object (borrowed when it is a constant: one status per
    /// route, so a large configuration would otherwise allocate it thousands of times).
    pub api_version: Cow<'static, str>,
    /// Kind.
    pub kind: Cow<'static, str>,
    /// Namespace (`""` for cluster-scoped objects).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The status stanza.
    pub status: StatusBody,
}

/// The status stanza of one object.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StatusBody {
    /// A status of conditions only: `GatewayClassStatus`, and kgateway's
    /// `GatewayExtensionStatus` and `BackendStatus`.
    Conditions {
        /// Conditions.
        conditions: Vec<Condition>,
    },
    /// `GatewayStatus`.
    Gateway(GatewayStatus),
    /// `RouteStatus` (HTTPRoute, TLSRoute).
    Route(RouteStatus),
    /// `PolicyStatus` (kgateway policies).
    Policy(PolicyStatus),
}

/// `PolicyStatus` (Gateway API policy attachment, as kgateway writes it).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyStatus {
    /// One entry per Gateway the policy is served under, or per target when it reaches
    /// none.
    pub ancestors: Vec<PolicyAncestorStatus>,
}

/// `PolicyAncestorStatus`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyAncestorStatus {
    /// The Gateway (or the unresolved target) this entry is about.
    pub ancestor_ref: ParentReference,
    /// This controller's name (one copy shared by every status of a compile).
    pub controller_name: Arc<str>,
    /// `Accepted`, `Attached`.
    pub conditions: Vec<Condition>,
}

/// `GatewayStatus`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayStatus {
    /// Addresses the Gateway is reachable at.
    pub addresses: Vec<GatewayStatusAddress>,
    /// `Accepted`, `Programmed`.
    pub conditions: Vec<Condition>,
    /// One entry per listener.
    pub listeners: Vec<ListenerStatus>,
}

/// An address in `GatewayStatus`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayStatusAddress {
    /// `IPAddress` or `Hostname`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The address.
    pub value: String,
}

/// `ListenerStatus`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerStatus {
    /// Listener name.
    pub name: String,
    /// Route kinds this listener accepts.
    pub supported_kinds: Vec<RouteGroupKind>,
    /// Routes attached.
    pub attached_routes: i32,
    /// `Accepted`, `ResolvedRefs`, `Programmed`, `Conflicted`.
    pub conditions: Vec<Condition>,
}

/// `RouteStatus`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteStatus {
    /// One entry per parentRef this controller handles.
    pub parents: Vec<RouteParentStatus>,
}

/// `RouteParentStatus`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteParentStatus {
    /// The parentRef, with the API server's defaults (group, kind) filled in.
    pub parent_ref: ParentReference,
    /// This controller's name (one copy shared by every status of a compile).
    pub controller_name: Arc<str>,
    /// `Accepted`, `ResolvedRefs`, `PartiallyInvalid`.
    pub conditions: Vec<Condition>,
}

/// What every status of one compile shares, one copy each: this controller's name
/// (every route parent and policy ancestor names it) and the transition time (every
/// condition carries it). Cloning either is a reference count increment.
#[derive(Clone, Debug)]
pub(crate) struct StatusStamp {
    /// `controllerName` of route parents and policy ancestors.
    pub(crate) controller_name: Arc<str>,
    /// `lastTransitionTime` of every condition.
    pub(crate) time: Arc<str>,
}

impl StatusStamp {
    /// The stamp of a compile with these options.
    pub(crate) fn new(options: &CompileOptions) -> Self {
        Self {
            controller_name: Arc::from(options.controller_name.as_str()),
            time: Arc::from(options.transition_time.as_str()),
        }
    }

    /// A builder of the conditions of the object with this metadata.
    pub(crate) fn conditions(&self, meta: &ObjectMeta) -> Conditions<'_> {
        Conditions {
            generation: generation(meta),
            time: &self.time,
        }
    }
}

/// Builds conditions that share an observed generation and transition time.
#[derive(Clone, Debug)]
pub(crate) struct Conditions<'a> {
    pub(crate) generation: i64,
    pub(crate) time: &'a Arc<str>,
}

impl Conditions<'_> {
    /// One condition. Type and reason are constants, so they are borrowed, not copied.
    pub(crate) fn make(
        &self,
        type_: &'static str,
        status: bool,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Condition {
        Condition {
            type_: Cow::Borrowed(type_),
            status: Cow::Borrowed(if status { "True" } else { "False" }),
            reason: Cow::Borrowed(reason),
            message: message.into(),
            observed_generation: self.generation,
            last_transition_time: self.time.clone(),
        }
    }
}

/// The object's `metadata.generation`, or 1 when the manifest has none (what the API
/// server assigns on create).
pub(crate) fn generation(meta: &ObjectMeta) -> i64 {
    meta.generation.unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_api_version_is_the_gateway_group_v1() {
        assert_eq!(
            GATEWAY_API_VERSION,
            format!("{}/v1", crate::api::GATEWAY_GROUP)
        );
    }
}

//! `targetRefs` and `targetSelectors`: what a kgateway policy attaches to.

use serde::Deserialize;
use std::collections::BTreeMap;

/// `LocalPolicyTargetReferenceWithSectionName`: a Gateway (optionally one listener) or an
/// HTTPRoute (optionally one rule) in the policy's namespace.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PolicyTargetRef {
    /// API group of the target.
    pub(crate) group: String,
    /// Kind of the target.
    pub(crate) kind: String,
    /// Name of the target.
    pub(crate) name: String,
    /// Listener name (Gateway) or rule name (HTTPRoute).
    #[serde(default)]
    pub(crate) section_name: Option<String>,
}

/// `LocalPolicyTargetSelectorWithSectionName`: every object of a kind whose labels match.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PolicyTargetSelector {
    /// API group of the targets.
    pub(crate) group: String,
    /// Kind of the targets.
    pub(crate) kind: String,
    /// Labels every target must carry.
    #[serde(default)]
    pub(crate) match_labels: BTreeMap<String, String>,
    /// Listener name (Gateway) or rule name (HTTPRoute).
    #[serde(default)]
    pub(crate) section_name: Option<String>,
}

/// The kinds a traffic policy can attach to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TargetKind {
    /// A Gateway, or one of its listeners.
    Gateway,
    /// An HTTPRoute, or one of its rules.
    HttpRoute,
}

impl TargetKind {
    /// The kind a reference names, if a traffic policy can attach to it.
    pub(crate) fn parse(group: &str, kind: &str) -> Option<Self> {
        match (group, kind) {
            (crate::api::GATEWAY_GROUP, "Gateway") => Some(Self::Gateway),
            (crate::api::GATEWAY_GROUP, "HTTPRoute") => Some(Self::HttpRoute),
            _ => None,
        }
    }

    /// The manifest kind.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Gateway => "Gateway",
            Self::HttpRoute => "HTTPRoute",
        }
    }
}

/// How specific an attachment is; lower wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Level {
    /// An HTTPRoute rule (`sectionName`).
    RouteRule,
    /// A whole HTTPRoute.
    Route,
    /// A Gateway listener (`sectionName`).
    Listener,
    /// A whole Gateway.
    Gateway,
}

/// Whether `labels` carry every `selector` entry.
pub(crate) fn labels_match(
    selector: &BTreeMap<String, String>,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

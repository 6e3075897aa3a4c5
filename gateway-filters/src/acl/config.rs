//! The validated IP access-control policy.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use ipnet::IpNet;
use serde::{Serialize, Serializer, ser::SerializeSeq};
use std::sync::Arc;

/// What to do with a request from an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AclAction {
    /// Let the request go on.
    Allow,
    /// Answer it with the deny response.
    Deny,
}

/// How the rule that decides a request is chosen when several rules cover its address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AclPrecedence {
    /// The rule with the most specific CIDR wins, whatever the order (kgateway's `acl`);
    /// when the same CIDR is listed twice, the later rule wins.
    #[default]
    LongestPrefix,
    /// The first rule, in order, with a CIDR covering the address wins (Envoy Gateway's
    /// `SecurityPolicy.authorization`).
    FirstMatch,
}

/// One rule: an action for the addresses in some CIDRs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AclRule {
    /// The rule's name, sent back in the blocked-by header on a deny (`rule` when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Arc<str>>,
    /// The ranges the rule covers. A single address is a `/32` or `/128`.
    pub cidrs: Vec<IpNet>,
    /// What to do with a request from one of them.
    pub action: AclAction,
}

/// The answer to a denied request.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AclDenyResponse {
    /// The status code; kgateway's default is `403`.
    #[serde(serialize_with = "gateway_core::serde_http::status_code")]
    pub status: StatusCode,
    /// Extra headers on every deny.
    #[serde(serialize_with = "header_pairs")]
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// A header naming what denied the request: the rule's name, `rule` for an unnamed
    /// rule, `default` for the default action, `unknown-ip` when the client address is
    /// unknown.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_header_name"
    )]
    pub blocked_by_header: Option<HeaderName>,
    /// A `text/plain` body; kgateway's deny has none (Envoy Gateway's says
    /// `RBAC: access denied`).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_text")]
    pub body: Option<Bytes>,
}

impl Default for AclDenyResponse {
    /// kgateway's default: `403`, no extra headers, no body.
    fn default() -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            headers: Vec::new(),
            blocked_by_header: None,
            body: None,
        }
    }
}

impl AclDenyResponse {
    /// What Envoy's RBAC filter answers, and so Envoy Gateway's `authorization`: `403` with
    /// the body `RBAC: access denied`.
    pub fn rbac_access_denied() -> Self {
        Self {
            body: Some(Bytes::from_static(b"RBAC: access denied")),
            ..Self::default()
        }
    }
}

/// An IP access-control policy (kgateway `TrafficPolicy.spec.acl`); see the
/// [module docs](super).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AclConfig {
    /// What to do when no rule covers the client address.
    pub default_action: AclAction,
    /// The rules.
    pub rules: Vec<AclRule>,
    /// Which rule decides when several cover the address.
    pub precedence: AclPrecedence,
    /// The answer to a denied request.
    pub deny_response: AclDenyResponse,
}

impl AclConfig {
    /// A kgateway policy: longest-prefix match, `403` without a body on a deny.
    pub fn new(default_action: AclAction, rules: Vec<AclRule>) -> Self {
        Self {
            default_action,
            rules,
            precedence: AclPrecedence::LongestPrefix,
            deny_response: AclDenyResponse::default(),
        }
    }

    /// Envoy Gateway's `SecurityPolicy.authorization` when every rule's principal is only
    /// `clientCIDRs`: `defaultAction` (Envoy Gateway's default is `Deny`) and the rules in
    /// their order, the first covering rule deciding; a deny answers `403
    /// RBAC: access denied` as Envoy's RBAC filter does. See the [module docs](super).
    pub fn first_match(default_action: AclAction, rules: Vec<AclRule>) -> Self {
        Self {
            default_action,
            rules,
            precedence: AclPrecedence::FirstMatch,
            deny_response: AclDenyResponse::rbac_access_denied(),
        }
    }
}

/// `[[name, value], ...]`.
fn header_pairs<S: Serializer>(
    headers: &[(HeaderName, HeaderValue)],
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(headers.len()))?;
    for (name, value) in headers {
        seq.serialize_element(&(name.as_str(), String::from_utf8_lossy(value.as_bytes())))?;
    }
    seq.end()
}

fn opt_header_name<S: Serializer>(name: &Option<HeaderName>, s: S) -> Result<S::Ok, S::Error> {
    match name {
        Some(name) => s.serialize_str(name.as_str()),
        None => s.serialize_none(),
    }
}

fn opt_text<S: Serializer>(body: &Option<Bytes>, s: S) -> Result<S::Ok, S::Error> {
    match body {
        Some(body) => s.serialize_str(&String::from_utf8_lossy(body)),
        None => s.serialize_none(),
    }
}

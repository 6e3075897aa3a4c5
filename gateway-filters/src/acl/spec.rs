//! The kgateway field: `TrafficPolicy.spec.acl` (`shared.ACLPolicy`).

use http::{HeaderName, HeaderValue, StatusCode};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

use super::{AclAction, AclConfig, AclDenyResponse, AclRule};
use crate::spec::FieldError;

/// Most rules, CIDRs per rule and deny headers kgateway's CRD accepts, and its longest
/// names and values.
const MAX_RULES: usize = 256;
const MAX_CIDRS: usize = 256;
const MAX_HEADERS: usize = 16;
const MAX_NAME: usize = 256;
const MAX_HEADER_VALUE: usize = 4096;

/// kgateway `ACLAction`: `allow` or `deny`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AclActionSpec {
    /// Let the request go on.
    Allow,
    /// Answer it with the deny response.
    Deny,
}

impl From<AclActionSpec> for AclAction {
    fn from(action: AclActionSpec) -> Self {
        match action {
            AclActionSpec::Allow => Self::Allow,
            AclActionSpec::Deny => Self::Deny,
        }
    }
}

/// kgateway `ACLPolicy`: IP rules evaluated on every request, longest prefix first.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AclSpec {
    /// What to do when no rule covers the client address (required).
    pub default_action: AclActionSpec,
    /// The rules (at most 256); the most specific CIDR wins, whatever the order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<AclRuleSpec>,
    /// The answer to a denied request (default: `403`, no body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_response: Option<AclDenyResponseSpec>,
}

/// kgateway `ACLRule`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AclRuleSpec {
    /// The rule's name (at most 256 characters), reported as blocked-by on a deny.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Addresses or CIDRs (1 to 256): `10.0.0.0/8`, `2001:db8::/32`, `192.168.1.1`,
    /// `::1`. A bare address is a `/32` (IPv4) or `/128` (IPv6); a CIDR must not have host
    /// bits set (`172.18.0.0/12` is refused: it means `172.16.0.0/12`).
    pub cidrs: Vec<String>,
    /// What to do with a request from one of them.
    pub action: AclActionSpec,
}

/// kgateway `ACLDenyResponse`: at least one field set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AclDenyResponseSpec {
    /// Status code, 100 to 599 (default 403).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i32>,
    /// Extra response headers (at most 16).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<AclResponseHeaderSpec>,
    /// The name of a header that says what denied the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_blocked_by_header: Option<String>,
}

/// kgateway `ACLResponseHeader`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AclResponseHeaderSpec {
    /// Header name (1 to 256 characters).
    pub name: String,
    /// Header value (at most 4096 characters).
    pub value: String,
}

impl AclSpec {
    /// Validates the policy as kgateway does; errors name the field
    /// (`rules[2].cidrs[0]`).
    pub fn compile(&self) -> Result<AclConfig, FieldError> {
        if self.rules.len() > MAX_RULES {
            return Err(FieldError::new(
                "rules",
                format!(
                    "{} rules: at most {MAX_RULES} are allowed",
                    self.rules.len()
                ),
            ));
        }
        let rules = self
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| rule.compile().map_err(|e| e.within(&format!("rules[{i}]"))))
            .collect::<Result<_, _>>()?;
        let mut config = AclConfig::new(self.default_action.into(), rules);
        if let Some(deny) = &self.deny_response {
            config.deny_response = deny.compile().map_err(|e| e.within("denyResponse"))?;
        }
        Ok(config)
    }
}

impl AclRuleSpec {
    fn compile(&self) -> Result<AclRule, FieldError> {
        if let Some(name) = &self.name
            && name.len() > MAX_NAME
        {
            return Err(FieldError::new(
                "name",
                format!("at most {MAX_NAME} characters"),
            ));
        }
        if self.cidrs.is_empty() || self.cidrs.len() > MAX_CIDRS {
            return Err(FieldError::new(
                "cidrs",
                format!("must list 1 to {MAX_CIDRS} entries"),
            ));
        }
        let cidrs = self
            .cidrs
            .iter()
            .enumerate()
            .map(|(i, cidr)| {
                parse_cidr(cidr).map_err(|reason| FieldError::new(format!("cidrs[{i}]"), reason))
            })
            .collect::<Result<_, _>>()?;
        Ok(AclRule {
            name: self.name.as_deref().map(Into::into),
            cidrs,
            action: self.action.into(),
        })
    }
}

/// A bare address (a single host) or a CIDR without host bits.
pub(super) fn parse_cidr(text: &str) -> Result<IpNet, String> {
    if !text.contains('/') {
        return text
            .parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| format!("{text:?} is not an IP address or CIDR"));
    }
    let net: IpNet = text
        .parse()
        .map_err(|_| format!("{text:?} is not an IP address or CIDR"))?;
    if net != net.trunc() {
        return Err(format!(
            "{text:?} has host bits set; did you mean {:?}?",
            net.trunc().to_string()
        ));
    }
    Ok(net)
}

impl AclDenyResponseSpec {
    fn compile(&self) -> Result<AclDenyResponse, FieldError> {
        if self.status_code.is_none()
            && self.headers.is_empty()
            && self.add_blocked_by_header.is_none()
        {
            return Err(FieldError::new(
                "",
                "set at least one of statusCode, headers and addBlockedByHeader",
            ));
        }
        let mut deny = AclDenyResponse::default();
        if let Some(code) = self.status_code {
            deny.status = u16::try_from(code)
                .ok()
                .filter(|code| (100..=599).contains(code))
                .and_then(|code| StatusCode::from_u16(code).ok())
                .ok_or_else(|| {
                    FieldError::new("statusCode", format!("{code} is not 100 to 599"))
                })?;
        }
        if self.headers.len() > MAX_HEADERS {
            return Err(FieldError::new(
                "headers",
                format!("at most {MAX_HEADERS} headers"),
            ));
        }
        deny.headers = self
            .headers
            .iter()
            .enumerate()
            .map(|(i, header)| {
                header
                    .compile()
                    .map_err(|e| e.within(&format!("headers[{i}]")))
            })
            .collect::<Result<_, _>>()?;
        if let Some(name) = &self.add_blocked_by_header {
            deny.blocked_by_header = Some(
                header_name(name)
                    .map_err(|reason| FieldError::new("addBlockedByHeader", reason))?,
            );
        }
        Ok(deny)
    }
}

impl AclResponseHeaderSpec {
    fn compile(&self) -> Result<(HeaderName, HeaderValue), FieldError> {
        let name = header_name(&self.name).map_err(|reason| FieldError::new("name", reason))?;
        if self.value.len() > MAX_HEADER_VALUE {
            return Err(FieldError::new(
                "value",
                format!("at most {MAX_HEADER_VALUE} characters"),
            ));
        }
        let value = HeaderValue::from_str(&self.value)
            .map_err(|_| FieldError::new("value", "not a valid header value"))?;
        Ok((name, value))
    }
}

/// A header name of 1 to 256 characters.
fn header_name(name: &str) -> Result<HeaderName, String> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!("must be 1 to {MAX_NAME} characters"));
    }
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("{name:?} is not a header name"))
}

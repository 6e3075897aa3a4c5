//! Envoy Gateway's field: `SecurityPolicy.spec.authorization`, for rules whose principal
//! is client CIDRs. It maps onto the same layer as kgateway's `acl`, with first-match
//! precedence and Envoy's RBAC deny answer.

use serde::{Deserialize, Serialize};

use super::{AclAction, AclConfig, AclRule, spec::parse_cidr};
use crate::spec::FieldError;

/// Envoy Gateway `RuleActionType`: `Allow` or `Deny`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum AuthorizationActionSpec {
    /// Let the request go on.
    Allow,
    /// Answer it `403 RBAC: access denied`.
    Deny,
}

impl From<AuthorizationActionSpec> for AclAction {
    fn from(action: AuthorizationActionSpec) -> Self {
        match action {
            AuthorizationActionSpec::Allow => Self::Allow,
            AuthorizationActionSpec::Deny => Self::Deny,
        }
    }
}

/// Envoy Gateway `Authorization`: rules tried in order, the first whose principal matches
/// deciding, else `defaultAction` (`Deny` when absent).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationSpec {
    /// What to do when no rule matches (default `Deny`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_action: Option<AuthorizationActionSpec>,
    /// The rules, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<AuthorizationRuleSpec>,
}

/// Envoy Gateway `AuthorizationRule` (the `principal.clientCIDRs` form; `operation`,
/// `principal.jwt` and `principal.headers` are not implemented, so a rule that sets them is
/// reported by the policy compiler).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationRuleSpec {
    /// The rule's name, for logs and the blocked-by header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What to do with a matching request.
    pub action: AuthorizationActionSpec,
    /// Who the rule is about.
    pub principal: PrincipalSpec,
}

/// Envoy Gateway `Principal`, its client address part.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrincipalSpec {
    /// The client's address ranges (`10.0.1.0/24`), as the listener computed the client
    /// address (`X-Forwarded-For` trusted hops included).
    #[serde(default, skip_serializing_if = "Vec::is_empty", rename = "clientCIDRs")]
    pub client_cidrs: Vec<String>,
}

impl AuthorizationSpec {
    /// Validates the rules; errors name the field (`rules[1].principal.clientCIDRs[0]`).
    pub fn compile(&self) -> Result<AclConfig, FieldError> {
        let rules = self
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| rule.compile().map_err(|e| e.within(&format!("rules[{i}]"))))
            .collect::<Result<Vec<_>, _>>()?;
        let default_action = self
            .default_action
            .unwrap_or(AuthorizationActionSpec::Deny)
            .into();
        Ok(AclConfig::first_match(default_action, rules))
    }
}

impl AuthorizationRuleSpec {
    fn compile(&self) -> Result<AclRule, FieldError> {
        if self.principal.client_cidrs.is_empty() {
            return Err(FieldError::new(
                "principal.clientCIDRs",
                "at least one CIDR is required (other principals are not supported)",
            ));
        }
        let cidrs = self
            .principal
            .client_cidrs
            .iter()
            .enumerate()
            .map(|(i, cidr)| {
                parse_cidr(cidr).map_err(|reason| {
                    FieldError::new(format!("principal.clientCIDRs[{i}]"), reason)
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(AclRule {
            name: self.name.as_deref().map(Into::into),
            cidrs,
            action: self.action.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::AclPrecedence;

    #[test]
    fn the_client_ip_example_compiles_to_first_match_with_a_default_deny() {
        let spec: AuthorizationSpec = serde_json::from_value(serde_json::json!({
            "rules": [{"action": "Allow", "principal": {"clientCIDRs": ["10.0.1.0/24", "10.0.2.0/24"]}}]
        }))
        .unwrap();
        let config = spec.compile().unwrap();
        assert_eq!(config.default_action, AclAction::Deny);
        assert_eq!(config.precedence, AclPrecedence::FirstMatch);
        assert_eq!(config.rules[0].cidrs.len(), 2);
        assert_eq!(
            config.deny_response.body.as_deref(),
            Some(&b"RBAC: access denied"[..])
        );
    }

    #[test]
    fn errors_name_the_rule_and_the_cidr() {
        let spec: AuthorizationSpec = serde_json::from_value(serde_json::json!({
            "defaultAction": "Allow",
            "rules": [
                {"action": "Deny", "principal": {"clientCIDRs": ["10.0.0.0/8"]}},
                {"action": "Deny", "principal": {"clientCIDRs": ["not-an-ip"]}}
            ]
        }))
        .unwrap();
        let error = spec.compile().unwrap_err().to_string();
        assert!(
            error.starts_with("rules[1].principal.clientCIDRs[0]: "),
            "{error}"
        );
        let empty: AuthorizationSpec = serde_json::from_value(serde_json::json!({
            "rules": [{"action": "Allow", "principal": {}}]
        }))
        .unwrap();
        assert!(
            empty
                .compile()
                .unwrap_err()
                .to_string()
                .starts_with("rules[0].principal.clientCIDRs: ")
        );
    }
}

//! The kgateway field: `TrafficPolicy.spec.basicAuth` (`BasicAuthPolicy`).

use serde::{Deserialize, Serialize};

use super::{BasicAuthConfig, Htpasswd, HtpasswdError};
use crate::{
    compression::{PolicyDisable, Toggle},
    spec::FieldError,
};

/// Most inline `users` kgateway's CRD accepts.
const MAX_USERS: usize = 256;

/// kgateway `BasicAuthPolicy`: exactly one of `users`, `secretRef` and `disable`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuthSpec {
    /// Inline htpasswd entries, `user:hash` (1 to 256).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// A Secret holding htpasswd text; the policy compiler reads it and hands its data to
    /// [`BasicAuthSpec::compile`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<BasicAuthSecretRef>,
    /// Turns basic auth off (overriding a policy attached higher up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable: Option<PolicyDisable>,
}

/// kgateway `SecretReference`: the Secret and the key of its htpasswd data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuthSecretRef {
    /// Name of the Secret.
    pub name: String,
    /// Namespace of the Secret; the policy's own by default (another namespace needs a
    /// ReferenceGrant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Key of the htpasswd data in the Secret; `.htpasswd` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl BasicAuthSecretRef {
    /// The key of the htpasswd data: `key`, or kgateway's default `.htpasswd`.
    pub fn key(&self) -> &str {
        self.key.as_deref().unwrap_or(".htpasswd")
    }
}

impl BasicAuthSpec {
    /// Validates the policy. `secret` is the data under [`BasicAuthSecretRef::key`] of the
    /// Secret `secretRef` names, as the policy compiler read it (`None` without a
    /// `secretRef`); its surrounding white space is trimmed, as kgateway does. Errors name
    /// the field (`users[2]`, `secretRef`) and, for a bad entry, its line and user, never
    /// a hash.
    pub fn compile(&self, secret: Option<&[u8]>) -> Result<Toggle<BasicAuthConfig>, FieldError> {
        let set = usize::from(!self.users.is_empty())
            + usize::from(self.secret_ref.is_some())
            + usize::from(self.disable.is_some());
        if set != 1 {
            return Err(FieldError::new(
                "",
                "set exactly one of users, secretRef and disable",
            ));
        }
        if self.disable.is_some() {
            return Ok(Toggle::Disabled);
        }
        let users = if self.secret_ref.is_some() {
            let text = secret
                .ok_or_else(|| FieldError::new("secretRef", "the Secret's data was not found"))?;
            let text = std::str::from_utf8(text)
                .map_err(|_| FieldError::new("secretRef", "the htpasswd data is not UTF-8"))?
                .trim();
            if text.is_empty() {
                return Err(FieldError::new("secretRef", "the htpasswd data is empty"));
            }
            Htpasswd::parse(text)
                .map_err(|error| FieldError::new("secretRef", error.to_string()))?
        } else {
            if self.users.len() > MAX_USERS {
                return Err(FieldError::new(
                    "users",
                    format!(
                        "{} entries: at most {MAX_USERS} are allowed",
                        self.users.len()
                    ),
                ));
            }
            if let Some(i) = self.users.iter().position(|entry| entry.contains('\n')) {
                return Err(FieldError::new(format!("users[{i}]"), "one entry per item"));
            }
            Htpasswd::from_lines(self.users.iter().map(String::as_str)).map_err(
                |HtpasswdError { line, user, reason }| {
                    let reason = match user {
                        Some(user) => format!("user {user:?}: {reason}"),
                        None => reason,
                    };
                    FieldError::new(format!("users[{}]", line - 1), reason)
                },
            )?
        };
        if users.is_empty() {
            let field = if self.secret_ref.is_some() {
                "secretRef"
            } else {
                "users"
            };
            return Err(FieldError::new(field, "no users"));
        }
        Ok(Toggle::Enabled(BasicAuthConfig::new(users)))
    }
}

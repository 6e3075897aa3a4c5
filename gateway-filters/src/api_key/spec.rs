//! The kgateway field: `TrafficPolicy.spec.apiKeyAuth` (`APIKeyAuth`).

use http::HeaderName;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

use super::{ApiKeyAuthConfig, ApiKeys, ApiKeysError, KeySource};
use crate::{
    compression::{PolicyDisable, Toggle},
    spec::FieldError,
};

/// Most key sources kgateway's CRD accepts, and the longest header, query and cookie name.
const MAX_SOURCES: usize = 16;
const MAX_NAME: usize = 256;

/// kgateway `APIKeyAuth`: exactly one of `secretRef`, `secretSelector` and `disable`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyAuthSpec {
    /// Where to look for the key, in order (at most 16); the header `api-key` when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_sources: Vec<ApiKeySourceSpec>,
    /// Whether the key goes upstream (default `false`: it is stripped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_credential: Option<bool>,
    /// A header to carry the client id upstream (none by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_header: Option<String>,
    /// One Secret of keys: each data entry is a client id and its key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<ApiKeySecretRef>,
    /// Secrets of keys, selected by label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_selector: Option<LabelSelectorSpec>,
    /// Turns API key authentication off (overriding a policy attached higher up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable: Option<PolicyDisable>,
}

/// kgateway `APIKeySource`: at least one of `header`, `query` and `cookie`, tried in that
/// order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeySourceSpec {
    /// A header name (1 to 256 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// A query parameter name (1 to 256 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// A cookie name (1 to 256 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
}

/// Gateway API `SecretObjectReference`, as kgateway's `secretRef` takes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeySecretRef {
    /// API group: core (`""`) by default, the only one allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Kind: `Secret` by default, the only one allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name of the Secret.
    pub name: String,
    /// Namespace of the Secret; the policy's own by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// kgateway `LabelSelector`: Secrets carrying all of these labels.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelectorSpec {
    /// The labels a Secret must carry.
    pub match_labels: BTreeMap<String, String>,
}

/// One data entry of a Secret of keys, as the policy compiler read it.
#[derive(Clone, Copy, Debug)]
pub struct SecretEntry<'a> {
    /// The Secret, as `namespace/name` (named in errors).
    pub secret: &'a str,
    /// The entry's key: the client id.
    pub client: &'a str,
    /// The entry's value: the API key.
    pub key: &'a [u8],
}

impl ApiKeyAuthSpec {
    /// Validates the policy. `entries` are the data entries of the Secret `secretRef`
    /// names, or of every Secret `secretSelector` selects, as the policy compiler read them
    /// (nothing when `disable` is set). As kgateway does, empty values are skipped, a key
    /// repeated for the same client is kept once, and a key shared by two clients is
    /// refused; errors name clients and Secrets, never a key.
    pub fn compile<'a>(
        &self,
        entries: impl IntoIterator<Item = SecretEntry<'a>>,
    ) -> Result<Toggle<ApiKeyAuthConfig>, FieldError> {
        let set = usize::from(self.secret_ref.is_some())
            + usize::from(self.secret_selector.is_some())
            + usize::from(self.disable.is_some());
        if set != 1 {
            return Err(FieldError::new(
                "",
                "set exactly one of secretRef, secretSelector and disable",
            ));
        }
        let key_sources = self.key_sources()?;
        let client_id_header = match self.client_id_header.as_deref() {
            None | Some("") => None,
            Some(name) => Some(HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                FieldError::new("clientIdHeader", format!("{name:?} is not a header name"))
            })?),
        };
        if self.disable.is_some() {
            return Ok(Toggle::Disabled);
        }
        let field = match &self.secret_ref {
            Some(secret) => {
                if !matches!(secret.group.as_deref(), None | Some(""))
                    || !matches!(secret.kind.as_deref(), None | Some("Secret"))
                {
                    return Err(FieldError::new(
                        "secretRef",
                        "only a core Secret can hold API keys",
                    ));
                }
                "secretRef"
            }
            None => "secretSelector",
        };
        let keys = keys(entries).map_err(|reason| FieldError::new(field, reason))?;
        Ok(Toggle::Enabled(ApiKeyAuthConfig {
            keys,
            key_sources,
            forward_credential: self.forward_credential.unwrap_or(false),
            client_id_header,
        }))
    }

    fn key_sources(&self) -> Result<Vec<KeySource>, FieldError> {
        if self.key_sources.len() > MAX_SOURCES {
            return Err(FieldError::new(
                "keySources",
                format!("at most {MAX_SOURCES} key sources"),
            ));
        }
        if self.key_sources.is_empty() {
            return Ok(vec![KeySource::header(ApiKeyAuthConfig::DEFAULT_HEADER)]);
        }
        self.key_sources
            .iter()
            .enumerate()
            .map(|(i, source)| {
                source
                    .compile()
                    .map_err(|e| e.within(&format!("keySources[{i}]")))
            })
            .collect()
    }
}

impl ApiKeySourceSpec {
    fn compile(&self) -> Result<KeySource, FieldError> {
        if self.header.is_none() && self.query.is_none() && self.cookie.is_none() {
            return Err(FieldError::new(
                "",
                "set at least one of header, query and cookie",
            ));
        }
        for (field, name) in [
            ("header", &self.header),
            ("query", &self.query),
            ("cookie", &self.cookie),
        ] {
            if let Some(name) = name
                && (name.is_empty() || name.len() > MAX_NAME)
            {
                return Err(FieldError::new(
                    field,
                    format!("must be 1 to {MAX_NAME} characters"),
                ));
            }
        }
        let header = self
            .header
            .as_deref()
            .map(|name| {
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    FieldError::new("header", format!("{name:?} is not a header name"))
                })
            })
            .transpose()?;
        Ok(KeySource {
            header,
            query: self.query.as_deref().map(Into::into),
            cookie: self.cookie.as_deref().map(Into::into),
        })
    }
}

/// The key table of the Secrets' entries, with kgateway's rules for empty and repeated
/// values.
fn keys<'a>(entries: impl IntoIterator<Item = SecretEntry<'a>>) -> Result<ApiKeys, String> {
    let mut entries: Vec<SecretEntry<'a>> = entries
        .into_iter()
        .filter(|entry| !entry.key.is_empty())
        .collect();
    if entries.is_empty() {
        return Err("no API keys in the Secret(s)".into());
    }
    entries.sort_unstable_by(|a, b| (a.client, a.key, a.secret).cmp(&(b.client, b.key, b.secret)));
    let mut owners: HashMap<&[u8], SecretEntry<'a>> = HashMap::with_capacity(entries.len());
    for entry in &entries {
        if let Some(owner) = owners.insert(entry.key, *entry)
            && owner.client != entry.client
        {
            return Err(format!(
                "duplicate API key value shared by client {:?} in Secret {} and client {:?} in Secret {}",
                owner.client, owner.secret, entry.client, entry.secret
            ));
        }
    }
    ApiKeys::new(entries.iter().map(|entry| (entry.client, entry.key)))
        .map_err(|error: ApiKeysError| error.to_string())
}

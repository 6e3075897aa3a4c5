//! The kgateway fields: `TrafficPolicy.spec.jwtAuth` ([`JwtAuthSpec`]), and the
//! `GatewayExtension.spec.jwt` it points at ([`JwtSpec`]), which holds the providers.

use http::{
    HeaderName, HeaderValue, Uri,
    uri::{Authority, PathAndQuery, Scheme},
};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeSet, time::Duration};

use super::{
    ClaimToHeader, FetchRetry, JwtConfig, JwtProvider, KeySet, RemoteJwks, TokenSource,
    config::{DEFAULT_CACHE_DURATION, DEFAULT_FAILED_REFETCH, DEFAULT_FETCH_TIMEOUT, Jwks},
};
use crate::spec::{BackendRefSpec, FieldError, GoDuration, NamespacedObjectReferenceSpec};

/// Most providers kgateway's CRD accepts in one GatewayExtension.
const MAX_PROVIDERS: usize = 32;
/// Most `audiences` and `claimsToHeaders` entries per provider.
const MAX_LIST: usize = 32;
/// Longest issuer, header name, prefix, claim name and URL kgateway's CRD accepts.
const MAX_TEXT: usize = 2048;
/// Longest `local.inline` JWKS kgateway's CRD accepts.
const MAX_INLINE: usize = 16384;
/// kgateway's default `retryPolicy.backOff.baseInterval`.
const DEFAULT_RETRY_BASE: Duration = Duration::from_secs(1);

/// What the compiler resolves for [`JwtSpec::compile`]: the objects a provider refers to.
pub trait JwtReferences {
    /// The text under the `jwks` key of the ConfigMap `name`, in the namespace of the
    /// GatewayExtension; or why there is none.
    fn config_map_jwks(&self, name: &str) -> Result<String, String>;

    /// Where the fetch of a remote JWKS whose `backendRef` is `backend_ref` goes: the
    /// authority (`10.0.0.7:8080`, `jwks.auth.svc.cluster.local:8080`) connected to with
    /// the `url`'s scheme (over `https`, the certificate is still checked for the `url`'s
    /// host), or `None` to connect to the host of the `url` itself; or why the backend
    /// cannot be used.
    fn jwks_backend(&self, backend_ref: &BackendRefSpec) -> Result<Option<Authority>, String>;
}

/// [`JwtReferences`] for a configuration with no cluster to look in: ConfigMaps are not
/// available, and a remote JWKS is fetched from the host of its `url`.
#[derive(Clone, Copy, Debug, Default)]
pub struct DirectReferences;

impl JwtReferences for DirectReferences {
    fn config_map_jwks(&self, name: &str) -> Result<String, String> {
        Err(format!("ConfigMap {name:?} cannot be read here"))
    }

    fn jwks_backend(&self, _: &BackendRefSpec) -> Result<Option<Authority>, String> {
        Ok(None)
    }
}

/// kgateway `JWTAuth` (`TrafficPolicy.spec.jwtAuth`): exactly one of `extensionRef` and
/// `disable`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtAuthSpec {
    /// The GatewayExtension (of type JWT) holding the providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension_ref: Option<NamespacedObjectReferenceSpec>,
    /// Turns off JWT authentication set by a less specific policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable: Option<PolicyDisableSpec>,
}

/// kgateway `shared.PolicyDisable`: an empty object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct PolicyDisableSpec {}

/// What a `jwtAuth` field asks for, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwtAuth {
    /// Authenticate with the providers of this GatewayExtension.
    Extension(NamespacedObjectReferenceSpec),
    /// No JWT authentication, whatever less specific policies say.
    Disable,
}

impl JwtAuthSpec {
    /// Checks that exactly one of `extensionRef` and `disable` is set.
    pub fn compile(&self) -> Result<JwtAuth, FieldError> {
        match (&self.extension_ref, &self.disable) {
            (Some(reference), None) => {
                reference.validate().map_err(|e| e.within("extensionRef"))?;
                Ok(JwtAuth::Extension(reference.clone()))
            }
            (None, Some(_)) => Ok(JwtAuth::Disable),
            _ => Err(FieldError::new(
                "",
                "set exactly one of extensionRef and disable",
            )),
        }
    }
}

/// kgateway `JWT` (`GatewayExtension.spec.jwt`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtSpec {
    /// `Strict` (the default: a valid token is required) or `AllowMissing` (a request
    /// without a token passes; one with a bad token does not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_mode: Option<ValidationMode>,
    /// The providers (at most 32, names unique); a token verified by any one is enough.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<JwtProviderSpec>,
}

/// kgateway `ValidationMode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum ValidationMode {
    /// A valid token from a configured provider is required.
    #[default]
    Strict,
    /// A request without a token passes unauthenticated.
    AllowMissing,
}

/// kgateway `NamedJWTProvider`: a name and the `JWTProvider` fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtProviderSpec {
    /// Unique name of the provider (1 to 253 characters).
    pub name: String,
    /// The `iss` tokens must carry; any issuer when absent or empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Audiences one of which a token's `aud` must name; not checked when absent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// Where the token is; `Authorization: Bearer <token>` or the `access_token` query
    /// parameter when absent (Envoy's defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_source: Option<TokenSourceSpec>,
    /// Claims copied into request headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims_to_headers: Vec<ClaimToHeaderSpec>,
    /// The keys tokens are verified with.
    pub jwks: JwksSpec,
    /// Keep the token in the request sent upstream (default: removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_token: Option<bool>,
}

/// kgateway `JWTTokenSource`: exactly one of `header` and `queryParameter`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenSourceSpec {
    /// A request header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderSourceSpec>,
    /// A query parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_parameter: Option<String>,
}

/// kgateway `HeaderSource`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderSourceSpec {
    /// The header (`Authorization`).
    pub header: String,
    /// What comes before the token (`Bearer `).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// kgateway `JWTClaimToHeader`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimToHeaderSpec {
    /// The claim (`sub`).
    pub name: String,
    /// The header it is copied to (`x-sub`).
    pub header: String,
}

/// kgateway `JWKS`: exactly one of `local` and `remote`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwksSpec {
    /// Keys in the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalJwksSpec>,
    /// Keys from a JWKS server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteJwksSpec>,
}

/// kgateway `LocalJWKS`: exactly one of `inline` and `configMapRef`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalJwksSpec {
    /// A JWKS, a single JWK or a PEM public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<String>,
    /// A ConfigMap whose `jwks` key holds the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<LocalObjectReferenceSpec>,
}

/// Kubernetes `LocalObjectReference`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectReferenceSpec {
    /// The object's name.
    pub name: String,
}

/// kgateway `RemoteJWKS`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteJwksSpec {
    /// The JWKS URL (`https://idp.example.com/keys`, or `http://`): its host is the `Host`
    /// sent (and over `https` the name the server's certificate must be valid for) and its
    /// path the path fetched.
    pub url: String,
    /// The backend serving it; [`JwtReferences::jwks_backend`] resolves it.
    pub backend_ref: BackendRefSpec,
    /// How long keys are used before they are fetched again (default 5m, at least 1ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_duration: Option<GoDuration>,
    /// Background fetching settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub async_fetch: Option<JwksAsyncFetchSpec>,
    /// Retries of a failed fetch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<JwksRetryPolicySpec>,
    /// Limit for one fetch (default 5s, at least 1ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<GoDuration>,
}

/// kgateway `JWKSAsyncFetch`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwksAsyncFetchSpec {
    /// Serve before the first fetch completes (see [`RemoteJwks::fast_listener`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fast_listener: Option<bool>,
    /// Wait before fetching again after a failure (default 1s, at least 1ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_refetch_duration: Option<GoDuration>,
}

/// kgateway `JWKSRetryPolicy`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwksRetryPolicySpec {
    /// Retries after a failed fetch (default 1, at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_retries: Option<i32>,
    /// Backoff between retries (default: 1s base, 10 times that at most).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub back_off: Option<JwksRetryBackOffSpec>,
}

/// kgateway `JWKSRetryBackOff`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwksRetryBackOffSpec {
    /// The first backoff (at least 1ms).
    pub base_interval: GoDuration,
    /// The longest backoff (at least `baseInterval`; default 10 times it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_interval: Option<GoDuration>,
}

impl JwtSpec {
    /// Validates the providers and reads their keys; errors name the field
    /// (`providers[1].jwks.remote.url`).
    pub fn compile(&self, references: &impl JwtReferences) -> Result<JwtConfig, FieldError> {
        if self.providers.is_empty() {
            return Err(FieldError::new(
                "providers",
                "at least one provider is required",
            ));
        }
        if self.providers.len() > MAX_PROVIDERS {
            return Err(FieldError::new(
                "providers",
                format!(
                    "{} providers: at most {MAX_PROVIDERS} are allowed",
                    self.providers.len()
                ),
            ));
        }
        let mut names = BTreeSet::new();
        let mut providers = Vec::with_capacity(self.providers.len());
        for (index, provider) in self.providers.iter().enumerate() {
            let within = |e: FieldError| e.within(&format!("providers[{index}]"));
            if !names.insert(provider.name.as_str()) {
                return Err(within(FieldError::new(
                    "name",
                    format!("{:?} is used by another provider", provider.name),
                )));
            }
            providers.push(provider.compile(references).map_err(within)?);
        }
        Ok(JwtConfig {
            providers,
            allow_missing: self.validation_mode == Some(ValidationMode::AllowMissing),
        })
    }
}

impl JwtProviderSpec {
    fn compile(&self, references: &impl JwtReferences) -> Result<JwtProvider, FieldError> {
        if self.name.is_empty() || self.name.len() > 253 {
            return Err(FieldError::new("name", "must have 1 to 253 characters"));
        }
        let issuer = match self.issuer.as_deref() {
            None | Some("") => None,
            Some(issuer) => Some(bounded_text("issuer", issuer)?.into()),
        };
        if self.audiences.len() > MAX_LIST {
            return Err(FieldError::new(
                "audiences",
                format!("at most {MAX_LIST} audiences are allowed"),
            ));
        }
        let token_sources = match &self.token_source {
            None => TokenSource::defaults(),
            Some(source) => vec![source.compile().map_err(|e| e.within("tokenSource"))?],
        };
        if self.claims_to_headers.len() > MAX_LIST {
            return Err(FieldError::new(
                "claimsToHeaders",
                format!("at most {MAX_LIST} entries are allowed"),
            ));
        }
        let claims_to_headers = self
            .claims_to_headers
            .iter()
            .enumerate()
            .map(|(index, claim)| {
                claim
                    .compile()
                    .map_err(|e| e.within(&format!("claimsToHeaders[{index}]")))
            })
            .collect::<Result<_, _>>()?;
        let mut provider = JwtProvider::new(
            &self.name,
            self.jwks
                .compile(references)
                .map_err(|e| e.within("jwks"))?,
        );
        provider.issuer = issuer;
        provider.audiences = self
            .audiences
            .iter()
            .map(|aud| aud.as_str().into())
            .collect();
        provider.token_sources = token_sources;
        provider.claims_to_headers = claims_to_headers;
        provider.forward_token = self.forward_token == Some(true);
        Ok(provider)
    }
}

impl TokenSourceSpec {
    fn compile(&self) -> Result<TokenSource, FieldError> {
        match (&self.header, &self.query_parameter) {
            (Some(header), None) => {
                let name = header_name("header.header", &header.header)?;
                let prefix = match header.prefix.as_deref() {
                    None => None,
                    Some(prefix) => {
                        if prefix.is_empty() {
                            return Err(FieldError::new("header.prefix", "must not be empty"));
                        }
                        Some(bounded_text("header.prefix", prefix)?.into())
                    }
                };
                Ok(TokenSource::Header { name, prefix })
            }
            (None, Some(parameter)) if parameter.is_empty() => {
                Err(FieldError::new("queryParameter", "must not be empty"))
            }
            (None, Some(parameter)) => Ok(TokenSource::QueryParameter(
                bounded_text("queryParameter", parameter)?.into(),
            )),
            _ => Err(FieldError::new(
                "",
                "set exactly one of header and queryParameter",
            )),
        }
    }
}

impl ClaimToHeaderSpec {
    fn compile(&self) -> Result<ClaimToHeader, FieldError> {
        if self.name.is_empty() {
            return Err(FieldError::new("name", "must not be empty"));
        }
        Ok(ClaimToHeader {
            claim: bounded_text("name", &self.name)?.into(),
            header: header_name("header", &self.header)?,
        })
    }
}

impl JwksSpec {
    fn compile(&self, references: &impl JwtReferences) -> Result<Jwks, FieldError> {
        match (&self.local, &self.remote) {
            (Some(local), None) => local.compile(references).map(Jwks::Local),
            (None, Some(remote)) => remote
                .compile(references)
                .map(|remote| Jwks::Remote(Box::new(remote)))
                .map_err(|e| e.within("remote")),
            _ => Err(FieldError::new("", "set exactly one of local and remote")),
        }
    }
}

impl LocalJwksSpec {
    fn compile(&self, references: &impl JwtReferences) -> Result<KeySet, FieldError> {
        match (&self.inline, &self.config_map_ref) {
            (Some(inline), None) => {
                if inline.is_empty() || inline.len() > MAX_INLINE {
                    return Err(FieldError::new(
                        "local.inline",
                        format!("must have 1 to {MAX_INLINE} characters"),
                    ));
                }
                KeySet::from_local(inline)
                    .map_err(|e| FieldError::new("local.inline", e.to_string()))
            }
            (None, Some(reference)) => {
                let text = references
                    .config_map_jwks(&reference.name)
                    .map_err(|reason| FieldError::new("local.configMapRef", reason))?;
                KeySet::from_local(&text).map_err(|e| {
                    FieldError::new(
                        "local.configMapRef",
                        format!("ConfigMap {:?}, key jwks: {e}", reference.name),
                    )
                })
            }
            _ => Err(FieldError::new(
                "local",
                "set exactly one of inline and configMapRef",
            )),
        }
    }
}

impl RemoteJwksSpec {
    fn compile(&self, references: &impl JwtReferences) -> Result<RemoteJwks, FieldError> {
        let url = Uri::try_from(bounded_text("url", &self.url)?)
            .map_err(|e| FieldError::new("url", format!("{:?} is not a URL: {e}", self.url)))?;
        let (Some(scheme), Some(authority)) = (url.scheme(), url.authority()) else {
            return Err(FieldError::new(
                "url",
                "must be a full URL with scheme, host and path",
            ));
        };
        if *scheme != Scheme::HTTP && *scheme != Scheme::HTTPS {
            return Err(FieldError::new("url", "the scheme must be http or https"));
        }
        let path = url
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let backend = references
            .jwks_backend(&self.backend_ref)
            .map_err(|reason| FieldError::new("backendRef", reason))?;
        let mut remote = match backend {
            None => RemoteJwks::new(url.clone()),
            Some(backend) => {
                let uri = Uri::builder()
                    .scheme(scheme.clone())
                    .authority(backend)
                    .path_and_query(path)
                    .build()
                    .map_err(|e| FieldError::new("backendRef", e.to_string()))?;
                let mut remote = RemoteJwks::new(uri);
                remote.host = HeaderValue::from_str(authority.as_str()).ok();
                remote
            }
        };
        remote.cache_duration =
            at_least_1ms(self.cache_duration, "cacheDuration")?.unwrap_or(DEFAULT_CACHE_DURATION);
        remote.timeout = at_least_1ms(self.timeout, "timeout")?.unwrap_or(DEFAULT_FETCH_TIMEOUT);
        if let Some(async_fetch) = &self.async_fetch {
            remote.fast_listener = async_fetch.fast_listener == Some(true);
            remote.failed_refetch = at_least_1ms(
                async_fetch.failed_refetch_duration,
                "asyncFetch.failedRefetchDuration",
            )?
            .unwrap_or(DEFAULT_FAILED_REFETCH);
        }
        if let Some(retry) = &self.retry_policy {
            remote.retry = Some(retry.compile().map_err(|e| e.within("retryPolicy"))?);
        }
        Ok(remote)
    }
}

impl JwksRetryPolicySpec {
    fn compile(&self) -> Result<FetchRetry, FieldError> {
        let retries = match self.num_retries {
            None => 1,
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| FieldError::new("numRetries", "must be at least 1"))?,
        };
        let (base_interval, max_interval) = match &self.back_off {
            None => (DEFAULT_RETRY_BASE, DEFAULT_RETRY_BASE * 10),
            Some(back_off) => {
                let base = back_off
                    .base_interval
                    .at_least_1ms("backOff.baseInterval")?;
                let max = at_least_1ms(back_off.max_interval, "backOff.maxInterval")?
                    .unwrap_or(base.saturating_mul(10));
                if max < base {
                    return Err(FieldError::new(
                        "backOff.maxInterval",
                        "must be at least baseInterval",
                    ));
                }
                (base, max)
            }
        };
        Ok(FetchRetry {
            retries,
            base_interval,
            max_interval,
        })
    }
}

/// `text`, if it has at most [`MAX_TEXT`] characters.
fn bounded_text<'a>(field: &str, text: &'a str) -> Result<&'a str, FieldError> {
    if text.len() > MAX_TEXT {
        return Err(FieldError::new(
            field,
            format!("at most {MAX_TEXT} characters are allowed"),
        ));
    }
    Ok(text)
}

/// A header name, validated.
fn header_name(field: &str, text: &str) -> Result<HeaderName, FieldError> {
    if text.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    HeaderName::try_from(bounded_text(field, text)?)
        .map_err(|_| FieldError::new(field, format!("{text:?} is not a valid header name")))
}

/// An optional duration, if it is at least one millisecond, as kgateway's CRD requires.
fn at_least_1ms(value: Option<GoDuration>, field: &str) -> Result<Option<Duration>, FieldError> {
    value.map(|value| value.at_least_1ms(field)).transpose()
}

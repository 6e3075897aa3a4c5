//! `TrafficPolicy.spec`: its typed form and its compilation into a [`TrafficPolicyPlan`].

use gateway_filters::{
    acl::{AclSpec, AuthorizationSpec},
    api_key::{ApiKeyAuthSpec, SecretEntry},
    basic_auth::BasicAuthSpec,
    buffer::BufferSpec,
    compression::{CompressionSpec, Toggle},
    csrf::CsrfSpec,
    ext_authz::{ExtAuthConfig, ExtAuthPolicy, ExtAuthPolicySpec},
    ext_proc::{ExtProcPolicy, ExtProcPolicySpec},
    fault::FaultInjectionSpec,
    global_rate_limit::{GlobalRateLimitConfig, GlobalRateLimitSpec},
    header_modifier::{HeaderModifierConfig, HeaderPair},
    jwt::{JwtAuth, JwtAuthSpec},
    local_rate_limit::{LocalRateLimitSpec, RateLimitSpec},
    path_regex::UrlRewriteSpec,
    retry::RetryConfig,
    spec::{FieldError, GoDuration, NamespacedObjectReferenceSpec},
    transformation::TransformationSpec,
};
use http::{HeaderName, HeaderValue, StatusCode};
use serde::Deserialize;
use std::{collections::BTreeSet, sync::Arc};

use super::{
    decode::decode_spec,
    extensions::{Extension, GatewayExtensions},
    targets::{PolicyTargetRef, PolicyTargetSelector},
};
use crate::{
    api::{HttpCorsFilter, ReferenceGrant, Secret},
    compile::filters::cors_config,
    plan::{HeaderModifiersPlan, PolicyRetry, PolicyTimeouts, TrafficPolicyPlan},
};

/// `TrafficPolicy.spec` as far as this gateway implements it. Fields kgateway has and we
/// do not are absent on purpose: [`decode_spec`] then reports them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TrafficPolicySpec {
    /// What the policy attaches to by name.
    #[serde(default)]
    pub(crate) target_refs: Vec<PolicyTargetRef>,
    /// What the policy attaches to by labels.
    #[serde(default)]
    pub(crate) target_selectors: Vec<PolicyTargetSelector>,
    header_modifiers: Option<HeaderModifiersSpec>,
    cors: Option<HttpCorsFilter>,
    timeouts: Option<TimeoutsSpec>,
    retry: Option<RetrySpec>,
    rate_limit: Option<RateLimitFieldSpec>,
    buffer: Option<BufferSpec>,
    fault_injection: Option<FaultInjectionSpec>,
    csrf: Option<CsrfSpec>,
    transformation: Option<TransformationSpec>,
    compression: Option<CompressionSpec>,
    url_rewrite: Option<UrlRewriteSpec>,
    acl: Option<AclSpec>,
    basic_auth: Option<BasicAuthSpec>,
    api_key_auth: Option<ApiKeyAuthSpec>,
    jwt_auth: Option<JwtAuthSpec>,
    ext_auth: Option<ExtAuthPolicySpec>,
    ext_proc: Option<ExtProcPolicySpec>,
}

/// kgateway `RateLimit`: the local token bucket and the global rate limit service merge
/// as separate fields.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RateLimitFieldSpec {
    local: Option<LocalRateLimitSpec>,
    global: Option<GlobalRateLimitSpec>,
}

/// Envoy Gateway `SecurityPolicy.spec`, the part this gateway implements: `authorization`
/// on client CIDRs. Its other fields (`jwt`, `basicAuth`, `extAuth`, `oidc`, ...) are
/// reported by the decoder: kgateway's TrafficPolicy serves those.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecurityPolicySpec {
    #[serde(default)]
    target_refs: Vec<PolicyTargetRef>,
    #[serde(default)]
    target_selectors: Vec<PolicyTargetSelector>,
    authorization: Option<AuthorizationSpec>,
}

/// Decodes an Envoy Gateway SecurityPolicy into the TrafficPolicy plan it amounts to: its
/// `authorization` becomes the `acl` field (first-match rules, `403 RBAC: access denied`).
pub(crate) fn compile_security_policy(
    spec: &serde_json::Value,
) -> Result<CompiledTrafficPolicy, String> {
    let typed: SecurityPolicySpec = decode_spec(spec)?;
    let mut plan = TrafficPolicyPlan::default();
    if let Some(authorization) = &typed.authorization {
        plan.acl = Some(Arc::new(
            authorization
                .compile()
                .map_err(|e| e.within("spec.authorization").to_string())?,
        ));
    }
    Ok(CompiledTrafficPolicy {
        target_refs: typed.target_refs,
        target_selectors: typed.target_selectors,
        plan: Arc::new(plan),
        disabled: BTreeSet::new(),
    })
}

/// What a TrafficPolicy may refer to, besides its targets.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PolicyReferences<'r, 'a> {
    /// Secrets (basic auth users, API keys).
    pub(crate) secrets: &'r [Secret],
    /// GatewayExtensions (`extensionRef`s).
    pub(crate) extensions: &'r GatewayExtensions<'a>,
    /// ReferenceGrants, for references to other namespaces.
    pub(crate) grants: &'r [ReferenceGrant],
}

/// Only the attachment fields of a policy spec, read leniently (other fields ignored) to
/// report an invalid policy against its targets.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Targets {
    /// What the policy attaches to by name.
    #[serde(default)]
    pub(crate) target_refs: Vec<PolicyTargetRef>,
}

/// `shared.HeaderModifiers`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HeaderModifiersSpec {
    request: Option<HeaderFilterSpec>,
    response: Option<HeaderFilterSpec>,
}

/// `shared.HTTPHeaderFilter` (inline values; `secretRef` values are not supported).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HeaderFilterSpec {
    #[serde(default)]
    set: Vec<HeaderSpec>,
    #[serde(default)]
    add: Vec<HeaderSpec>,
    #[serde(default)]
    remove: Vec<String>,
}

/// `shared.HTTPHeader`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HeaderSpec {
    name: Option<String>,
    value: Option<String>,
}

/// `shared.Timeouts`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimeoutsSpec {
    request: Option<GoDuration>,
    stream_idle: Option<GoDuration>,
}

/// kgateway `Retry`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetrySpec {
    #[serde(default)]
    retry_on: Vec<String>,
    attempts: Option<u32>,
    per_try_timeout: Option<GoDuration>,
    #[serde(default)]
    status_codes: Vec<u16>,
    backoff_base_interval: Option<GoDuration>,
}

/// A traffic policy ready to merge: what it sets, and which fields it switches off for
/// the levels below (`<field>.disable`).
#[derive(Debug, Default)]
pub(crate) struct CompiledTrafficPolicy {
    /// Where it attaches.
    pub(crate) target_refs: Vec<PolicyTargetRef>,
    /// Where it attaches, by labels.
    pub(crate) target_selectors: Vec<PolicyTargetSelector>,
    /// The values it sets.
    pub(crate) plan: Arc<TrafficPolicyPlan>,
    /// Fields it disables.
    pub(crate) disabled: BTreeSet<&'static str>,
}

/// The spec fields that accept `disable: {}` (switching off what a less specific policy
/// set), with the plan name each maps to.
const DISABLEABLE: [&str; 3] = ["cors", "buffer", "faultInjection"];

/// Decodes and validates a TrafficPolicy spec; the error names the field and the reason.
pub(crate) fn compile_traffic_policy(
    spec: &serde_json::Value,
    namespace: &str,
    references: PolicyReferences<'_, '_>,
) -> Result<CompiledTrafficPolicy, String> {
    let secrets = references.secrets;
    let mut spec = spec.clone();
    let mut disabled = BTreeSet::new();
    if let Some(fields) = spec.as_object_mut() {
        for name in DISABLEABLE {
            let Some(value) = fields.get(name).and_then(|v| v.as_object()) else {
                continue;
            };
            if value.contains_key("disable") {
                if value.len() > 1 {
                    return Err(format!(
                        "spec.{name}.disable: cannot be combined with other {name} fields"
                    ));
                }
                fields.remove(name);
                disabled.insert(name);
            }
        }
    }
    let typed: TrafficPolicySpec = decode_spec(&spec)?;
    let mut plan = TrafficPolicyPlan::default();
    if let Some(spec) = &typed.header_modifiers {
        plan.header_modifiers = Some(Arc::new(HeaderModifiersPlan {
            request: spec
                .request
                .as_ref()
                .map(|f| header_filter(f, "spec.headerModifiers.request"))
                .transpose()?,
            response: spec
                .response
                .as_ref()
                .map(|f| header_filter(f, "spec.headerModifiers.response"))
                .transpose()?,
        }));
    }
    if let Some(cors) = &typed.cors {
        plan.cors = Some(Arc::new(cors_config(cors, "spec.cors").map_err(|e| e.0)?));
    }
    if let Some(timeouts) = &typed.timeouts {
        plan.timeouts = Some(Arc::new(PolicyTimeouts {
            request: timeouts.request.map(|d| d.0).filter(|d| !d.is_zero()),
            stream_idle: timeouts.stream_idle.map(|d| d.0).filter(|d| !d.is_zero()),
        }));
    }
    let field =
        |name: &'static str| move |e: FieldError| e.within(&format!("spec.{name}")).to_string();
    if let Some(rate_limit) = &typed.rate_limit {
        if rate_limit.local.is_some() {
            let local = RateLimitSpec {
                local: rate_limit.local.clone(),
            };
            plan.rate_limit = Some(Arc::new(local.compile().map_err(field("rateLimit"))?));
        }
        if let Some(global) = &rate_limit.global {
            plan.global_rate_limit =
                Some(Arc::new(global_rate_limit(global, namespace, references)?));
        }
    }
    if let Some(jwt) = &typed.jwt_auth {
        let toggle = match jwt.compile().map_err(field("jwtAuth"))? {
            JwtAuth::Disable => Toggle::Disabled,
            JwtAuth::Extension(reference) => Toggle::Enabled(resolve_extension(
                references,
                namespace,
                &reference,
                ("jwt", "spec.jwtAuth.extensionRef"),
                |extension| match extension {
                    Extension::Jwt(config) => Some(config.clone()),
                    _ => None,
                },
            )?),
        };
        plan.jwt_auth = Some(Arc::new(toggle));
    }
    if let Some(ext_auth) = &typed.ext_auth {
        let toggle = match ext_auth.compile().map_err(field("extAuth"))? {
            ExtAuthPolicy::Disabled => Toggle::Disabled,
            ExtAuthPolicy::Enabled(route) => {
                let config = resolve_extension(
                    references,
                    namespace,
                    &route.extension_ref,
                    ("extAuth", "spec.extAuth.extensionRef"),
                    |extension| match extension {
                        Extension::ExtAuth {
                            provider,
                            endpoints,
                        } => Some(ExtAuthConfig::new(provider.clone(), endpoints.clone())),
                        _ => None,
                    },
                )?;
                Toggle::Enabled(config.with_check(route.check))
            }
        };
        plan.ext_auth = Some(Arc::new(toggle));
    }
    if let Some(ext_proc) = &typed.ext_proc {
        let toggle = match ext_proc.compile().map_err(field("extProc"))? {
            ExtProcPolicy::Disabled => Toggle::Disabled,
            ExtProcPolicy::Enabled {
                extension_ref,
                processing_mode,
            } => {
                let config = resolve_extension(
                    references,
                    namespace,
                    &extension_ref,
                    ("extProc", "spec.extProc.extensionRef"),
                    |extension| match extension {
                        Extension::ExtProc(config) => Some(config.clone()),
                        _ => None,
                    },
                )?;
                Toggle::Enabled(match processing_mode {
                    Some(mode) => config.with_processing_mode(mode),
                    None => config,
                })
            }
        };
        plan.ext_proc = Some(Arc::new(toggle));
    }
    plan.buffer = compile_field(&typed.buffer, |s| s.compile(), field("buffer"))?;
    plan.fault_injection = compile_field(
        &typed.fault_injection,
        |s| s.compile(),
        field("faultInjection"),
    )?;
    plan.csrf = compile_field(&typed.csrf, |s| s.compile(), field("csrf"))?;
    plan.transformation = compile_field(
        &typed.transformation,
        |s| s.compile(),
        field("transformation"),
    )?;
    plan.compression = compile_field(&typed.compression, |s| s.compile(), field("compression"))?;
    plan.url_rewrite = compile_field(&typed.url_rewrite, |s| s.compile(), field("urlRewrite"))?;
    plan.acl = compile_field(&typed.acl, |s| s.compile(), field("acl"))?;
    plan.basic_auth = compile_field(
        &typed.basic_auth,
        |s| {
            let data = match &s.secret_ref {
                None => None,
                Some(reference) => {
                    let secret = find_secret(
                        secrets,
                        namespace,
                        reference.namespace.as_deref(),
                        &reference.name,
                    )
                    .map_err(|reason| FieldError::new("secretRef", reason))?;
                    secret_data(secret, reference.key())
                }
            };
            s.compile(data.as_deref())
        },
        field("basicAuth"),
    )?;
    plan.api_key_auth = compile_field(
        &typed.api_key_auth,
        |s| {
            let selected: Vec<&Secret> = match (&s.secret_ref, &s.secret_selector) {
                (Some(reference), _) => vec![
                    find_secret(
                        secrets,
                        namespace,
                        reference.namespace.as_deref(),
                        &reference.name,
                    )
                    .map_err(|reason| FieldError::new("secretRef", reason))?,
                ],
                (None, Some(selector)) => secrets
                    .iter()
                    .filter(|secret| {
                        secret.metadata.namespace.as_deref() == Some(namespace)
                            && super::targets::labels_match(
                                &selector.match_labels,
                                secret.metadata.labels.as_ref(),
                            )
                    })
                    .collect(),
                (None, None) => Vec::new(),
            };
            let names: Vec<String> = selected
                .iter()
                .map(|secret| {
                    format!(
                        "{}/{}",
                        secret.metadata.namespace.as_deref().unwrap_or_default(),
                        secret.metadata.name.as_deref().unwrap_or_default()
                    )
                })
                .collect();
            let entries = selected.iter().zip(&names).flat_map(|(secret, name)| {
                secret
                    .data
                    .iter()
                    .flatten()
                    .map(move |(client, key)| SecretEntry {
                        secret: name,
                        client,
                        key: &key.0,
                    })
            });
            s.compile(entries)
        },
        field("apiKeyAuth"),
    )?;
    if let Some(retry) = &typed.retry {
        plan.retry = Some(Arc::new(retry_policy(retry)?));
        if let (Some(per_try), Some(request)) = (
            plan.retry.as_ref().and_then(|r| r.per_try_timeout),
            plan.timeouts.as_ref().and_then(|t| t.request),
        ) && per_try >= request
        {
            return Err("spec.retry.perTryTimeout: must be less than timeouts.request".into());
        }
    }
    Ok(CompiledTrafficPolicy {
        target_refs: typed.target_refs,
        target_selectors: typed.target_selectors,
        plan: Arc::new(plan),
        disabled,
    })
}

/// What `pick` takes from the GatewayExtension a policy field names; `wanted` is the
/// kind it must provide and the field, which the error names.
fn resolve_extension<T>(
    references: PolicyReferences<'_, '_>,
    namespace: &str,
    reference: &NamespacedObjectReferenceSpec,
    (kind, field): (&str, &str),
    pick: impl FnOnce(&Extension) -> Option<T>,
) -> Result<T, String> {
    references
        .extensions
        .resolve(namespace, reference, references.grants, kind, pick)
        .map_err(|reason| format!("{field}: {reason}"))
}

/// `rateLimit.global`: the descriptors and the rate limit service of the extension it
/// names.
fn global_rate_limit(
    spec: &GlobalRateLimitSpec,
    namespace: &str,
    references: PolicyReferences<'_, '_>,
) -> Result<GlobalRateLimitConfig, String> {
    let descriptors = spec
        .compile()
        .map_err(|e| e.within("spec.rateLimit.global").to_string())?;
    resolve_extension(
        references,
        namespace,
        &spec.extension_ref,
        ("rateLimit", "spec.rateLimit.global.extensionRef"),
        |extension| match extension {
            Extension::RateLimit {
                provider,
                endpoints,
            } => Some(GlobalRateLimitConfig::new(
                provider.clone(),
                endpoints.clone(),
                descriptors.clone(),
            )),
            _ => None,
        },
    )
}

/// A Secret a policy names; only the policy's own namespace is served (a cross-namespace
/// reference would need a ReferenceGrant check, which policies do not have yet).
fn find_secret<'s>(
    secrets: &'s [Secret],
    namespace: &str,
    wanted_namespace: Option<&str>,
    name: &str,
) -> Result<&'s Secret, String> {
    let wanted = wanted_namespace.unwrap_or(namespace);
    if wanted != namespace {
        return Err(format!(
            "Secret {wanted}/{name} is in another namespace; only the policy's namespace \
             ({namespace}) is served"
        ));
    }
    secrets
        .iter()
        .find(|s| {
            s.metadata.namespace.as_deref() == Some(namespace)
                && s.metadata.name.as_deref() == Some(name)
        })
        .ok_or_else(|| format!("Secret {namespace}/{name} not found"))
}

/// The bytes under `key` of a Secret (`data`, else `stringData`).
fn secret_data(secret: &Secret, key: &str) -> Option<Vec<u8>> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|v| v.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|v| v.clone().into_bytes())
        })
}

/// Compiles an optional spec field into a shared config, naming the field on error.
fn compile_field<S, C>(
    spec: &Option<S>,
    compile: impl FnOnce(&S) -> Result<C, FieldError>,
    error: impl FnOnce(FieldError) -> String,
) -> Result<Option<Arc<C>>, String> {
    spec.as_ref()
        .map(|s| compile(s).map(Arc::new).map_err(error))
        .transpose()
}

fn header_filter(spec: &HeaderFilterSpec, field: &str) -> Result<HeaderModifierConfig, String> {
    let pairs = |list: &[HeaderSpec], what: &str| {
        list.iter()
            .enumerate()
            .map(|(i, header)| {
                let at = format!("{field}.{what}[{i}]");
                let name = header
                    .name
                    .as_deref()
                    .ok_or_else(|| format!("{at}.name: required with an inline value"))?;
                let value = header
                    .value
                    .as_deref()
                    .ok_or_else(|| format!("{at}.value: required"))?;
                Ok(HeaderPair {
                    name: HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| format!("{at}.name: {name:?} is not a header name"))?,
                    value: HeaderValue::from_str(value)
                        .map_err(|_| format!("{at}.value: {value:?} is not a header value"))?,
                })
            })
            .collect::<Result<Vec<_>, String>>()
    };
    Ok(HeaderModifierConfig {
        set: pairs(&spec.set, "set")?,
        add: pairs(&spec.add, "add")?,
        remove: spec
            .remove
            .iter()
            .enumerate()
            .map(|(i, name)| {
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("{field}.remove[{i}]: {name:?} is not a header name"))
            })
            .collect::<Result<_, _>>()?,
    })
}

/// kgateway's `retryOn` conditions, as status codes and connection failures.
fn retry_policy(spec: &RetrySpec) -> Result<PolicyRetry, String> {
    if spec.retry_on.is_empty() && spec.status_codes.is_empty() {
        return Err("spec.retry: retryOn or statusCodes must be set".into());
    }
    let mut codes: BTreeSet<u16> = BTreeSet::new();
    for (i, condition) in spec.retry_on.iter().enumerate() {
        match condition.as_str() {
            "5xx" => codes.extend(500..=599),
            "gateway-error" => codes.extend([502, 503, 504]),
            "retriable-4xx" => {
                codes.insert(409);
            }
            // Connection failures and resets are always retried by the retry layer;
            // `retriable-status-codes` means "the statusCodes list", which is always used.
            "reset"
            | "reset-before-request"
            | "connect-failure"
            | "refused-stream"
            | "retriable-status-codes" => {}
            other => {
                return Err(format!(
                    "spec.retry.retryOn[{i}]: {other:?} is not supported by this gateway"
                ));
            }
        }
    }
    for (i, code) in spec.status_codes.iter().enumerate() {
        if !(400..=599).contains(code) {
            return Err(format!(
                "spec.retry.statusCodes[{i}]: {code} is not in 400-599"
            ));
        }
        codes.insert(*code);
    }
    let defaults = RetryConfig::default();
    Ok(PolicyRetry {
        config: RetryConfig {
            codes: codes
                .into_iter()
                .filter_map(|c| StatusCode::from_u16(c).ok())
                .collect(),
            attempts: spec.attempts.unwrap_or(1),
            backoff: spec.backoff_base_interval.map_or(defaults.backoff, |d| d.0),
            ..defaults
        },
        per_try_timeout: spec.per_try_timeout.map(|d| d.0).filter(|d| !d.is_zero()),
    })
}

//! Gateway API `HTTPRouteFilter`s into pre-parsed filter configurations.

use gateway_filters::{
    cors::{CorsConfig, parse_origin},
    header_modifier::{HeaderModifierConfig, HeaderPair},
    mirror::MirrorConfig,
    path_modifier::PathModifier,
    redirect::RedirectConfig,
    url_rewrite::UrlRewriteConfig,
};
use http::{HeaderName, HeaderValue, Method, StatusCode};
use std::sync::Arc;

use super::refs::{BackendIndex, RefError, Referrer};
use crate::{
    api::{HttpHeaderFilter, HttpPathModifier, HttpRouteFilter, KGATEWAY_GROUP},
    plan::FilterPlan,
};

/// A filter that cannot be served: the rule answers 500 and the route is marked.
#[derive(Debug)]
pub(crate) struct FilterError(pub(crate) String);

/// Converts a filter list. Unresolved mirror backends are reported through `ref_errors`
/// (they earn `ResolvedRefs=False`), invalid filters as `Err`.
pub(crate) fn convert_filters(
    filters: &[HttpRouteFilter],
    field: &str,
    from: Referrer<'_>,
    backends: &BackendIndex<'_>,
    ref_errors: &mut Vec<RefError>,
) -> Result<Vec<FilterPlan>, FilterError> {
    let mut out = Vec::with_capacity(filters.len());
    let mut redirect = false;
    let mut rewrite = false;
    for (i, filter) in filters.iter().enumerate() {
        let field = format!("{field}.filters[{i}]");
        let missing = || {
            FilterError(format!(
                "{field}: type {} needs its configuration field",
                filter.type_
            ))
        };
        let plan = match filter.type_.as_str() {
            "RequestHeaderModifier" => FilterPlan::RequestHeaderModifier(header_modifier_config(
                filter
                    .request_header_modifier
                    .as_ref()
                    .ok_or_else(missing)?,
                &format!("{field}.requestHeaderModifier"),
            )?),
            "ResponseHeaderModifier" => FilterPlan::ResponseHeaderModifier(header_modifier_config(
                filter
                    .response_header_modifier
                    .as_ref()
                    .ok_or_else(missing)?,
                &format!("{field}.responseHeaderModifier"),
            )?),
            "RequestRedirect" => {
                redirect = true;
                let spec = filter.request_redirect.as_ref().ok_or_else(missing)?;
                let field = format!("{field}.requestRedirect");
                let scheme = match spec.scheme.as_deref() {
                    None => None,
                    Some(s @ ("http" | "https")) => Some(Arc::from(s)),
                    Some(other) => {
                        return Err(FilterError(format!(
                            "{field}.scheme: {other:?} must be http or https"
                        )));
                    }
                };
                let status = match spec.status_code.unwrap_or(302) {
                    code @ (301 | 302 | 303 | 307 | 308) => {
                        StatusCode::from_u16(code).map_err(|_| {
                            FilterError(format!("{field}.statusCode: {code} is invalid"))
                        })?
                    }
                    other => {
                        return Err(FilterError(format!(
                            "{field}.statusCode: {other} is not one of 301, 302, 303, 307, 308"
                        )));
                    }
                };
                if let Some(hostname) = &spec.hostname {
                    HeaderValue::from_str(hostname).map_err(|_| {
                        FilterError(format!("{field}.hostname: {hostname:?} is invalid"))
                    })?;
                }
                FilterPlan::RequestRedirect(RedirectConfig {
                    scheme,
                    hostname: spec.hostname.as_deref().map(Arc::from),
                    path: spec
                        .path
                        .as_ref()
                        .map(|p| path_modifier(p, &format!("{field}.path")))
                        .transpose()?,
                    port: spec.port,
                    status,
                })
            }
            "URLRewrite" => {
                rewrite = true;
                let spec = filter.url_rewrite.as_ref().ok_or_else(missing)?;
                let field = format!("{field}.urlRewrite");
                let hostname = spec
                    .hostname
                    .as_deref()
                    .map(|h| {
                        HeaderValue::from_str(h)
                            .map_err(|_| FilterError(format!("{field}.hostname: {h:?} is invalid")))
                    })
                    .transpose()?;
                FilterPlan::UrlRewrite(UrlRewriteConfig {
                    hostname,
                    path: spec
                        .path
                        .as_ref()
                        .map(|p| path_modifier(p, &format!("{field}.path")))
                        .transpose()?,
                })
            }
            "RequestMirror" => {
                let spec = filter.request_mirror.as_ref().ok_or_else(missing)?;
                let field = format!("{field}.requestMirror");
                let config = match (&spec.percent, &spec.fraction) {
                    (Some(_), Some(_)) => {
                        return Err(FilterError(format!(
                            "{field}: set percent or fraction, not both"
                        )));
                    }
                    (Some(percent), None) if *percent <= 100 => MirrorConfig {
                        numerator: *percent,
                        denominator: 100,
                    },
                    (None, Some(fraction)) => {
                        let denominator = fraction.denominator.unwrap_or(100);
                        if denominator == 0 || fraction.numerator > denominator {
                            return Err(FilterError(format!(
                                "{field}.fraction: numerator must be at most the non-zero denominator"
                            )));
                        }
                        MirrorConfig {
                            numerator: fraction.numerator,
                            denominator,
                        }
                    }
                    (None, None) => MirrorConfig::default(),
                    (Some(percent), None) => {
                        return Err(FilterError(format!(
                            "{field}.percent: {percent} is more than 100"
                        )));
                    }
                };
                let (target, error) =
                    backends.target(from, &spec.backend_ref, || format!("{field}.backendRef"));
                ref_errors.extend(error);
                FilterPlan::RequestMirror { config, target }
            }
            "CORS" => FilterPlan::Cors(cors_config(
                filter.cors.as_ref().ok_or_else(missing)?,
                &format!("{field}.cors"),
            )?),
            "ExtensionRef" => {
                let extension = filter.extension_ref.as_ref().ok_or_else(missing)?;
                if extension.group != KGATEWAY_GROUP || extension.kind != "DirectResponse" {
                    return Err(FilterError(format!(
                        "{field}.extensionRef: {}/{} {} is not a supported extension \
                         (gateway.kgateway.dev/DirectResponse is)",
                        extension.group, extension.kind, extension.name
                    )));
                }
                match backends.direct_response(from.namespace, &extension.name) {
                    None => {
                        return Err(FilterError(format!(
                            "{field}.extensionRef: DirectResponse {}/{} not found",
                            from.namespace, extension.name
                        )));
                    }
                    Some(Err(reason)) => {
                        return Err(FilterError(format!(
                            "{field}.extensionRef: DirectResponse {}/{} is invalid: {reason}",
                            from.namespace, extension.name
                        )));
                    }
                    Some(Ok(config)) => FilterPlan::DirectResponse(config),
                }
            }
            other => {
                return Err(FilterError(format!(
                    "{field}.type: {other:?} is not supported"
                )));
            }
        };
        out.push(plan);
    }
    if redirect && rewrite {
        return Err(FilterError(format!(
            "{field}.filters: RequestRedirect and URLRewrite cannot be used together"
        )));
    }
    Ok(out)
}

/// A Gateway API header filter (also kgateway's `earlyRequestHeaderModifier`) as a config.
pub(crate) fn header_modifier_config(
    spec: &HttpHeaderFilter,
    field: &str,
) -> Result<HeaderModifierConfig, FilterError> {
    let pairs = |list: &[crate::api::HttpHeader], what: &str| {
        list.iter()
            .enumerate()
            .map(|(i, h)| {
                Ok(HeaderPair {
                    name: HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| {
                        FilterError(format!(
                            "{field}.{what}[{i}].name: {:?} is not a header name",
                            h.name
                        ))
                    })?,
                    value: HeaderValue::from_str(&h.value).map_err(|_| {
                        FilterError(format!(
                            "{field}.{what}[{i}].value: {:?} is not a header value",
                            h.value
                        ))
                    })?,
                })
            })
            .collect::<Result<Vec<_>, FilterError>>()
    };
    Ok(HeaderModifierConfig {
        set: pairs(&spec.set, "set")?,
        add: pairs(&spec.add, "add")?,
        remove: spec
            .remove
            .iter()
            .enumerate()
            .map(|(i, name)| {
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    FilterError(format!(
                        "{field}.remove[{i}]: {name:?} is not a header name"
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
    })
}

fn path_modifier(spec: &HttpPathModifier, field: &str) -> Result<PathModifier, FilterError> {
    let check = |value: &str, what: &str| {
        if value.starts_with('/') {
            Ok(Arc::from(value))
        } else {
            Err(FilterError(format!(
                "{field}.{what}: {value:?} must start with /"
            )))
        }
    };
    match spec.type_.as_str() {
        "ReplaceFullPath" => Ok(PathModifier::ReplaceFullPath(check(
            spec.replace_full_path.as_deref().unwrap_or("/"),
            "replaceFullPath",
        )?)),
        "ReplacePrefixMatch" => Ok(PathModifier::ReplacePrefixMatch(check(
            spec.replace_prefix_match.as_deref().unwrap_or("/"),
            "replacePrefixMatch",
        )?)),
        other => Err(FilterError(format!(
            "{field}.type: {other:?} is not supported"
        ))),
    }
}

/// A Gateway API CORS filter (also kgateway's `TrafficPolicy.cors`) as a CORS config.
pub(crate) fn cors_config(
    spec: &crate::api::HttpCorsFilter,
    field: &str,
) -> Result<CorsConfig, FilterError> {
    let allow_origins = spec
        .allow_origins
        .iter()
        .enumerate()
        .map(|(i, o)| {
            parse_origin(o).map_err(|e| FilterError(format!("{field}.allowOrigins[{i}]: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let mut allow_methods = Vec::new();
    let mut allow_any_method = false;
    for (i, m) in spec.allow_methods.iter().enumerate() {
        if m == "*" {
            allow_any_method = true;
        } else {
            allow_methods.push(Method::from_bytes(m.as_bytes()).map_err(|_| {
                FilterError(format!("{field}.allowMethods[{i}]: {m:?} is not a method"))
            })?);
        }
    }
    let mut allow_headers = Vec::new();
    let mut allow_any_header = false;
    for (i, h) in spec.allow_headers.iter().enumerate() {
        if h == "*" {
            allow_any_header = true;
        } else {
            allow_headers.push(HeaderName::from_bytes(h.as_bytes()).map_err(|_| {
                FilterError(format!(
                    "{field}.allowHeaders[{i}]: {h:?} is not a header name"
                ))
            })?);
        }
    }
    let expose_headers = spec
        .expose_headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            HeaderValue::from_str(h).map_err(|_| {
                FilterError(format!(
                    "{field}.exposeHeaders[{i}]: {h:?} is not a header name"
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(CorsConfig {
        allow_origins,
        allow_credentials: spec.allow_credentials.unwrap_or(false),
        allow_methods,
        allow_any_method,
        allow_headers,
        allow_any_header,
        expose_headers,
        max_age: spec.max_age.unwrap_or(5),
    })
}

//! `HTTPRouteMatch` into pre-parsed matchers, and the precedence key of each.

use http::Method;
use regex::{Regex, RegexBuilder};
use std::{cmp::Reverse, fmt::Display, sync::Arc};

use super::intern::Interner;
use crate::{
    api::HttpRouteMatch,
    plan::{HeaderMatch, PathMatch, QueryParamMatch, RequestMatch, ValueMatch},
};

/// Largest compiled size of a user regex: enough for real routes, bounded for safety.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles a user regex anchored at both ends (Gateway API regexes match the whole value).
pub(crate) fn compile_regex(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("invalid regular expression {pattern:?}: {e}"))
}

/// The default match of a rule without matches: `PathPrefix /`.
pub(crate) fn default_match(intern: &mut Interner) -> RequestMatch {
    RequestMatch {
        path: PathMatch::Prefix(intern.str("/")),
        method: None,
        headers: Vec::new(),
        query_params: Vec::new(),
    }
}

/// Converts one match; `field` names it in errors (`spec.rules[0].matches[1]`) and is
/// only formatted when there is one. Paths and header names come from `intern`.
pub(crate) fn request_match(
    m: &HttpRouteMatch,
    field: impl Display,
    intern: &mut Interner,
) -> Result<RequestMatch, String> {
    let path = match &m.path {
        None => PathMatch::Prefix(intern.str("/")),
        Some(path) => {
            let value = path.value.as_deref().unwrap_or("/");
            let kind = path.type_.as_deref().unwrap_or("PathPrefix");
            match kind {
                "Exact" | "PathPrefix" if !value.starts_with('/') => {
                    return Err(format!("{field}.path.value: {value:?} must start with /"));
                }
                "Exact" => PathMatch::Exact(intern.str(value)),
                "PathPrefix" => {
                    let trimmed = value.trim_end_matches('/');
                    PathMatch::Prefix(intern.str(if trimmed.is_empty() { "/" } else { trimmed }))
                }
                "RegularExpression" => PathMatch::Regex(
                    compile_regex(value).map_err(|e| format!("{field}.path.value: {e}"))?,
                ),
                other => return Err(format!("{field}.path.type: {other:?} is not supported")),
            }
        }
    };
    let method = m
        .method
        .as_deref()
        .map(|text| {
            Method::from_bytes(text.as_bytes())
                .map_err(|_| format!("{field}.method: {text:?} is not an HTTP method"))
        })
        .transpose()?;
    let mut headers: Vec<HeaderMatch> = Vec::with_capacity(m.headers.len());
    for (i, header) in m.headers.iter().enumerate() {
        let name = intern.header_name(&header.name).ok_or_else(|| {
            format!(
                "{field}.headers[{i}].name: {:?} is not a header name",
                header.name
            )
        })?;
        // The spec says the first match of a repeated name wins; later ones are ignored.
        if headers.iter().any(|h| h.name == name) {
            continue;
        }
        let value = value_match(header.type_.as_deref(), &header.value)
            .map_err(|e| format!("{field}.headers[{i}]: {e}"))?;
        headers.push(HeaderMatch { name, value });
    }
    let mut query_params: Vec<QueryParamMatch> = Vec::with_capacity(m.query_params.len());
    for (i, param) in m.query_params.iter().enumerate() {
        if query_params.iter().any(|q| q.name.as_ref() == param.name) {
            continue;
        }
        let value = value_match(param.type_.as_deref(), &param.value)
            .map_err(|e| format!("{field}.queryParams[{i}]: {e}"))?;
        query_params.push(QueryParamMatch {
            name: intern.str(&param.name),
            value,
        });
    }
    Ok(RequestMatch {
        path,
        method,
        headers,
        query_params,
    })
}

fn value_match(kind: Option<&str>, value: &str) -> Result<ValueMatch, String> {
    match kind.unwrap_or("Exact") {
        "Exact" => Ok(ValueMatch::Exact(Arc::from(value))),
        "RegularExpression" => Ok(ValueMatch::Regex(compile_regex(value)?)),
        other => Err(format!("type {other:?} is not supported")),
    }
}

/// The part of the Gateway API precedence a single match decides; smaller sorts first:
/// exact paths, then longer prefixes, then regexes (longer patterns first), then matches
/// with a method, then more headers, then more query parameters.
pub(crate) type MatchRank = (u8, Reverse<usize>, bool, Reverse<usize>, Reverse<usize>);

/// The precedence rank of one match.
pub(crate) fn rank(m: &RequestMatch) -> MatchRank {
    let (kind, len) = match &m.path {
        PathMatch::Exact(p) => (0, p.len()),
        PathMatch::Prefix(p) => (1, if p.as_ref() == "/" { 0 } else { p.len() }),
        PathMatch::Regex(r) => (2, r.as_str().len()),
    };
    (
        kind,
        Reverse(len),
        m.method.is_none(),
        Reverse(m.headers.len()),
        Reverse(m.query_params.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{HttpHeaderMatch, HttpPathMatch};

    fn path(kind: &str, value: &str) -> RequestMatch {
        request_match(
            &HttpRouteMatch {
                path: Some(HttpPathMatch {
                    type_: Some(kind.into()),
                    value: Some(value.into()),
                }),
                ..Default::default()
            },
            "m",
            &mut Interner::default(),
        )
        .unwrap()
    }

    #[test]
    fn precedence_orders_exact_then_longest_prefix_then_regex() {
        let mut all = [
            path("RegularExpression", "/a.*"),
            path("PathPrefix", "/"),
            path("PathPrefix", "/abc"),
            path("Exact", "/abc"),
            path("PathPrefix", "/ab"),
        ];
        all.sort_by_key(rank);
        let order: Vec<String> = all.iter().map(|m| format!("{:?}", m.path)).collect();
        assert!(order[0].starts_with("Exact"));
        assert!(order[1].contains("\"/abc\""));
        assert!(order[2].contains("\"/ab\""));
        assert!(order[3].contains("\"/\""));
        assert!(order[4].starts_with("Regex"));
    }

    #[test]
    fn method_then_header_count_then_query_count_break_ties() {
        let mut with_method = path("PathPrefix", "/");
        with_method.method = Some(Method::GET);
        let mut with_headers = path("PathPrefix", "/");
        with_headers.headers = request_match(
            &HttpRouteMatch {
                headers: vec![
                    HttpHeaderMatch {
                        type_: None,
                        name: "a".into(),
                        value: "1".into(),
                    },
                    HttpHeaderMatch {
                        type_: None,
                        name: "b".into(),
                        value: "1".into(),
                    },
                ],
                ..Default::default()
            },
            "m",
            &mut Interner::default(),
        )
        .unwrap()
        .headers;
        assert!(rank(&with_method) < rank(&with_headers));
        assert!(rank(&with_headers) < rank(&path("PathPrefix", "/")));
    }

    #[test]
    fn prefix_trailing_slash_is_ignored_and_regexes_are_anchored() {
        assert!(matches!(path("PathPrefix", "/foo/").path, PathMatch::Prefix(p) if &*p == "/foo"));
        let PathMatch::Regex(re) = path("RegularExpression", "/v[0-9]+").path else {
            panic!()
        };
        assert!(re.is_match("/v12"));
        assert!(!re.is_match("/v12/x"));
    }

    #[test]
    fn errors_name_the_field() {
        let err = request_match(
            &HttpRouteMatch {
                path: Some(HttpPathMatch {
                    type_: Some("Exact".into()),
                    value: Some("nope".into()),
                }),
                ..Default::default()
            },
            "spec.rules[1].matches[0]",
            &mut Interner::default(),
        )
        .unwrap_err();
        assert!(
            err.starts_with("spec.rules[1].matches[0].path.value"),
            "{err}"
        );
    }
}

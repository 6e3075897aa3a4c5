//! Finding a token in a request, and taking it out before the request goes upstream.

use http::{HeaderMap, HeaderValue, Uri, header::COOKIE, uri::PathAndQuery};
use percent_encoding::percent_decode_str;
use std::borrow::Cow;

use super::TokenSource;

impl TokenSource {
    /// The token this source finds in the request, if any. A header whose value does not
    /// start with the prefix has no token for this source.
    pub(crate) fn extract<'a>(&self, headers: &'a HeaderMap, uri: &'a Uri) -> Option<Cow<'a, str>> {
        match self {
            Self::Header { name, prefix } => {
                let value = headers.get(name)?.to_str().ok()?;
                let rest = match prefix {
                    Some(prefix) => strip_prefix_ignore_case(value, prefix)?,
                    None => value,
                };
                let rest = rest.trim_start();
                let end = rest.find([' ', ',', '\t']).unwrap_or(rest.len());
                Some(Cow::Borrowed(&rest[..end]))
            }
            Self::QueryParameter(name) => query_pairs(uri.query()?)
                .find(|(key, _)| key == &**name)
                .map(|(_, value)| value),
            Self::Cookie(name) => headers
                .get_all(COOKIE)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(';'))
                .find_map(|pair| {
                    let (key, value) = pair.trim().split_once('=')?;
                    (key == &**name).then(|| Cow::Borrowed(value.trim_matches('"')))
                }),
        }
    }

    /// Takes this source's token out of the request (kgateway `forwardToken: false`): the
    /// whole header, the query parameter, or the cookie.
    pub(crate) fn remove(&self, headers: &mut HeaderMap, uri: &mut Uri) {
        match self {
            Self::Header { name, .. } => {
                headers.remove(name);
            }
            Self::QueryParameter(name) => remove_query_parameter(uri, name),
            Self::Cookie(name) => remove_cookie(headers, name),
        }
    }
}

/// `value` without `prefix` at its start, compared without regard to ASCII case
/// (`Bearer`, `bearer`).
fn strip_prefix_ignore_case<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
}

/// The `key=value` pairs of a query string, percent-decoded (a pair without `=` has an
/// empty value).
fn query_pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
}

/// Percent-decodes `text`; undecodable bytes are replaced, which no token contains.
fn decode(text: &str) -> Cow<'_, str> {
    percent_decode_str(text).decode_utf8_lossy()
}

/// Rebuilds `uri` without the query parameter `name`.
fn remove_query_parameter(uri: &mut Uri, name: &str) {
    let Some(query) = uri.query() else {
        return;
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(key, _)| key);
            !pair.is_empty() && decode(key) != name
        })
        .collect();
    let path_and_query = if kept.is_empty() {
        uri.path().to_owned()
    } else {
        format!("{}?{}", uri.path(), kept.join("&"))
    };
    let mut parts = std::mem::take(uri).into_parts();
    match PathAndQuery::try_from(path_and_query) {
        Ok(path_and_query) => parts.path_and_query = Some(path_and_query),
        Err(error) => tracing::debug!(%error, "JWT: could not remove the query parameter"),
    }
    match Uri::from_parts(parts) {
        Ok(rebuilt) => *uri = rebuilt,
        Err(error) => tracing::debug!(%error, "JWT: could not rebuild the request URI"),
    }
}

/// Rewrites the `Cookie` headers without the cookie `name`, dropping a header left empty.
fn remove_cookie(headers: &mut HeaderMap, name: &str) {
    let has_cookie = |value: &HeaderValue| {
        value.to_str().is_ok_and(|value| {
            value.split(';').any(|pair| {
                pair.trim()
                    .split_once('=')
                    .is_some_and(|(key, _)| key == name)
            })
        })
    };
    if !headers.get_all(COOKIE).iter().any(has_cookie) {
        return;
    }
    let rewritten: Vec<HeaderValue> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| {
            let Ok(text) = value.to_str() else {
                return Some(value.clone());
            };
            let kept: Vec<&str> = text
                .split(';')
                .map(str::trim)
                .filter(|pair| {
                    !pair.is_empty() && pair.split_once('=').is_none_or(|(key, _)| key != name)
                })
                .collect();
            (!kept.is_empty())
                .then(|| HeaderValue::from_str(&kept.join("; ")).ok())
                .flatten()
        })
        .collect();
    headers.remove(COOKIE);
    for value in rewritten {
        headers.append(COOKIE, value);
    }
}

//! Reading the key from a request, and taking it out again.

use http::{
    HeaderMap, HeaderValue, Uri,
    header::COOKIE,
    uri::{Parts, PathAndQuery},
};
use percent_encoding::percent_decode;
use std::borrow::Cow;

use super::KeySource;

/// The key from the first source that yields a non-empty value, looking at each source's
/// header, then its query parameter, then its cookie. Borrowed from the request unless the
/// query value was percent-encoded.
pub(super) fn find_key<'r>(
    sources: &[KeySource],
    headers: &'r HeaderMap,
    uri: &'r Uri,
) -> Option<Cow<'r, [u8]>> {
    let non_empty = |key: &Cow<'_, [u8]>| !key.is_empty();
    sources.iter().find_map(|source| {
        let from_header = source
            .header
            .as_ref()
            .and_then(|name| headers.get(name))
            .map(|value| {
                let value = value.as_bytes();
                Cow::Borrowed(value.strip_prefix(b"Bearer ").unwrap_or(value))
            })
            .filter(non_empty);
        if from_header.is_some() {
            return from_header;
        }
        let from_query = source
            .query
            .as_deref()
            .zip(uri.query())
            .and_then(|(name, query)| {
                query_pairs(query).find(|(key, _)| decoded(key) == name.as_bytes())
            })
            .map(|(_, value)| Cow::from(percent_decode(value.as_bytes())))
            .filter(non_empty);
        if from_query.is_some() {
            return from_query;
        }
        source
            .cookie
            .as_deref()
            .and_then(|name| cookie(headers, name))
            .map(Cow::Borrowed)
            .filter(non_empty)
    })
}

/// The `name=value` pairs of a query (`value` empty when there is no `=`).
fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// A query parameter name, percent-decoded.
fn decoded(name: &str) -> Cow<'_, [u8]> {
    Cow::from(percent_decode(name.as_bytes()))
}

/// The value of the first cookie called `name` in any `Cookie` header, without the
/// surrounding quotes of a quoted value (as Envoy reads cookies).
fn cookie<'r>(headers: &'r HeaderMap, name: &str) -> Option<&'r [u8]> {
    headers.get_all(COOKIE).iter().find_map(|line| {
        cookie_pairs(line.as_bytes())
            .find(|(key, _)| *key == name.as_bytes())
            .map(|(_, value)| unquote(value))
    })
}

/// The `name=value` pairs of a `Cookie` header line.
fn cookie_pairs(line: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    line.split(|byte| *byte == b';').filter_map(|pair| {
        let pair = pair.trim_ascii();
        let equals = pair.iter().position(|byte| *byte == b'=')?;
        Some((pair[..equals].trim_ascii(), pair[equals + 1..].trim_ascii()))
    })
}

fn unquote(value: &[u8]) -> &[u8] {
    value
        .strip_prefix(b"\"")
        .and_then(|inner| inner.strip_suffix(b"\""))
        .unwrap_or(value)
}

/// Takes every configured source's key out of the request, as Envoy's `hide_credentials`
/// does: the headers, every occurrence of the query parameters (the rest of the query is
/// kept as it was written) and the cookies (the other cookies are kept, in one `Cookie`
/// header). Allocates only when a query parameter or cookie has to go.
pub(super) fn remove_keys<B>(sources: &[KeySource], request: &mut http::Request<B>) {
    for name in sources.iter().filter_map(|source| source.header.as_ref()) {
        request.headers_mut().remove(name);
    }
    let is_key_param = |name: &str| {
        let name = decoded(name);
        sources
            .iter()
            .filter_map(|source| source.query.as_deref())
            .any(|query| name == query.as_bytes())
    };
    if let Some(query) = request.uri().query()
        && query_pairs(query).any(|(name, _)| is_key_param(name))
    {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                !pair.is_empty() && !is_key_param(pair.split_once('=').map_or(*pair, |(n, _)| n))
            })
            .collect();
        let path = request.uri().path();
        let path_and_query = if kept.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", kept.join("&"))
        };
        if let Ok(path_and_query) = PathAndQuery::try_from(path_and_query) {
            let mut parts = Parts::from(request.uri().clone());
            parts.path_and_query = Some(path_and_query);
            if let Ok(uri) = Uri::from_parts(parts) {
                *request.uri_mut() = uri;
            }
        }
    }
    let is_key_cookie = |name: &[u8]| {
        sources
            .iter()
            .filter_map(|source| source.cookie.as_deref())
            .any(|cookie| name == cookie.as_bytes())
    };
    let headers = request.headers_mut();
    if headers
        .get_all(COOKIE)
        .iter()
        .any(|line| cookie_pairs(line.as_bytes()).any(|(name, _)| is_key_cookie(name)))
    {
        let mut kept: Vec<u8> = Vec::new();
        for line in headers.get_all(COOKIE) {
            for pair in line.as_bytes().split(|byte| *byte == b';') {
                let pair = pair.trim_ascii();
                let name = pair.split(|byte| *byte == b'=').next().unwrap_or(pair);
                if pair.is_empty() || is_key_cookie(name.trim_ascii()) {
                    continue;
                }
                if !kept.is_empty() {
                    kept.extend_from_slice(b"; ");
                }
                kept.extend_from_slice(pair);
            }
        }
        headers.remove(COOKIE);
        if let Ok(value) = HeaderValue::from_bytes(&kept)
            && !kept.is_empty()
        {
            headers.insert(COOKIE, value);
        }
    }
}

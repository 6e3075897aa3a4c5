//! Per-request evaluation of a plan's `RequestMatch` against a request.
//!
//! Everything was parsed at compile time; matching only compares bytes. No allocation
//! unless a query value is percent-encoded.

use std::borrow::Cow;

use crate::plan::{PathMatch, RequestMatch, ValueMatch};

/// Whether the request's path matches, and the prefix matched for `PathPrefix`.
fn path_matches(path_match: &PathMatch, path: &str) -> bool {
    match path_match {
        PathMatch::Exact(exact) => path == exact.as_ref(),
        PathMatch::Prefix(prefix) => {
            prefix.as_ref() == "/"
                || (path.starts_with(prefix.as_ref())
                    && matches!(path.as_bytes().get(prefix.len()), None | Some(b'/')))
        }
        PathMatch::Regex(re) => re.is_match(path),
    }
}

fn value_matches(value_match: &ValueMatch, value: &str) -> bool {
    match value_match {
        ValueMatch::Exact(exact) => value == exact.as_ref(),
        ValueMatch::Regex(re) => re.is_match(value),
    }
}

/// The first value of query parameter `name` in `query`, percent-decoded.
fn query_value<'q>(query: &'q str, name: &str) -> Option<Cow<'q, str>> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| decode(value))
    })
}

fn decode(value: &str) -> Cow<'_, str> {
    if !value.contains(['%', '+']) {
        return Cow::Borrowed(value);
    }
    let plus_decoded = value.replace('+', " ");
    Cow::Owned(
        percent_encoding::percent_decode_str(&plus_decoded)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// Whether `request` satisfies every condition of `m`.
pub(crate) fn request_matches<B>(m: &RequestMatch, request: &http::Request<B>) -> bool {
    let uri = request.uri();
    if !path_matches(&m.path, uri.path()) {
        return false;
    }
    if let Some(method) = &m.method
        && request.method() != method
    {
        return false;
    }
    for header in &m.headers {
        let mut values = request.headers().get_all(&header.name).iter();
        let matched = values.any(|v| v.to_str().is_ok_and(|v| value_matches(&header.value, v)));
        if !matched {
            return false;
        }
    }
    if !m.query_params.is_empty() {
        let query = uri.query().unwrap_or("");
        for param in &m.query_params {
            match query_value(query, &param.name) {
                Some(value) if value_matches(&param.value, &value) => {}
                _ => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn prefix(p: &str) -> PathMatch {
        PathMatch::Prefix(Arc::from(p))
    }

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(path_matches(&prefix("/foo"), "/foo"));
        assert!(path_matches(&prefix("/foo"), "/foo/"));
        assert!(path_matches(&prefix("/foo"), "/foo/bar"));
        assert!(!path_matches(&prefix("/foo"), "/foobar"));
        assert!(path_matches(&prefix("/"), "/anything"));
    }

    #[test]
    fn query_values_are_decoded_and_first_wins() {
        assert_eq!(query_value("a=1&b=x%20y&a=2", "a").as_deref(), Some("1"));
        assert_eq!(query_value("a=1&b=x%20y", "b").as_deref(), Some("x y"));
        assert_eq!(query_value("flag", "flag").as_deref(), Some(""));
        assert_eq!(query_value("a=1", "A"), None);
    }
}

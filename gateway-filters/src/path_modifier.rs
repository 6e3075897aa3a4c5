//! The path change shared by `RequestRedirect` and `URLRewrite` (Gateway API
//! `HTTPPathModifier`).
//!
//! `ReplacePrefixMatch` replaces the prefix the route matched (the router records it in the
//! [`RouteContext`](gateway_core::extensions::RouteContext) request extension; other stacks
//! may set a [`MatchedPrefix`](gateway_core::extensions::MatchedPrefix)) on path
//! segment boundaries, as the Gateway API table says:
//!
//! | request path | matched prefix | replacement | result     |
//! |--------------|----------------|-------------|------------|
//! | `/foo/bar`   | `/foo`         | `/xyz`      | `/xyz/bar` |
//! | `/foo/bar`   | `/foo/`        | `/xyz/`     | `/xyz/bar` |
//! | `/foo`       | `/foo`         | `/xyz`      | `/xyz`     |
//! | `/foo/`      | `/foo`         | `/xyz`      | `/xyz/`    |
//! | `/foo/bar`   | `/foo`         | `/`         | `/bar`     |
//! | `/foo`       | `/foo`         | `/`         | `/`        |
//!
//! The query string is never touched.

use http::{Uri, uri::PathAndQuery};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::Serialize;
use std::{borrow::Cow, sync::Arc};

/// How to change the request path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PathModifier {
    /// Replace the whole path (query preserved).
    ReplaceFullPath(Arc<str>),
    /// Replace the prefix the route matched (see `gateway_core::extensions::MatchedPrefix`),
    /// keeping the rest of the path, on segment boundaries.
    ReplacePrefixMatch(Arc<str>),
}

/// Characters a configured replacement may contain that cannot appear raw in a URI path:
/// they are percent-encoded (`%` itself is kept, so pre-encoded values pass unchanged).
const NOT_IN_PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

impl PathModifier {
    /// The new path for a request whose path is `path`.
    ///
    /// `matched_prefix` is the prefix the route matched; `ReplacePrefixMatch` leaves the
    /// path unchanged (`None`) without one, or when `path` does not start with it on a
    /// segment boundary.
    pub fn apply(&self, path: &str, matched_prefix: Option<&str>) -> Option<String> {
        match self {
            Self::ReplaceFullPath(full) => Some(rooted(&encode(full))),
            Self::ReplacePrefixMatch(replacement) => {
                replace_prefix(path, matched_prefix?, &encode(replacement))
            }
        }
    }
}

/// Replaces `prefix` at the start of `path` with `replacement`, on segment boundaries:
/// trailing slashes of both are ignored, the remainder of the path is kept as is, and an
/// empty result becomes `/`. `None` when `path` does not start with the prefix segments.
pub fn replace_prefix(path: &str, prefix: &str, replacement: &str) -> Option<String> {
    let rest = path.strip_prefix(prefix.trim_end_matches('/'))?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let mut out = String::with_capacity(replacement.len() + rest.len() + 1);
    out.push_str(replacement.trim_end_matches('/'));
    out.push_str(rest);
    Some(rooted(&out))
}

/// `path` with a leading `/` (an empty path becomes `/`).
fn rooted(path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

fn encode(value: &str) -> Cow<'_, str> {
    utf8_percent_encode(value, NOT_IN_PATH).into()
}

/// `uri` with its path replaced by `path`, keeping scheme, authority and query. `None` when
/// the result is not a valid URI.
pub(crate) fn with_path(uri: &Uri, path: &str) -> Option<Uri> {
    let path_and_query = match uri.query() {
        Some(query) => PathAndQuery::try_from(format!("{path}?{query}")),
        None => PathAndQuery::try_from(path),
    }
    .ok()?;
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_replacement_follows_the_gateway_api_table() {
        // (request path, matched prefix, replacement, expected)
        let cases = [
            ("/foo/bar", "/foo", "/xyz", "/xyz/bar"),
            ("/foo/bar", "/foo", "/xyz/", "/xyz/bar"),
            ("/foo/bar", "/foo/", "/xyz", "/xyz/bar"),
            ("/foo/bar", "/foo/", "/xyz/", "/xyz/bar"),
            ("/foo", "/foo", "/xyz", "/xyz"),
            ("/foo/", "/foo", "/xyz", "/xyz/"),
            ("/foo/bar", "/foo", "", "/bar"),
            ("/foo/", "/foo", "", "/"),
            ("/foo", "/foo", "", "/"),
            ("/foo/", "/foo", "/", "/"),
            ("/foo", "/foo", "/", "/"),
            ("/foo/bar", "/foo", "/", "/bar"),
            ("/anything/else", "/", "/xyz", "/xyz/anything/else"),
            // Conformance: HTTPRouteRewritePath and HTTPRouteRedirectPath.
            ("/prefix/one/two", "/prefix/one", "/one", "/one/two"),
            ("/strip-prefix/three", "/strip-prefix", "/", "/three"),
            ("/strip-prefix", "/strip-prefix", "/", "/"),
            (
                "/prefix/rewrite-path-and-modify-headers/one",
                "/prefix/rewrite-path-and-modify-headers",
                "/prefix",
                "/prefix/one",
            ),
            (
                "/original-prefix/lemon",
                "/original-prefix",
                "/replacement-prefix",
                "/replacement-prefix/lemon",
            ),
            (
                "/path-and-host",
                "/path-and-host",
                "/replacement-prefix",
                "/replacement-prefix",
            ),
        ];
        for (path, prefix, replacement, expected) in cases {
            assert_eq!(
                replace_prefix(path, prefix, replacement).as_deref(),
                Some(expected),
                "{path} with prefix {prefix} replaced by {replacement:?}"
            );
        }
    }

    #[test]
    fn prefix_must_end_on_a_segment_boundary() {
        assert_eq!(replace_prefix("/foobar", "/foo", "/xyz"), None);
        assert_eq!(replace_prefix("/other", "/foo", "/xyz"), None);
    }

    #[test]
    fn modifiers_apply_full_and_prefix_replacements() {
        let full = PathModifier::ReplaceFullPath("/one".into());
        assert_eq!(full.apply("/full/one/two", None).as_deref(), Some("/one"));
        let prefix = PathModifier::ReplacePrefixMatch("/one".into());
        assert_eq!(
            prefix
                .apply("/prefix/one/two", Some("/prefix/one"))
                .as_deref(),
            Some("/one/two")
        );
        assert_eq!(prefix.apply("/prefix/one/two", None), None);
    }

    #[test]
    fn replacements_are_percent_encoded() {
        let full = PathModifier::ReplaceFullPath("/a b?c%20".into());
        assert_eq!(full.apply("/x", None).as_deref(), Some("/a%20b%3Fc%20"));
    }

    #[test]
    fn with_path_keeps_the_query_and_authority() {
        let uri: Uri = "http://example.com:8080/old/path?a=1&b=2".parse().unwrap();
        let new = with_path(&uri, "/new").unwrap();
        assert_eq!(new.to_string(), "http://example.com:8080/new?a=1&b=2");
        let origin_form: Uri = "/old".parse().unwrap();
        assert_eq!(with_path(&origin_form, "/new").unwrap().to_string(), "/new");
    }
}

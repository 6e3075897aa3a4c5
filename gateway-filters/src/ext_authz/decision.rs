//! What an authorization server decided, and how the decision changes the request, the
//! response, or becomes the answer.

use bytes::Bytes;
use gateway_core::ResponseFlag;
use http::{
    HeaderMap, HeaderName, HeaderValue, StatusCode, Uri,
    header::{CONTENT_TYPE, HOST},
    request::Parts,
    uri::PathAndQuery,
};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use crate::buffer::FullBody;

/// Characters a query parameter name or value from the server cannot carry as they are: they
/// would end the parameter or the query, or are not allowed in a URI. `%` is kept, so a
/// server may send values already percent-encoded.
const QUERY_COMPONENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'&')
    .add(b'=')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^');

/// The outcome of one check.
#[derive(Debug)]
pub(super) enum Decision {
    /// The request goes on, changed as the server asked.
    Allow(Allowed),
    /// The server's answer goes to the client instead.
    Deny(Denied),
    /// The server could not decide (unreachable, timed out, failed), with the answer it
    /// asked for in that case, if any (gRPC `error_response`).
    Error(Option<Denied>),
}

/// How an upstream header from the server is applied (Envoy's `HeaderAppendAction`, and
/// the deprecated `append` flag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Action {
    /// Added beside any existing values.
    Append,
    /// Replaces any existing values.
    Set,
    /// Added only when the header is absent.
    AddIfAbsent,
    /// Replaces existing values; nothing when the header is absent.
    OverwriteIfExists,
}

/// The changes an allowing server asked for.
#[derive(Debug, Default)]
pub(super) struct Allowed {
    /// Upstream request headers set, replacing the client's.
    pub(super) set: Vec<(HeaderName, HeaderValue)>,
    /// Upstream request headers appended to the client's value with a comma (nothing when
    /// the client sent none).
    pub(super) append: Vec<(HeaderName, HeaderValue)>,
    /// Upstream request headers removed (`Host` cannot be).
    pub(super) remove: Vec<HeaderName>,
    /// Query parameters set on the upstream request, replacing the client's.
    pub(super) query_set: Vec<(String, String)>,
    /// Query parameters removed from the upstream request.
    pub(super) query_remove: Vec<String>,
    /// Headers put on the response to the client.
    pub(super) response: Vec<(HeaderName, HeaderValue, Action)>,
}

impl Allowed {
    /// Changes the upstream request: sets, then appends, then removals; then the query.
    pub(super) fn apply_request(&self, parts: &mut Parts) {
        let headers = &mut parts.headers;
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.append {
            append_to_value(headers, name, value);
        }
        for name in &self.remove {
            if name != HOST {
                headers.remove(name);
            }
        }
        if !self.query_set.is_empty() || !self.query_remove.is_empty() {
            self.apply_query(&mut parts.uri);
        }
    }

    /// Puts the server's headers on the response to the client.
    pub(super) fn apply_response(&self, headers: &mut HeaderMap) {
        for (name, value, action) in &self.response {
            apply(headers, name, value, *action);
        }
    }

    /// Rewrites the query: parameters set replace the first of the same name (later ones
    /// go) or are added at the end; removed ones go. Names are compared as they are
    /// written, without decoding.
    fn apply_query(&self, uri: &mut Uri) {
        let (path, query) = match uri.path_and_query() {
            Some(path_and_query) => (path_and_query.path(), path_and_query.query()),
            None => ("/", None),
        };
        let mut pairs: Vec<(String, Option<String>)> = query
            .into_iter()
            .flat_map(|query| query.split('&'))
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                None => (pair.to_owned(), None),
            })
            .collect();
        for (name, value) in &self.query_set {
            let name = utf8_percent_encode(name, QUERY_COMPONENT).to_string();
            let value = utf8_percent_encode(value, QUERY_COMPONENT).to_string();
            match pairs.iter().position(|(existing, _)| *existing == name) {
                Some(first) => {
                    pairs[first].1 = Some(value);
                    let mut index = 0;
                    pairs.retain(|(existing, _)| {
                        let keep = index <= first || *existing != name;
                        index += 1;
                        keep
                    });
                }
                None => pairs.push((name, Some(value))),
            }
        }
        for name in &self.query_remove {
            let name = utf8_percent_encode(name, QUERY_COMPONENT).to_string();
            pairs.retain(|(existing, _)| *existing != name);
        }
        let mut target = String::from(path);
        for (index, (name, value)) in pairs.iter().enumerate() {
            target.push(if index == 0 { '?' } else { '&' });
            target.push_str(name);
            if let Some(value) = value {
                target.push('=');
                target.push_str(value);
            }
        }
        let mut parts = std::mem::take(uri).into_parts();
        match PathAndQuery::try_from(target) {
            Ok(path_and_query) => parts.path_and_query = Some(path_and_query),
            Err(error) => tracing::debug!(%error, "ext_authz query parameters left unchanged"),
        }
        match Uri::from_parts(parts) {
            Ok(rebuilt) => *uri = rebuilt,
            Err(error) => tracing::debug!(%error, "ext_authz query parameters left unchanged"),
        }
    }
}

/// A denying (or failing) server's answer.
#[derive(Debug, Default)]
pub(super) struct Denied {
    /// The status; the default of [`Denied::into_response`] when the server chose none.
    pub(super) status: Option<StatusCode>,
    /// Headers; a `Set` header replaces any of the same name the answer would carry, and
    /// several `Set` entries of one name are all kept (`Set-Cookie`).
    pub(super) headers: Vec<(HeaderName, HeaderValue, Action)>,
    /// The body.
    pub(super) body: Bytes,
}

impl Denied {
    /// The answer to the client, with status `default` unless the server chose one,
    /// flagged `UAEX`. A body gets `Content-Type: text/plain` unless the server's headers
    /// say otherwise.
    pub(super) fn into_response<B: FullBody>(self, default: StatusCode) -> http::Response<B> {
        let mut headers = HeaderMap::new();
        if !self.body.is_empty() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        }
        for (name, _, action) in &self.headers {
            if *action == Action::Set {
                headers.remove(name);
            }
        }
        for (name, value, action) in self.headers {
            match action {
                Action::Set | Action::Append => {
                    headers.append(name, value);
                }
                other => apply(&mut headers, &name, &value, other),
            }
        }
        let mut response = http::Response::new(B::full(self.body, None));
        *response.status_mut() = self.status.unwrap_or(default);
        *response.headers_mut() = headers;
        response
            .extensions_mut()
            .insert(ResponseFlag::UnauthorizedExternalService);
        response
    }
}

/// Applies one header with `action`.
fn apply(headers: &mut HeaderMap, name: &HeaderName, value: &HeaderValue, action: Action) {
    match action {
        Action::Append => {
            headers.append(name.clone(), value.clone());
        }
        Action::Set => {
            headers.insert(name.clone(), value.clone());
        }
        Action::AddIfAbsent => {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
        Action::OverwriteIfExists => {
            if headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
    }
}

/// Appends `value` to the header's existing values, joined with `,` into one value, as
/// Envoy's `appendCopy` does; nothing when the client sent no such header (Envoy 1.36).
fn append_to_value(headers: &mut HeaderMap, name: &HeaderName, value: &HeaderValue) {
    let mut joined: Option<Vec<u8>> = None;
    for existing in headers.get_all(name) {
        let bytes = joined.get_or_insert_with(Vec::new);
        if !bytes.is_empty() && !existing.is_empty() {
            bytes.push(b',');
        }
        bytes.extend_from_slice(existing.as_bytes());
    }
    let Some(mut joined) = joined else {
        return;
    };
    if !joined.is_empty() {
        joined.push(b',');
    }
    joined.extend_from_slice(value.as_bytes());
    if let Ok(combined) = HeaderValue::from_bytes(&joined) {
        headers.insert(name.clone(), combined);
    }
}

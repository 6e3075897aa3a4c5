//! Between HTTP messages and the protocol's messages: headers out as `HeaderMap` protos,
//! and the processor's header mutations, body mutations and immediate responses back in.
//!
//! Header mutations follow Envoy's default mutation rules: `host`, `:authority`,
//! `:scheme`, `:method` (except when the processor replaces the whole request) and
//! `x-envoy-*` headers are left alone; `:path` may be set on requests and `:status` on
//! responses; other pseudo-headers are ignored. A mutation with an invalid name or value,
//! or with more than [`MAX_MUTATIONS`] entries in either list, is refused whole.

use bytes::Bytes;
use envoy_types::pb::envoy::{
    config::core::v3::{
        HeaderMap as ProtoHeaderMap, HeaderValue as ProtoHeaderValue, HeaderValueOption,
        header_value_option::HeaderAppendAction,
    },
    service::ext_proc::v3::{
        BodyMutation, HeaderMutation, HttpBody, HttpHeaders, HttpTrailers, ImmediateResponse,
        ProcessingRequest, body_mutation::Mutation, processing_request,
    },
};
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri,
    header::{CONTENT_TYPE, HOST},
    request, response,
    uri::PathAndQuery,
};

use crate::buffer::FullBody;

/// The most entries a mutation may list in `set_headers` or in `remove_headers` (Envoy's
/// default header count limit).
pub(super) const MAX_MUTATIONS: usize = 100;

/// Why a processor's header mutation was refused.
#[derive(Debug, thiserror::Error)]
pub(super) enum MutationError {
    #[error("more than {MAX_MUTATIONS} headers to set or to remove")]
    TooMany,
    #[error("invalid header name {0:?}")]
    Name(String),
    #[error("invalid value for header {0:?}")]
    Value(String),
    #[error("both value and raw_value set for header {0:?}")]
    BothValues(String),
    #[error("unknown append action {0}")]
    AppendAction(i32),
}

/// Which message of the exchange a part belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Direction {
    Request,
    Response,
}

impl Direction {
    /// A body chunk message.
    pub(super) fn body(self, data: &[u8], end_of_stream: bool) -> ProcessingRequest {
        let body = HttpBody {
            body: data.to_vec(),
            end_of_stream,
            ..HttpBody::default()
        };
        message(match self {
            Self::Request => processing_request::Request::RequestBody(body),
            Self::Response => processing_request::Request::ResponseBody(body),
        })
    }

    /// A trailers message.
    pub(super) fn trailers(self, trailers: &HeaderMap) -> ProcessingRequest {
        let mut headers = Vec::with_capacity(trailers.len());
        push_headers(&mut headers, trailers);
        let trailers = HttpTrailers {
            trailers: Some(ProtoHeaderMap { headers }),
        };
        message(match self {
            Self::Request => processing_request::Request::RequestTrailers(trailers),
            Self::Response => processing_request::Request::ResponseTrailers(trailers),
        })
    }
}

fn message(request: processing_request::Request) -> ProcessingRequest {
    ProcessingRequest {
        request: Some(request),
        ..ProcessingRequest::default()
    }
}

/// A message head the processor sees and mutates: a request's or a response's.
pub(super) trait Head {
    /// Which side of the exchange this is.
    const DIRECTION: Direction;

    /// The head's headers.
    fn headers_mut(&mut self) -> &mut HeaderMap;

    /// The headers message, pseudo-headers first as Envoy sends them.
    fn message(&self, end_of_stream: bool) -> ProcessingRequest;

    /// Applies `mutation`; `replacing` when the processor answered
    /// `CONTINUE_AND_REPLACE` (which lets it change a request's `:method`).
    fn apply(&mut self, mutation: &HeaderMutation, replacing: bool) -> Result<(), MutationError>;
}

impl Head for request::Parts {
    const DIRECTION: Direction = Direction::Request;

    fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    fn message(&self, end_of_stream: bool) -> ProcessingRequest {
        let mut headers = Vec::with_capacity(self.headers.len() + 4);
        let authority = self
            .uri
            .authority()
            .map(|authority| authority.as_str().as_bytes())
            .or_else(|| self.headers.get(HOST).map(HeaderValue::as_bytes));
        push(&mut headers, ":method", self.method.as_str().as_bytes());
        push(
            &mut headers,
            ":scheme",
            self.uri.scheme_str().unwrap_or("http").as_bytes(),
        );
        if let Some(authority) = authority {
            push(&mut headers, ":authority", authority);
        }
        let path = self
            .uri
            .path_and_query()
            .map_or(self.uri.path(), PathAndQuery::as_str);
        push(&mut headers, ":path", path.as_bytes());
        // `Host` travels as `:authority`, as Envoy sends HTTP/1.1 requests.
        for (name, value) in &self.headers {
            if name != HOST {
                push(&mut headers, name.as_str(), value.as_bytes());
            }
        }
        message(processing_request::Request::RequestHeaders(HttpHeaders {
            headers: Some(ProtoHeaderMap { headers }),
            end_of_stream,
            ..HttpHeaders::default()
        }))
    }

    fn apply(&mut self, mutation: &HeaderMutation, replacing: bool) -> Result<(), MutationError> {
        apply(
            mutation,
            &mut self.headers,
            Pseudo::Request {
                uri: &mut self.uri,
                method: &mut self.method,
                replacing,
            },
        )
    }
}

impl Head for response::Parts {
    const DIRECTION: Direction = Direction::Response;

    fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    fn message(&self, end_of_stream: bool) -> ProcessingRequest {
        let mut headers = Vec::with_capacity(self.headers.len() + 1);
        push(&mut headers, ":status", self.status.as_str().as_bytes());
        push_headers(&mut headers, &self.headers);
        message(processing_request::Request::ResponseHeaders(HttpHeaders {
            headers: Some(ProtoHeaderMap { headers }),
            end_of_stream,
            ..HttpHeaders::default()
        }))
    }

    fn apply(&mut self, mutation: &HeaderMutation, _replacing: bool) -> Result<(), MutationError> {
        apply(
            mutation,
            &mut self.headers,
            Pseudo::Response {
                status: &mut self.status,
            },
        )
    }
}

/// Header values travel in `raw_value`, as current Envoy sends them.
fn push(headers: &mut Vec<ProtoHeaderValue>, key: &str, value: &[u8]) {
    headers.push(ProtoHeaderValue {
        key: key.to_owned(),
        value: String::new(),
        raw_value: value.to_vec(),
    });
}

fn push_headers(headers: &mut Vec<ProtoHeaderValue>, map: &HeaderMap) {
    for (name, value) in map {
        push(headers, name.as_str(), value.as_bytes());
    }
}

/// The pseudo-headers a mutation may reach.
pub(super) enum Pseudo<'a> {
    /// A request's `:path`, and its `:method` when the processor replaces the request.
    Request {
        uri: &'a mut Uri,
        method: &'a mut Method,
        replacing: bool,
    },
    /// A response's `:status`.
    Response { status: &'a mut StatusCode },
    /// Trailers and immediate responses: none.
    None,
}

/// What a `set_headers` entry does with the header's existing values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// Add a value beside the existing ones.
    Append,
    /// Add the header only when absent.
    AddIfAbsent,
    /// Replace the values, or add the header.
    Overwrite,
    /// Replace the values only when present.
    OverwriteIfExists,
}

impl Action {
    /// Envoy's reading: an explicit `append_action` wins; the default action defers to the
    /// legacy `append` flag, which defaults to `false` (overwrite) in ext_proc mutations.
    #[allow(
        deprecated,
        reason = "processors still send the legacy `append` flag, and Envoy honours it"
    )]
    fn of(option: &HeaderValueOption) -> Result<Self, MutationError> {
        match HeaderAppendAction::try_from(option.append_action) {
            Ok(HeaderAppendAction::AppendIfExistsOrAdd) => Ok(
                if option.append.as_ref().is_some_and(|append| append.value) {
                    Self::Append
                } else {
                    Self::Overwrite
                },
            ),
            Ok(HeaderAppendAction::AddIfAbsent) => Ok(Self::AddIfAbsent),
            Ok(HeaderAppendAction::OverwriteIfExistsOrAdd) => Ok(Self::Overwrite),
            Ok(HeaderAppendAction::OverwriteIfExists) => Ok(Self::OverwriteIfExists),
            Err(_) => Err(MutationError::AppendAction(option.append_action)),
        }
    }
}

/// Whether Envoy's default rules let a processor touch the regular header `name`.
fn mutable(name: &str) -> bool {
    name != "host" && !name.starts_with("x-envoy")
}

/// Applies `mutation` to `headers` (and the pseudo-headers of `pseudo`): removals first,
/// then the `set_headers` entries in order.
pub(super) fn apply(
    mutation: &HeaderMutation,
    headers: &mut HeaderMap,
    mut pseudo: Pseudo<'_>,
) -> Result<(), MutationError> {
    if mutation.set_headers.len() > MAX_MUTATIONS || mutation.remove_headers.len() > MAX_MUTATIONS {
        return Err(MutationError::TooMany);
    }
    for name in &mutation.remove_headers {
        if name.starts_with(':') {
            continue;
        }
        let parsed = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| MutationError::Name(name.clone()))?;
        if mutable(parsed.as_str()) {
            headers.remove(&parsed);
        }
    }
    for option in &mutation.set_headers {
        let Some(header) = &option.header else {
            continue;
        };
        if !header.value.is_empty() && !header.raw_value.is_empty() {
            return Err(MutationError::BothValues(header.key.clone()));
        }
        let raw = if header.raw_value.is_empty() {
            header.value.as_bytes()
        } else {
            &header.raw_value
        };
        let action = Action::of(option)?;
        if let Some(pseudo_name) = header.key.strip_prefix(':') {
            set_pseudo(&mut pseudo, pseudo_name, raw, &header.key)?;
            continue;
        }
        let name = HeaderName::from_bytes(header.key.as_bytes())
            .map_err(|_| MutationError::Name(header.key.clone()))?;
        let value =
            HeaderValue::from_bytes(raw).map_err(|_| MutationError::Value(header.key.clone()))?;
        if !mutable(name.as_str()) {
            continue;
        }
        let present = headers.contains_key(&name);
        match action {
            Action::Append => {
                headers.append(name, value);
            }
            Action::AddIfAbsent if !present => {
                headers.insert(name, value);
            }
            Action::Overwrite => {
                headers.insert(name, value);
            }
            Action::OverwriteIfExists if present => {
                headers.insert(name, value);
            }
            Action::AddIfAbsent | Action::OverwriteIfExists => {}
        }
    }
    Ok(())
}

/// `:path` on requests, `:method` on replaced requests, `:status` on responses; other
/// pseudo-headers (`:authority`, `:scheme`) are left alone, as Envoy's rules leave them.
fn set_pseudo(
    pseudo: &mut Pseudo<'_>,
    name: &str,
    raw: &[u8],
    key: &str,
) -> Result<(), MutationError> {
    let invalid = || MutationError::Value(key.to_owned());
    match (pseudo, name) {
        (Pseudo::Request { uri, .. }, "path") => {
            let path = PathAndQuery::try_from(raw).map_err(|_| invalid())?;
            let mut parts = std::mem::take(*uri).into_parts();
            parts.path_and_query = Some(path);
            **uri = Uri::from_parts(parts).map_err(|_| invalid())?;
        }
        (
            Pseudo::Request {
                method,
                replacing: true,
                ..
            },
            "method",
        ) => {
            **method = Method::from_bytes(raw).map_err(|_| invalid())?;
        }
        (Pseudo::Response { status }, "status") => {
            **status = std::str::from_utf8(raw)
                .ok()
                .and_then(|text| text.parse::<u16>().ok())
                .filter(|code| (200..=999).contains(code))
                .and_then(|code| StatusCode::from_u16(code).ok())
                .ok_or_else(invalid)?;
        }
        _ => {}
    }
    Ok(())
}

/// What a body mutation replaces the body (or chunk) with: the processor's bytes, nothing
/// (`clear_body`), or `None` to keep it.
pub(super) fn replacement(mutation: Option<BodyMutation>) -> Option<Bytes> {
    match mutation.and_then(|mutation| mutation.mutation) {
        Some(Mutation::Body(body)) => Some(Bytes::from(body)),
        Some(Mutation::ClearBody(true)) => Some(Bytes::new()),
        Some(Mutation::ClearBody(false) | Mutation::StreamedResponse(_)) | None => None,
    }
}

/// The chunk a body mutation leaves of `original`.
pub(super) fn mutate_body(mutation: Option<BodyMutation>, original: Bytes) -> Bytes {
    replacement(mutation).unwrap_or(original)
}

/// The local answer an `ImmediateResponse` asks for: its status (`200` when unset or below
/// `200`, as Envoy does), its body as `text/plain`, and its header mutation applied.
pub(super) fn immediate<B: FullBody>(answer: ImmediateResponse) -> http::Response<B> {
    let status = answer
        .status
        .and_then(|status| u16::try_from(status.code).ok())
        .filter(|code| (200..=999).contains(code))
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::OK);
    let mut headers = HeaderMap::new();
    if !answer.body.is_empty() {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    }
    if let Some(mutation) = &answer.headers
        && let Err(error) = apply(mutation, &mut headers, Pseudo::None)
    {
        tracing::debug!(%error, "ext_proc immediate response: header mutation refused");
    }
    let mut response = http::Response::new(B::full(Bytes::from(answer.body), None));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// The gateway's own answer when processing fails: `status` with an empty body, as Envoy's
/// ext_proc local replies have.
pub(super) fn failure<B: FullBody>(status: StatusCode) -> http::Response<B> {
    let mut response = http::Response::new(B::full(Bytes::new(), None));
    *response.status_mut() = status;
    response
}

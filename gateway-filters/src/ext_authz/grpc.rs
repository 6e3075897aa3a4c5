//! The gRPC protocol: Envoy's `envoy.service.auth.v3.Authorization/Check`.

use envoy_types::pb::{
    envoy::{
        config::core::v3::{
            Address, HeaderValueOption, SocketAddress, address,
            header_value_option::HeaderAppendAction, socket_address,
        },
        service::auth::v3::{
            AttributeContext, CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
            attribute_context::{HttpRequest, Peer, Request as RequestAttributes},
            authorization_client::AuthorizationClient,
            check_response::HttpResponse,
        },
    },
    google::protobuf::Timestamp,
};
use gateway_core::extensions::{ClientAddr, ConnectionInfo, RequestId};
use http::{
    HeaderName, HeaderValue, StatusCode, Version, header::HOST, request::Parts, uri::Authority,
};
use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, OnceLock},
    time::SystemTime,
};
use tonic::{
    metadata::{Ascii, MetadataValue},
    transport::Channel,
};

use crate::grpc_channel::{grpc_timeout, lazy_channel};

use super::{
    GrpcSettings,
    body::SentBody,
    decision::{Action, Allowed, Decision, Denied},
};

/// The header Envoy adds to a check request that carries a body: `true` when the body was
/// cut at `maxRequestBytes`.
const PARTIAL_BODY_HEADER: &str = "x-envoy-auth-partial-body";

/// Check calls to one authorization server over one tonic [`Channel`], balanced over the
/// server's endpoints. The channel (which spawns its connection task) is made on the first
/// check, inside the runtime, and then shared by every clone of the layer.
#[derive(Debug)]
pub(super) struct GrpcClient {
    endpoints: Arc<[SocketAddr]>,
    authority: Option<Authority>,
    client: OnceLock<AuthorizationClient<Channel>>,
    /// The `grpc-timeout` sent with every call, so the server knows the deadline.
    deadline: Option<MetadataValue<Ascii>>,
}

impl GrpcClient {
    pub(super) fn new(endpoints: Arc<[SocketAddr]>, settings: &GrpcSettings) -> Self {
        Self {
            endpoints,
            authority: settings.authority.clone(),
            client: OnceLock::new(),
            deadline: grpc_timeout(settings.timeout),
        }
    }

    /// Sends `request` and reads the decision; any failure of the call is
    /// [`Decision::Error`].
    pub(super) async fn check(&self, request: CheckRequest) -> Decision {
        if self.endpoints.is_empty() {
            tracing::debug!("ext_authz gRPC server has no endpoints");
            return Decision::Error(None);
        }
        let mut client = self
            .client
            .get_or_init(|| AuthorizationClient::new(self.channel()))
            .clone();
        let mut request = tonic::Request::new(request);
        if let Some(deadline) = &self.deadline {
            request
                .metadata_mut()
                .insert("grpc-timeout", deadline.clone());
        }
        match client.check(request).await {
            Ok(response) => decide(response.into_inner()),
            Err(status) => {
                tracing::debug!(%status, "ext_authz check call failed");
                Decision::Error(None)
            }
        }
    }

    /// A channel to the endpoints (connecting lazily).
    fn channel(&self) -> Channel {
        lazy_channel(&self.endpoints, self.authority.as_ref(), None)
    }
}

/// What [`check_request`] sends besides the request's head.
#[derive(Debug)]
pub(super) struct CheckInput<'a> {
    /// The request body as read (`withRequestBody`), cut at the limit.
    pub(super) body: Option<&'a SentBody>,
    /// The request size for `size`: bytes read, else the announced length, else -1.
    pub(super) size: i64,
    /// Headers sent (`headersToForward`); all when `None`.
    pub(super) forward: Option<&'a [String]>,
    /// `context_extensions`.
    pub(super) context_extensions: &'a HashMap<String, String>,
}

/// The check request for a request, with Envoy's attributes: source and destination
/// addresses, time, and the HTTP request (id, method, path with query, host, scheme,
/// protocol, size, lowercase headers with the pseudo-headers, several values of one header
/// joined with `,`, and the body when read).
pub(super) fn check_request(parts: &Parts, input: &CheckInput<'_>) -> CheckRequest {
    let connection = parts.extensions.get::<ConnectionInfo>();
    let source = match (parts.extensions.get::<ClientAddr>(), connection) {
        (Some(ClientAddr(ip)), Some(connection)) if *ip != connection.remote_addr.ip() => {
            Some(SocketAddr::new(*ip, 0))
        }
        (Some(ClientAddr(ip)), None) => Some(SocketAddr::new(*ip, 0)),
        (_, connection) => connection.map(|connection| connection.remote_addr),
    };
    let destination = connection.map(|connection| connection.local_addr);
    let host = parts
        .uri
        .authority()
        .map(|authority| authority.as_str().to_owned())
        .or_else(|| header_text(parts.headers.get(HOST)))
        .unwrap_or_default();
    let scheme = match (connection, parts.uri.scheme_str()) {
        (Some(connection), _) => connection.scheme(),
        (None, Some("https")) => "https",
        (None, _) => "http",
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |path_and_query| path_and_query.as_str());
    let id = parts
        .extensions
        .get::<RequestId>()
        .map(|RequestId(id)| id)
        .or_else(|| parts.headers.get("x-request-id"))
        .and_then(|id| header_text(Some(id)))
        .unwrap_or_default();

    let allowed = |name: &str| {
        input
            .forward
            .is_none_or(|names| names.iter().any(|n| n == name))
    };
    let mut headers = HashMap::with_capacity(parts.headers.keys_len() + 4);
    for (name, value) in [
        (":authority", host.as_str()),
        (":method", parts.method.as_str()),
        (":path", path),
        (":scheme", scheme),
    ] {
        if allowed(name) {
            headers.insert(name.to_owned(), value.to_owned());
        }
    }
    for name in parts.headers.keys() {
        if name == HOST || name.as_str() == PARTIAL_BODY_HEADER || !allowed(name.as_str()) {
            continue;
        }
        let mut joined = String::new();
        for value in parts.headers.get_all(name) {
            if !joined.is_empty() {
                joined.push(',');
            }
            push_header_text(&mut joined, value);
        }
        headers.insert(name.as_str().to_owned(), joined);
    }

    let mut http = HttpRequest {
        id,
        method: parts.method.as_str().to_owned(),
        path: path.to_owned(),
        host,
        scheme: scheme.to_owned(),
        size: input.size,
        protocol: protocol(parts.version).to_owned(),
        ..HttpRequest::default()
    };
    if let Some(body) = input.body {
        if body.as_bytes {
            http.raw_body = body.data.to_vec();
        } else {
            http.body = String::from_utf8_lossy(&body.data).into_owned();
        }
        let partial = if body.partial { "true" } else { "false" };
        headers.insert(PARTIAL_BODY_HEADER.to_owned(), partial.to_owned());
    }
    http.headers = headers;

    CheckRequest {
        attributes: Some(AttributeContext {
            source: source.map(peer),
            destination: destination.map(peer),
            request: Some(RequestAttributes {
                time: Some(now()),
                http: Some(http),
            }),
            context_extensions: input.context_extensions.clone(),
            ..AttributeContext::default()
        }),
    }
}

/// Envoy's protocol names.
fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 | Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

/// A peer at `addr`.
fn peer(addr: SocketAddr) -> Peer {
    Peer {
        address: Some(Address {
            address: Some(address::Address::SocketAddress(SocketAddress {
                protocol: socket_address::Protocol::Tcp.into(),
                address: addr.ip().to_string(),
                port_specifier: Some(socket_address::PortSpecifier::PortValue(u32::from(
                    addr.port(),
                ))),
                ..SocketAddress::default()
            })),
        }),
        ..Peer::default()
    }
}

/// The wall-clock time as a protobuf timestamp.
fn now() -> Timestamp {
    let since_epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp {
        seconds: i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(since_epoch.subsec_nanos()).unwrap_or(0),
    }
}

/// A header value as text (Envoy replaces what is not UTF-8 with `!`).
fn header_text(value: Option<&HeaderValue>) -> Option<String> {
    let value = value?;
    let mut text = String::with_capacity(value.len());
    push_header_text(&mut text, value);
    Some(text)
}

fn push_header_text(text: &mut String, value: &HeaderValue) {
    match value.to_str() {
        Ok(visible) => text.push_str(visible),
        Err(_) => text.extend(String::from_utf8_lossy(value.as_bytes()).chars().map(|c| {
            if c == char::REPLACEMENT_CHARACTER {
                '!'
            } else {
                c
            }
        })),
    }
}

/// Envoy's reading of a check response: an `error_response` is a failure; a status of
/// `OK` (`0`, also when the status is absent) allows, with the `ok_response` changes; any
/// other status denies, with the `denied_response` status (`403` when unset), headers and
/// body.
fn decide(response: CheckResponse) -> Decision {
    if let Some(HttpResponse::ErrorResponse(error)) = response.http_response {
        return Decision::Error(Some(denied(error)));
    }
    let code = response.status.as_ref().map_or(0, |status| status.code);
    if code == 0 {
        return Decision::Allow(match response.http_response {
            Some(HttpResponse::OkResponse(ok)) => allowed(ok),
            _ => Allowed::default(),
        });
    }
    Decision::Deny(match response.http_response {
        Some(HttpResponse::DeniedResponse(response)) => denied(response),
        _ => Denied::default(),
    })
}

/// The changes of an `ok_response`. Request headers are set, or appended to an existing
/// value when `append` is true (`append_action` is not read for them, as in Envoy 1.36);
/// response headers follow `append` when it is set, else `append_action`.
fn allowed(ok: OkHttpResponse) -> Allowed {
    let mut allowed = Allowed::default();
    for option in &ok.headers {
        if let Some((name, value)) = header(option) {
            if explicit_append(option) == Some(true) {
                allowed.append.push((name, value));
            } else {
                allowed.set.push((name, value));
            }
        }
    }
    allowed.remove = ok
        .headers_to_remove
        .iter()
        .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
        .collect();
    allowed.query_set = ok
        .query_parameters_to_set
        .into_iter()
        .map(|parameter| (parameter.key, parameter.value))
        .collect();
    allowed.query_remove = ok.query_parameters_to_remove;
    allowed.response = ok
        .response_headers_to_add
        .iter()
        .filter_map(|option| {
            let (name, value) = header(option)?;
            Some((name, value, action(option)))
        })
        .collect();
    allowed
}

/// A `denied_response` (or `error_response`): status (unset when `0` or not a status),
/// headers (`append` adds, otherwise they replace), body.
fn denied(response: DeniedHttpResponse) -> Denied {
    let status = response
        .status
        .and_then(|status| u16::try_from(status.code).ok())
        .filter(|code| *code > 0)
        .and_then(|code| StatusCode::from_u16(code).ok());
    let headers = response
        .headers
        .iter()
        .filter_map(|option| {
            let (name, value) = header(option)?;
            let action = if explicit_append(option) == Some(true) {
                Action::Append
            } else {
                Action::Set
            };
            Some((name, value, action))
        })
        .collect();
    Denied {
        status,
        headers,
        body: response.body.into(),
    }
}

/// The deprecated `append` flag, when the server set it.
#[allow(
    deprecated,
    reason = "Envoy's ext_authz still reads the deprecated `append` flag first"
)]
fn explicit_append(option: &HeaderValueOption) -> Option<bool> {
    option.append.map(|append| append.value)
}

/// How a response header applies: `append` when set, else `append_action`.
fn action(option: &HeaderValueOption) -> Action {
    match explicit_append(option) {
        Some(true) => Action::Append,
        Some(false) => Action::Set,
        None => match HeaderAppendAction::try_from(option.append_action) {
            Ok(HeaderAppendAction::AddIfAbsent) => Action::AddIfAbsent,
            Ok(HeaderAppendAction::OverwriteIfExistsOrAdd) => Action::Set,
            Ok(HeaderAppendAction::OverwriteIfExists) => Action::OverwriteIfExists,
            Ok(HeaderAppendAction::AppendIfExistsOrAdd) | Err(_) => Action::Append,
        },
    }
}

/// The header of an option (its `raw_value` when set, else `value`), or `None` (logged)
/// when the server sent something that is not a header.
fn header(option: &HeaderValueOption) -> Option<(HeaderName, HeaderValue)> {
    let header = option.header.as_ref()?;
    let name = HeaderName::from_bytes(header.key.as_bytes()).ok();
    let value = if header.raw_value.is_empty() {
        HeaderValue::from_str(&header.value).ok()
    } else {
        HeaderValue::from_bytes(&header.raw_value).ok()
    };
    match (name, value) {
        (Some(name), Some(value)) => Some((name, value)),
        _ => {
            tracing::debug!(key = %header.key, "ext_authz server sent an invalid header; ignored");
            None
        }
    }
}

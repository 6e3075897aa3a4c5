//! What a log line is made of: facts taken from the request when it arrives and from the
//! response when its head passes, and the values of command operators over them.

use gateway_core::{
    ResponseFlag,
    backend::UpstreamEndpoint,
    extensions::{
        ClientAddr, ConnectionInfo, MatchedRoute, MatchedRouteCell, RequestId, matched_route,
    },
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, Version};
use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};
use tokio::time::Instant;

use super::{
    config::{HeaderValueMatch, LogFilter},
    format::{Operator, PathSource, RequestSource, X_ENVOY_ORIGINAL_PATH},
    render::{Flags, Value},
    service::Shared,
};
use crate::health_check::HealthCheckResponse;

/// The request side of a log line, taken when the request arrives. Shared (in an `Arc`)
/// by the request body, which counts the bytes received, and the response side.
#[derive(Debug)]
pub(crate) struct RequestFacts {
    pub(crate) shared: Arc<Shared>,
    start: Instant,
    start_wall: Duration,
    method: Method,
    uri: Uri,
    version: Version,
    /// Values of `shared.request_headers`, in the same order.
    headers: Box<[Option<HeaderValue>]>,
    connection: Option<ConnectionInfo>,
    client: Option<IpAddr>,
    request_id: Option<HeaderValue>,
    /// The route, when matched before this layer, or reported by a router after it.
    route: MatchedRouteCell,
    received: AtomicU64,
}

impl RequestFacts {
    /// Takes what the log needs from `parts`, as it arrives, and leaves a
    /// [`MatchedRouteCell`] for a router further in to report its route.
    pub(crate) fn capture(shared: &Arc<Shared>, parts: &mut http::request::Parts) -> Self {
        let route = MatchedRouteCell::default();
        if let Some(matched) = matched_route(&parts.extensions) {
            route.report(matched);
        } else if shared.wants_route {
            parts.extensions.insert(route.clone());
        }
        let extensions = &parts.extensions;
        Self {
            shared: shared.clone(),
            start: Instant::now(),
            start_wall: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default(),
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            version: parts.version,
            headers: capture_headers(&shared.request_headers, &parts.headers),
            connection: extensions.get::<ConnectionInfo>().cloned(),
            client: extensions.get::<ClientAddr>().map(|client| client.0),
            request_id: extensions.get::<RequestId>().map(|id| id.0.clone()),
            route,
            received: AtomicU64::new(0),
        }
    }

    /// Counts request body bytes.
    pub(crate) fn received(&self, bytes: usize) {
        self.received.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn header(&self, name: &HeaderName) -> Option<&HeaderValue> {
        let index = self.shared.request_headers.iter().position(|n| n == name)?;
        self.headers.get(index)?.as_ref()
    }
}

/// The response side of a log line, taken when the response head passes and completed as
/// its body streams.
#[derive(Debug)]
pub(crate) struct ResponseFacts {
    status: u16,
    pub(crate) flags: Flags,
    upstream: Option<SocketAddr>,
    route: Option<MatchedRoute>,
    health_check: bool,
    first_byte: Option<Instant>,
    sent: u64,
    /// Values of `shared.response_headers`, in the same order.
    headers: Box<[Option<HeaderValue>]>,
}

impl ResponseFacts {
    /// No response: the client went away first (`downstream_closed`), or the inner
    /// service failed.
    pub(crate) fn none(downstream_closed: bool) -> Self {
        Self {
            status: 0,
            flags: Flags {
                flag: None,
                downstream_closed,
            },
            upstream: None,
            route: None,
            health_check: false,
            first_byte: None,
            sent: 0,
            headers: Box::new([]),
        }
    }

    /// Takes what the log needs from a response head.
    pub(crate) fn capture(shared: &Shared, parts: &http::response::Parts) -> Self {
        let extensions = &parts.extensions;
        Self {
            status: parts.status.as_u16(),
            flags: Flags {
                flag: extensions.get::<ResponseFlag>().copied(),
                downstream_closed: false,
            },
            upstream: extensions.get::<UpstreamEndpoint>().map(|up| up.0),
            route: matched_route(extensions).cloned(),
            health_check: extensions.get::<HealthCheckResponse>().is_some(),
            first_byte: Some(Instant::now()),
            sent: 0,
            headers: capture_headers(&shared.response_headers, &parts.headers),
        }
    }

    /// Counts response body bytes.
    pub(crate) fn sent(&mut self, bytes: usize) {
        self.sent += bytes as u64;
    }
}

/// The first value of each of `names` in `headers`.
fn capture_headers(names: &[HeaderName], headers: &HeaderMap) -> Box<[Option<HeaderValue>]> {
    names
        .iter()
        .map(|name| headers.get(name).cloned())
        .collect()
}

/// Milliseconds, as Envoy rounds them (down).
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Everything known about a request when its line is written.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub(crate) request: &'a RequestFacts,
    pub(crate) response: &'a ResponseFacts,
    pub(crate) end: Instant,
}

impl Ctx<'_> {
    /// The value of `operator` for this request.
    pub(crate) fn value<'v>(&'v self, operator: &'v Operator) -> Value<'v> {
        let request = self.request;
        let response = self.response;
        let connection = request.connection.as_ref();
        let optional = |value: Option<Value<'static>>| value.unwrap_or(Value::Missing);
        match operator {
            Operator::StartTime(format) => Value::Time(request.start_wall, format),
            Operator::Request(main, alt) => {
                let main = self.request_value(main);
                match (main, alt) {
                    (Value::Missing, Some(alt)) => self.request_value(alt),
                    (main, _) => main,
                }
            }
            Operator::Response(main, alt) => std::iter::once(main)
                .chain(alt)
                .find_map(|name| {
                    let index = request
                        .shared
                        .response_headers
                        .iter()
                        .position(|n| n == name)?;
                    response.headers.get(index)?.as_ref()
                })
                .map_or(Value::Missing, |value| Value::Bytes(value.as_bytes())),
            Operator::PathOf(with_query, source) => {
                let original = || {
                    request
                        .header(&X_ENVOY_ORIGINAL_PATH)
                        .and_then(|v| v.to_str().ok())
                };
                let path = || request.uri.path_and_query().map(|path| path.as_str());
                let chosen = match source {
                    PathSource::Original => original(),
                    PathSource::Path => path(),
                    PathSource::OriginalOrPath => original().or_else(path),
                };
                match chosen {
                    Some(chosen) if *with_query => Value::Str(chosen),
                    Some(chosen) => Value::Str(chosen.split('?').next().unwrap_or(chosen)),
                    None => Value::Missing,
                }
            }
            Operator::Protocol => Value::Str(match request.version {
                Version::HTTP_09 => "HTTP/0.9",
                Version::HTTP_10 => "HTTP/1.0",
                Version::HTTP_11 => "HTTP/1.1",
                Version::HTTP_2 => "HTTP/2",
                Version::HTTP_3 => "HTTP/3",
                _ => "-",
            }),
            Operator::ResponseCode => Value::Number(u64::from(response.status)),
            Operator::ResponseFlags => Value::Flags(response.flags),
            Operator::BytesReceived => Value::Number(request.received.load(Ordering::Relaxed)),
            Operator::BytesSent => Value::Number(response.sent),
            Operator::Duration => Value::Number(self.duration_ms()),
            Operator::ResponseDuration => response.first_byte.map_or(Value::Missing, |at| {
                Value::Number(millis(at.saturating_duration_since(request.start)))
            }),
            Operator::UpstreamHost(true) => optional(response.upstream.map(Value::Addr)),
            Operator::UpstreamHost(false) => {
                optional(response.upstream.map(|up| Value::Ip(up.ip())))
            }
            Operator::UpstreamCluster => Value::Missing,
            Operator::RouteName => response
                .route
                .as_ref()
                .or(request.route.get())
                .map_or(Value::Missing, |route| Value::Route(&route.0)),
            Operator::StreamId => request
                .request_id
                .as_ref()
                .map_or(Value::Missing, |id| Value::Bytes(id.as_bytes())),
            Operator::DownstreamRemote(with_port) => {
                optional(self.downstream_remote().map(|addr| match with_port {
                    true => Value::Addr(addr),
                    false => Value::Ip(addr.ip()),
                }))
            }
            Operator::DownstreamRemotePort => optional(
                self.downstream_remote()
                    .map(|addr| Value::Number(u64::from(addr.port()))),
            ),
            Operator::DownstreamDirectRemote(with_port) => {
                optional(connection.map(|c| match with_port {
                    true => Value::Addr(c.remote_addr),
                    false => Value::Ip(c.remote_addr.ip()),
                }))
            }
            Operator::DownstreamLocal(with_port) => optional(connection.map(|c| match with_port {
                true => Value::Addr(c.local_addr),
                false => Value::Ip(c.local_addr.ip()),
            })),
            Operator::DownstreamLocalPort => {
                optional(connection.map(|c| Value::Number(u64::from(c.local_addr.port()))))
            }
            Operator::RequestedServerName => connection
                .and_then(|c| c.server_name.as_deref())
                .map_or(Value::Missing, Value::Str),
        }
    }

    fn request_value(&self, source: &RequestSource) -> Value<'_> {
        let request = self.request;
        let found = match source {
            RequestSource::Method => Some(Value::Str(request.method.as_str())),
            RequestSource::Path => request
                .uri
                .path_and_query()
                .map(|path| Value::Str(path.as_str())),
            RequestSource::Authority => request
                .header(&super::format::HOST)
                .map(|host| Value::Bytes(host.as_bytes()))
                .or_else(|| {
                    request
                        .uri
                        .authority()
                        .map(|authority| Value::Str(authority.as_str()))
                }),
            RequestSource::Scheme => request
                .uri
                .scheme_str()
                .or_else(|| request.connection.as_ref().map(ConnectionInfo::scheme))
                .map(Value::Str),
            RequestSource::Header(name) => request
                .header(name)
                .map(|value| Value::Bytes(value.as_bytes())),
        };
        found.unwrap_or(Value::Missing)
    }

    /// The client address: the one the client address policy computed (with port 0
    /// when it came from `X-Forwarded-For`, as Envoy prints it), else the peer.
    fn downstream_remote(&self) -> Option<SocketAddr> {
        let peer = self.request.connection.as_ref().map(|c| c.remote_addr);
        match (self.request.client, peer) {
            (Some(client), Some(peer)) if peer.ip().to_canonical() == client => Some(peer),
            (Some(client), _) => Some(SocketAddr::new(client, 0)),
            (None, peer) => peer,
        }
    }

    fn duration_ms(&self) -> u64 {
        millis(self.end.saturating_duration_since(self.request.start))
    }

    /// Whether `filter` lets this request's line through.
    pub(crate) fn passes(&self, filter: &LogFilter) -> bool {
        match filter {
            LogFilter::StatusCode(comparison) => {
                comparison.matches(u64::from(self.response.status))
            }
            LogFilter::Duration(comparison) => comparison.matches(self.duration_ms()),
            LogFilter::NotHealthCheck => !self.response.health_check,
            LogFilter::Header(condition) => {
                self.request
                    .header(&condition.name)
                    .is_some_and(|value| match &condition.value {
                        HeaderValueMatch::Exact(exact) => value.as_bytes() == exact.as_bytes(),
                        HeaderValueMatch::RegularExpression(regex) => {
                            value.to_str().is_ok_and(|text| regex.is_match(text))
                        }
                    })
            }
            LogFilter::ResponseFlags(codes) => {
                codes.iter().any(|code| self.response.flags.contains(code))
            }
            LogFilter::And(filters) => filters.iter().all(|filter| self.passes(filter)),
            LogFilter::Or(filters) => filters.iter().any(|filter| self.passes(filter)),
        }
    }
}

//! The innermost service of a route rule: forwards a request to one endpoint of a backend.

use http::{
    HeaderValue, StatusCode, Uri, Version,
    header::{HOST, SET_COOKIE},
    uri::{Authority, PathAndQuery, Scheme},
};
use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::Arc,
    task::{Context, Poll},
};
use tokio::time::Instant;

use super::{
    AppProtocol, Backend, CircuitBreaker, UpstreamClient, UpstreamEndpoint,
    body::UpstreamBody,
    headers::{self, Keep},
    pool::Checkin,
    state::{BackendState, InFlight, Outcome},
    upgrade,
};
use crate::{ProxyError, Request, Response, ResponseFlag, body, error::local_response};

pub use crate::service::ResponseFuture;

/// Forwards requests to a [`Backend`]'s endpoints, picked by its load balancer, over an
/// [`UpstreamClient`]'s pools; see the [module docs](super).
///
/// Never returns `Err`: every failure becomes a local response tagged with its
/// [`ResponseFlag`], and responses carry the [`UpstreamEndpoint`] that was tried (and the
/// backend's [`CircuitBreaker`](super::CircuitBreaker), when it has one).
#[derive(Clone, Debug)]
pub struct BackendService {
    client: UpstreamClient,
    backend: Arc<Backend>,
}

impl BackendService {
    /// A service sending to `backend` through `client`'s pools, or through the backend's
    /// own pools (derived from `client`'s limits once per backend) when its policy changes
    /// connection settings.
    pub fn new(client: UpstreamClient, backend: Arc<Backend>) -> Self {
        let client = backend.client(&client);
        Self { client, backend }
    }

    /// The backend this service sends to.
    pub fn backend(&self) -> &Arc<Backend> {
        &self.backend
    }

    /// The client this service sends through.
    #[cfg(test)]
    pub(super) fn client(&self) -> &UpstreamClient {
        &self.client
    }
}

impl tower::Service<Request> for BackendService {
    type Response = Response;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let state = self.backend.state();
        let hashed = state.hash(&request);
        let breaker = state.breaker.clone();
        let picked = state
            .pick(hashed.hash)
            .and_then(|index| Some((index, state.hosts.get(index)?)));
        let Some((index, host)) = picked else {
            tracing::debug!("backend has no usable endpoint");
            let mut response = ProxyError::NoHealthyUpstream.into_response();
            decorate(&mut response, breaker, Vec::new());
            return Box::pin(std::future::ready(Ok(response)));
        };
        let target = Target {
            endpoint: host.addr,
            protocol: self.backend.protocol(),
        };
        let client = self.client.clone();
        Box::pin(async move {
            let mut response = exchange(&client, state, index, target, request).await;
            decorate(&mut response, breaker, hashed.set_cookies);
            Ok(response)
        })
    }
}

/// Where a request goes.
struct Target {
    endpoint: SocketAddr,
    protocol: AppProtocol,
}

/// Adds what every response of the backend carries: its circuit breaker (for retry
/// layers) and the cookies generated for hashing.
fn decorate(
    response: &mut Response,
    breaker: Option<CircuitBreaker>,
    set_cookies: Vec<HeaderValue>,
) {
    if let Some(breaker) = breaker {
        response.extensions_mut().insert(breaker);
    }
    for cookie in set_cookies {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
}

/// Admits the request to endpoint `index` through the circuit breakers, then forwards it.
async fn exchange(
    client: &UpstreamClient,
    state: Arc<BackendState>,
    index: usize,
    target: Target,
    request: Request,
) -> Response {
    let Target { endpoint, protocol } = target;
    let Ok(in_flight) = BackendState::admit(state, index).await else {
        tracing::debug!(%endpoint, "circuit breaker refused the request");
        return local_response(
            StatusCode::SERVICE_UNAVAILABLE,
            ResponseFlag::UpstreamOverflow,
        );
    };
    if request.version() <= Version::HTTP_11 && headers::is_upgrade_request(request.headers()) {
        return upgrade::forward(client, endpoint, request, in_flight).await;
    }
    forward(client, endpoint, protocol, request, in_flight).await
}

/// Sends `request` to `endpoint` on a pooled connection and returns the response or the
/// local response for the failure.
async fn forward(
    client: &UpstreamClient,
    endpoint: SocketAddr,
    protocol: AppProtocol,
    mut request: Request,
    in_flight: InFlight,
) -> Response {
    let keep = Keep {
        upgrade: false,
        te_trailers: protocol == AppProtocol::H2c,
    };
    if let Err(rejected) = prepare(&mut request, endpoint, protocol, keep) {
        return rejected.into_response();
    }
    let header_timeout = client.response_header_timeout();
    let deadline = in_flight
        .state()
        .max_stream_duration
        .map(|duration| Instant::now() + duration);
    let sent = client.send(protocol, endpoint, request);
    let result = match deadline {
        Some(deadline) if deadline < Instant::now() + header_timeout => {
            match tokio::time::timeout_at(deadline, sent).await {
                Ok(result) => result,
                Err(_elapsed) => return stream_duration_reached(endpoint),
            }
        }
        _ => match tokio::time::timeout(header_timeout, sent).await {
            Ok(result) => result,
            Err(_elapsed) => Err(ProxyError::Timeout),
        },
    };
    match result {
        Ok((response, checkin)) => {
            record(&in_flight, response.status());
            from_upstream(
                response,
                endpoint,
                Keep::default(),
                Some(in_flight),
                deadline,
                checkin,
            )
        }
        Err(err) => {
            in_flight
                .state()
                .record(in_flight.index(), Outcome::Failure);
            failure(err, endpoint)
        }
    }
}

/// Records a response's status for outlier detection: 5xx is a failure.
pub(super) fn record(in_flight: &InFlight, status: StatusCode) {
    let outcome = if status.is_server_error() {
        Outcome::Failure
    } else {
        Outcome::Success
    };
    in_flight.state().record(in_flight.index(), outcome);
}

/// The answer when `maxStreamDuration` passes before response headers: Envoy's 408.
fn stream_duration_reached(endpoint: SocketAddr) -> Response {
    tracing::debug!(%endpoint, "upstream max stream duration reached");
    let mut response = local_response(
        StatusCode::REQUEST_TIMEOUT,
        ResponseFlag::UpstreamMaxStreamDurationReached,
    );
    response.extensions_mut().insert(UpstreamEndpoint(endpoint));
    response
}

/// Rewrites `request` for `endpoint` in `protocol`: HTTP/1.1 gets an origin-form URI and a
/// `Host` (the client's, else the URI's authority, else the endpoint); HTTP/2 gets the
/// client's host as `:authority` (from `Host`, else the URI, else the endpoint). The
/// version is set for the upstream and hop-by-hop headers are stripped.
pub(super) fn prepare(
    request: &mut Request,
    endpoint: SocketAddr,
    protocol: AppProtocol,
    keep: Keep,
) -> Result<(), Rejected> {
    match protocol {
        AppProtocol::Http1 => {
            if !request.headers().contains_key(HOST) {
                let host = request
                    .uri()
                    .authority()
                    .and_then(|authority| HeaderValue::from_str(host_of(authority)).ok())
                    .or_else(|| HeaderValue::from_str(&endpoint.to_string()).ok());
                if let Some(host) = host {
                    request.headers_mut().insert(HOST, host);
                }
            }
            let uri = request.uri();
            if uri.scheme().is_some() || uri.authority().is_some() {
                let path_and_query = uri
                    .path_and_query()
                    .cloned()
                    .unwrap_or_else(|| PathAndQuery::from_static("/"));
                *request.uri_mut() = Uri::from(path_and_query);
            }
            *request.version_mut() = Version::HTTP_11;
        }
        AppProtocol::H2c => {
            let authority = request
                .headers()
                .get(HOST)
                .and_then(|host| Authority::try_from(host.as_bytes()).ok())
                .or_else(|| request.uri().authority().cloned())
                .or_else(|| Authority::try_from(endpoint.to_string()).ok());
            let path_and_query = request
                .uri()
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/"));
            let mut parts = http::uri::Parts::default();
            parts.scheme = Some(Scheme::HTTP);
            parts.authority = authority;
            parts.path_and_query = Some(path_and_query);
            *request.uri_mut() = Uri::from_parts(parts).map_err(|_| Rejected::InvalidUri)?;
            *request.version_mut() = Version::HTTP_2;
        }
    }
    headers::strip_hop_by_hop(request.headers_mut(), keep);
    Ok(())
}

/// Why a request cannot be forwarded at all.
#[derive(Clone, Copy, Debug)]
pub(super) enum Rejected {
    /// The request's path and query do not make an upstream URI.
    InvalidUri,
}

impl Rejected {
    /// The local response for the rejection.
    pub(super) fn into_response(self) -> Response {
        match self {
            Self::InvalidUri => local_response(
                StatusCode::BAD_REQUEST,
                ResponseFlag::DownstreamProtocolError,
            ),
        }
    }
}

/// The host part of an authority, without any `userinfo@`.
fn host_of(authority: &Authority) -> &str {
    let text = authority.as_str();
    text.rsplit_once('@').map_or(text, |(_, host)| host)
}

/// Turns an upstream response into the proxy's response: hop-by-hop headers stripped,
/// version normalised to HTTP/1.1 (the downstream codec picks its own), endpoint recorded.
/// The body keeps `in_flight` until it ends, is cut off at `deadline`, and returns the
/// connection to its pool (`checkin`) when it ends cleanly.
pub(super) fn from_upstream(
    response: http::Response<hyper::body::Incoming>,
    endpoint: SocketAddr,
    keep: Keep,
    in_flight: Option<InFlight>,
    deadline: Option<Instant>,
    checkin: Checkin,
) -> Response {
    let (mut parts, incoming) = response.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers, keep);
    parts.version = Version::HTTP_11;
    parts.extensions.insert(UpstreamEndpoint(endpoint));
    let body = UpstreamBody::new(incoming, in_flight, deadline, checkin);
    http::Response::from_parts(parts, body::boxed(body))
}

/// The local response for a failure talking to `endpoint`.
pub(super) fn failure(err: ProxyError, endpoint: SocketAddr) -> Response {
    tracing::debug!(%endpoint, error = %err, flag = %err.flag(), "upstream request failed");
    let mut response = err.into_response();
    response.extensions_mut().insert(UpstreamEndpoint(endpoint));
    response
}

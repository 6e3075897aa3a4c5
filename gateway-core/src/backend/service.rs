//! The innermost service of a route rule: forwards a request to one endpoint of a backend.

use http::{
    HeaderValue, StatusCode, Uri, Version,
    header::HOST,
    uri::{Authority, PathAndQuery, Scheme},
};
use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::Arc,
    task::{Context, Poll},
};

use super::{
    AppProtocol, Backend, UpstreamClient, UpstreamEndpoint, errors,
    headers::{self, Keep},
    upgrade,
};
use crate::{ProxyError, Request, Response, ResponseFlag, body, error::local_response};

pub use crate::service::ResponseFuture;

/// Forwards requests to a [`Backend`]'s endpoints in round-robin order over an
/// [`UpstreamClient`]'s pools; see the [module docs](super).
///
/// Never returns `Err`: every failure becomes a local response tagged with its
/// [`ResponseFlag`], and responses carry the [`UpstreamEndpoint`] that was tried.
#[derive(Clone, Debug)]
pub struct BackendService {
    client: UpstreamClient,
    backend: Arc<Backend>,
}

impl BackendService {
    /// A service sending to `backend` through `client`.
    pub fn new(client: UpstreamClient, backend: Arc<Backend>) -> Self {
        Self { client, backend }
    }

    /// The backend this service sends to.
    pub fn backend(&self) -> &Arc<Backend> {
        &self.backend
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
        let Some((endpoint, authority)) = self.backend.next_with_authority() else {
            tracing::debug!("backend has no endpoints");
            return Box::pin(std::future::ready(Ok(
                ProxyError::NoHealthyUpstream.into_response()
            )));
        };
        let client = self.client.clone();
        if request.version() <= Version::HTTP_11 && headers::is_upgrade_request(request.headers()) {
            return Box::pin(async move { Ok(upgrade::forward(&client, endpoint, request).await) });
        }
        let protocol = self.backend.protocol();
        Box::pin(async move { Ok(forward(&client, endpoint, authority, protocol, request).await) })
    }
}

/// Sends `request` to `endpoint` on a pooled connection and returns the response or the
/// local response for the failure.
async fn forward(
    client: &UpstreamClient,
    endpoint: SocketAddr,
    authority: Authority,
    protocol: AppProtocol,
    mut request: Request,
) -> Response {
    let keep = Keep {
        upgrade: false,
        te_trailers: protocol == AppProtocol::H2c,
    };
    if let Err(rejected) = prepare(&mut request, endpoint, Some(authority), protocol, keep) {
        return rejected.into_response();
    }
    let sent = tokio::time::timeout(
        client.response_header_timeout(),
        client.send(protocol, request),
    )
    .await;
    let result = match sent {
        Err(_elapsed) => Err(ProxyError::Timeout),
        Ok(Err(err)) => Err(errors::from_client(err)),
        Ok(Ok(response)) => Ok(response),
    };
    match result {
        Ok(response) => from_upstream(response, endpoint, Keep::default()),
        Err(err) => failure(err, endpoint),
    }
}

/// Rewrites `request` for `endpoint`: keeps the client's host in `Host`, points the URI at
/// the endpoint (absolute form with `authority` for the pooled client, origin form for a
/// direct connection when `authority` is `None`), sets the upstream version and strips
/// hop-by-hop headers.
pub(super) fn prepare(
    request: &mut Request,
    endpoint: SocketAddr,
    authority: Option<Authority>,
    protocol: AppProtocol,
    keep: Keep,
) -> Result<(), Rejected> {
    let absolute = authority.is_some();
    let uri = request.uri();
    if !request.headers().contains_key(HOST) {
        let host = uri
            .authority()
            .map(host_of)
            .and_then(|host| HeaderValue::from_str(host).ok());
        if let Some(host) = host {
            request.headers_mut().insert(HOST, host);
        } else if !absolute {
            // A direct HTTP/1.1 connection has nobody else to fill in the required Host.
            if let Ok(host) = HeaderValue::from_str(&endpoint.to_string()) {
                request.headers_mut().insert(HOST, host);
            }
        }
    }
    let path_and_query = request
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let mut parts = http::uri::Parts::default();
    if absolute {
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = authority;
    }
    parts.path_and_query = Some(path_and_query);
    match Uri::from_parts(parts) {
        Ok(uri) => *request.uri_mut() = uri,
        Err(_) => {
            return Err(Rejected::InvalidUri);
        }
    }
    *request.version_mut() = match protocol {
        AppProtocol::Http1 => Version::HTTP_11,
        AppProtocol::H2c => Version::HTTP_2,
    };
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
pub(super) fn from_upstream(
    response: http::Response<hyper::body::Incoming>,
    endpoint: SocketAddr,
    keep: Keep,
) -> Response {
    let (mut parts, incoming) = response.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers, keep);
    parts.version = Version::HTTP_11;
    parts.extensions.insert(UpstreamEndpoint(endpoint));
    http::Response::from_parts(parts, body::boxed(incoming))
}

/// The local response for a failure talking to `endpoint`.
pub(super) fn failure(err: ProxyError, endpoint: SocketAddr) -> Response {
    tracing::debug!(%endpoint, error = %err, flag = %err.flag(), "upstream request failed");
    let mut response = err.into_response();
    response.extensions_mut().insert(UpstreamEndpoint(endpoint));
    response
}

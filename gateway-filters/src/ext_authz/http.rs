//! The HTTP protocol: the request's head (and body) sent to a plain HTTP server, whose
//! `200` allows.

use bytes::Bytes;
use bytes::BytesMut;
use gateway_core::{
    BoxBody, Limits, ResponseFlag,
    backend::{AppProtocol, Backend, BackendService, UpstreamClient},
    body,
};
use http::{
    HeaderMap, HeaderName, HeaderValue, StatusCode, Uri,
    header::{AUTHORIZATION, CONTENT_LENGTH, HOST, LOCATION, TRANSFER_ENCODING, WWW_AUTHENTICATE},
    request::Parts,
    uri::PathAndQuery,
};
use http_body_util::BodyExt;
use std::{future::Future, net::SocketAddr, sync::Arc};
use tower::Service;

use super::{
    HttpSettings,
    decision::{Action, Allowed, Decision, Denied},
};

/// The header in which an allowing HTTP server lists (comma-separated) request headers to
/// remove before the request goes upstream, as Envoy reads it.
const HEADERS_TO_REMOVE: HeaderName = HeaderName::from_static("x-envoy-auth-headers-to-remove");

/// Largest authorization response body read (a denial's body goes to the client).
const MAX_RESPONSE_BODY: usize = 1024 * 1024;

/// Authorization requests to one HTTP server, over the gateway's pooled upstream client
/// (HTTP/1.1, balanced over the server's endpoints), shared by every clone of the layer.
#[derive(Debug)]
pub(super) struct HttpClient {
    server: BackendService,
    settings: HttpSettings,
    /// `headersToForward`, less the headers always sent.
    forward: Vec<HeaderName>,
}

impl HttpClient {
    pub(super) fn new(
        endpoints: Arc<[SocketAddr]>,
        settings: &HttpSettings,
        forward: Option<&[String]>,
    ) -> Self {
        let backend = Arc::new(Backend::new(endpoints, AppProtocol::Http1));
        Self {
            server: BackendService::new(UpstreamClient::new(&Limits::default()), backend),
            settings: settings.clone(),
            forward: forwarded(forward.unwrap_or_default()),
        }
    }

    /// Asks the server about the request whose head is `parts` (and whose body, when read,
    /// is `body`). The request to the server is made before the future, which borrows only
    /// the client.
    pub(super) fn check(
        &self,
        parts: &Parts,
        body: Option<Bytes>,
    ) -> impl Future<Output = Decision> + Send + '_ {
        let request = self.authorization_request(parts, body.unwrap_or_default());
        async move {
            let Some(request) = request else {
                return Decision::Error(None);
            };
            let mut server = self.server.clone();
            let ready = std::future::poll_fn(|cx| server.poll_ready(cx)).await;
            let response = match ready {
                Ok(()) => server.call(request).await,
                Err(never) => Err(never),
            };
            let response = match response {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let status = response.status();
            if let Some(flag) = response.extensions().get::<ResponseFlag>() {
                // The gateway's own answer: the server was not reached.
                tracing::debug!(%status, %flag, "ext_authz HTTP server not reached");
                return Decision::Error(None);
            }
            if status.is_server_error() {
                tracing::debug!(%status, "ext_authz HTTP server failed");
                return Decision::Error(None);
            }
            let (head, body) = response.into_parts();
            let Some(body) = read_limited(body).await else {
                return Decision::Error(None);
            };
            if status == StatusCode::OK {
                Decision::Allow(self.allowed(&head.headers))
            } else {
                Decision::Deny(self.denied(status, head.headers, body))
            }
        }
    }

    /// The authorization request: the client's method, the path behind `pathPrefix`, the
    /// client's `Host`, `Authorization` and forwarded headers, `Content-Length` of the body
    /// sent, then `headersToAdd`.
    fn authorization_request(&self, parts: &Parts, body: Bytes) -> Option<http::Request<BoxBody>> {
        let path = parts.uri.path_and_query();
        let path_and_query = if self.settings.path_prefix.is_empty() {
            path.cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/"))
        } else {
            let path = path.map_or("/", PathAndQuery::as_str);
            let mut target = String::with_capacity(self.settings.path_prefix.len() + path.len());
            target.push_str(&self.settings.path_prefix);
            target.push_str(path);
            PathAndQuery::try_from(target).ok()?
        };
        let mut headers = HeaderMap::with_capacity(4 + self.forward.len());
        let host = parts.headers.get(HOST).cloned().or_else(|| {
            let authority = parts.uri.authority()?;
            HeaderValue::from_str(authority.as_str()).ok()
        });
        if let Some(host) = host {
            headers.insert(HOST, host);
        }
        for name in std::iter::once(&AUTHORIZATION).chain(&self.forward) {
            for value in parts.headers.get_all(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        for entry in &self.settings.headers_to_add {
            headers.insert(entry.name.clone(), entry.value.clone());
        }
        let mut request = http::Request::new(body::full(body));
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = Uri::from(path_and_query);
        *request.headers_mut() = headers;
        Some(request)
    }

    /// An allowing answer: `headersToBackend` set on the upstream request, the headers named
    /// in `x-envoy-auth-headers-to-remove` removed from it, `headersToClientOnSuccess` added
    /// to the client's response.
    fn allowed(&self, headers: &HeaderMap) -> Allowed {
        let mut allowed = Allowed::default();
        for name in &self.settings.headers_to_backend {
            for value in headers.get_all(name) {
                allowed.set.push((name.clone(), value.clone()));
            }
        }
        for value in headers.get_all(HEADERS_TO_REMOVE) {
            let Ok(list) = value.to_str() else { continue };
            allowed.remove.extend(
                list.split(',')
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok()),
            );
        }
        for name in &self.settings.headers_to_client_on_success {
            for value in headers.get_all(name) {
                allowed
                    .response
                    .push((name.clone(), value.clone(), Action::Append));
            }
        }
        allowed
    }

    /// A denying answer: its status and body, and its headers: all of them when
    /// `headersToClient` is empty, else the listed ones plus `Location` and
    /// `WWW-Authenticate` (as Envoy adds). Framing headers are left to the gateway.
    fn denied(&self, status: StatusCode, headers: HeaderMap, body: Bytes) -> Denied {
        let listed = &self.settings.headers_to_client;
        let passes = |name: &HeaderName| {
            if *name == CONTENT_LENGTH || *name == TRANSFER_ENCODING || *name == HEADERS_TO_REMOVE {
                return false;
            }
            listed.is_empty()
                || *name == LOCATION
                || *name == WWW_AUTHENTICATE
                || listed.contains(name)
        };
        let mut passed = Vec::with_capacity(headers.len());
        let mut current: Option<HeaderName> = None;
        for (name, value) in headers {
            if let Some(name) = name {
                current = Some(name);
            }
            if let Some(name) = current.as_ref().filter(|name| passes(name)) {
                passed.push((name.clone(), value, Action::Set));
            }
        }
        Denied {
            status: Some(status),
            headers: passed,
            body,
        }
    }
}

/// The `headersToForward` sent besides the ones always sent: pseudo-headers, `Host`,
/// `Authorization` and `Content-Length` left out, each name once.
fn forwarded(names: &[String]) -> Vec<HeaderName> {
    let mut forwarded: Vec<HeaderName> = Vec::with_capacity(names.len());
    for name in names {
        let Ok(name) = HeaderName::try_from(name.as_str()) else {
            continue;
        };
        if name != HOST
            && name != AUTHORIZATION
            && name != CONTENT_LENGTH
            && !forwarded.contains(&name)
        {
            forwarded.push(name);
        }
    }
    forwarded
}

/// The body of the server's answer, up to [`MAX_RESPONSE_BODY`] bytes; `None` (logged) when
/// it is longer or fails.
async fn read_limited(mut body: BoxBody) -> Option<Bytes> {
    let mut data = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) => {
                tracing::debug!(%error, "ext_authz HTTP server's answer failed");
                return None;
            }
        };
        if let Ok(chunk) = frame.into_data() {
            if data.len() + chunk.len() > MAX_RESPONSE_BODY {
                tracing::debug!("ext_authz HTTP server's answer is too long");
                return None;
            }
            data.extend_from_slice(&chunk);
        }
    }
    Some(data.freeze())
}

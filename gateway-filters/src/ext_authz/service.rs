//! The ext-authz layer: asks the authorization server about each request before the
//! request goes on.

use bytes::Bytes;
use gateway_core::ResponseFlag;
use http::{HeaderValue, StatusCode, header::CONTENT_TYPE, request::Parts};
use http_body::Body;
use pin_project_lite::pin_project;
use std::{
    collections::HashMap,
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};
use tower::{Layer, Service};

use super::{
    AuthProtocol, BodySettings, ExtAuthConfig, PartialBody,
    body::{ReadBody, SentBody, declared_length, read_body},
    decision::Decision,
    grpc::{CheckInput, GrpcClient, check_request},
    http::HttpClient,
};
use crate::{buffer::FullBody, head::is_upgrade, spec::Percent};

/// Checks requests with an external authorization server; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct ExtAuthLayer {
    shared: Arc<Shared>,
}

impl ExtAuthLayer {
    /// A layer checking requests as `config` says. The client to the server is made here
    /// and shared by every service the layer builds (the gRPC channel connects on the first
    /// check).
    pub fn new(config: ExtAuthConfig) -> Self {
        let timeout = config.timeout();
        let body = config.body_settings();
        let ExtAuthConfig {
            provider,
            endpoints,
            check,
        } = config;
        let client = match &provider.protocol {
            AuthProtocol::Grpc(settings) => Client::Grpc(GrpcClient::new(endpoints, settings)),
            AuthProtocol::Http(settings) => Client::Http(HttpClient::new(
                endpoints,
                settings,
                provider.headers_to_forward.as_deref(),
            )),
        };
        Self {
            shared: Arc::new(Shared {
                client,
                timeout,
                fail_open: provider.fail_open,
                status_on_error: provider.status_on_error,
                body,
                percentage: provider.percentage_enabled,
                forward: provider.headers_to_forward,
                context_extensions: check.context_extensions.into_iter().collect(),
            }),
        }
    }
}

impl<S> Layer<S> for ExtAuthLayer {
    type Service = ExtAuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ExtAuthService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// What every service of one layer shares.
#[derive(Debug)]
struct Shared {
    client: Client,
    timeout: Duration,
    fail_open: bool,
    status_on_error: StatusCode,
    body: Option<BodySettings>,
    percentage: Percent,
    forward: Option<Vec<String>>,
    context_extensions: HashMap<String, String>,
}

/// The client for the provider's protocol.
#[derive(Debug)]
enum Client {
    Grpc(GrpcClient),
    Http(HttpClient),
}

/// Service checking requests with an external authorization server; see the
/// [module docs](super).
#[derive(Clone, Debug)]
pub struct ExtAuthService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for ExtAuthService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    ReqBody: Body<Data = Bytes> + PartialBody + Unpin + Send + 'static,
    ReqBody::Error: fmt::Display,
    ResBody: FullBody + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        if !self.shared.percentage.sample() {
            return ResponseFuture {
                kind: Kind::Unchecked {
                    future: self.inner.call(request),
                },
            };
        }
        // The ready service goes with this request; the clone waits for the next
        // `poll_ready`.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture {
            kind: Kind::Checked {
                future: Box::pin(authorize(self.shared.clone(), inner, request)),
            },
        }
    }
}

/// Reads the body if the check needs it, asks the server, and acts on the decision.
async fn authorize<S, ReqBody, ResBody>(
    shared: Arc<Shared>,
    mut inner: S,
    request: http::Request<ReqBody>,
) -> Result<http::Response<ResBody>, S::Error>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ReqBody: Body<Data = Bytes> + PartialBody + Unpin,
    ReqBody::Error: fmt::Display,
    ResBody: FullBody,
{
    let (mut parts, body) = request.into_parts();
    let (body, sent) = match read_for_check(&shared, &parts, body).await {
        Ok(read) => read,
        Err(answer) => return Ok(answer),
    };
    let size = match &sent {
        Some(sent) => i64::try_from(sent.read).unwrap_or(i64::MAX),
        None if body.is_end_stream() => 0,
        None => declared_length(&parts.headers, &body)
            .and_then(|length| i64::try_from(length).ok())
            .unwrap_or(-1),
    };
    // What is sent is made from `parts` before the wait, which borrows only the client.
    let checked = match &shared.client {
        Client::Grpc(client) => {
            let request = check_request(
                &parts,
                &CheckInput {
                    body: sent.as_ref(),
                    size,
                    forward: shared.forward.as_deref(),
                    context_extensions: &shared.context_extensions,
                },
            );
            tokio::time::timeout(shared.timeout, client.check(request)).await
        }
        Client::Http(client) => {
            let check = client.check(&parts, sent.map(|sent| sent.data));
            tokio::time::timeout(shared.timeout, check).await
        }
    };
    let decision = match checked {
        Ok(decision) => decision,
        Err(_elapsed) => {
            tracing::debug!(timeout = ?shared.timeout, "ext_authz check timed out");
            Decision::Error(None)
        }
    };
    match decision {
        Decision::Allow(allowed) => {
            allowed.apply_request(&mut parts);
            let mut response = inner.call(http::Request::from_parts(parts, body)).await?;
            allowed.apply_response(response.headers_mut());
            Ok(response)
        }
        Decision::Deny(denied) => Ok(denied.into_response(StatusCode::FORBIDDEN)),
        Decision::Error(_) if shared.fail_open => {
            inner.call(http::Request::from_parts(parts, body)).await
        }
        Decision::Error(answer) => Ok(answer
            .unwrap_or_default()
            .into_response(shared.status_on_error)),
    }
}

/// Reads the request body for the check when `withRequestBody` asks for it (not for
/// requests without a body, nor upgrades): the body to hand on, and what is sent with the
/// number of bytes read. A body over the limit is answered `413` (at once when its
/// `Content-Length` says so) unless partial messages are allowed; a body that fails while
/// read is answered `400`, flagged `DC`.
async fn read_for_check<ReqBody, ResBody>(
    shared: &Shared,
    parts: &Parts,
    body: ReqBody,
) -> Result<(ReqBody, Option<SentBody>), http::Response<ResBody>>
where
    ReqBody: Body<Data = Bytes> + PartialBody + Unpin,
    ReqBody::Error: fmt::Display,
    ResBody: FullBody,
{
    let Some(settings) = shared.body else {
        return Ok((body, None));
    };
    if body.is_end_stream() || is_upgrade(&parts.method, &parts.headers) {
        return Ok((body, None));
    }
    // Lossless: `usize` is at least 32 bits on every target tokio supports.
    let max = settings.max_request_bytes as usize;
    let as_bytes = settings.pack_as_bytes;
    if !settings.allow_partial_message
        && declared_length(&parts.headers, &body).is_some_and(|length| length > max as u64)
    {
        return Err(text_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Payload Too Large",
        ));
    }
    match read_body(body, max, settings.allow_partial_message).await {
        ReadBody::Whole { data, trailers } => {
            let sent = SentBody {
                data: data.clone(),
                partial: false,
                as_bytes,
                read: data.len(),
            };
            Ok((ReqBody::full(data, trailers), Some(sent)))
        }
        ReadBody::Partial { read, rest } => {
            let sent = SentBody {
                data: read.slice(..max.min(read.len())),
                partial: read.len() > max,
                as_bytes,
                read: read.len(),
            };
            Ok((ReqBody::prefixed(read, rest), Some(sent)))
        }
        ReadBody::TooLarge => Err(text_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Payload Too Large",
        )),
        ReadBody::Failed(error) => {
            tracing::debug!(%error, "request body failed while read for ext_authz");
            let mut response = text_response(StatusCode::BAD_REQUEST, "Bad Request");
            response
                .extensions_mut()
                .insert(ResponseFlag::DownstreamConnectionTermination);
            Err(response)
        }
    }
}

/// A plain-text answer of the layer's own.
fn text_response<B: FullBody>(status: StatusCode, text: &'static str) -> http::Response<B> {
    let mut response = http::Response::new(B::text(text));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// The boxed future of a checked request.
type Checked<B, E> = Pin<Box<dyn Future<Output = Result<http::Response<B>, E>> + Send>>;

pin_project! {
    /// Response future of [`ExtAuthService`]: the inner future itself for a request that is
    /// not checked (`percentageEnabled`), one boxed future for a checked one.
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E> {
        Unchecked { #[pin] future: F },
        Checked { future: Checked<B, E> },
    }
}

impl<F, B, E> fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Unchecked { .. } => "Unchecked",
            Kind::Checked { .. } => "Checked",
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .finish()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Unchecked { future } => future.poll(cx),
            KindProj::Checked { future } => future.as_mut().poll(cx),
        }
    }
}

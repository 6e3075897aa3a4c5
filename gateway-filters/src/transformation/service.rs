//! The layer: reads bodies when a transform needs them, renders, applies, and answers
//! itself when a message cannot be transformed.

use bytes::Bytes;
use gateway_core::{BoxError, ResponseFlag};
use http::{
    HeaderMap, HeaderValue, Method, StatusCode,
    header::{CONTENT_LENGTH, CONTENT_TYPE},
};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use minijinja::value::Value;
use pin_project_lite::pin_project;
use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};
use tower::{Layer, Service};

use super::{
    TransformationConfig,
    config::{Compiled, Head, RenderError, Transform},
    template::{RequestHead, ResponseView, Scope, View},
};
use crate::{buffer::FullBody, head::is_upgrade};

/// Applies a kgateway transformation to requests and responses; see the
/// [module docs](super).
#[derive(Clone, Debug)]
pub struct TransformationLayer {
    shared: Arc<Shared>,
}

impl TransformationLayer {
    /// A layer applying `config`.
    pub fn new(config: TransformationConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                body_limit: config.body_limit(),
                compiled: config.compiled,
            }),
        }
    }
}

impl<S> Layer<S> for TransformationLayer {
    type Service = TransformationService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TransformationService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// What every request of a layer shares: the compiled transforms and the body limit.
#[derive(Debug)]
struct Shared {
    compiled: Arc<Compiled>,
    body_limit: usize,
}

/// Service applying a kgateway transformation; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct TransformationService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for TransformationService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Body<Data = Bytes> + FullBody + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes> + FullBody + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let Some(transform) = &self.shared.compiled.request else {
            let after = self.shared.response_step(&request);
            return ResponseFuture::inner(self.inner.call(request), after);
        };
        let upgrade = is_upgrade(request.method(), request.headers());
        if transform.reads_body && !upgrade {
            // The body has to be read first: the rest happens in one boxed future.
            let ready = self.inner.clone();
            let mut inner = std::mem::replace(&mut self.inner, ready);
            let shared = self.shared.clone();
            return ResponseFuture::boxed(Box::pin(async move {
                let request = match shared.transform_buffered_request(request).await {
                    Ok(request) => request,
                    Err(reply) => return Ok(reply),
                };
                let after = shared.response_step(&request);
                let response = inner.call(request).await?;
                Ok(match after {
                    Some(step) => step.run(response).await,
                    None => response,
                })
            }));
        }
        let (parts, body) = request.into_parts();
        match transform_head(
            &self.shared.compiled,
            transform,
            parts,
            Original::Unread(body),
            !upgrade,
        ) {
            Ok((parts, body)) => {
                let request = http::Request::from_parts(parts, body);
                let after = self.shared.response_step(&request);
                ResponseFuture::inner(self.inner.call(request), after)
            }
            Err(error) => ResponseFuture::ready(request_failed(&error)),
        }
    }
}

impl Shared {
    /// What the response needs from the request: nothing without a response transform.
    fn response_step<B>(self: &Arc<Self>, request: &http::Request<B>) -> Option<ResponseStep> {
        let transform = self.compiled.response.as_ref()?;
        Some(ResponseStep {
            shared: self.clone(),
            request: transform.reads_request.then(|| RequestHead::of(request)),
            head_request: request.method() == Method::HEAD,
        })
    }

    /// Reads the request body (bounded), parses it when asked, and transforms the request;
    /// or the answer when that fails: `413` for a body over the limit, `400` for a body
    /// that cannot be read, is not JSON, or a template that fails.
    async fn transform_buffered_request<B, R>(
        &self,
        request: http::Request<B>,
    ) -> Result<http::Request<B>, http::Response<R>>
    where
        B: Body<Data = Bytes> + FullBody,
        B::Error: Into<BoxError>,
        R: FullBody,
    {
        let Some(transform) = &self.compiled.request else {
            return Ok(request);
        };
        let (parts, body) = request.into_parts();
        let (bytes, trailers) = match read_body(body, &parts.headers, self.body_limit).await {
            Ok(read) => read,
            Err(ReadError::TooLarge) => {
                tracing::debug!(
                    limit = self.body_limit,
                    "request body over the transformation limit: answered 413"
                );
                return Err(local_reply(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload too large",
                    None,
                ));
            }
            Err(ReadError::Failed(error)) => {
                tracing::debug!(%error, "request body failed while read for a transformation");
                return Err(local_reply(
                    StatusCode::BAD_REQUEST,
                    "bad request",
                    Some(ResponseFlag::DownstreamConnectionTermination),
                ));
            }
        };
        let json = match parse_json_body(transform.parse_json, &bytes) {
            Ok(json) => json,
            Err(error) => {
                tracing::debug!(%error, "request body is not JSON: answered 400");
                return Err(local_reply(
                    StatusCode::BAD_REQUEST,
                    "bad request",
                    Some(ResponseFlag::DownstreamProtocolError),
                ));
            }
        };
        let original = Original::Read {
            bytes,
            trailers,
            json,
        };
        match transform_head(&self.compiled, transform, parts, original, true) {
            Ok((parts, body)) => Ok(http::Request::from_parts(parts, body)),
            Err(error) => Err(request_failed(&error)),
        }
    }
}

/// The `400` for a request template that failed to render, as kgateway's transformation
/// answers it.
fn request_failed<B: FullBody>(error: &RenderError) -> http::Response<B> {
    tracing::debug!(
        field = %error.field,
        error = %error.error,
        "request transformation failed: answered 400"
    );
    local_reply(
        StatusCode::BAD_REQUEST,
        "bad request",
        Some(ResponseFlag::DownstreamProtocolError),
    )
}

/// The body a transform starts from.
enum Original<B> {
    /// Not read (the transform does not need it); kept unless replaced.
    Unread(B),
    /// Read in full, with its trailers and, for `AsJson`, its JSON value.
    Read {
        bytes: Bytes,
        trailers: Option<HeaderMap>,
        json: Value,
    },
}

impl<B: FullBody> Original<B> {
    /// The body to send on when it is not replaced.
    fn into_body(self) -> B {
        match self {
            Self::Unread(body) => body,
            Self::Read {
                bytes, trailers, ..
            } => B::full(bytes, trailers),
        }
    }
}

/// Renders `transform` over a message head and body, and applies it; returns the head and
/// the body to send on (replaced when `replace_body` and the transform has a new body).
fn transform_head<V, B>(
    compiled: &Compiled,
    transform: &Transform,
    view: V,
    original: Original<B>,
    replace_body: bool,
) -> Result<(V, B), RenderError>
where
    V: View + Head + Clone,
    B: FullBody,
{
    let (mut view, rendered) = if transform.is_dynamic() {
        // Templates that read the body see an empty one when it was not read (a response
        // to `HEAD`, an upgrade request).
        let (body, json) = match &original {
            Original::Unread(_) => (transform.reads_body.then(Bytes::new), Value::UNDEFINED),
            Original::Read { bytes, json, .. } => (Some(bytes.clone()), json.clone()),
        };
        let (scope, rendered) = transform.render(&compiled.env, Scope::new(view, body, json))?;
        (scope.into_view(), rendered)
    } else {
        (view, transform.static_values())
    };
    let body = match transform.apply(&mut view, rendered, replace_body) {
        Some(new) => B::full(new, None),
        None => original.into_body(),
    };
    Ok((view, body))
}

/// What the response transform needs, captured when the request goes on.
struct ResponseStep {
    shared: Arc<Shared>,
    /// The request as response templates see it, when they read it.
    request: Option<RequestHead>,
    /// The request was `HEAD`: the response has no body.
    head_request: bool,
}

impl ResponseStep {
    /// Whether `response` can have a body (so that its body can be read or replaced).
    fn has_body(&self, status: StatusCode) -> bool {
        !(self.head_request
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED)
    }

    /// Whether the response body must be read before transforming.
    fn reads_body(&self, status: StatusCode) -> bool {
        self.shared
            .compiled
            .response
            .as_ref()
            .is_some_and(|transform| transform.reads_body && self.has_body(status))
    }

    /// Transforms a response whose body is not read.
    fn apply_head<B: FullBody>(self, response: http::Response<B>) -> http::Response<B> {
        let (parts, body) = response.into_parts();
        let replace_body = self.has_body(parts.status);
        self.finish(parts, Original::Unread(body), replace_body)
    }

    /// Reads the response body (bounded), then transforms the response. A body over the
    /// limit, one that is not JSON when `AsJson` asks for it, or a template that fails gets
    /// a `500`; a body that fails while read gets a `502`.
    async fn run<B>(self, response: http::Response<B>) -> http::Response<B>
    where
        B: Body<Data = Bytes> + FullBody,
        B::Error: Into<BoxError>,
    {
        if !self.reads_body(response.status()) {
            return self.apply_head(response);
        }
        let (parts, body) = response.into_parts();
        let limit = self.shared.body_limit;
        let (bytes, trailers) = match read_body(body, &parts.headers, limit).await {
            Ok(read) => read,
            Err(ReadError::TooLarge) => {
                tracing::warn!(
                    limit,
                    status = parts.status.as_u16(),
                    "response body over the transformation limit: answered 500"
                );
                return internal_error();
            }
            Err(ReadError::Failed(error)) => {
                tracing::warn!(%error, "response body failed while read for a transformation");
                return local_reply(
                    StatusCode::BAD_GATEWAY,
                    "bad gateway",
                    Some(ResponseFlag::UpstreamConnectionTermination),
                );
            }
        };
        let parse_json = self
            .shared
            .compiled
            .response
            .as_ref()
            .is_some_and(|transform| transform.parse_json);
        let json = match parse_json_body(parse_json, &bytes) {
            Ok(json) => json,
            Err(error) => {
                tracing::warn!(%error, "response body is not JSON: answered 500");
                return internal_error();
            }
        };
        let original = Original::Read {
            bytes,
            trailers,
            json,
        };
        self.finish(parts, original, true)
    }

    fn finish<B: FullBody>(
        self,
        parts: http::response::Parts,
        original: Original<B>,
        replace_body: bool,
    ) -> http::Response<B> {
        let Self {
            shared, request, ..
        } = self;
        let compiled = &shared.compiled;
        let view = ResponseView { parts, request };
        let Some(transform) = &compiled.response else {
            let body = original.into_body();
            return http::Response::from_parts(view.parts, body);
        };
        match transform_head(compiled, transform, view, original, replace_body) {
            Ok((view, body)) => http::Response::from_parts(view.parts, body),
            Err(error) => {
                tracing::warn!(
                    field = %error.field,
                    error = %error.error,
                    "response transformation failed: answered 500"
                );
                internal_error()
            }
        }
    }
}

fn internal_error<B: FullBody>() -> http::Response<B> {
    local_reply(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal server error",
        None,
    )
}

/// A short plain-text answer of the layer's own, flagged for the access log when a flag
/// matches.
fn local_reply<B: FullBody>(
    status: StatusCode,
    text: &'static str,
    flag: Option<ResponseFlag>,
) -> http::Response<B> {
    let mut response = http::Response::new(B::text(text));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    if let Some(flag) = flag {
        response.extensions_mut().insert(flag);
    }
    response
}

/// Why a body could not be read.
enum ReadError {
    /// Longer than the limit (declared or read).
    TooLarge,
    /// The body failed while read.
    Failed(BoxError),
}

/// Reads `body` in full, refusing more than `limit` bytes (without reading, when
/// `Content-Length` or the body's size already says so).
async fn read_body<B>(
    body: B,
    headers: &HeaderMap,
    limit: usize,
) -> Result<(Bytes, Option<HeaderMap>), ReadError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or(0)
        .max(body.size_hint().lower());
    if declared > limit as u64 {
        return Err(ReadError::TooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => {
            let trailers = collected.trailers().cloned();
            Ok((collected.to_bytes(), trailers))
        }
        Err(error) if error.is::<LengthLimitError>() => Err(ReadError::TooLarge),
        Err(error) => Err(ReadError::Failed(error)),
    }
}

/// The body as JSON when it is parsed (`AsJson`) and not empty; undefined otherwise.
fn parse_json_body(parse: bool, bytes: &Bytes) -> Result<Value, serde_json::Error> {
    if !parse || bytes.is_empty() {
        return Ok(Value::UNDEFINED);
    }
    serde_json::from_slice(bytes)
}

pin_project! {
    /// Response future of [`TransformationService`].
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        state: State<F, B, E>,
    }
}

/// A boxed future for the paths that read a body.
type BoxedResponse<B, E> = Pin<Box<dyn Future<Output = Result<http::Response<B>, E>> + Send>>;

pin_project! {
    #[project = StateProjection]
    enum State<F, B, E> {
        // An answer of the layer's own.
        Ready {
            response: Option<http::Response<B>>,
        },
        // The inner service's answer, then the response transform (if any).
        Inner {
            #[pin]
            future: F,
            after: Option<ResponseStep>,
        },
        // A body is read on the way (request or response).
        Boxed {
            future: BoxedResponse<B, E>,
        },
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    fn ready(response: http::Response<B>) -> Self {
        Self {
            state: State::Ready {
                response: Some(response),
            },
        }
    }

    fn inner(future: F, after: Option<ResponseStep>) -> Self {
        Self {
            state: State::Inner { future, after },
        }
    }

    fn boxed(future: BoxedResponse<B, E>) -> Self {
        Self {
            state: State::Boxed { future },
        }
    }
}

impl<F, B, E> fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Ready { .. } => "Ready",
            State::Inner { .. } => "Inner",
            State::Boxed { .. } => "Boxed",
        };
        f.debug_tuple("ResponseFuture").field(&state).finish()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    B: Body<Data = Bytes> + FullBody + Send + 'static,
    B::Error: Into<BoxError>,
    E: Send + 'static,
{
    type Output = Result<http::Response<B>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project().state.project() {
                StateProjection::Ready { response } => {
                    return match response.take() {
                        Some(response) => Poll::Ready(Ok(response)),
                        None => Poll::Pending,
                    };
                }
                StateProjection::Inner { future, after } => {
                    let response = ready!(future.poll(cx))?;
                    let Some(step) = after.take() else {
                        return Poll::Ready(Ok(response));
                    };
                    if !step.reads_body(response.status()) {
                        return Poll::Ready(Ok(step.apply_head(response)));
                    }
                    let future = Box::pin(async move { Ok(step.run(response).await) });
                    self.as_mut().project().state.set(State::Boxed { future });
                }
                StateProjection::Boxed { future } => return future.as_mut().poll(cx),
            }
        }
    }
}

//! The buffer layer: reads the request body in full, up to the limit, before the request
//! goes on.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use gateway_core::ResponseFlag;
use http::{
    HeaderMap, HeaderValue, StatusCode,
    header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING},
    request::Parts,
};
use http_body::Body;
use pin_project_lite::pin_project;
use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};
use tower::{Layer, Service};

use super::{BufferConfig, FullBody};

/// Buffers request bodies up to a limit; see the [module docs](super).
#[derive(Clone, Copy, Debug)]
pub struct BufferLayer {
    max: usize,
}

impl BufferLayer {
    /// A layer buffering request bodies of up to `config.max_request_bytes`.
    pub fn new(config: BufferConfig) -> Self {
        Self {
            // Lossless: `usize` is at least 32 bits on every target tokio supports.
            max: config.max_request_bytes as usize,
        }
    }
}

impl<S> Layer<S> for BufferLayer {
    type Service = BufferService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BufferService {
            inner,
            max: self.max,
        }
    }
}

/// Service buffering request bodies up to a limit; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct BufferService<S> {
    inner: S,
    max: usize,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for BufferService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone,
    ReqBody: Body + FullBody,
    ReqBody::Error: fmt::Display,
    ResBody: FullBody,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, S::Future, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let declared = declared_length(&request);
        if declared.is_some_and(|length| length > self.max as u64) {
            // Refused before a byte of the body is read (an `Expect: 100-continue` client
            // is never told to send it).
            return ResponseFuture::answer(too_large());
        }
        if request.body().is_end_stream() {
            // Nothing to buffer (a GET): the request goes on as it is.
            return ResponseFuture::call(self.inner.call(request));
        }
        // The ready service goes with this request; the clone waits for the next
        // `poll_ready`.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let (parts, body) = request.into_parts();
        let expected = declared.map_or(0, |length| length as usize);
        ResponseFuture {
            state: State::Buffering {
                body,
                head: Some((parts, inner)),
                collected: Collected::new(self.max, expected),
            },
        }
    }
}

/// The body length the request announces: its `Content-Length`, or the least its body
/// says it holds (hyper's bodies know their `Content-Length`).
fn declared_length<B: Body>(request: &http::Request<B>) -> Option<u64> {
    let header = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let hint = request.body().size_hint().lower();
    match header {
        Some(length) => Some(length.max(hint)),
        None => (hint > 0).then_some(hint),
    }
}

/// The request body read so far. A body in one frame is kept as it came (no copy); a body
/// in several frames is gathered into one buffer that never holds more than the limit.
#[derive(Debug)]
struct Collected {
    first: Bytes,
    rest: BytesMut,
    len: usize,
    max: usize,
    /// The announced length (at most `max`), to size the buffer once.
    expected: usize,
    trailers: Option<HeaderMap>,
}

impl Collected {
    fn new(max: usize, expected: usize) -> Self {
        Self {
            first: Bytes::new(),
            rest: BytesMut::new(),
            len: 0,
            max,
            expected: expected.min(max),
            trailers: None,
        }
    }

    /// Adds `data`; `false` when it would take the body past the limit.
    fn push<D: Buf>(&mut self, mut data: D) -> bool {
        let n = data.remaining();
        if n > self.max - self.len {
            return false;
        }
        self.len += n;
        if self.first.is_empty() && self.rest.is_empty() {
            self.first = data.copy_to_bytes(n);
            return true;
        }
        if self.rest.is_empty() {
            self.rest.reserve(self.expected.max(self.len));
            self.rest.extend_from_slice(&self.first);
            self.first = Bytes::new();
        }
        self.rest.put(data);
        true
    }

    /// The whole body, and its trailers.
    fn finish(self) -> (Bytes, Option<HeaderMap>) {
        let data = if self.rest.is_empty() {
            self.first
        } else {
            self.rest.freeze()
        };
        (data, self.trailers)
    }
}

pin_project! {
    /// Response future of [`BufferService`].
    pub struct ResponseFuture<S, F, B, R> {
        #[pin]
        state: State<S, F, B, R>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<S, F, B, R> {
        // Reading the body; the request head and the ready inner service wait beside it.
        Buffering {
            #[pin]
            body: B,
            head: Option<(Parts, S)>,
            collected: Collected,
        },
        // The inner service has the request.
        Calling {
            #[pin]
            future: F,
        },
        // The layer answered itself.
        Answered {
            response: Option<http::Response<R>>,
        },
    }
}

impl<S, F, B, R> ResponseFuture<S, F, B, R> {
    fn call(future: F) -> Self {
        Self {
            state: State::Calling { future },
        }
    }

    fn answer(response: http::Response<R>) -> Self {
        Self {
            state: State::Answered {
                response: Some(response),
            },
        }
    }
}

impl<S, F, B, R> fmt::Debug for ResponseFuture<S, F, B, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Buffering { .. } => "Buffering",
            State::Calling { .. } => "Calling",
            State::Answered { .. } => "Answered",
        };
        f.debug_tuple("ResponseFuture").field(&state).finish()
    }
}

impl<S, B, R> Future for ResponseFuture<S, S::Future, B, R>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    B: Body + FullBody,
    B::Error: fmt::Display,
    R: FullBody,
{
    type Output = Result<http::Response<R>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            let next = match state.as_mut().project() {
                StateProjection::Calling { future } => return future.poll(cx),
                StateProjection::Answered { response } => {
                    return match response.take() {
                        Some(response) => Poll::Ready(Ok(response)),
                        None => Poll::Pending,
                    };
                }
                StateProjection::Buffering {
                    mut body,
                    head,
                    collected,
                } => match ready!(body.as_mut().poll_frame(cx)) {
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) => {
                            if collected.push(data) {
                                continue;
                            }
                            State::Answered {
                                response: Some(too_large()),
                            }
                        }
                        Err(frame) => {
                            if let Ok(trailers) = frame.into_trailers() {
                                collected.trailers = Some(trailers);
                            }
                            continue;
                        }
                    },
                    Some(Err(error)) => {
                        tracing::debug!(%error, "request body broke off while buffering");
                        State::Answered {
                            response: Some(broken_off()),
                        }
                    }
                    None => match head.take() {
                        Some((mut parts, mut inner)) => {
                            let done = std::mem::replace(collected, Collected::new(0, 0));
                            let (data, trailers) = done.finish();
                            parts
                                .headers
                                .insert(CONTENT_LENGTH, HeaderValue::from(data.len()));
                            parts.headers.remove(TRANSFER_ENCODING);
                            let request = http::Request::from_parts(parts, B::full(data, trailers));
                            State::Calling {
                                future: inner.call(request),
                            }
                        }
                        None => return Poll::Pending,
                    },
                },
            };
            state.set(next);
        }
    }
}

/// `413 Payload Too Large`, as Envoy's buffer filter answers (no response flag: Envoy
/// records none either).
fn too_large<R: FullBody>() -> http::Response<R> {
    text_response(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large")
}

/// `400 Bad Request` for a request body that failed while it was read (most often a client
/// that went away), flagged `DC`.
fn broken_off<R: FullBody>() -> http::Response<R> {
    let mut response = text_response(StatusCode::BAD_REQUEST, "Bad Request");
    response
        .extensions_mut()
        .insert(ResponseFlag::DownstreamConnectionTermination);
    response
}

fn text_response<R: FullBody>(status: StatusCode, text: &'static str) -> http::Response<R> {
    let mut response = http::Response::new(R::text(text));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

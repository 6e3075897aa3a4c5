//! The layer: sends each request's parts to the processor, in Envoy's order, and applies
//! its answers.

use bytes::{Bytes, BytesMut};
use envoy_types::pb::envoy::service::ext_proc::v3::{
    ImmediateResponse, ProcessingRequest, ProcessingResponse, common_response::ResponseStatus,
    processing_response::Response as Answer,
};
use gateway_core::ResponseFlag;
use http::{
    HeaderMap, HeaderValue, StatusCode,
    header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING},
};
use http_body::Body;
use http_body_util::BodyExt;
use pin_project_lite::pin_project;
use std::{
    fmt,
    future::Future,
    pin::{Pin, pin},
    sync::Arc,
    task::{Context, Poll},
};
use tokio::sync::oneshot;
use tower::{Layer, Service};

use super::{
    BodySendMode, ExtProcBody, ExtProcConfig, HeaderSendMode, ProcessedBody, ProcessingMode,
    body::{Abort, Plan},
    mutation::{self, Direction, Head, Pseudo},
    stream::{Exchange, Processor, Stop},
};
use crate::{buffer::FullBody, head::is_upgrade};

/// Sends requests and responses through an external processor; see the
/// [module docs](super).
#[derive(Clone, Debug)]
pub struct ExtProcLayer {
    processor: Arc<Processor>,
}

impl ExtProcLayer {
    /// A layer processing with `config`. The gRPC channel is made on the first request (in
    /// the runtime serving it) and shared by every clone of the layer and its services.
    pub fn new(config: ExtProcConfig) -> Self {
        Self {
            processor: Arc::new(Processor::new(config)),
        }
    }
}

impl<S> Layer<S> for ExtProcLayer {
    type Service = ExtProcService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ExtProcService {
            inner,
            processor: Arc::clone(&self.processor),
        }
    }
}

/// Service sending requests and responses through an external processor; see the
/// [module docs](super).
#[derive(Clone, Debug)]
pub struct ExtProcService<S> {
    inner: S,
    processor: Arc<Processor>,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for ExtProcService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Body<Data = Bytes> + FullBody + ExtProcBody + Unpin + Send + 'static,
    ReqBody::Error: fmt::Display,
    ResBody: Body<Data = Bytes> + FullBody + ExtProcBody + Unpin + Send + 'static,
    ResBody::Error: fmt::Display,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        if !self.processor.config.processing_mode.sends_anything() {
            return ResponseFuture {
                state: State::Direct {
                    future: self.inner.call(request),
                },
            };
        }
        // The ready service goes with this request; the clone waits for the next
        // `poll_ready`.
        let ready = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, ready);
        ResponseFuture {
            state: State::Processing {
                future: Box::pin(process(Arc::clone(&self.processor), inner, request)),
            },
        }
    }
}

pin_project! {
    /// Response future of [`ExtProcService`]: the inner future itself when the processing
    /// mode sends nothing, otherwise the request's whole exchange with the processor, boxed.
    pub struct ResponseFuture<F, R, E> {
        #[pin]
        state: State<F, R, E>,
    }
}

/// The whole exchange of one request with the processor.
type BoxedProcess<R, E> = Pin<Box<dyn Future<Output = Result<http::Response<R>, E>> + Send>>;

pin_project! {
    #[project = StateProjection]
    enum State<F, R, E> {
        Direct {
            #[pin]
            future: F,
        },
        Processing {
            future: BoxedProcess<R, E>,
        },
    }
}

impl<F, R, E> fmt::Debug for ResponseFuture<F, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Direct { .. } => "Direct",
            State::Processing { .. } => "Processing",
        };
        f.debug_tuple("ResponseFuture").field(&state).finish()
    }
}

impl<F, R, E> Future for ResponseFuture<F, R, E>
where
    F: Future<Output = Result<http::Response<R>, E>>,
{
    type Output = Result<http::Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProjection::Direct { future } => future.poll(cx),
            StateProjection::Processing { future } => future.as_mut().poll(cx),
        }
    }
}

/// One request's way through the processor: request headers, request body (and
/// trailers), the inner service, response headers, response body (and trailers).
async fn process<S, ReqBody, ResBody>(
    processor: Arc<Processor>,
    mut inner: S,
    request: http::Request<ReqBody>,
) -> Result<http::Response<ResBody>, S::Error>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ReqBody: Body<Data = Bytes> + FullBody + ExtProcBody + Unpin + Send + 'static,
    ReqBody::Error: fmt::Display,
    ResBody: Body<Data = Bytes> + FullBody + ExtProcBody + Unpin + Send + 'static,
    ResBody::Error: fmt::Display,
{
    let mut flow = Flow {
        exchange: Exchange::start(&processor),
        mode: processor.config.processing_mode,
        active: true,
        processor,
    };
    let (mut parts, mut body) = request.into_parts();
    // An upgrade's body is the tunnel: it is never processed.
    let upgrade = is_upgrade(&parts.method, &parts.headers);
    let mut body_done = upgrade || body.is_end_stream();
    if flow.mode.request_header_mode == HeaderSendMode::Send {
        match flow.headers(&mut parts, body.is_end_stream()).await {
            HeadStep::Continue => {}
            HeadStep::Replace(replacement) => {
                body_done = true;
                if let Some(data) = replacement {
                    set_length(&mut parts.headers, data.len());
                    body = ReqBody::full(data, None);
                }
            }
            HeadStep::Answer(answer) => return Ok(mutation::immediate(answer)),
            HeadStep::Fail(status) => return Ok(mutation::failure(status)),
        }
    }
    let (body, abort) = if body_done {
        (body, None)
    } else {
        match flow.body(&mut parts, body).await {
            BodyStep::Body(body, abort) => (body, abort),
            BodyStep::Answer(answer) => return Ok(mutation::immediate(answer)),
            BodyStep::Fail(status) => return Ok(mutation::failure(status)),
            BodyStep::TooLarge => return Ok(text(StatusCode::PAYLOAD_TOO_LARGE, None)),
            BodyStep::Broken => {
                return Ok(text(
                    StatusCode::BAD_REQUEST,
                    Some(ResponseFlag::DownstreamConnectionTermination),
                ));
            }
        }
    };

    let call = inner.call(http::Request::from_parts(parts, body));
    let response = match abort {
        None => call.await?,
        Some(mut abort) => {
            let mut call = pin!(call);
            // A streamed request body that the processor answers (or fails) mid-way
            // replaces whatever the inner service makes of the cut-off request (also when
            // the inner service answered while the body broke off under it).
            let aborted = tokio::select! {
                biased;
                aborted = &mut abort => aborted.ok(),
                response = &mut call => match abort.try_recv() {
                    Ok(aborted) => Some(aborted),
                    Err(_) => return respond(flow, upgrade, response?).await,
                },
            };
            match aborted {
                Some(Abort::Answer(answer)) => return Ok(mutation::immediate(answer)),
                Some(Abort::Fail(status)) => return Ok(mutation::failure(status)),
                None => call.await?,
            }
        }
    };

    respond(flow, upgrade, response).await
}

/// The response's way back through the processor: headers, then body (and trailers).
async fn respond<ResBody, E>(
    mut flow: Flow,
    upgrade: bool,
    response: http::Response<ResBody>,
) -> Result<http::Response<ResBody>, E>
where
    ResBody: Body<Data = Bytes> + FullBody + ExtProcBody + Unpin + Send + 'static,
    ResBody::Error: fmt::Display,
{
    let (mut parts, mut body) = response.into_parts();
    let mut body_done =
        upgrade || parts.status == StatusCode::SWITCHING_PROTOCOLS || body.is_end_stream();
    if flow.active && flow.mode.response_header_mode == HeaderSendMode::Send {
        match flow.headers(&mut parts, body.is_end_stream()).await {
            HeadStep::Continue => {}
            HeadStep::Replace(replacement) => {
                body_done = true;
                if let Some(data) = replacement {
                    set_length(&mut parts.headers, data.len());
                    body = ResBody::full(data, None);
                }
            }
            HeadStep::Answer(answer) => return Ok(mutation::immediate(answer)),
            HeadStep::Fail(status) => return Ok(mutation::failure(status)),
        }
    }
    let body = if body_done {
        body
    } else {
        match flow.body(&mut parts, body).await {
            BodyStep::Body(body, _) => body,
            BodyStep::Answer(answer) => return Ok(mutation::immediate(answer)),
            BodyStep::Fail(status) => return Ok(mutation::failure(status)),
            // Envoy answers a response over its buffer limit with a 500.
            BodyStep::TooLarge => return Ok(mutation::failure(StatusCode::INTERNAL_SERVER_ERROR)),
            BodyStep::Broken => {
                return Ok(text(
                    StatusCode::BAD_GATEWAY,
                    Some(ResponseFlag::UpstreamConnectionTermination),
                ));
            }
        }
    };
    Ok(http::Response::from_parts(parts, body))
}

/// A request's processing state: its stream, its mode (which the processor may change)
/// and whether the processor still takes part.
struct Flow {
    processor: Arc<Processor>,
    exchange: Exchange,
    mode: ProcessingMode,
    active: bool,
}

/// Why the processor made nothing of a message.
enum Halt {
    /// No answer: the rest goes on unprocessed.
    Skip,
    Fail(StatusCode),
}

/// What to do after headers were processed.
enum HeadStep {
    Continue,
    /// `CONTINUE_AND_REPLACE`: nothing more of this message goes to the processor; the
    /// body is replaced when the answer carries one.
    Replace(Option<Bytes>),
    Answer(ImmediateResponse),
    Fail(StatusCode),
}

/// What to do after a body was set up or processed.
enum BodyStep<B> {
    /// The body to go on with, and (for a streamed request body) where it reports an early
    /// end.
    Body(B, Option<oneshot::Receiver<Abort>>),
    Answer(ImmediateResponse),
    Fail(StatusCode),
    /// Over the body limit in `BUFFERED` mode.
    TooLarge,
    /// The body failed while it was read.
    Broken,
}

/// What follows the part of a body read for `BUFFERED`/`BUFFERED_PARTIAL` processing.
enum Read<B> {
    /// The body ended within the limit.
    Complete {
        data: Bytes,
        trailers: Option<HeaderMap>,
    },
    /// The body goes on past the limit: `data` is the first `limit` bytes, `leftover` the
    /// rest of the frame that crossed it, `rest` the unread body.
    Partial {
        data: Bytes,
        leftover: Bytes,
        rest: B,
    },
}

impl Flow {
    /// Sends `message` and waits for the answer, unless the processor is out of the
    /// request already.
    async fn call(&mut self, message: ProcessingRequest) -> Result<ProcessingResponse, Halt> {
        if !self.active {
            return Err(Halt::Skip);
        }
        self.exchange.call(message).await.map_err(|stop| {
            self.active = false;
            match stop {
                Stop::Continue => Halt::Skip,
                Stop::Fail(status) => Halt::Fail(status),
            }
        })
    }

    /// Sends a head and applies the answer (and any mode override it carries).
    async fn headers<H: Head>(&mut self, head: &mut H, end_of_stream: bool) -> HeadStep {
        let answer = match self.call(head.message(end_of_stream)).await {
            Ok(answer) => answer,
            Err(Halt::Skip) => return HeadStep::Continue,
            Err(Halt::Fail(status)) => return HeadStep::Fail(status),
        };
        self.mode = self
            .processor
            .override_mode(self.mode, answer.mode_override.as_ref());
        match answer.response {
            Some(Answer::RequestHeaders(headers) | Answer::ResponseHeaders(headers)) => {
                let common = headers.response.unwrap_or_default();
                let replacing = common.status == i32::from(ResponseStatus::ContinueAndReplace);
                if let Some(mutation) = &common.header_mutation
                    && let Err(error) = head.apply(mutation, replacing)
                {
                    tracing::debug!(%error, "ext_proc: header mutation refused");
                    return HeadStep::Fail(StatusCode::INTERNAL_SERVER_ERROR);
                }
                if replacing {
                    HeadStep::Replace(mutation::replacement(common.body_mutation))
                } else {
                    HeadStep::Continue
                }
            }
            Some(Answer::ImmediateResponse(answer)) => HeadStep::Answer(answer),
            _ => HeadStep::Continue,
        }
    }

    /// Sets a body up for its mode: untouched, streamed through the processor, or read
    /// (up to the limit) and processed in one piece.
    async fn body<H, B>(&mut self, head: &mut H, body: B) -> BodyStep<B>
    where
        H: Head,
        B: Body<Data = Bytes> + FullBody + ExtProcBody + Unpin,
        B::Error: fmt::Display,
    {
        let (body_mode, trailer_mode) = match H::DIRECTION {
            Direction::Request => (self.mode.request_body_mode, self.mode.request_trailer_mode),
            Direction::Response => (
                self.mode.response_body_mode,
                self.mode.response_trailer_mode,
            ),
        };
        let trailers = trailer_mode == HeaderSendMode::Send;
        if !self.active {
            return BodyStep::Body(body, None);
        }
        match body_mode {
            BodySendMode::None if !trailers => BodyStep::Body(body, None),
            BodySendMode::None | BodySendMode::Streamed => {
                let chunks = body_mode == BodySendMode::Streamed;
                if chunks {
                    // The processor may change the length as it goes.
                    head.headers_mut().remove(CONTENT_LENGTH);
                }
                let (abort, receiver) = abort_channel(H::DIRECTION);
                let plan = Plan {
                    exchange: self.exchange.clone(),
                    direction: H::DIRECTION,
                    chunks,
                    trailers,
                    abort,
                };
                BodyStep::Body(B::processed(ProcessedBody::new(body, plan, [])), receiver)
            }
            BodySendMode::Buffered | BodySendMode::BufferedPartial => {
                let partial = body_mode == BodySendMode::BufferedPartial;
                self.buffered(head, body, partial, trailers).await
            }
        }
    }

    /// `BUFFERED` and `BUFFERED_PARTIAL`: the body (up to the limit) in one message, then
    /// the trailers; the rest of a longer body (partial mode) goes on untouched.
    async fn buffered<H, B>(
        &mut self,
        head: &mut H,
        body: B,
        partial: bool,
        send_trailers: bool,
    ) -> BodyStep<B>
    where
        H: Head,
        B: Body<Data = Bytes> + FullBody + ExtProcBody + Unpin,
        B::Error: fmt::Display,
    {
        let limit = self.processor.config.body_limit;
        if !partial && declared_length(head.headers_mut(), &body) > limit as u64 {
            // Refused before a byte of the body is read.
            return BodyStep::TooLarge;
        }
        let read = match read_prefix(body, limit).await {
            Ok(read) => read,
            Err(error) => {
                tracing::debug!(%error, "ext_proc: body broke off while buffering");
                return BodyStep::Broken;
            }
        };
        let (mut data, end) = match &read {
            Read::Complete { data, trailers } => (data.clone(), trailers.is_none()),
            Read::Partial { .. } if !partial => return BodyStep::TooLarge,
            Read::Partial { data, .. } => (data.clone(), false),
        };
        let mut replaced = false;
        match self.call(H::DIRECTION.body(&data, end)).await {
            Ok(answer) => match answer.response {
                Some(Answer::RequestBody(body) | Answer::ResponseBody(body)) => {
                    let common = body.response.unwrap_or_default();
                    replaced = common.status == i32::from(ResponseStatus::ContinueAndReplace);
                    if let Some(mutation) = &common.header_mutation
                        && let Err(error) = head.apply(mutation, false)
                    {
                        tracing::debug!(%error, "ext_proc: header mutation refused");
                        return BodyStep::Fail(StatusCode::INTERNAL_SERVER_ERROR);
                    }
                    data = mutation::mutate_body(common.body_mutation, data);
                }
                Some(Answer::ImmediateResponse(answer)) => return BodyStep::Answer(answer),
                _ => {}
            },
            Err(Halt::Skip) => {}
            Err(Halt::Fail(status)) => return BodyStep::Fail(status),
        }
        match read {
            Read::Complete { mut trailers, .. } => {
                if let Some(trailers) = trailers.as_mut().filter(|_| send_trailers && !replaced) {
                    match self.call(H::DIRECTION.trailers(trailers)).await {
                        Ok(answer) => match answer.response {
                            Some(
                                Answer::RequestTrailers(answer) | Answer::ResponseTrailers(answer),
                            ) => {
                                if let Some(mutation) = &answer.header_mutation
                                    && let Err(error) =
                                        mutation::apply(mutation, trailers, Pseudo::None)
                                {
                                    tracing::debug!(%error, "ext_proc: trailer mutation refused");
                                    return BodyStep::Fail(StatusCode::INTERNAL_SERVER_ERROR);
                                }
                            }
                            Some(Answer::ImmediateResponse(answer)) => {
                                return BodyStep::Answer(answer);
                            }
                            _ => {}
                        },
                        Err(Halt::Skip) => {}
                        Err(Halt::Fail(status)) => return BodyStep::Fail(status),
                    }
                }
                set_length(head.headers_mut(), data.len());
                BodyStep::Body(B::full(data, trailers), None)
            }
            Read::Partial { leftover, rest, .. } => {
                head.headers_mut().remove(CONTENT_LENGTH);
                let (abort, receiver) = abort_channel(H::DIRECTION);
                let plan = Plan {
                    exchange: self.exchange.clone(),
                    direction: H::DIRECTION,
                    chunks: false,
                    trailers: send_trailers && self.active && !replaced,
                    abort,
                };
                let body = ProcessedBody::new(rest, plan, [data, leftover]);
                BodyStep::Body(B::processed(body), receiver)
            }
        }
    }
}

/// Where a request body reports an early end to the service future; responses have none
/// (their headers are gone by then: the body just ends with an error).
fn abort_channel(
    direction: Direction,
) -> (
    Option<oneshot::Sender<Abort>>,
    Option<oneshot::Receiver<Abort>>,
) {
    match direction {
        Direction::Request => {
            let (sender, receiver) = oneshot::channel();
            (Some(sender), Some(receiver))
        }
        Direction::Response => (None, None),
    }
}

/// The body length a message announces: its `Content-Length`, or the least its body says
/// it holds.
fn declared_length<B: Body>(headers: &HeaderMap, body: &B) -> u64 {
    let header = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or(0);
    header.max(body.size_hint().lower())
}

/// Reads `body` up to `limit` bytes; see [`Read`]. At most `limit` bytes are held.
async fn read_prefix<B>(mut body: B, limit: usize) -> Result<Read<B>, B::Error>
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut collected = Collected::default();
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        match frame?.into_data() {
            Ok(mut data) => {
                let room = limit - collected.len;
                if data.len() > room {
                    let leftover = data.split_off(room);
                    collected.push(data);
                    return Ok(Read::Partial {
                        data: collected.finish(),
                        leftover,
                        rest: body,
                    });
                }
                collected.push(data);
            }
            Err(frame) => {
                if let Ok(map) = frame.into_trailers() {
                    trailers = Some(map);
                }
            }
        }
    }
    Ok(Read::Complete {
        data: collected.finish(),
        trailers,
    })
}

/// Body bytes read so far: a body in one frame is kept as it came (no copy).
#[derive(Default)]
struct Collected {
    first: Bytes,
    rest: BytesMut,
    len: usize,
}

impl Collected {
    fn push(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        self.len += data.len();
        if self.first.is_empty() && self.rest.is_empty() {
            self.first = data;
            return;
        }
        if self.rest.is_empty() {
            self.rest.extend_from_slice(&self.first);
            self.first = Bytes::new();
        }
        self.rest.extend_from_slice(&data);
    }

    fn finish(self) -> Bytes {
        if self.rest.is_empty() {
            self.first
        } else {
            self.rest.freeze()
        }
    }
}

/// A body of known length: `Content-Length` set, `Transfer-Encoding` dropped.
fn set_length(headers: &mut HeaderMap, length: usize) {
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    headers.remove(TRANSFER_ENCODING);
}

/// A short `text/plain` answer of the layer's own, flagged for the access log.
fn text<B: FullBody>(status: StatusCode, flag: Option<ResponseFlag>) -> http::Response<B> {
    let mut response = http::Response::new(B::text(status.canonical_reason().unwrap_or("")));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    if let Some(flag) = flag {
        response.extensions_mut().insert(flag);
    }
    response
}

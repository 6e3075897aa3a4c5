//! Bodies that go through the processor as they stream: chunk by chunk (`STREAMED`),
//! trailers only (body mode `NONE` with trailers sent), or the rest of a body whose first
//! part was processed in one piece (`BUFFERED_PARTIAL`).

use bytes::Bytes;
use envoy_types::pb::envoy::service::ext_proc::v3::{
    ImmediateResponse, common_response::ResponseStatus, processing_response::Response,
};
use http::{HeaderMap, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::{BoxBody, UnsyncBoxBody};
use pin_project_lite::pin_project;
use std::{
    collections::VecDeque,
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};
use tokio::sync::oneshot;

use super::{
    mutation::{self, Direction, Pseudo},
    stream::{Exchange, Reply, Stop},
};

/// The most chunks of one body waiting for the processor at once; reading the body
/// pauses beyond it (with [`MAX_CHUNK`], at most 256 KiB of a body is held).
pub(super) const MAX_IN_FLIGHT: usize = 4;

/// The largest chunk sent in one message; longer frames are split.
pub(super) const MAX_CHUNK: usize = 64 * 1024;

/// A body type the [ext_proc](super) layer can stream through the processor while keeping
/// its type.
///
/// Implemented for the proxy's body type ([`gateway_core::BoxBody`], an
/// [`UnsyncBoxBody`]) and for `http_body_util`'s [`BoxBody`], when their error type can
/// hold a [`ProcessingError`] (the proxy's [`BoxError`](gateway_core::BoxError) can).
pub trait ExtProcBody: Sized {
    /// `body`, as it comes back from the processor.
    fn processed(body: ProcessedBody<Self>) -> Self;
}

impl<E> ExtProcBody for UnsyncBoxBody<Bytes, E>
where
    E: From<ProcessingError> + 'static,
{
    fn processed(body: ProcessedBody<Self>) -> Self {
        UnsyncBoxBody::new(body)
    }
}

impl<E> ExtProcBody for BoxBody<Bytes, E>
where
    E: From<ProcessingError> + 'static,
{
    fn processed(body: ProcessedBody<Self>) -> Self {
        BoxBody::new(body)
    }
}

/// Why a body streaming through the processor ended early.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProcessingError {
    /// The processor answered with an immediate response after the body started.
    #[error("the external processor answered with an immediate response")]
    ImmediateResponse,
    /// The processor failed and the layer fails closed.
    #[error("the external processor failed")]
    Failed,
    /// The processor's trailer mutation was invalid.
    #[error("the external processor's trailer mutation was refused")]
    InvalidMutation,
}

/// What a request body tells the service future when it ends early, so that the client
/// gets the processor's answer (or the failure) instead of the backend's.
#[derive(Debug)]
pub(super) enum Abort {
    Answer(ImmediateResponse),
    Fail(StatusCode),
}

/// What to do with a body as it streams; see [`ProcessedBody::new`].
#[derive(Debug)]
pub(super) struct Plan {
    pub(super) exchange: Exchange,
    pub(super) direction: Direction,
    /// Send each data chunk (`STREAMED`).
    pub(super) chunks: bool,
    /// Send the trailers.
    pub(super) trailers: bool,
    /// Where a request body reports an immediate response or a failure.
    pub(super) abort: Option<oneshot::Sender<Abort>>,
}

pin_project! {
    /// A body streaming through the processor: each chunk (or the trailers) goes on as the
    /// processor returns it, in order, with at most [`MAX_IN_FLIGHT`] chunks waiting. When
    /// processing stops (the processor closed the stream, or failed with `failOpen`) the rest
    /// goes on untouched; when it fails closed or answers with an immediate response, the
    /// body ends with a [`ProcessingError`].
    pub struct ProcessedBody<B> {
        #[pin]
        inner: B,
        state: State,
    }
}

struct State {
    exchange: Option<Exchange>,
    direction: Direction,
    chunks: bool,
    trailers: bool,
    abort: Option<oneshot::Sender<Abort>>,
    /// The inner body has ended.
    inner_done: bool,
    /// A message with `end_of_stream` (or the trailers) has been sent.
    sent_end: bool,
    /// The unsent rest of a frame longer than [`MAX_CHUNK`].
    leftover: Bytes,
    queue: VecDeque<Entry>,
}

/// A frame on its way out, in body order.
enum Entry {
    Ready(Frame<Bytes>),
    Chunk {
        reply: oneshot::Receiver<Reply>,
        original: Bytes,
    },
    Trailers {
        reply: oneshot::Receiver<Reply>,
        original: HeaderMap,
    },
}

impl<B> ProcessedBody<B> {
    /// `inner`, streamed through the processor as `plan` says, after the frames of
    /// `ready` (a processed first part).
    pub(super) fn new(inner: B, plan: Plan, ready: impl IntoIterator<Item = Bytes>) -> Self {
        let queue = ready
            .into_iter()
            .filter(|data| !data.is_empty())
            .map(|data| Entry::Ready(Frame::data(data)))
            .collect();
        Self {
            inner,
            state: State {
                exchange: Some(plan.exchange),
                direction: plan.direction,
                chunks: plan.chunks,
                trailers: plan.trailers,
                abort: plan.abort,
                inner_done: false,
                sent_end: false,
                leftover: Bytes::new(),
                queue,
            },
        }
    }
}

impl<B> fmt::Debug for ProcessedBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessedBody")
            .field("direction", &self.state.direction)
            .field("processing", &self.state.exchange.is_some())
            .field("waiting", &self.state.queue.len())
            .finish_non_exhaustive()
    }
}

impl<B> Body for ProcessedBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: From<ProcessingError>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        let state = this.state;
        loop {
            // The oldest frame goes out as soon as it is known.
            if let Some(front) = state.queue.front_mut()
                && let Poll::Ready(outcome) = front.poll(cx)
            {
                state.queue.pop_front();
                match state.resolve(outcome) {
                    Ok(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
                    Ok(None) => continue,
                    Err(error) => {
                        state.queue.clear();
                        state.inner_done = true;
                        state.leftover = Bytes::new();
                        return Poll::Ready(Some(Err(error.into())));
                    }
                }
            }
            if state.inner_done && state.leftover.is_empty() {
                return if state.queue.is_empty() {
                    Poll::Ready(None)
                } else {
                    Poll::Pending
                };
            }
            // Read on while the window allows.
            if state.queue.len() >= MAX_IN_FLIGHT {
                return Poll::Pending;
            }
            let frame = if state.leftover.is_empty() {
                match this.inner.as_mut().poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => frame,
                    Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
                    Poll::Ready(None) => {
                        state.inner_done = true;
                        state.send_end();
                        continue;
                    }
                    Poll::Pending => return Poll::Pending,
                }
            } else {
                let take = state.leftover.len().min(MAX_CHUNK);
                Frame::data(state.leftover.split_to(take))
            };
            if let Some(frame) = state.accept(frame, this.inner.is_end_stream()) {
                return Poll::Ready(Some(Ok(frame)));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state.inner_done && self.state.leftover.is_empty() && self.state.queue.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        let untouched =
            !self.state.chunks && self.state.queue.is_empty() && self.state.leftover.is_empty();
        if untouched {
            self.inner.size_hint()
        } else {
            SizeHint::default()
        }
    }
}

/// What an entry at the front of the queue resolved to.
enum Outcome {
    Ready(Frame<Bytes>),
    Chunk(Reply, Bytes),
    Trailers(Reply, HeaderMap),
}

impl Entry {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Outcome> {
        // An answer channel dropped without an answer means the stream is gone.
        let answer = |result: Result<Reply, _>| result.unwrap_or(Err(Stop::Continue));
        match self {
            Self::Ready(frame) => Poll::Ready(Outcome::Ready(std::mem::replace(
                frame,
                Frame::data(Bytes::new()),
            ))),
            Self::Chunk { reply, original } => Pin::new(reply)
                .poll(cx)
                .map(|result| Outcome::Chunk(answer(result), std::mem::take(original))),
            Self::Trailers { reply, original } => Pin::new(reply)
                .poll(cx)
                .map(|result| Outcome::Trailers(answer(result), std::mem::take(original))),
        }
    }
}

impl State {
    /// Takes a frame read from the inner body: sends it to the processor, queues it, or
    /// (when nothing waits before it) hands it straight back.
    fn accept(&mut self, frame: Frame<Bytes>, inner_end: bool) -> Option<Frame<Bytes>> {
        let frame = match frame.into_data() {
            Ok(mut data) => {
                let Some(exchange) = self.exchange.as_ref().filter(|_| self.chunks) else {
                    return self.pass(Frame::data(data));
                };
                if data.len() > MAX_CHUNK {
                    self.leftover = data.split_off(MAX_CHUNK);
                }
                let end = inner_end && self.leftover.is_empty();
                self.sent_end |= end;
                let reply = exchange.send(self.direction.body(&data, end));
                self.queue.push_back(Entry::Chunk {
                    reply,
                    original: data,
                });
                return None;
            }
            Err(frame) => frame,
        };
        match frame.into_trailers() {
            Ok(trailers) => {
                if let Some(exchange) = self.exchange.as_ref().filter(|_| self.trailers) {
                    self.sent_end = true;
                    let reply = exchange.send(self.direction.trailers(&trailers));
                    self.queue.push_back(Entry::Trailers {
                        reply,
                        original: trailers,
                    });
                    return None;
                }
                // Trailers the processor does not see: tell it the chunks are over first.
                self.send_end();
                self.pass(Frame::trailers(trailers))
            }
            Err(other) => self.pass(other),
        }
    }

    /// Ends the processor's view of a streamed body with an empty last chunk, when no
    /// message said it was the last.
    fn send_end(&mut self) {
        if self.sent_end || !self.chunks {
            return;
        }
        if let Some(exchange) = &self.exchange {
            self.sent_end = true;
            let reply = exchange.send(self.direction.body(&[], true));
            self.queue.push_back(Entry::Chunk {
                reply,
                original: Bytes::new(),
            });
        }
    }

    /// A frame going on untouched, behind whatever waits.
    fn pass(&mut self, frame: Frame<Bytes>) -> Option<Frame<Bytes>> {
        if self.queue.is_empty() {
            return Some(frame);
        }
        self.queue.push_back(Entry::Ready(frame));
        None
    }

    /// The frame an answered entry becomes; `Ok(None)` for a chunk the processor emptied.
    fn resolve(&mut self, outcome: Outcome) -> Result<Option<Frame<Bytes>>, ProcessingError> {
        let (reply, original) = match outcome {
            Outcome::Ready(frame) => return Ok(Some(frame)),
            Outcome::Chunk(reply, original) => (reply, Ok(original)),
            Outcome::Trailers(reply, original) => (reply, Err(original)),
        };
        let answer = match reply {
            Ok(answer) => answer,
            Err(Stop::Continue) => {
                self.exchange = None;
                return Ok(untouched(original));
            }
            Err(Stop::Fail(status)) => return Err(self.abort(Abort::Fail(status))),
        };
        match (answer.response, original) {
            (Some(Response::RequestBody(body) | Response::ResponseBody(body)), Ok(original)) => {
                let common = body.response.unwrap_or_default();
                if common.status == i32::from(ResponseStatus::ContinueAndReplace) {
                    // Nothing more of this body goes to the processor.
                    self.exchange = None;
                }
                let data = mutation::mutate_body(common.body_mutation, original);
                Ok((!data.is_empty()).then(|| Frame::data(data)))
            }
            (
                Some(Response::RequestTrailers(answer) | Response::ResponseTrailers(answer)),
                Err(mut trailers),
            ) => {
                if let Some(mutation) = &answer.header_mutation
                    && let Err(error) = mutation::apply(mutation, &mut trailers, Pseudo::None)
                {
                    tracing::debug!(%error, "ext_proc: trailer mutation refused");
                    self.abort(Abort::Fail(StatusCode::INTERNAL_SERVER_ERROR));
                    return Err(ProcessingError::InvalidMutation);
                }
                Ok(Some(Frame::trailers(trailers)))
            }
            (Some(Response::ImmediateResponse(answer)), _) => {
                Err(self.abort(Abort::Answer(answer)))
            }
            // The task matched answers with messages: nothing else arrives.
            (_, original) => Ok(untouched(original)),
        }
    }

    /// Stops processing and tells the service future (for a request body) why.
    fn abort(&mut self, abort: Abort) -> ProcessingError {
        self.exchange = None;
        let error = match &abort {
            Abort::Answer(_) => ProcessingError::ImmediateResponse,
            Abort::Fail(_) => ProcessingError::Failed,
        };
        if let Some(sender) = self.abort.take() {
            let _ = sender.send(abort);
        }
        error
    }
}

/// The frame as it was sent (nothing for the empty last chunk).
fn untouched(original: Result<Bytes, HeaderMap>) -> Option<Frame<Bytes>> {
    match original {
        Ok(data) => (!data.is_empty()).then(|| Frame::data(data)),
        Err(trailers) => Some(Frame::trailers(trailers)),
    }
}

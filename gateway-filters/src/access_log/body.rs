//! Body wrappers: counting the bytes received and sent, and writing the line when the
//! response body ends.

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use super::{
    record::{RequestFacts, ResponseFacts},
    service::emit,
};

pin_project! {
    /// The request body as the inner service sees it: the original one, with the bytes
    /// read from it counted for `%BYTES_RECEIVED%`.
    #[derive(Debug)]
    pub struct RequestBody<B> {
        #[pin]
        inner: B,
        counter: Option<Arc<RequestFacts>>,
    }
}

impl<B> RequestBody<B> {
    pub(crate) fn new(inner: B, counter: Option<Arc<RequestFacts>>) -> Self {
        Self { inner, counter }
    }

    /// The original body (bytes read from it after this are not counted).
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for RequestBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let (Some(Ok(frame)), Some(counter)) = (&frame, this.counter.as_ref())
            && let Some(data) = frame.data_ref()
        {
            counter.received(data.remaining());
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request's facts waiting for the end of its response.
#[derive(Debug)]
struct Pending {
    request: Arc<RequestFacts>,
    response: ResponseFacts,
}

impl Pending {
    /// Writes the line; `closed` adds `DC` (the body was dropped before its end).
    fn emit(mut self, closed: bool) {
        self.response.flags.downstream_closed |= closed;
        emit(&self.request, &self.response);
    }
}

pin_project! {
    /// The response body as the client gets it: the original one, with the bytes sent
    /// counted. The log line is written when the body ends, fails, or is dropped before
    /// its end (then with flag `DC`).
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        pending: Option<Pending>,
    }

    impl<B> PinnedDrop for ResponseBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(pending) = this.project().pending.take() {
                pending.emit(true);
            }
        }
    }
}

impl<B: Body> ResponseBody<B> {
    /// Wraps `inner`; an already finished body (empty) logs right away.
    pub(crate) fn new(inner: B, request: Arc<RequestFacts>, response: ResponseFacts) -> Self {
        let pending = Pending { request, response };
        let pending = if inner.is_end_stream() {
            pending.emit(false);
            None
        } else {
            Some(pending)
        };
        Self { inner, pending }
    }
}

impl<B> ResponseBody<B> {
    /// Wraps `inner` with nothing to log.
    pub(crate) fn unlogged(inner: B) -> Self {
        Self {
            inner,
            pending: None,
        }
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        let ended = match &frame {
            Some(Ok(frame)) => {
                if let (Some(data), Some(pending)) = (frame.data_ref(), this.pending.as_mut()) {
                    pending.response.sent(data.remaining());
                }
                this.inner.is_end_stream()
            }
            Some(Err(_)) | None => true,
        };
        if ended && let Some(pending) = this.pending.take() {
            pending.emit(false);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

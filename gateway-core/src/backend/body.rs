//! The body of an upstream response as the proxy forwards it: it keeps the request counted
//! in flight until the body ends, and cuts the body off at `maxStreamDuration`.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use std::{
    pin::Pin,
    task::{Context, Poll, ready},
};
use tokio::time::{Instant, Sleep};

use super::state::InFlight;
use crate::BoxError;

/// The upstream exchange passed `maxStreamDuration`.
#[derive(Debug, thiserror::Error)]
#[error("upstream max stream duration reached")]
pub(super) struct StreamDurationExceeded;

pin_project! {
    /// An upstream response body with its in-flight guard and deadline.
    pub(super) struct UpstreamBody {
        #[pin]
        inner: Incoming,
        #[pin]
        deadline: Option<Sleep>,
        in_flight: Option<InFlight>,
    }
}

impl UpstreamBody {
    /// Wraps `inner`; `in_flight` is released when the body ends, fails or is dropped.
    pub(super) fn new(
        inner: Incoming,
        in_flight: Option<InFlight>,
        deadline: Option<Instant>,
    ) -> Self {
        Self {
            inner,
            deadline: deadline.map(tokio::time::sleep_until),
            in_flight,
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        if let Some(deadline) = this.deadline.as_mut().as_pin_mut()
            && deadline.poll(cx).is_ready()
        {
            this.deadline.set(None);
            this.in_flight.take();
            return Poll::Ready(Some(Err(Box::new(StreamDurationExceeded))));
        }
        let frame = ready!(this.inner.poll_frame(cx));
        match &frame {
            Some(Ok(_)) => {}
            Some(Err(_)) | None => {
                this.in_flight.take();
            }
        }
        Poll::Ready(frame.map(|result| result.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

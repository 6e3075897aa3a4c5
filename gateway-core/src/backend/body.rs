//! The body of an upstream response as the proxy forwards it: it keeps the request counted
//! in flight until the body ends, cuts the body off at `maxStreamDuration`, and returns the
//! connection to its pool when the body ends cleanly.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use std::{
    pin::Pin,
    task::{Context, Poll, ready},
};
use tokio::time::{Instant, Sleep};

use super::{pool::Checkin, state::InFlight};
use crate::BoxError;

/// The upstream exchange passed `maxStreamDuration`.
#[derive(Debug, thiserror::Error)]
#[error("upstream max stream duration reached")]
pub(super) struct StreamDurationExceeded;

pin_project! {
    /// An upstream response body with its in-flight guard, deadline and connection.
    pub(super) struct UpstreamBody {
        #[pin]
        inner: Incoming,
        #[pin]
        deadline: Option<Sleep>,
        in_flight: Option<InFlight>,
        checkin: Checkin,
    }
}

impl UpstreamBody {
    /// Wraps `inner`; `in_flight` is released when the body ends, fails or is dropped, and
    /// `checkin` when it ends cleanly (at once for an empty body).
    pub(super) fn new(
        inner: Incoming,
        in_flight: Option<InFlight>,
        deadline: Option<Instant>,
        mut checkin: Checkin,
    ) -> Self {
        if inner.is_end_stream() {
            checkin.release();
        }
        Self {
            inner,
            deadline: deadline.map(tokio::time::sleep_until),
            in_flight,
            checkin,
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
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            // Servers stop polling once `is_end_stream` says so: the last frame releases.
            Some(Ok(_)) if this.inner.is_end_stream() => {
                this.in_flight.take();
                this.checkin.release();
            }
            Some(Ok(_)) => {}
            None => {
                this.in_flight.take();
                this.checkin.release();
            }
            Some(Err(_)) => {
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

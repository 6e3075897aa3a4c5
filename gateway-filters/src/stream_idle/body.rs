//! A body that records its frames and ends with an error once the stream idles out.

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};
use tokio::time::{Sleep, sleep_until};

use super::activity::Activity;

/// The error a body ends with when the stream stayed quiet for too long.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("stream idle timeout")]
pub struct StreamIdleElapsed;

pin_project! {
    /// A body watched by the stream idle clock; see the [module docs](super).
    #[derive(Debug)]
    pub struct IdleBody<B> {
        #[pin]
        inner: B,
        activity: Option<Arc<Activity>>,
        // Boxed, and only once the body first waits, so the body stays `Unpin`.
        sleep: Option<Pin<Box<Sleep>>>,
    }
}

impl<B> IdleBody<B> {
    pub(super) fn watched(inner: B, activity: Arc<Activity>) -> Self {
        Self {
            inner,
            activity: Some(activity),
            sleep: None,
        }
    }

    /// A body outside any stream clock (the gateway's own answers).
    pub(super) fn unwatched(inner: B) -> Self {
        Self {
            inner,
            activity: None,
            sleep: None,
        }
    }
}

impl<B: Default> Default for IdleBody<B> {
    fn default() -> Self {
        Self::unwatched(B::default())
    }
}

impl<B> Body for IdleBody<B>
where
    B: Body,
    B::Data: Buf,
    B::Error: From<StreamIdleElapsed>,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let Some(activity) = this.activity.as_ref() else {
            return this.inner.poll_frame(cx);
        };
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            activity.touch();
            return Poll::Ready(frame);
        }
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(sleep_until(activity.deadline())));
        loop {
            let deadline = activity.deadline();
            if sleep.deadline() != deadline {
                sleep.as_mut().reset(deadline);
            }
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if activity.deadline() <= tokio::time::Instant::now() {
                return Poll::Ready(Some(Err(StreamIdleElapsed.into())));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

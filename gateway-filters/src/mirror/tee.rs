//! Copying a request body to the mirror without ever slowing the main request down.
//!
//! [`tee`] wraps the main body: every frame it yields is also offered to a bounded channel
//! with `try_send`. When the channel is full (the mirror fell behind) the copy is
//! abandoned: the mirror's body ends with an error, so the mirror request fails instead of
//! sending a truncated body, and the main body carries on untouched.

use bytes::Bytes;
use gateway_core::{BoxBody, BoxError, body::boxed};
use http_body::{Body, Frame, SizeHint};
use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
};
use tokio::sync::mpsc;

/// Frames the mirror may lag behind before its copy is abandoned.
pub(super) const MIRROR_BUFFER_FRAMES: usize = 16;

/// Splits `body` into the main body and the mirror's copy of it.
pub(super) fn tee(body: BoxBody) -> (BoxBody, BoxBody) {
    if body.is_end_stream() {
        return (body, gateway_core::body::empty());
    }
    let (tx, rx) = mpsc::channel(MIRROR_BUFFER_FRAMES);
    let complete = Arc::new(AtomicBool::new(false));
    let copy = MirrorCopy {
        rx,
        complete: complete.clone(),
        size_hint: body.size_hint(),
        failed: false,
    };
    let main = Tee {
        inner: body,
        tx: Some(tx),
        complete,
    };
    (boxed(main), boxed(copy))
}

/// The main body, copying each frame to the mirror.
struct Tee {
    inner: BoxBody,
    tx: Option<mpsc::Sender<Frame<Bytes>>>,
    /// Set once every frame has been handed to the mirror.
    complete: Arc<AtomicBool>,
}

impl Tee {
    fn copy(&mut self, frame: &Frame<Bytes>) {
        let Some(tx) = &self.tx else { return };
        let copy = if let Some(data) = frame.data_ref() {
            Frame::data(data.clone())
        } else if let Some(trailers) = frame.trailers_ref() {
            Frame::trailers(trailers.clone())
        } else {
            return;
        };
        if tx.try_send(copy).is_err() {
            tracing::debug!("mirror fell behind: its copy of the request body is abandoned");
            self.tx = None;
        }
    }

    fn finish(&mut self) {
        if let Some(tx) = self.tx.take() {
            self.complete.store(true, Ordering::SeqCst);
            drop(tx);
        }
    }
}

impl Body for Tee {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                self.copy(frame);
                // Readers may stop polling once the body says it has ended.
                if frame.is_trailers() || self.inner.is_end_stream() {
                    self.finish();
                }
            }
            Poll::Ready(None) => self.finish(),
            // A failing main body abandons the copy too.
            Poll::Ready(Some(Err(_))) => self.tx = None,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The mirror's copy of the body.
struct MirrorCopy {
    rx: mpsc::Receiver<Frame<Bytes>>,
    complete: Arc<AtomicBool>,
    size_hint: SizeHint,
    failed: bool,
}

impl Body for MirrorCopy {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(frame)) => Poll::Ready(Some(Ok(frame))),
            Poll::Ready(None) if self.complete.load(Ordering::SeqCst) || self.failed => {
                Poll::Ready(None)
            }
            Poll::Ready(None) => {
                self.failed = true;
                Poll::Ready(Some(Err(
                    "mirror copy abandoned: the mirror fell behind or the request failed".into(),
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.size_hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    fn streamed(chunks: Vec<Bytes>) -> BoxBody {
        let frames: Vec<Result<Frame<Bytes>, BoxError>> =
            chunks.into_iter().map(|c| Ok(Frame::data(c))).collect();
        boxed(StreamBody::new(futures_util::stream::iter(frames)))
    }

    #[tokio::test]
    async fn both_sides_get_the_same_bytes() {
        let (main, copy) = tee(streamed(vec![Bytes::from("a"), Bytes::from("bc")]));
        let main = main.collect().await.unwrap().to_bytes();
        let copy = copy.collect().await.unwrap().to_bytes();
        assert_eq!(main, "abc");
        assert_eq!(copy, "abc");
    }

    #[tokio::test]
    async fn exact_lengths_are_kept_and_known_ends_finish_the_copy() {
        let (main, copy) = tee(gateway_core::body::full("hello"));
        assert_eq!(copy.size_hint().exact(), Some(5));
        assert_eq!(main.collect().await.unwrap().to_bytes(), "hello");
        assert_eq!(copy.collect().await.unwrap().to_bytes(), "hello");
    }

    #[tokio::test]
    async fn a_slow_mirror_is_abandoned_and_the_main_body_is_not_held_up() {
        let chunks: Vec<Bytes> = (0..MIRROR_BUFFER_FRAMES * 2)
            .map(|i| Bytes::from(i.to_string()))
            .collect();
        let expected: Vec<u8> = chunks.iter().flat_map(|c| c.to_vec()).collect();
        let (main, copy) = tee(streamed(chunks));
        // The main side reads everything while the mirror reads nothing.
        assert_eq!(main.collect().await.unwrap().to_bytes(), expected);
        let error = copy.collect().await.unwrap_err();
        assert!(error.to_string().contains("abandoned"));
    }

    #[tokio::test]
    async fn a_dropped_main_body_fails_the_copy() {
        let (main, copy) = tee(streamed(vec![Bytes::from("a"), Bytes::from("b")]));
        drop(main);
        assert!(copy.collect().await.is_err());
    }

    #[tokio::test]
    async fn empty_bodies_are_not_teed() {
        let (main, copy) = tee(gateway_core::body::empty());
        assert!(main.is_end_stream());
        assert_eq!(copy.collect().await.unwrap().to_bytes(), "");
    }
}

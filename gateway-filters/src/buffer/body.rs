//! Bodies the layers fill themselves: a buffered request, or a short answer of their own.

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::{BoxBody, UnsyncBoxBody};
use std::{
    fmt,
    marker::PhantomData,
    pin::Pin,
    task::{Context, Poll},
};

/// A body type a layer can fill with bytes it already holds: the request body the
/// [buffer](super) layer read in full, or the text of an answer a layer makes itself
/// (`429 local_rate_limited`, `403 Invalid origin`, `413 Payload Too Large`).
///
/// Implemented for the proxy's body type ([`gateway_core::BoxBody`], an
/// [`UnsyncBoxBody`]) and for `http_body_util`'s [`BoxBody`], whatever their error type.
/// A boxed body is needed because the layers hand the body on as the same type they
/// received; `http::Request<BoxBody>` stays `http::Request<BoxBody>`.
pub trait FullBody: Sized {
    /// A body of exactly `data`, followed by `trailers` when there are some.
    fn full(data: Bytes, trailers: Option<HeaderMap>) -> Self;

    /// A body of the static text `text`, without trailers.
    fn text(text: &'static str) -> Self {
        Self::full(Bytes::from_static(text.as_bytes()), None)
    }
}

impl<E: 'static> FullBody for UnsyncBoxBody<Bytes, E> {
    fn full(data: Bytes, trailers: Option<HeaderMap>) -> Self {
        UnsyncBoxBody::new(Buffered::<E>::new(data, trailers))
    }
}

impl<E: 'static> FullBody for BoxBody<Bytes, E> {
    fn full(data: Bytes, trailers: Option<HeaderMap>) -> Self {
        BoxBody::new(Buffered::<E>::new(data, trailers))
    }
}

/// Bytes held in memory, then optional trailers; its size is known exactly. The error type
/// is chosen by the body it stands in for (it never fails).
struct Buffered<E> {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
    error: PhantomData<fn() -> E>,
}

impl<E> Buffered<E> {
    fn new(data: Bytes, trailers: Option<HeaderMap>) -> Self {
        Self {
            data: Some(data).filter(|data| !data.is_empty()),
            trailers,
            error: PhantomData,
        }
    }
}

impl<E> fmt::Debug for Buffered<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buffered")
            .field("len", &self.data.as_ref().map_or(0, Bytes::len))
            .field("trailers", &self.trailers.is_some())
            .finish()
    }
}

impl<E> Body for Buffered<E> {
    type Data = Bytes;
    type Error = E;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, E>>> {
        // `Buffered` is `Unpin`: the fields can be taken through the pin.
        let this = self.get_mut();
        if let Some(data) = this.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        Poll::Ready(
            this.trailers
                .take()
                .map(|trailers| Ok(Frame::trailers(trailers))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |data| data.len() as u64))
    }
}

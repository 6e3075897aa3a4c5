//! Reading the request body for `withRequestBody`, up to the limit, and handing it on.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, header::CONTENT_LENGTH};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{
    BodyExt,
    combinators::{BoxBody, UnsyncBoxBody},
};
use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll},
};

use crate::buffer::FullBody;

/// A request body type the [ext-authz layer](super) can hand on after reading the start of
/// it: when `allowPartialMessage` lets a long body through, the upstream gets the bytes
/// already read followed by the rest of the original body, as one body of the same type.
///
/// Implemented for the proxy's body type ([`gateway_core::BoxBody`], an
/// [`UnsyncBoxBody`]) and for `http_body_util`'s [`BoxBody`].
pub trait PartialBody: FullBody {
    /// `prefix`, then whatever `rest` still yields.
    fn prefixed(prefix: Bytes, rest: Self) -> Self;
}

impl<E: 'static> PartialBody for UnsyncBoxBody<Bytes, E> {
    fn prefixed(prefix: Bytes, rest: Self) -> Self {
        UnsyncBoxBody::new(Prefixed {
            prefix: Some(prefix).filter(|prefix| !prefix.is_empty()),
            rest,
        })
    }
}

impl<E: 'static> PartialBody for BoxBody<Bytes, E> {
    fn prefixed(prefix: Bytes, rest: Self) -> Self {
        BoxBody::new(Prefixed {
            prefix: Some(prefix).filter(|prefix| !prefix.is_empty()),
            rest,
        })
    }
}

/// Bytes already read, then the rest of the body they were read from.
struct Prefixed<B> {
    prefix: Option<Bytes>,
    rest: B,
}

impl<B> fmt::Debug for Prefixed<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prefixed")
            .field("prefix", &self.prefix.as_ref().map_or(0, Bytes::len))
            .finish_non_exhaustive()
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Prefixed<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        // `Prefixed<B>` is `Unpin` when `B` is.
        let this = self.get_mut();
        if let Some(prefix) = this.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        Pin::new(&mut this.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let prefix = self.prefix.as_ref().map_or(0, |prefix| prefix.len() as u64);
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower().saturating_add(prefix));
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper.saturating_add(prefix));
        }
        hint
    }
}

/// The body sent with a check.
#[derive(Debug)]
pub(super) struct SentBody {
    /// The bytes sent (at most `maxRequestBytes`).
    pub(super) data: Bytes,
    /// Whether the body was cut.
    pub(super) partial: bool,
    /// Send as `raw_body` rather than `body` (gRPC).
    pub(super) as_bytes: bool,
    /// How many bytes of the request body were read (the check request's `size`).
    pub(super) read: usize,
}

/// What reading the body up to the limit gave.
pub(super) enum ReadBody<B> {
    /// The whole body, within the limit.
    Whole {
        data: Bytes,
        trailers: Option<HeaderMap>,
    },
    /// At least the limit was read and the body goes on (`allowPartialMessage`): what was
    /// read, and the rest.
    Partial { read: Bytes, rest: B },
    /// The body is longer than the limit (and partial messages are not allowed).
    TooLarge,
    /// The body failed while it was read.
    Failed(String),
}

/// Reads `body` until it ends or `max` bytes are read. Past `max`, the body is
/// [`ReadBody::TooLarge`] unless `allow_partial`, which stops reading at `max` and keeps the
/// rest. At most `max` bytes (plus the last frame when `allow_partial`) are held.
pub(super) async fn read_body<B>(mut body: B, max: usize, allow_partial: bool) -> ReadBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: fmt::Display,
{
    let mut collected = Collected::default();
    loop {
        if body.is_end_stream() {
            return ReadBody::Whole {
                data: collected.into_bytes(),
                trailers: None,
            };
        }
        let frame = match body.frame().await {
            None => {
                return ReadBody::Whole {
                    data: collected.into_bytes(),
                    trailers: None,
                };
            }
            Some(Err(error)) => return ReadBody::Failed(error.to_string()),
            Some(Ok(frame)) => frame,
        };
        let data = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => {
                // Trailers end the body; any other frame kind carries nothing for us.
                if let Ok(trailers) = frame.into_trailers() {
                    return ReadBody::Whole {
                        data: collected.into_bytes(),
                        trailers: Some(trailers),
                    };
                }
                continue;
            }
        };
        if !allow_partial && collected.len + data.len() > max {
            return ReadBody::TooLarge;
        }
        collected.push(data);
        if allow_partial && collected.len >= max && !body.is_end_stream() {
            return ReadBody::Partial {
                read: collected.into_bytes(),
                rest: body,
            };
        }
    }
}

/// The request's announced body length: its `Content-Length`, or the least its body says
/// it holds.
pub(super) fn declared_length<B: Body>(headers: &HeaderMap, body: &B) -> Option<u64> {
    let header = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let hint = body.size_hint().lower();
    match header {
        Some(length) => Some(length.max(hint)),
        None => (hint > 0).then_some(hint),
    }
}

/// Frames read so far: the first kept as it came (no copy), later ones gathered.
#[derive(Default)]
struct Collected {
    first: Bytes,
    rest: BytesMut,
    len: usize,
}

impl Collected {
    fn push(&mut self, data: Bytes) {
        self.len += data.len();
        if self.first.is_empty() {
            self.first = data;
        } else {
            if self.rest.is_empty() {
                self.rest.extend_from_slice(&self.first);
            }
            self.rest.extend_from_slice(&data);
        }
    }

    fn into_bytes(self) -> Bytes {
        if self.rest.is_empty() {
            self.first
        } else {
            self.rest.freeze()
        }
    }
}

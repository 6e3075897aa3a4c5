//! Reading the request body ahead so that a retry can send it again.

use bytes::Bytes;
use gateway_core::{BoxBody, BoxError, body::boxed};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::{
    pin::Pin,
    task::{Context, Poll},
};

/// A request body prepared for retries.
pub(super) enum Prepared {
    /// The whole body is in memory and can be sent any number of times.
    Replayable(Replay),
    /// The body is larger than the limit (or failed while being read): what was read,
    /// followed by the rest, to be sent exactly once.
    Once(BoxBody),
}

/// Reads `body` into memory if it is at most `limit` bytes long.
pub(super) async fn prepare(mut body: BoxBody, limit: usize) -> Prepared {
    if body.is_end_stream() {
        return Prepared::Replayable(Replay::default());
    }
    if body.size_hint().lower() > limit as u64 {
        return Prepared::Once(body);
    }
    let mut read = Replay::default();
    let mut len = 0usize;
    loop {
        match body.frame().await {
            None => return Prepared::Replayable(read),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    len = len.saturating_add(data.len());
                    read.chunks.push(data);
                    if len > limit {
                        return Prepared::Once(read.followed_by(Rest::Body(body)));
                    }
                }
                Err(frame) => {
                    // Trailers end the body.
                    read.trailers = frame.into_trailers().ok();
                    return Prepared::Replayable(read);
                }
            },
            Some(Err(error)) => {
                return Prepared::Once(read.followed_by(Rest::Failed(Some(error))));
            }
        }
    }
}

/// A body held in memory.
#[derive(Default)]
pub(super) struct Replay {
    chunks: Vec<Bytes>,
    trailers: Option<HeaderMap>,
}

impl Replay {
    /// A fresh copy of the body (cloning `Bytes` shares the memory).
    pub(super) fn body(&self) -> BoxBody {
        boxed(Replayed {
            chunks: self.chunks.clone().into_iter(),
            trailers: self.trailers.clone(),
            rest: Rest::Done,
        })
    }

    fn followed_by(self, rest: Rest) -> BoxBody {
        boxed(Replayed {
            chunks: self.chunks.into_iter(),
            trailers: None,
            rest,
        })
    }
}

/// What follows the in-memory chunks.
enum Rest {
    Done,
    Body(BoxBody),
    Failed(Option<BoxError>),
}

/// Chunks from memory, then trailers, then the rest of a partly read body.
struct Replayed {
    chunks: std::vec::IntoIter<Bytes>,
    trailers: Option<HeaderMap>,
    rest: Rest,
}

impl Body for Replayed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(chunk) = self.chunks.next() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if let Some(trailers) = self.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        match &mut self.rest {
            Rest::Done => Poll::Ready(None),
            Rest::Body(body) => Pin::new(body).poll_frame(cx),
            Rest::Failed(error) => Poll::Ready(error.take().map(Err)),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.len() == 0
            && self.trailers.is_none()
            && match &self.rest {
                Rest::Done => true,
                Rest::Body(body) => body.is_end_stream(),
                Rest::Failed(error) => error.is_none(),
            }
    }

    fn size_hint(&self) -> SizeHint {
        let buffered: u64 = self.chunks.as_slice().iter().map(|c| c.len() as u64).sum();
        match &self.rest {
            Rest::Body(body) => {
                let rest = body.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(buffered.saturating_add(rest.lower()));
                if let Some(upper) = rest.upper() {
                    hint.set_upper(buffered.saturating_add(upper));
                }
                hint
            }
            Rest::Done | Rest::Failed(_) => SizeHint::with_exact(buffered),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    fn chunked(chunks: &[&'static str]) -> BoxBody {
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = chunks
            .iter()
            .map(|c| Ok(Frame::data(Bytes::from_static(c.as_bytes()))))
            .collect();
        boxed(StreamBody::new(futures_util::stream::iter(frames)))
    }

    async fn text(body: BoxBody) -> String {
        let bytes = body.collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn small_bodies_replay_with_an_exact_length() {
        let Prepared::Replayable(replay) = prepare(chunked(&["ab", "cd"]), 10).await else {
            panic!("small body not buffered");
        };
        assert_eq!(replay.body().size_hint().exact(), Some(4));
        assert_eq!(text(replay.body()).await, "abcd");
        assert_eq!(text(replay.body()).await, "abcd");
    }

    #[tokio::test]
    async fn large_bodies_are_sent_once_without_losing_bytes() {
        let Prepared::Once(body) = prepare(chunked(&["abc", "def", "ghi"]), 4).await else {
            panic!("large body buffered");
        };
        assert_eq!(text(body).await, "abcdefghi");
    }

    #[tokio::test]
    async fn known_large_bodies_are_not_read() {
        let body = gateway_core::body::full("0123456789");
        let Prepared::Once(body) = prepare(body, 4).await else {
            panic!("large body buffered");
        };
        assert_eq!(body.size_hint().exact(), Some(10));
    }

    #[tokio::test]
    async fn read_errors_reach_the_single_try() {
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = vec![
            Ok(Frame::data(Bytes::from_static(b"ab"))),
            Err("client went away".into()),
        ];
        let body = boxed(StreamBody::new(futures_util::stream::iter(frames)));
        let Prepared::Once(mut body) = prepare(body, 100).await else {
            panic!("failed body replayable");
        };
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "ab");
        assert!(body.frame().await.unwrap().is_err());
        assert!(body.frame().await.is_none());
    }

    #[tokio::test]
    async fn trailers_are_replayed() {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = vec![
            Ok(Frame::data(Bytes::from_static(b"x"))),
            Ok(Frame::trailers(trailers)),
        ];
        let body = boxed(StreamBody::new(futures_util::stream::iter(frames)));
        let Prepared::Replayable(replay) = prepare(body, 100).await else {
            panic!("small body not buffered");
        };
        for _ in 0..2 {
            let collected = replay.body().collect().await.unwrap();
            assert_eq!(collected.trailers().unwrap()["grpc-status"], "0");
        }
    }
}

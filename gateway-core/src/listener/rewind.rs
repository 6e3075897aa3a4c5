//! A stream that replays bytes already read from it before reading further.
//!
//! Used after peeking at a TLS ClientHello: the bytes go back in front of the stream so the
//! TLS acceptor (or a passthrough backend) sees the connection from its first byte; and by
//! HTTP connections, to hand bytes read while sniffing or parked to the next parser.

use bytes::{Buf, Bytes};
use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pin_project_lite::pin_project! {
    /// `inner` with `prefix` replayed first.
    #[derive(Debug)]
    pub(crate) struct Rewind<S> {
        prefix: Bytes,
        #[pin]
        inner: S,
    }
}

impl<S> Rewind<S> {
    pub(crate) fn new(prefix: Bytes, inner: S) -> Self {
        Self { prefix, inner }
    }

    /// Replaces the bytes to replay before reading further.
    pub(crate) fn set_prefix(&mut self, prefix: Bytes) {
        self.prefix = prefix;
    }
}

impl<S: AsyncRead> AsyncRead for Rewind<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            if n == this.prefix.len() {
                // Replayed: let go of the buffer the bytes came in (it may be a parser's).
                *this.prefix = Bytes::new();
            } else {
                this.prefix.advance(n);
            }
            return Poll::Ready(Ok(()));
        }
        this.inner.poll_read(cx, buf)
    }
}

impl<S: AsyncWrite> AsyncWrite for Rewind<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn prefix_is_read_before_the_stream() {
        let (mut client, server) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut client, b" world")
            .await
            .unwrap();
        drop(client);
        let mut rewind = Rewind::new(Bytes::from_static(b"hello"), server);
        let mut out = String::new();
        rewind.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "hello world");
    }
}

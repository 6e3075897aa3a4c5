//! Idle detection for downstream connections.
//!
//! The wrapped stream stamps the time of its last successful read or write; the connection
//! task asks [`IdleStamp::idle_deadline`] when it may close the connection for idleness.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::Instant,
};

/// The last time a connection moved bytes, in milliseconds since the connection started.
#[derive(Debug)]
pub(crate) struct IdleStamp {
    start: Instant,
    last_ms: AtomicU64,
}

impl IdleStamp {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// When the connection becomes idle if it moves no more bytes.
    pub(crate) fn idle_deadline(&self, idle: Duration) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + idle
    }
}

pin_project_lite::pin_project! {
    /// A stream that stamps its [`IdleStamp`] whenever it moves bytes.
    #[derive(Debug)]
    pub(crate) struct IdleIo<S> {
        #[pin]
        inner: S,
        stamp: Arc<IdleStamp>,
    }
}

impl<S> IdleIo<S> {
    pub(crate) fn new(inner: S, stamp: Arc<IdleStamp>) -> Self {
        Self { inner, stamp }
    }
}

impl<S: AsyncRead> AsyncRead for IdleIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let result = this.inner.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.stamp.touch();
        }
        result
    }
}

impl<S: AsyncWrite> AsyncWrite for IdleIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let result = this.inner.poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.stamp.touch();
        }
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let result = this.inner.poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.stamp.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn reading_moves_the_deadline() {
        let (mut client, server) = tokio::io::duplex(64);
        let stamp = IdleStamp::new();
        let mut io = IdleIo::new(server, stamp.clone());
        let idle = Duration::from_secs(60);
        let first = stamp.idle_deadline(idle);
        tokio::time::advance(Duration::from_secs(5)).await;
        client.write_all(b"x").await.unwrap();
        let mut byte = [0u8; 1];
        io.read_exact(&mut byte).await.unwrap();
        assert_eq!(stamp.idle_deadline(idle) - first, Duration::from_secs(5));
    }
}

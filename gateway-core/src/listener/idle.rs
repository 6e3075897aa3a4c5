//! Idle detection and buffer release for downstream connections.
//!
//! The wrapped stream stamps the time of its last successful read or write; the connection
//! task asks [`IdleStamp::idle_deadline`] when it may close the connection for idleness.
//!
//! It also lets the connection task *park* an idle HTTP/1.1 keep-alive connection: hyper
//! holds an 8 KiB read buffer and an 8 KiB write buffer for every connection for as long
//! as the connection lives, which dominates the memory of many idle clients. When the
//! task asks to park ([`IdleStamp::request_park`]) and hyper next reads from an empty
//! socket with no request in flight and every response byte flushed, the stream answers
//! end-of-file to hyper *without* closing the socket, hyper finishes the connection
//! cleanly, and the task keeps only the bare stream until the client sends again (see
//! `http.rs`). Bytes read while waiting are replayed to the next hyper connection first.

use super::rewind::Rewind;
use bytes::Bytes;
use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::Instant,
};

/// Activity of one downstream connection, shared by its stream and its task.
#[derive(Debug)]
pub(crate) struct IdleStamp {
    start: Instant,
    /// Milliseconds since `start` when the connection last moved bytes.
    last_ms: AtomicU64,
    /// Requests whose response has not been fully handed to hyper yet.
    in_flight: AtomicUsize,
    /// Bytes written but not yet flushed.
    unflushed: AtomicBool,
    /// The task wants hyper to let go of the connection at its next idle read.
    park_requested: AtomicBool,
    /// The stream told hyper end-of-file to park; the socket is still open.
    parked: AtomicBool,
    /// A protocol upgrade was asked for: the stream may outlive hyper, never park it.
    upgraded: AtomicBool,
}

impl IdleStamp {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            unflushed: AtomicBool::new(false),
            park_requested: AtomicBool::new(false),
            parked: AtomicBool::new(false),
            upgraded: AtomicBool::new(false),
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

    /// Counts a request as in flight until the returned guard drops (with its response
    /// body, once hyper has sent it). A request asking for a protocol upgrade turns
    /// parking off for the rest of the connection.
    pub(crate) fn begin_request(self: &Arc<Self>, upgrade: bool) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.park_requested.store(false, Ordering::Relaxed);
        if upgrade {
            self.upgraded.store(true, Ordering::Relaxed);
        }
        InFlight(self.clone())
    }

    /// Whether a park has been asked for and not yet cancelled by a request.
    pub(crate) fn park_requested(&self) -> bool {
        self.park_requested.load(Ordering::Relaxed)
    }

    /// Whether nothing is in flight and every written byte is flushed.
    pub(crate) fn is_quiet(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0 && !self.unflushed.load(Ordering::Relaxed)
    }

    /// Asks the stream to park at hyper's next read of an empty, quiet socket.
    pub(crate) fn request_park(&self) {
        if !self.upgraded.load(Ordering::Relaxed) {
            self.park_requested.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the stream parked (told hyper end-of-file); clears the park state.
    pub(crate) fn take_parked(&self) -> bool {
        self.park_requested.store(false, Ordering::Relaxed);
        self.parked.swap(false, Ordering::Relaxed)
    }
}

/// A request in flight on a connection; see [`IdleStamp::begin_request`].
#[derive(Debug)]
pub(crate) struct InFlight(Arc<IdleStamp>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project_lite::pin_project! {
    /// A stream that stamps its [`IdleStamp`] whenever it moves bytes, replays a prefix
    /// before reading further, and parks when asked to.
    #[derive(Debug)]
    pub(crate) struct IdleIo<S> {
        #[pin]
        inner: Rewind<S>,
        stamp: Arc<IdleStamp>,
    }
}

impl<S> IdleIo<S> {
    pub(crate) fn new(inner: S, stamp: Arc<IdleStamp>) -> Self {
        Self {
            inner: Rewind::new(Bytes::new(), inner),
            stamp,
        }
    }

    /// Bytes to hand out before reading from the stream again.
    pub(crate) fn set_prefix(&mut self, prefix: Bytes) {
        self.inner.set_prefix(prefix);
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
        match result {
            Poll::Ready(Ok(())) if buf.filled().len() > before => this.stamp.touch(),
            Poll::Pending
                if this.stamp.park_requested.load(Ordering::Relaxed) && this.stamp.is_quiet() =>
            {
                // End-of-file for hyper, which ends the idle connection without a close.
                this.stamp.parked.store(true, Ordering::Relaxed);
                return Poll::Ready(Ok(()));
            }
            _ => {}
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
            this.stamp.unflushed.store(true, Ordering::Relaxed);
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
            this.stamp.unflushed.store(true, Ordering::Relaxed);
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        let result = this.inner.poll_flush(cx);
        if matches!(result, Poll::Ready(Ok(()))) {
            this.stamp.unflushed.store(false, Ordering::Relaxed);
        }
        result
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        if this.stamp.parked.load(Ordering::Relaxed) {
            // Parking: hyper is done with the connection, the client is not.
            return this.inner.poll_flush(cx);
        }
        this.inner.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
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

    #[tokio::test]
    async fn parks_only_when_quiet_and_the_socket_is_empty() {
        let (mut client, server) = tokio::io::duplex(64);
        let stamp = IdleStamp::new();
        let mut io = IdleIo::new(server, stamp.clone());
        stamp.request_park();

        // Data waiting on the socket is read, never swallowed by a park.
        client.write_all(b"GET").await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(io.read(&mut buf).await.unwrap(), 3);

        // A request in flight keeps the connection from parking.
        let guard = stamp.begin_request(false);
        stamp.request_park();
        assert!(
            io.read(&mut buf).now_or_never().is_none(),
            "read must wait while a request is in flight"
        );
        drop(guard);

        // Unflushed output keeps it too.
        io.write_all(b"HTTP/1.1 200 OK").await.unwrap();
        assert!(!stamp.is_quiet());
        io.flush().await.unwrap();
        assert!(stamp.is_quiet());

        // Quiet and empty: end-of-file for the reader, and the socket stays open.
        assert_eq!(io.read(&mut buf).await.unwrap(), 0);
        io.shutdown().await.unwrap();
        assert!(stamp.take_parked());
        client.write_all(b"next").await.unwrap();
        assert_eq!(io.read(&mut buf).await.unwrap(), 4);
        assert_eq!(&buf[..4], b"next");
    }

    #[tokio::test]
    async fn prefix_is_replayed_first() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut io = IdleIo::new(server, IdleStamp::new());
        io.set_prefix(Bytes::from_static(b"GE"));
        client.write_all(b"T /").await.unwrap();
        drop(client);
        let mut out = Vec::new();
        io.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"GET /");
    }
}

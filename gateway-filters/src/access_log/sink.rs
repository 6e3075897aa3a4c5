//! Files written by background threads, fed through bounded queues.
//!
//! Each path has one writer: a std thread that owns the open file and appends whole lines
//! in batches. Requests hand their lines over with a `try_send`; a full queue drops the
//! line and counts it, so the request path never waits and never touches the file. Layers
//! that name the same path share its writer (and its queue) through a registry; the thread
//! ends when the last layer writing to it is dropped, after writing what was queued.

use parking_lot::Mutex;
use std::{
    fs::OpenOptions,
    io::Write,
    path::{Path, PathBuf},
    sync::{
        Arc, Weak,
        atomic::{AtomicU64, Ordering},
        mpsc::{Receiver, SyncSender, TrySendError, sync_channel},
    },
};

/// What the writer thread is asked to do.
#[derive(Debug)]
enum Message {
    /// Append a line (newline included).
    Line(Vec<u8>),
    /// Answer once everything queued before has been written.
    Flush(SyncSender<()>),
}

/// Bytes gathered before one write, when lines queue up faster than they are written.
const BATCH_BYTES: usize = 64 * 1024;

/// A log file and the queue to its writer thread.
#[derive(Debug)]
pub(crate) struct Sink {
    queue: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

/// The sinks alive, by path, so that one path has one writer.
static SINKS: Mutex<Vec<(PathBuf, Weak<Sink>)>> = Mutex::new(Vec::new());

impl Sink {
    /// The sink writing to `path`, started (with a queue of `capacity` lines) unless one
    /// is already running.
    pub(crate) fn for_path(path: &Path, capacity: usize) -> Arc<Sink> {
        let mut sinks = SINKS.lock();
        sinks.retain(|(_, sink)| sink.strong_count() > 0);
        if let Some(sink) = sinks
            .iter()
            .find(|(open, _)| open == path)
            .and_then(|(_, sink)| sink.upgrade())
        {
            return sink;
        }
        let sink = Arc::new(Sink::start(path, capacity));
        sinks.push((path.to_owned(), Arc::downgrade(&sink)));
        sink
    }

    fn start(path: &Path, capacity: usize) -> Sink {
        let (queue, receiver) = sync_channel(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let thread_path = path.to_owned();
        let thread_dropped = dropped.clone();
        let spawned = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_lines(&thread_path, &receiver, &thread_dropped));
        if let Err(error) = spawned {
            // The receiver is gone with the closure: every line counts as dropped.
            tracing::error!(path = %path.display(), %error, "cannot start the access log writer");
        }
        Sink { queue, dropped }
    }

    /// Queues `line` without waiting; a full queue drops it and counts it.
    pub(crate) fn send(&self, line: Vec<u8>) {
        match self.queue.try_send(Message::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Blocks until every line queued so far has been written.
    pub(crate) fn flush(&self) {
        let (done, wait) = sync_channel(1);
        if self.queue.send(Message::Flush(done)).is_ok() {
            // An error means the writer is gone; nothing is left to wait for.
            let _ = wait.recv();
        }
    }

    /// Lines dropped so far: queue full, writer gone, or a failed write.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The writer thread: opens `path` for appending and writes what arrives, in batches,
/// until every sender is gone.
fn write_lines(path: &Path, receiver: &Receiver<Message>, dropped: &AtomicU64) {
    let mut file = match OpenOptions::new().create(true).append(true).open(path) {
        Ok(file) => Some(file),
        Err(error) => {
            tracing::error!(path = %path.display(), %error, "cannot open the access log; its lines are dropped");
            None
        }
    };
    let mut batch = Vec::with_capacity(BATCH_BYTES);
    let mut lines = 0u64;
    let mut waiting = Vec::new();
    let mut failing = false;
    while let Ok(first) = receiver.recv() {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Line(line) => {
                    batch.extend_from_slice(&line);
                    lines += 1;
                }
                Message::Flush(done) => waiting.push(done),
            }
            if batch.len() < BATCH_BYTES {
                next = receiver.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let written = file.as_mut().map(|file| file.write_all(&batch));
            match written {
                Some(Ok(())) => failing = false,
                Some(Err(error)) => {
                    if !failing {
                        tracing::warn!(path = %path.display(), %error, "access log write failed; lines are dropped until writes succeed");
                    }
                    failing = true;
                    dropped.fetch_add(lines, Ordering::Relaxed);
                }
                None => {
                    dropped.fetch_add(lines, Ordering::Relaxed);
                }
            }
            batch.clear();
            lines = 0;
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

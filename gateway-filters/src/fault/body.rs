//! Response body throttling: lets a body through at a set number of bytes per second.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::{BoxBody, UnsyncBoxBody};
use pin_project_lite::pin_project;
use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Duration,
};
use tokio::time::{Instant, Sleep, sleep_until};

use super::service::ActiveFault;

/// How often a throttled body that ran out of allowance looks again, as Envoy's stream
/// rate limiter does (it also starts with this much allowance).
const FILL_INTERVAL: Duration = Duration::from_millis(50);

/// A response body type the [fault](super) layer can throttle while keeping its type.
///
/// Implemented for the proxy's body type ([`gateway_core::BoxBody`], an
/// [`UnsyncBoxBody`]) and for `http_body_util`'s [`BoxBody`]; another body type that can
/// hold any body implements it by wrapping [`Throttle::apply`]'s result.
pub trait ThrottleBody: Sized {
    /// This body, let through at `throttle`'s rate.
    fn throttle(self, throttle: Throttle) -> Self;
}

impl<E: 'static> ThrottleBody for UnsyncBoxBody<Bytes, E> {
    fn throttle(self, throttle: Throttle) -> Self {
        UnsyncBoxBody::new(throttle.apply(self))
    }
}

impl<E: 'static> ThrottleBody for BoxBody<Bytes, E> {
    fn throttle(self, throttle: Throttle) -> Self {
        BoxBody::new(throttle.apply(self))
    }
}

/// The rate a throttled body is let through at (and, when the policy counts active faults,
/// the count this body holds until it ends).
pub struct Throttle {
    bytes_per_second: u64,
    // Held for its `Drop`: the fault stays active while the body is let through.
    _active: Option<ActiveFault>,
}

impl Throttle {
    pub(super) fn new(bytes_per_second: u64, active: Option<ActiveFault>) -> Self {
        Self {
            bytes_per_second,
            _active: active,
        }
    }

    /// `body`, let through at this rate.
    pub fn apply<B>(self, body: B) -> ThrottledBody<B> {
        ThrottledBody::new(body, self)
    }
}

impl fmt::Debug for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("bytes_per_second", &self.bytes_per_second)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// A body let through at a set rate: an allowance of bytes grows with time (up to one
    /// second's worth) and each data frame is cut to what it allows. Made by
    /// [`Throttle::apply`].
    pub struct ThrottledBody<B> {
        #[pin]
        inner: B,
        // Data received but not yet let through.
        pending: Bytes,
        // Bytes that may go now.
        allowance: u64,
        // When the allowance was last brought up to date.
        filled_at: Instant,
        // The wait for more allowance; made the first time the body has to wait.
        sleep: Option<Pin<Box<Sleep>>>,
        throttle: Throttle,
    }
}

impl<B> ThrottledBody<B> {
    fn new(inner: B, throttle: Throttle) -> Self {
        Self {
            inner,
            pending: Bytes::new(),
            allowance: allowance_for(throttle.bytes_per_second, FILL_INTERVAL),
            filled_at: Instant::now(),
            sleep: None,
            throttle,
        }
    }
}

/// The bytes `rate` (per second) allows in `elapsed`, rounded down.
fn allowance_for(rate: u64, elapsed: Duration) -> u64 {
    let bytes = u128::from(rate) * elapsed.as_nanos() / 1_000_000_000;
    u64::try_from(bytes).unwrap_or(u64::MAX)
}

/// The time `rate` (per second) takes to allow `bytes`, rounded down.
fn time_for(rate: u64, bytes: u64) -> Duration {
    let nanos = u128::from(bytes) * 1_000_000_000 / u128::from(rate.max(1));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

impl<B> fmt::Debug for ThrottledBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThrottledBody")
            .field("throttle", &self.throttle)
            .field("pending", &self.pending.len())
            .field("allowance", &self.allowance)
            .finish_non_exhaustive()
    }
}

impl<B> Body for ThrottledBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        loop {
            if !this.pending.is_empty() {
                let rate = this.throttle.bytes_per_second;
                let now = Instant::now();
                let earned = allowance_for(rate, now.saturating_duration_since(*this.filled_at));
                if this.allowance.saturating_add(earned) >= rate {
                    *this.allowance = rate;
                    *this.filled_at = now;
                } else if earned > 0 {
                    *this.allowance += earned;
                    // Only the time the earned bytes stand for: fractions of a byte carry over.
                    *this.filled_at += time_for(rate, earned);
                }
                if *this.allowance > 0 {
                    let n = usize::try_from(*this.allowance)
                        .unwrap_or(usize::MAX)
                        .min(this.pending.len());
                    *this.allowance -= n as u64;
                    return Poll::Ready(Some(Ok(Frame::data(this.pending.split_to(n)))));
                }
                let deadline = now + FILL_INTERVAL;
                let sleep = match this.sleep {
                    Some(sleep) => {
                        sleep.as_mut().reset(deadline);
                        sleep
                    }
                    None => this.sleep.insert(Box::pin(sleep_until(deadline))),
                };
                ready!(sleep.as_mut().poll(cx));
                continue;
            }
            match ready!(this.inner.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => *this.pending = data,
                    // Trailers wait until the data before them is through.
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                other => return Poll::Ready(other),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        let pending = self.pending.len() as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower().saturating_add(pending));
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper.saturating_add(pending));
        }
        hint
    }
}

//! The deadline around the inner future.

use gateway_core::ResponseFlag;
use http::StatusCode;
use pin_project_lite::pin_project;
use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};
use tokio::time::{Sleep, sleep};
use tower::{Layer, Service};

/// Bounds the time to the response headers; see the [module docs](super).
#[derive(Clone, Copy, Debug)]
pub struct TimeoutLayer {
    timeout: Duration,
}

impl TimeoutLayer {
    /// A layer answering `504` when the inner service takes longer than `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = TimeoutService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService {
            inner,
            timeout: self.timeout,
        }
    }
}

/// Service bounding the time to the response headers; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct TimeoutService<S> {
    inner: S,
    timeout: Duration,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for TimeoutService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: Default,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        ResponseFuture {
            inner: self.inner.call(request),
            sleep: sleep(self.timeout),
        }
    }
}

pin_project! {
    /// Response future of [`TimeoutService`].
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Sleep,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
    ResBody: Default,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(result) = this.inner.poll(cx) {
            return Poll::Ready(result);
        }
        if this.sleep.poll(cx).is_ready() {
            return Poll::Ready(Ok(timeout_response()));
        }
        Poll::Pending
    }
}

/// The `504` the gateway answers when the deadline passes, flagged `UT` for the access log
/// (what [`gateway_core::error::local_response`] records), with an empty body of the
/// service's own body type so that the layer works over any body.
fn timeout_response<B: Default>() -> http::Response<B> {
    let mut response = http::Response::new(B::default());
    *response.status_mut() = StatusCode::GATEWAY_TIMEOUT;
    response
        .extensions_mut()
        .insert(ResponseFlag::UpstreamRequestTimeout);
    response
}

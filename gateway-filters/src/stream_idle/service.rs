//! The layer: watches the request body, the wait for the response, and the response body.

use gateway_core::ResponseFlag;
use http::StatusCode;
use pin_project_lite::pin_project;
use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};
use tokio::time::{Instant, Sleep, sleep_until};
use tower::{Layer, Service};

use super::{activity::Activity, body::IdleBody};

/// Applies a stream idle timeout; see the [module docs](super).
#[derive(Clone, Copy, Debug)]
pub struct StreamIdleLayer {
    timeout: Duration,
}

impl StreamIdleLayer {
    /// A layer ending requests that stay quiet for `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl<S> Layer<S> for StreamIdleLayer {
    type Service = StreamIdleService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        StreamIdleService {
            inner,
            timeout: self.timeout,
        }
    }
}

/// Service applying a stream idle timeout; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct StreamIdleService<S> {
    inner: S,
    timeout: Duration,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for StreamIdleService<S>
where
    S: Service<http::Request<IdleBody<ReqBody>>, Response = http::Response<ResBody>>,
    ResBody: Default,
{
    type Response = http::Response<IdleBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let activity = Arc::new(Activity::new(self.timeout));
        let request = request.map(|body| IdleBody::watched(body, activity.clone()));
        ResponseFuture {
            inner: self.inner.call(request),
            sleep: sleep_until(activity.deadline()),
            activity,
        }
    }
}

pin_project! {
    /// Response future of [`StreamIdleService`].
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Sleep,
        activity: Arc<Activity>,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
    ResBody: Default,
{
    type Output = Result<http::Response<IdleBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(result) = this.inner.poll(cx) {
            this.activity.touch();
            let activity = this.activity.clone();
            return Poll::Ready(result.map(|r| r.map(|b| IdleBody::watched(b, activity))));
        }
        loop {
            let deadline = this.activity.deadline();
            if this.sleep.deadline() != deadline {
                this.sleep.as_mut().reset(deadline);
            }
            if this.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if this.activity.deadline() <= Instant::now() {
                let mut response = http::Response::new(IdleBody::unwatched(ResBody::default()));
                *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
                response
                    .extensions_mut()
                    .insert(ResponseFlag::StreamIdleTimeout);
                return Poll::Ready(Ok(response));
            }
        }
    }
}

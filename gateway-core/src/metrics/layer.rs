//! The layer that records each response into resolved handles.

use pin_project_lite::pin_project;
use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};
use tokio::time::Instant;
use tower::{Layer, Service};

use super::handles::{BackendMetrics, Recording, RouteMetrics};
use crate::ResponseFlag;

/// Records every response of the wrapped service (status class, response flag, time to
/// headers) into a route rule's or a backend's series; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct MetricsLayer {
    recording: Recording,
}

impl MetricsLayer {
    /// Records into a route rule's downstream series (`gateway_requests_total`,
    /// `gateway_response_flags_total`, `gateway_request_duration_seconds`). Put it
    /// outermost in the rule's stack so that every answer of the rule is seen.
    pub fn new(route: &RouteMetrics) -> Self {
        Self {
            recording: route.recording(),
        }
    }

    /// Records into a backend's upstream series (`gateway_upstream_requests_total`,
    /// `gateway_upstream_errors_total`, `gateway_upstream_request_duration_seconds`,
    /// `gateway_upstream_active_requests`). Put it above the per-try timeout so that a try
    /// that times out is counted with its `UT` answer.
    pub fn upstream(backend: &BackendMetrics) -> Self {
        Self {
            recording: backend.recording(),
        }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            recording: self.recording.clone(),
        }
    }
}

/// Service recording its responses; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct MetricsService<S> {
    inner: S,
    recording: Recording,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for MetricsService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let start = Instant::now();
        let in_flight = InFlight::new(self.recording.clone());
        ResponseFuture {
            inner: self.inner.call(request),
            in_flight,
            start,
        }
    }
}

pin_project! {
    /// Response future of [`MetricsService`].
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        in_flight: InFlight,
        start: Instant,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        match &result {
            Ok(response) => this.in_flight.answered(
                response.status(),
                response.extensions().get::<ResponseFlag>().copied(),
                this.start.elapsed(),
            ),
            // Not a response (the gateway's stacks never fail; a library user's may): the
            // request leaves without being counted as answered.
            Err(_) => this.in_flight.end(),
        }
        Poll::Ready(result)
    }
}

/// A request between `call` and its answer: keeps the in-flight gauge right whether the
/// future completes or is dropped (client gone, an outer timeout).
#[derive(Debug)]
struct InFlight {
    recording: Recording,
    ended: bool,
}

impl InFlight {
    fn new(recording: Recording) -> Self {
        recording.started();
        Self {
            recording,
            ended: false,
        }
    }

    fn answered(
        &mut self,
        status: http::StatusCode,
        flag: Option<ResponseFlag>,
        elapsed: std::time::Duration,
    ) {
        if !self.ended {
            self.recording.answered(status, flag, elapsed);
            self.end();
        }
    }

    fn end(&mut self) {
        if !self.ended {
            self.ended = true;
            self.recording.ended();
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.end();
    }
}

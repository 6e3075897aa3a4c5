//! The fault injection layer: per request, draws which faults apply, then delays, aborts
//! and throttles.

use gateway_core::ResponseFlag;
use http::{HeaderName, HeaderValue, StatusCode, header::CONTENT_TYPE};
use pin_project_lite::pin_project;
use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    task::{Context, Poll, ready},
    time::Duration,
};
use tokio::time::{Sleep, sleep};
use tower::{Layer, Service};

use super::{AbortStatus, FaultConfig, Throttle, ThrottleBody};
use crate::buffer::FullBody;

/// The text Envoy's fault filter answers an abort with.
const ABORT_TEXT: &str = "fault filter abort";

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

/// How an aborted request is answered, prepared once.
#[derive(Debug)]
enum Abort {
    /// This status, with the abort text.
    Http(StatusCode),
    /// `200`, gRPC style, with this `grpc-status`.
    Grpc(HeaderValue),
}

/// The policy and the count of active faults, shared by the layer and its services.
#[derive(Debug)]
struct Shared {
    config: FaultConfig,
    abort: Option<Abort>,
    active: AtomicU32,
}

/// One active fault, counted against `maxActiveFaults` until dropped.
pub(super) struct ActiveFault(Arc<Shared>);

impl Drop for ActiveFault {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The faults drawn for one request.
struct Plan {
    delay: Option<Duration>,
    abort: bool,
    throttle: Option<u64>,
    active: Option<ActiveFault>,
}

impl Shared {
    /// Draws the faults for one request: `None` when it gets none (none drawn, or
    /// `maxActiveFaults` reached).
    fn plan(self: &Arc<Self>) -> Option<Plan> {
        let config = &self.config;
        let delay = config
            .delay
            .filter(|delay| delay.percentage.sample())
            .map(|delay| delay.fixed_delay);
        let abort = config.abort.is_some_and(|abort| abort.percentage.sample());
        let throttle = config
            .response_rate_limit
            .filter(|limit| limit.percentage.sample())
            .map(|limit| limit.bytes_per_second);
        if delay.is_none() && !abort && throttle.is_none() {
            return None;
        }
        let active = match config.max_active_faults {
            None => None,
            Some(max) => {
                let counted = self
                    .active
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                        (n < max).then_some(n + 1)
                    });
                if counted.is_err() {
                    return None;
                }
                Some(ActiveFault(self.clone()))
            }
        };
        Some(Plan {
            delay,
            abort,
            throttle,
            active,
        })
    }

    /// The answer to an aborted request, flagged `FI`.
    fn abort_response<B: FullBody>(&self) -> http::Response<B> {
        let mut response = match &self.abort {
            Some(Abort::Grpc(grpc_status)) => {
                // Trailers-only, as gRPC servers answer an error: no body.
                let mut response = http::Response::new(B::full(bytes::Bytes::new(), None));
                let headers = response.headers_mut();
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
                headers.insert(GRPC_STATUS, grpc_status.clone());
                headers.insert(GRPC_MESSAGE, HeaderValue::from_static(ABORT_TEXT));
                response
            }
            abort => {
                let mut response = http::Response::new(B::text(ABORT_TEXT));
                if let Some(Abort::Http(status)) = abort {
                    *response.status_mut() = *status;
                }
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                response
            }
        };
        response
            .extensions_mut()
            .insert(ResponseFlag::FaultInjected);
        response
    }
}

/// Injects the faults of a [`FaultConfig`]; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct FaultLayer {
    shared: Arc<Shared>,
}

impl FaultLayer {
    /// A layer injecting `config`'s faults; `maxActiveFaults` counts across every service
    /// the layer wraps.
    pub fn new(config: FaultConfig) -> Self {
        let abort = config.abort.map(|abort| match abort.status {
            AbortStatus::Http(status) => Abort::Http(status),
            AbortStatus::Grpc(code) => Abort::Grpc(HeaderValue::from(u16::from(code))),
        });
        Self {
            shared: Arc::new(Shared {
                config,
                abort,
                active: AtomicU32::new(0),
            }),
        }
    }
}

impl<S> Layer<S> for FaultLayer {
    type Service = FaultService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FaultService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Service injecting faults; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct FaultService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for FaultService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone,
    ResBody: FullBody + ThrottleBody,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, S::Future, http::Request<ReqBody>, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let Some(plan) = self.shared.plan() else {
            return ResponseFuture::new(
                State::Calling {
                    future: self.inner.call(request),
                },
                None,
                None,
            );
        };
        let state = match plan.delay {
            Some(delay) => {
                // The ready service waits with the request; the clone waits for the next
                // `poll_ready`.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                State::Delaying {
                    sleep: sleep(delay),
                    next: Some((inner, request)),
                    abort: plan.abort.then(|| self.shared.abort_response()),
                }
            }
            None if plan.abort => State::Answered {
                response: Some(self.shared.abort_response()),
            },
            None => State::Calling {
                future: self.inner.call(request),
            },
        };
        ResponseFuture::new(state, plan.throttle, plan.active)
    }
}

pin_project! {
    /// Response future of [`FaultService`].
    pub struct ResponseFuture<S, F, Req, B> {
        #[pin]
        state: State<S, F, Req, B>,
        delayed: bool,
        throttle: Option<u64>,
        active: Option<ActiveFault>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<S, F, Req, B> {
        // Holding the request back; then it is aborted (with the answer made up front) or
        // goes on.
        Delaying {
            #[pin]
            sleep: Sleep,
            next: Option<(S, Req)>,
            abort: Option<http::Response<B>>,
        },
        // The inner service has the request.
        Calling {
            #[pin]
            future: F,
        },
        // Aborted.
        Answered {
            response: Option<http::Response<B>>,
        },
    }
}

impl<S, F, Req, B> ResponseFuture<S, F, Req, B> {
    fn new(state: State<S, F, Req, B>, throttle: Option<u64>, active: Option<ActiveFault>) -> Self {
        let delayed = matches!(state, State::Delaying { .. });
        Self {
            state,
            delayed,
            throttle,
            active,
        }
    }
}

impl<S, F, Req, B> fmt::Debug for ResponseFuture<S, F, Req, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Delaying { .. } => "Delaying",
            State::Calling { .. } => "Calling",
            State::Answered { .. } => "Answered",
        };
        f.debug_tuple("ResponseFuture").field(&state).finish()
    }
}

impl<S, Req, B> Future for ResponseFuture<S, S::Future, Req, B>
where
    S: Service<Req, Response = http::Response<B>>,
    B: ThrottleBody,
{
    type Output = Result<http::Response<B>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let next = match this.state.as_mut().project() {
                StateProjection::Delaying { sleep, next, abort } => {
                    ready!(sleep.poll(cx));
                    if let Some(response) = abort.take() {
                        return Poll::Ready(Ok(response));
                    }
                    match next.take() {
                        Some((mut inner, request)) => State::Calling {
                            future: inner.call(request),
                        },
                        None => return Poll::Pending,
                    }
                }
                StateProjection::Answered { response } => {
                    return match response.take() {
                        Some(response) => Poll::Ready(Ok(response)),
                        None => Poll::Pending,
                    };
                }
                StateProjection::Calling { future } => {
                    let mut response = ready!(future.poll(cx))?;
                    if *this.delayed && response.extensions().get::<ResponseFlag>().is_none() {
                        response
                            .extensions_mut()
                            .insert(ResponseFlag::DelayInjected);
                    }
                    if let Some(bytes_per_second) = this.throttle.take() {
                        let throttle = Throttle::new(bytes_per_second, this.active.take());
                        response = response.map(|body| body.throttle(throttle));
                    }
                    // Any other fault is over with the response headers.
                    this.active.take();
                    return Poll::Ready(Ok(response));
                }
            };
            this.state.set(next);
        }
    }
}

//! Answering health checks before routing.

use http::{Method, StatusCode};
use pin_project_lite::pin_project;
use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};
use tower::{Layer, Service};

use super::HealthCheckConfig;

/// Marks, in the response extensions, an answer the health check layer gave itself, so
/// that the access log can leave health checks out (`notHealthCheckFilter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthCheckResponse;

/// Answers health checks; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct HealthCheckLayer {
    path: Arc<str>,
}

impl HealthCheckLayer {
    /// A layer answering `GET`/`HEAD` requests for `config`'s path with `200`.
    pub fn new(config: HealthCheckConfig) -> Self {
        Self {
            path: config.path().into(),
        }
    }
}

impl<S> Layer<S> for HealthCheckLayer {
    type Service = HealthCheckService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HealthCheckService {
            inner,
            path: self.path.clone(),
        }
    }
}

/// Service answering health checks; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct HealthCheckService<S> {
    inner: S,
    path: Arc<str>,
}

impl<S> HealthCheckService<S> {
    /// Whether `request` is a health check this service answers.
    fn is_health_check<B>(&self, request: &http::Request<B>) -> bool {
        (request.method() == Method::GET || request.method() == Method::HEAD)
            && request
                .uri()
                .path_and_query()
                .is_some_and(|path| path.as_str() == &*self.path)
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for HealthCheckService<S>
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
        let inner = (!self.is_health_check(&request)).then(|| self.inner.call(request));
        ResponseFuture { inner }
    }
}

pin_project! {
    /// Response future of [`HealthCheckService`].
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        // `None` when the gateway answers the health check itself.
        #[pin]
        inner: Option<F>,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
    ResBody: Default,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().inner.as_pin_mut() {
            None => Poll::Ready(Ok(healthy())),
            Some(inner) => inner.poll(cx),
        }
    }
}

/// The `200` with an empty body of the service's own type, marked for the access log.
fn healthy<B: Default>() -> http::Response<B> {
    let mut response = http::Response::new(B::default());
    *response.status_mut() = StatusCode::OK;
    response.extensions_mut().insert(HealthCheckResponse);
    response
}

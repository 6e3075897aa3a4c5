//! `ResponseHeaderModifier`: changes the headers of the inner service's response.

use pin_project_lite::pin_project;
use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};
use tower::{Layer, Service};

use super::HeaderModifierConfig;

/// Applies a [`HeaderModifierConfig`] to responses; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct ResponseHeaderModifierLayer {
    config: Arc<HeaderModifierConfig>,
}

impl ResponseHeaderModifierLayer {
    /// A layer applying `config` to every response.
    pub fn new(config: HeaderModifierConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }
}

impl<S> Layer<S> for ResponseHeaderModifierLayer {
    type Service = ResponseHeaderModifierService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ResponseHeaderModifierService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// Service changing response headers; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct ResponseHeaderModifierService<S> {
    inner: S,
    config: Arc<HeaderModifierConfig>,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for ResponseHeaderModifierService<S>
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
        ResponseFuture {
            inner: self.inner.call(request),
            config: self.config.clone(),
        }
    }
}

pin_project! {
    /// Response future of [`ResponseHeaderModifierService`].
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        config: Arc<HeaderModifierConfig>,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        this.config.apply(response.headers_mut());
        Poll::Ready(Ok(response))
    }
}

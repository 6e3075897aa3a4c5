//! The redirect answer: the inner service is never called.

use http::{HeaderValue, StatusCode, header::LOCATION};
use std::{
    future::{Ready, ready},
    marker::PhantomData,
    sync::Arc,
    task::{Context, Poll},
};
use tower::{Layer, Service};

use super::{RedirectConfig, location::location};

/// Answers every request with a redirect; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct RedirectLayer {
    config: Arc<RedirectConfig>,
}

impl RedirectLayer {
    /// A layer answering every request with the redirect `config` describes.
    pub fn new(config: RedirectConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }
}

impl<S> Layer<S> for RedirectLayer {
    type Service = RedirectService<S>;

    fn layer(&self, _inner: S) -> Self::Service {
        RedirectService {
            inner: PhantomData,
            config: self.config.clone(),
        }
    }
}

/// Service answering with a redirect; see the [module docs](super).
///
/// It takes the place of the stack below it (a redirect rule has no backend), so it only
/// remembers the inner service's type, for its response and error types.
pub struct RedirectService<S> {
    inner: PhantomData<fn() -> S>,
    config: Arc<RedirectConfig>,
}

impl<S> Clone for RedirectService<S> {
    fn clone(&self) -> Self {
        Self {
            inner: PhantomData,
            config: self.config.clone(),
        }
    }
}

impl<S> std::fmt::Debug for RedirectService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedirectService")
            .field("config", &self.config)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for RedirectService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: Default,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let mut response = http::Response::new(ResBody::default());
        match HeaderValue::try_from(location(&self.config, &request)) {
            Ok(value) => {
                *response.status_mut() = self.config.status;
                response.headers_mut().insert(LOCATION, value);
            }
            Err(_) => {
                tracing::warn!("redirect location is not a valid header value");
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            }
        }
        ready(Ok(response))
    }
}

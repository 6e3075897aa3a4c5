//! The answer, built without calling the inner service.

use http::{HeaderValue, header::CONTENT_TYPE};
use std::{
    fmt,
    future::{Ready, ready},
    marker::PhantomData,
    sync::Arc,
    task::{Context, Poll},
};
use tower::{Layer, Service};

use super::DirectResponseConfig;
use crate::buffer::FullBody;

/// Answers every request with a configured status and body; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct DirectResponseLayer {
    config: Arc<DirectResponseConfig>,
}

impl DirectResponseLayer {
    /// A layer answering every request as `config` says.
    pub fn new(config: DirectResponseConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }
}

impl<S> Layer<S> for DirectResponseLayer {
    type Service = DirectResponseService<S>;

    /// The inner service is dropped: a rule with a direct response has no backend to call.
    fn layer(&self, _inner: S) -> Self::Service {
        DirectResponseService {
            inner: PhantomData,
            config: self.config.clone(),
        }
    }
}

/// Service answering every request with a configured status and body; see the
/// [module docs](super). It keeps the inner service's error type so that it fits any stack.
pub struct DirectResponseService<S> {
    inner: PhantomData<fn() -> S>,
    config: Arc<DirectResponseConfig>,
}

impl<S> Clone for DirectResponseService<S> {
    fn clone(&self) -> Self {
        Self {
            inner: PhantomData,
            config: self.config.clone(),
        }
    }
}

impl<S> fmt::Debug for DirectResponseService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectResponseService")
            .field("config", &self.config)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for DirectResponseService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: FullBody,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Ready<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: http::Request<ReqBody>) -> Self::Future {
        let config = &*self.config;
        let mut response = http::Response::new(ResBody::full(config.body.clone(), None));
        if !config.body.is_empty() {
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        }
        *response.status_mut() = config.status;
        ready(Ok(response))
    }
}

//! `RequestHeaderModifier`: changes the request headers before the inner service sees them.

use std::{
    sync::Arc,
    task::{Context, Poll},
};
use tower::{Layer, Service};

use super::HeaderModifierConfig;

/// Applies a [`HeaderModifierConfig`] to requests; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct HeaderModifierLayer {
    config: Arc<HeaderModifierConfig>,
}

impl HeaderModifierLayer {
    /// A layer applying `config` to every request.
    pub fn new(config: HeaderModifierConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }
}

impl<S> Layer<S> for HeaderModifierLayer {
    type Service = HeaderModifierService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HeaderModifierService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// Service changing request headers; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct HeaderModifierService<S> {
    inner: S,
    config: Arc<HeaderModifierConfig>,
}

impl<S, ReqBody> Service<http::Request<ReqBody>> for HeaderModifierService<S>
where
    S: Service<http::Request<ReqBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        self.config.apply(request.headers_mut());
        self.inner.call(request)
    }
}

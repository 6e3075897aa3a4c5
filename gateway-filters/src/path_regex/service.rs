//! The rewrite, applied before the inner service runs.

use std::{
    sync::Arc,
    task::{Context, Poll},
};
use tower::{Layer, Service};

use super::PathRegexConfig;
use crate::path_modifier::with_path;

/// Rewrites the request path with a regular expression; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct PathRegexLayer {
    config: Arc<PathRegexConfig>,
}

impl PathRegexLayer {
    /// A layer applying `config` to every request.
    pub fn new(config: PathRegexConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }
}

impl<S> Layer<S> for PathRegexLayer {
    type Service = PathRegexService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PathRegexService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// Service rewriting the request path with a regular expression; see the
/// [module docs](super).
#[derive(Clone, Debug)]
pub struct PathRegexService<S> {
    inner: S,
    config: Arc<PathRegexConfig>,
}

impl<S, ReqBody> Service<http::Request<ReqBody>> for PathRegexService<S>
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
        if let Some(path) = self.config.rewrite(request.uri().path()) {
            match with_path(request.uri(), &path) {
                Some(uri) => *request.uri_mut() = uri,
                None => {
                    tracing::debug!(%path, "path regex rewrite produced an invalid URI; path kept")
                }
            }
        }
        self.inner.call(request)
    }
}

//! The rewrite itself: `Host`/authority and path, before the inner service runs.

use gateway_core::extensions::matched_prefix;
use http::{Uri, header::HOST, uri::Authority};
use std::{
    sync::Arc,
    task::{Context, Poll},
};
use tower::{Layer, Service};

use super::UrlRewriteConfig;
use crate::path_modifier::with_path;

/// Rewrites the request URL; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct UrlRewriteLayer {
    config: Arc<UrlRewriteConfig>,
}

impl UrlRewriteLayer {
    /// A layer applying `config` to every request.
    pub fn new(config: UrlRewriteConfig) -> Self {
        Self {
            config: Arc::new(config),
        }
    }
}

impl<S> Layer<S> for UrlRewriteLayer {
    type Service = UrlRewriteService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        UrlRewriteService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// Service rewriting the request URL; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct UrlRewriteService<S> {
    inner: S,
    config: Arc<UrlRewriteConfig>,
}

impl<S, ReqBody> Service<http::Request<ReqBody>> for UrlRewriteService<S>
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
        rewrite(&self.config, &mut request);
        self.inner.call(request)
    }
}

/// Applies `config` to `request`.
pub(super) fn rewrite<B>(config: &UrlRewriteConfig, request: &mut http::Request<B>) {
    if let Some(hostname) = &config.hostname {
        request.headers_mut().insert(HOST, hostname.clone());
        if request.uri().authority().is_some()
            && let Some(uri) = with_authority(request.uri(), hostname.as_bytes())
        {
            *request.uri_mut() = uri;
        }
    }
    if let Some(path) = &config.path {
        let prefix = matched_prefix(request.extensions()).map(|p| p.0.clone());
        match path.apply(request.uri().path(), prefix.as_deref()) {
            Some(new_path) => match with_path(request.uri(), &new_path) {
                Some(uri) => *request.uri_mut() = uri,
                None => {
                    tracing::debug!(%new_path, "URL rewrite produced an invalid URI; path kept")
                }
            },
            None => tracing::debug!(
                path = request.uri().path(),
                "ReplacePrefixMatch without a matching prefix; path kept"
            ),
        }
    }
}

/// `uri` with its authority replaced by `host`.
fn with_authority(uri: &Uri, host: &[u8]) -> Option<Uri> {
    let mut parts = uri.clone().into_parts();
    parts.authority = Some(Authority::try_from(host).ok()?);
    Uri::from_parts(parts).ok()
}

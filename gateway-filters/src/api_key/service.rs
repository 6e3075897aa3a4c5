//! The API key layer: finds the key, looks its client up, forwards or refuses.

use futures_util::future::{Either, Ready, ready};
use http::{HeaderValue, StatusCode, header::CONTENT_TYPE};
use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
};
use tower::{Layer, Service};

use super::{
    ApiKeyAuthConfig,
    extract::{find_key, remove_keys},
};
use crate::buffer::FullBody;

/// How many requests the layer's services have let through or refused (Envoy's
/// `api_key_auth.allowed` and `api_key_auth.unauthorized`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApiKeyAuthStats {
    /// Requests with a known key.
    pub allowed: u64,
    /// Requests answered `401`: no key, or an unknown one.
    pub unauthorized: u64,
}

/// The policy and its counters, shared by the layer and its services.
#[derive(Debug)]
struct Shared {
    config: ApiKeyAuthConfig,
    allowed: AtomicU64,
    unauthorized: AtomicU64,
}

/// Envoy's answer to a missing or unknown key.
fn unauthorized<B: FullBody>() -> http::Response<B> {
    let mut response = http::Response::new(B::text("Client authentication failed."));
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// Enforces an [`ApiKeyAuthConfig`]; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct ApiKeyAuthLayer {
    shared: Arc<Shared>,
}

impl ApiKeyAuthLayer {
    /// A layer enforcing `config`.
    pub fn new(config: ApiKeyAuthConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                allowed: AtomicU64::new(0),
                unauthorized: AtomicU64::new(0),
            }),
        }
    }

    /// The counts so far, over every service this layer made.
    pub fn stats(&self) -> ApiKeyAuthStats {
        ApiKeyAuthStats {
            allowed: self.shared.allowed.load(Ordering::Relaxed),
            unauthorized: self.shared.unauthorized.load(Ordering::Relaxed),
        }
    }
}

impl<S> Layer<S> for ApiKeyAuthLayer {
    type Service = ApiKeyAuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ApiKeyAuthService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Service enforcing API key authentication; see the [module docs](super).
#[derive(Clone)]
pub struct ApiKeyAuthService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for ApiKeyAuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyAuthService")
            .field("inner", &self.inner)
            .field("config", &self.shared.config)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for ApiKeyAuthService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: FullBody,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Either<Ready<Result<http::Response<ResBody>, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let config = &self.shared.config;
        let client = find_key(&config.key_sources, request.headers(), request.uri())
            .and_then(|key| config.keys.find(&key));
        let Some(client) = client else {
            self.shared.unauthorized.fetch_add(1, Ordering::Relaxed);
            return Either::Left(ready(Ok(unauthorized())));
        };
        self.shared.allowed.fetch_add(1, Ordering::Relaxed);
        if let Some(name) = &config.client_id_header {
            request
                .headers_mut()
                .insert(name.clone(), client.header.clone());
        }
        if !config.forward_credential {
            remove_keys(&config.key_sources, &mut request);
        }
        Either::Right(self.inner.call(request))
    }
}

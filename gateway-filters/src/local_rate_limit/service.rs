//! The local rate limit layer: one lock-free governor limiter per layer.

use futures_util::future::{Either, Ready, ready};
use gateway_core::ResponseFlag;
use governor::{
    RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::NoOpMiddleware,
    state::{InMemoryState, NotKeyed},
};
use http::{HeaderName, HeaderValue, StatusCode, header::CONTENT_TYPE};
use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};
use tower::{Layer, Service};

use super::LocalRateLimitConfig;
use crate::{buffer::FullBody, spec::Percent};

/// The header Envoy's local rate limit sets on its `429`.
const X_ENVOY_RATELIMITED: HeaderName = HeaderName::from_static("x-envoy-ratelimited");

/// The limiter and the shares it applies to, shared by the layer and every service it
/// makes.
struct Shared<C: Clock> {
    limiter: RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<C::Instant>>,
    percent_enabled: Percent,
    percent_enforced: Percent,
    config: LocalRateLimitConfig,
}

impl<C: Clock> Shared<C> {
    /// Whether this request may go on: not looked at (`percentEnabled`), a token taken, or
    /// over the limit but not enforced (`percentEnforced`).
    fn admits(&self) -> bool {
        if !self.percent_enabled.sample() || self.limiter.check().is_ok() {
            return true;
        }
        if self.percent_enforced.sample() {
            return false;
        }
        tracing::debug!("over the local rate limit; not enforced for this request");
        true
    }
}

/// Enforces a [`LocalRateLimitConfig`]; see the [module docs](super).
///
/// The bucket is made when the layer is, and shared by every service the layer wraps and
/// every clone of those: keep the layer (or the built service) across reloads to keep the
/// bucket's state.
pub struct LocalRateLimitLayer<C: Clock = DefaultClock> {
    shared: Arc<Shared<C>>,
}

impl LocalRateLimitLayer {
    /// A layer with a fresh (full) bucket on governor's default clock (`quanta`).
    pub fn new(config: LocalRateLimitConfig) -> Self {
        Self::with_clock(config, DefaultClock::default())
    }
}

impl<C: Clock> LocalRateLimitLayer<C> {
    /// A layer with a fresh (full) bucket reading time from `clock` (e.g. governor's
    /// `FakeRelativeClock` in tests).
    pub fn with_clock(config: LocalRateLimitConfig, clock: C) -> Self {
        let limiter = RateLimiter::direct_with_clock(config.token_bucket.quota(), clock);
        Self {
            shared: Arc::new(Shared {
                limiter,
                percent_enabled: config.percent_enabled,
                percent_enforced: config.percent_enforced,
                config,
            }),
        }
    }
}

impl<C: Clock> Clone for LocalRateLimitLayer<C> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<C: Clock> fmt::Debug for LocalRateLimitLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalRateLimitLayer")
            .field("config", &self.shared.config)
            .finish()
    }
}

impl<S, C: Clock> Layer<S> for LocalRateLimitLayer<C> {
    type Service = LocalRateLimitService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        LocalRateLimitService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Service enforcing a local rate limit; see the [module docs](super).
pub struct LocalRateLimitService<S, C: Clock = DefaultClock> {
    inner: S,
    shared: Arc<Shared<C>>,
}

impl<S: Clone, C: Clock> Clone for LocalRateLimitService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug, C: Clock> fmt::Debug for LocalRateLimitService<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalRateLimitService")
            .field("inner", &self.inner)
            .field("config", &self.shared.config)
            .finish()
    }
}

impl<S, C, ReqBody, ResBody> Service<http::Request<ReqBody>> for LocalRateLimitService<S, C>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    C: Clock,
    ResBody: FullBody,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Either<Ready<Result<http::Response<ResBody>, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        if self.shared.admits() {
            Either::Right(self.inner.call(request))
        } else {
            Either::Left(ready(Ok(rate_limited())))
        }
    }
}

/// Envoy's answer when the bucket is empty: `429` with the body `local_rate_limited` and
/// `x-envoy-ratelimited: true`, flagged `RL`.
fn rate_limited<B: FullBody>() -> http::Response<B> {
    let mut response = http::Response::new(B::text("local_rate_limited"));
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(X_ENVOY_RATELIMITED, HeaderValue::from_static("true"));
    response.extensions_mut().insert(ResponseFlag::RateLimited);
    response
}

//! The local rate limit layer: one lock-free governor limiter per layer, and the
//! per-client buckets when the policy has them.

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

use super::{LocalRateLimitConfig, keyed::ClientLimiter};
use crate::{buffer::FullBody, spec::Percent};

/// The header Envoy's local rate limit sets on its `429`.
const X_ENVOY_RATELIMITED: HeaderName = HeaderName::from_static("x-envoy-ratelimited");

/// The limiters and the shares they apply to, shared by the layer and every service it
/// makes.
struct Shared<C: Clock> {
    /// The bucket every request draws from.
    limiter: Option<RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<C::Instant>>>,
    /// One bucket per client.
    clients: Option<Arc<ClientLimiter<C>>>,
    percent_enabled: Percent,
    percent_enforced: Percent,
    config: LocalRateLimitConfig,
}

impl<C: Clock> Shared<C> {
    /// Whether this request may go on: not looked at (`percentEnabled`), a token taken
    /// from each bucket it is subject to, or over the limit but not enforced
    /// (`percentEnforced`). The client's own bucket is asked first, so a client over its
    /// limit takes nothing from the shared bucket.
    fn admits<B>(&self, request: &http::Request<B>) -> bool {
        if !self.percent_enabled.sample() {
            return true;
        }
        let within = self
            .clients
            .as_ref()
            .is_none_or(|clients| clients.check(request))
            && self
                .limiter
                .as_ref()
                .is_none_or(|limiter| limiter.check().is_ok());
        if within {
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
    /// A layer with fresh (full) buckets on governor's default clock (`quanta`).
    pub fn new(config: LocalRateLimitConfig) -> Self {
        Self::with_clock(config, DefaultClock::default())
    }
}

impl<C: Clock + Clone> LocalRateLimitLayer<C> {
    /// A layer with fresh (full) buckets reading time from `clock` (e.g. governor's
    /// `FakeRelativeClock` in tests).
    pub fn with_clock(config: LocalRateLimitConfig, clock: C) -> Self {
        let limiter = config
            .token_bucket
            .map(|bucket| RateLimiter::direct_with_clock(bucket.quota(), clock.clone()));
        let clients = config
            .per_client
            .as_ref()
            .map(|per_client| Arc::new(ClientLimiter::new(per_client, clock)));
        Self {
            shared: Arc::new(Shared {
                limiter,
                clients,
                percent_enabled: config.percent_enabled,
                percent_enforced: config.percent_enforced,
                config,
            }),
        }
    }
}

impl<C: Clock> LocalRateLimitLayer<C> {
    /// How many clients have a bucket of their own right now (0 without `perClient`):
    /// never more than `maxKeys`, and shrinking as idle clients are evicted.
    pub fn tracked_clients(&self) -> usize {
        self.shared
            .clients
            .as_ref()
            .map_or(0, |clients| clients.len())
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
    C: Clock + Send + Sync + 'static,
    ResBody: FullBody,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Either<Ready<Result<http::Response<ResBody>, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        if let Some(clients) = &self.shared.clients {
            clients.start_sweeper();
        }
        if self.shared.admits(&request) {
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

//! The global rate limit layer: asks the rate limit service about each request before
//! passing it on.

use bytes::Bytes;
use futures_util::future::{BoxFuture, Either};
use gateway_core::ResponseFlag;
use http::{HeaderName, HeaderValue, StatusCode, header::CONTENT_TYPE};
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
    GlobalRateLimitConfig,
    client::{Decision, RlsClient, request_for},
};
use crate::buffer::FullBody;

/// The header Envoy sets on a `429` from the rate limit service.
const X_ENVOY_RATELIMITED: HeaderName = HeaderName::from_static("x-envoy-ratelimited");

/// The configuration, the client and the counters, shared by the layer and every service
/// it makes.
struct Shared {
    config: GlobalRateLimitConfig,
    client: RlsClient,
    stats: Counters,
}

/// Envoy's `ratelimit` filter counters.
#[derive(Debug, Default)]
struct Counters {
    ok: AtomicU64,
    over_limit: AtomicU64,
    error: AtomicU64,
    failure_mode_allowed: AtomicU64,
}

/// How the service answered, so far (Envoy's `cluster.<name>.ratelimit.*` counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GlobalRateLimitStats {
    /// Answers under the limit.
    pub ok: u64,
    /// Answers over the limit.
    pub over_limit: u64,
    /// Calls that failed or timed out.
    pub error: u64,
    /// Failed calls whose request was let through (`failOpen`).
    pub failure_mode_allowed: u64,
}

/// Enforces a [`GlobalRateLimitConfig`]; see the [module docs](super).
///
/// The gRPC channel is made at the first request and shared by every service the layer
/// wraps and every clone of those.
#[derive(Clone)]
pub struct GlobalRateLimitLayer {
    shared: Arc<Shared>,
}

impl GlobalRateLimitLayer {
    /// A layer calling the configuration's service (connecting at the first request).
    pub fn new(config: GlobalRateLimitConfig) -> Self {
        let provider = &config.provider;
        let client = RlsClient::new(
            config.endpoints.clone(),
            provider.authority.clone(),
            provider.timeout,
            provider.x_rate_limit_headers,
        );
        Self {
            shared: Arc::new(Shared {
                config,
                client,
                stats: Counters::default(),
            }),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> GlobalRateLimitStats {
        let stats = &self.shared.stats;
        GlobalRateLimitStats {
            ok: stats.ok.load(Ordering::Relaxed),
            over_limit: stats.over_limit.load(Ordering::Relaxed),
            error: stats.error.load(Ordering::Relaxed),
            failure_mode_allowed: stats.failure_mode_allowed.load(Ordering::Relaxed),
        }
    }
}

impl fmt::Debug for GlobalRateLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GlobalRateLimitLayer")
            .field("config", &self.shared.config)
            .finish()
    }
}

impl<S> Layer<S> for GlobalRateLimitLayer {
    type Service = GlobalRateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GlobalRateLimitService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Service enforcing a global rate limit; see the [module docs](super).
#[derive(Clone)]
pub struct GlobalRateLimitService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for GlobalRateLimitService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GlobalRateLimitService")
            .field("inner", &self.inner)
            .field("config", &self.shared.config)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for GlobalRateLimitService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
    ResBody: FullBody + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Either<S::Future, BoxFuture<'static, Result<http::Response<ResBody>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let config = &self.shared.config;
        let Some(rls_request) = request_for(&config.provider.domain, &config.descriptors, &request)
        else {
            // No descriptor applies: Envoy does not call the service.
            return Either::Left(self.inner.call(request));
        };
        // The ready service goes into the future; a fresh clone stays for the next call.
        let fresh = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, fresh);
        Either::Right(Box::pin(limit(
            self.shared.clone(),
            inner,
            request,
            rls_request,
        )))
    }
}

/// Asks the service, then answers or passes the request on as Envoy's filter does.
async fn limit<S, ReqBody, ResBody>(
    shared: Arc<Shared>,
    mut inner: S,
    mut request: http::Request<ReqBody>,
    rls_request: envoy_types::pb::envoy::service::ratelimit::v3::RateLimitRequest,
) -> Result<http::Response<ResBody>, S::Error>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: FullBody,
{
    let stats = &shared.stats;
    match shared.client.should_rate_limit(rls_request).await {
        Decision::Allow {
            request_headers,
            response_headers,
        } => {
            stats.ok.fetch_add(1, Ordering::Relaxed);
            append(request.headers_mut(), request_headers);
            let mut response = inner.call(request).await?;
            append(response.headers_mut(), response_headers);
            Ok(response)
        }
        Decision::OverLimit {
            response_headers,
            body,
        } => {
            stats.over_limit.fetch_add(1, Ordering::Relaxed);
            Ok(over_limit(response_headers, body))
        }
        Decision::Error if shared.config.provider.fail_open => {
            stats.error.fetch_add(1, Ordering::Relaxed);
            stats.failure_mode_allowed.fetch_add(1, Ordering::Relaxed);
            inner.call(request).await
        }
        Decision::Error => {
            stats.error.fetch_add(1, Ordering::Relaxed);
            let mut response = http::Response::new(ResBody::full(Bytes::new(), None));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
                .extensions_mut()
                .insert(ResponseFlag::RateLimitServiceError);
            Ok(response)
        }
    }
}

/// Adds the service's headers after any already there, as Envoy does.
fn append(headers: &mut http::HeaderMap, add: Vec<(HeaderName, HeaderValue)>) {
    for (name, value) in add {
        headers.append(name, value);
    }
}

/// Envoy's `429` for `OVER_LIMIT`: the service's body (empty unless it sent one),
/// `x-envoy-ratelimited: true` and the service's headers (its `content-type` wins over
/// the `text/plain` a non-empty body gets), flagged `RL`.
fn over_limit<B: FullBody>(
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
) -> http::Response<B> {
    let text = !body.is_empty();
    let mut response = http::Response::new(B::full(body, None));
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let map = response.headers_mut();
    if text {
        map.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    }
    if headers.iter().any(|(name, _)| name == CONTENT_TYPE) {
        map.remove(CONTENT_TYPE);
    }
    append(map, headers);
    map.insert(X_ENVOY_RATELIMITED, HeaderValue::from_static("true"));
    response.extensions_mut().insert(ResponseFlag::RateLimited);
    response
}

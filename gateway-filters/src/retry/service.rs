//! The retry loop.

use gateway_core::{
    Request, Response, ResponseFlag, backend::CircuitBreaker, metrics::PolicyCounter,
};
use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};
use tower::{Layer, Service, ServiceExt};

use super::{
    RetryConfig,
    body::{Prepared, prepare},
};
use crate::head::{copy_head, is_upgrade};

/// Retries failed tries; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct RetryLayer {
    config: Arc<RetryConfig>,
    retries: PolicyCounter,
}

impl RetryLayer {
    /// A layer retrying as `config` says.
    pub fn new(config: RetryConfig) -> Self {
        Self {
            config: Arc::new(config),
            retries: PolicyCounter::default(),
        }
    }

    /// Counts every retry in `retries` (a route's `gateway_retries_total` series).
    #[must_use]
    pub fn with_counter(mut self, retries: PolicyCounter) -> Self {
        self.retries = retries;
        self
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = RetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner,
            config: self.config.clone(),
            retries: self.retries.clone(),
        }
    }
}

/// Service retrying failed tries; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct RetryService<S> {
    inner: S,
    config: Arc<RetryConfig>,
    retries: PolicyCounter,
}

/// Response future of [`RetryService`].
pub type ResponseFuture<E> = Pin<Box<dyn Future<Output = Result<Response, E>> + Send>>;

// The inner future and error are named as type parameters (not `S::Future`/`S::Error`
// projections) so that the boxed future is provably `Send`.
impl<S, F, E> Service<Request> for RetryService<S>
where
    S: Service<Request, Response = Response, Error = E, Future = F> + Clone + Send + 'static,
    F: Future<Output = Result<Response, E>> + Send + 'static,
    E: Send + 'static,
{
    type Response = Response;
    type Error = E;
    type Future = ResponseFuture<E>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // Keep the service `poll_ready` prepared for the first try; later tries wait for
        // readiness of their own clone.
        let fresh = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, fresh);
        Box::pin(run(
            ready,
            self.config.clone(),
            self.retries.clone(),
            request,
        ))
    }
}

async fn run<S, F, E>(
    mut inner: S,
    config: Arc<RetryConfig>,
    counter: PolicyCounter,
    request: Request,
) -> Result<Response, E>
where
    S: Service<Request, Response = Response, Error = E, Future = F>,
    F: Future<Output = Result<Response, E>>,
{
    let (parts, body) = request.into_parts();
    if config.attempts == 0 || is_upgrade(&parts.method, &parts.headers) {
        return inner.call(Request::from_parts(parts, body)).await;
    }
    let replay = match prepare(body, config.max_buffered_body).await {
        Prepared::Replayable(replay) => replay,
        Prepared::Once(body) => {
            tracing::debug!("request body too large to buffer: sent once, without retries");
            return inner.call(Request::from_parts(parts, body)).await;
        }
    };
    let mut response = inner.call(copy_head(&parts, replay.body())).await?;
    let mut retries = 0;
    while is_retryable(&config, &response) {
        if retries == config.attempts {
            exhausted(&mut response);
            break;
        }
        // A backend with circuit breakers bounds concurrent retries (`maxRetries`): past
        // it, the failed try stands, as Envoy's retry overflow does.
        let permit = match response.extensions().get::<CircuitBreaker>() {
            None => None,
            Some(breaker) => match breaker.try_acquire_retry() {
                Some(permit) => Some(permit),
                None => {
                    tracing::debug!("retry budget of the backend exhausted; not retrying");
                    break;
                }
            },
        };
        retries += 1;
        counter.inc();
        tracing::debug!(
            retry = retries,
            status = response.status().as_u16(),
            "retrying request"
        );
        drop(response);
        tokio::time::sleep(config.backoff_for(retries)).await;
        response = inner
            .ready()
            .await?
            .call(copy_head(&parts, replay.body()))
            .await?;
        drop(permit);
    }
    Ok(response)
}

fn is_retryable(config: &RetryConfig, response: &Response) -> bool {
    let flag = response.extensions().get::<ResponseFlag>().copied();
    config.is_retryable(response.status(), flag)
}

/// Records `URX` on a response that used up the retries, unless the gateway already
/// flagged why it answered (e.g. `UF`), which says more.
fn exhausted(response: &mut Response) {
    if response.extensions().get::<ResponseFlag>().is_none() {
        response
            .extensions_mut()
            .insert(ResponseFlag::UpstreamRetryLimitExceeded);
    }
}

//! Sending the copy: sampled, spawned, never awaited by the main request.

use gateway_core::{HttpService, Request};
use std::{
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};
use tower::{Layer, Service};

use super::{MirrorConfig, tee::tee};
use crate::head::{copy_head, is_upgrade};

/// Mirrors requests to another service; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct MirrorLayer {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    config: MirrorConfig,
    mirror: HttpService,
    timeout: Duration,
}

/// How long a mirrored request may take to answer before it is given up.
pub const DEFAULT_MIRROR_TIMEOUT: Duration = Duration::from_secs(15);

impl MirrorLayer {
    /// A layer sending the sampled share of requests (`config`) to `mirror` as well.
    pub fn new(config: MirrorConfig, mirror: HttpService) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                mirror,
                timeout: DEFAULT_MIRROR_TIMEOUT,
            }),
        }
    }

    /// The same layer, giving up on mirrored requests after `timeout` instead of
    /// [`DEFAULT_MIRROR_TIMEOUT`].
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                config: self.shared.config,
                mirror: self.shared.mirror.clone(),
                timeout,
            }),
        }
    }
}

impl<S> Layer<S> for MirrorLayer {
    type Service = MirrorService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MirrorService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// Service mirroring requests; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct MirrorService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<Request> for MirrorService<S>
where
    S: Service<Request>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if is_upgrade(request.method(), request.headers()) || !self.shared.config.sample() {
            return self.inner.call(request);
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::debug!("no tokio runtime to send the mirrored request on");
            return self.inner.call(request);
        };
        let (parts, body) = request.into_parts();
        let (main, copy) = tee(body);
        let mirror = self.shared.mirror.call_shared(copy_head(&parts, copy));
        let timeout = self.shared.timeout;
        runtime.spawn(async move {
            // Fire and forget: the answer is dropped unread.
            match tokio::time::timeout(timeout, mirror).await {
                Ok(Ok(response)) => {
                    tracing::trace!(status = response.status().as_u16(), "mirror answered");
                }
                Ok(Err(never)) => match never {},
                Err(_) => tracing::debug!(?timeout, "mirror did not answer in time"),
            }
        });
        self.inner.call(Request::from_parts(parts, main))
    }
}

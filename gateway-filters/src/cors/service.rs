//! The CORS layer: answers preflights, decorates actual responses.

use http::{HeaderMap, StatusCode, header::VARY};
use pin_project_lite::pin_project;
use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};
use tower::{Layer, Service};

use super::{
    CorsConfig,
    policy::{Decision, Policy},
};

/// Applies a [`CorsConfig`]; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct CorsLayer {
    policy: Arc<Policy>,
}

impl CorsLayer {
    /// A layer enforcing `config`.
    pub fn new(config: CorsConfig) -> Self {
        Self {
            policy: Arc::new(Policy::new(config)),
        }
    }
}

impl<S> Layer<S> for CorsLayer {
    type Service = CorsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CorsService {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// Service enforcing a CORS policy; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct CorsService<S> {
    inner: S,
    policy: Arc<Policy>,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for CorsService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: Default,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        match self.policy.decide(&request) {
            Decision::Preflight(headers) => {
                let mut response = http::Response::new(ResBody::default());
                *response.status_mut() = StatusCode::OK;
                *response.headers_mut() = headers;
                ResponseFuture::preflight(response)
            }
            Decision::PassThrough => ResponseFuture::inner(self.inner.call(request), None),
            Decision::Actual(headers) => {
                ResponseFuture::inner(self.inner.call(request), Some(headers))
            }
        }
    }
}

pin_project! {
    /// Response future of [`CorsService`].
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project! {
    #[project = KindProjection]
    enum Kind<F, B> {
        // The preflight answer, ready at once.
        Preflight {
            response: Option<http::Response<B>>,
        },
        // The inner service's answer, plus the headers to add to it.
        Inner {
            #[pin]
            future: F,
            headers: Option<HeaderMap>,
        },
    }
}

impl<F, B> ResponseFuture<F, B> {
    fn preflight(response: http::Response<B>) -> Self {
        Self {
            kind: Kind::Preflight {
                response: Some(response),
            },
        }
    }

    fn inner(future: F, headers: Option<HeaderMap>) -> Self {
        Self {
            kind: Kind::Inner { future, headers },
        }
    }
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Preflight { .. } => "Preflight",
            Kind::Inner { .. } => "Inner",
        };
        f.debug_tuple("ResponseFuture").field(&state).finish()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProjection::Preflight { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => Poll::Pending,
            },
            KindProjection::Inner { future, headers } => {
                let mut response = ready!(future.poll(cx))?;
                if let Some(cors) = headers.take() {
                    decorate(response.headers_mut(), cors);
                }
                Poll::Ready(Ok(response))
            }
        }
    }
}

/// Adds the CORS headers to an upstream response: the gateway's values replace any the
/// upstream set, except `Vary`, which is appended to.
fn decorate(response: &mut HeaderMap, cors: HeaderMap) {
    let mut last = None;
    for (name, value) in cors {
        // `HeaderMap::into_iter` yields the name only for the first value of each header.
        if let Some(name) = name {
            last = Some(name);
        }
        let Some(name) = &last else { continue };
        if *name == VARY {
            response.append(VARY, value);
        } else {
            response.insert(name.clone(), value);
        }
    }
}

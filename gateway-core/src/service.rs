//! A cheaply clonable, type-erased HTTP service.
//!
//! Route stacks are built from many layers and end up with long concrete types. The router
//! stores them as [`HttpService`]: an `Arc` around the concrete stack, so cloning it per
//! request is one reference-count increment, not an allocation (unlike
//! `tower::util::BoxCloneService`, which boxes on every clone).

use std::{
    convert::Infallible,
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use tower::{Service, ServiceExt};

use crate::body::{Request, Response};

/// The future an [`HttpService`] returns.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

trait ErasedService: Send + Sync {
    fn call(&self, request: Request) -> ResponseFuture;
}

struct Erased<S>(S);

impl<S> ErasedService for Erased<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send,
{
    fn call(&self, request: Request) -> ResponseFuture {
        let service = self.0.clone();
        Box::pin(service.oneshot(request))
    }
}

/// A type-erased, infallible HTTP service whose clones share one instance.
///
/// Errors must already have been turned into responses (see [`crate::error`]).
#[derive(Clone)]
pub struct HttpService(Arc<dyn ErasedService>);

impl HttpService {
    /// Erases `service`. It must be cheap to clone (shared state behind `Arc`s), because
    /// every call clones it once.
    pub fn new<S>(service: S) -> Self
    where
        S: Service<Request, Response = Response, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send,
    {
        Self(Arc::new(Erased(service)))
    }

    /// Calls the service without a `poll_ready` round trip.
    pub fn call_shared(&self, request: Request) -> ResponseFuture {
        self.0.call(request)
    }
}

impl fmt::Debug for HttpService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpService").finish_non_exhaustive()
    }
}

impl Service<Request> for HttpService {
    type Response = Response;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        self.0.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body;

    #[tokio::test]
    async fn erased_service_answers_and_clones_share_state() {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = calls.clone();
        let service = HttpService::new(tower::service_fn(move |_req: Request| {
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                let mut response = http::Response::new(body::empty());
                *response.status_mut() = http::StatusCode::from_u16(200 + n as u16).unwrap();
                Ok::<_, Infallible>(response)
            }
        }));
        let clone = service.clone();
        let first = service
            .call_shared(http::Request::new(body::empty()))
            .await
            .unwrap();
        let second = clone
            .call_shared(http::Request::new(body::empty()))
            .await
            .unwrap();
        assert_eq!(first.status().as_u16(), 200);
        assert_eq!(second.status().as_u16(), 201);
    }
}

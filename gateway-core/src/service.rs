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
    task::{Context, Poll, Waker},
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
        let mut service = self.0.clone();
        // Gateway stacks are always ready: ask once without a waker and call straight
        // away, saving the `Oneshot` state machine; a stack that is not ready yet (a
        // concurrency limit, say) is driven by `Oneshot` as usual.
        let mut cx = Context::from_waker(Waker::noop());
        match service.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => Box::pin(service.call(request)),
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => Box::pin(service.oneshot(request)),
        }
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

    /// Ready on the second poll: the first `poll_ready` (with no waker) says not yet.
    #[derive(Clone, Default)]
    struct ReadySecondTime(Arc<std::sync::atomic::AtomicUsize>);

    impl Service<Request> for ReadySecondTime {
        type Response = Response;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Response, Infallible>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(Ok(()))
            }
        }

        fn call(&mut self, _request: Request) -> Self::Future {
            std::future::ready(Ok(http::Response::new(body::empty())))
        }
    }

    #[tokio::test]
    async fn a_stack_not_ready_at_once_is_polled_until_ready() {
        let polls = ReadySecondTime::default();
        let service = HttpService::new(polls.clone());
        let response = service
            .call_shared(http::Request::new(body::empty()))
            .await
            .unwrap();
        assert_eq!(response.status(), http::StatusCode::OK);
        assert_eq!(polls.0.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}

use gateway_core::ResponseFlag;
use http::{Request, Response, StatusCode};
use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use tower::{Layer, ServiceExt, service_fn};

use super::*;

/// A backend answering after `delay`, recording whether it ran to completion.
fn backend(
    delay: Duration,
    finished: Arc<AtomicBool>,
) -> impl tower::Service<Request<()>, Response = Response<String>, Error = Infallible, Future: Send>
+ Clone {
    service_fn(move |_: Request<()>| {
        let finished = finished.clone();
        async move {
            tokio::time::sleep(delay).await;
            finished.store(true, Ordering::SeqCst);
            Ok::<_, Infallible>(Response::new(String::from("backend")))
        }
    })
}

#[tokio::test(start_paused = true)]
async fn fast_responses_pass_through() {
    let finished = Arc::new(AtomicBool::new(false));
    let service = TimeoutLayer::new(Duration::from_secs(1))
        .layer(backend(Duration::from_millis(10), finished.clone()));
    let response = service.oneshot(Request::new(())).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), "backend");
    assert!(response.extensions().get::<ResponseFlag>().is_none());
    assert!(finished.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn slow_responses_become_504_and_the_inner_future_is_dropped() {
    let finished = Arc::new(AtomicBool::new(false));
    let service = TimeoutLayer::new(Duration::from_millis(100))
        .layer(backend(Duration::from_secs(1), finished.clone()));
    let response = service.oneshot(Request::new(())).await.unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        response.extensions().get::<ResponseFlag>(),
        Some(&ResponseFlag::UpstreamRequestTimeout)
    );
    assert!(response.body().is_empty());
    // Let the backend's deadline pass too: it was cancelled, so it never finishes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!finished.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn works_over_the_proxy_body_type() {
    let inner = service_fn(|_: gateway_core::Request| async {
        std::future::pending::<()>().await;
        Ok::<_, Infallible>(Response::new(gateway_core::body::empty()))
    });
    let service =
        gateway_core::HttpService::new(TimeoutLayer::new(Duration::from_secs(5)).layer(inner));
    let response = service
        .call_shared(Request::new(gateway_core::body::empty()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
}

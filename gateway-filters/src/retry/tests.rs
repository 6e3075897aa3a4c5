//! Retry behaviour, including the Gateway API conformance test `HTTPRouteRetry`.

use bytes::Bytes;
use gateway_core::{BoxError, Request, Response, ResponseFlag, body, error::local_response};
use http::{HeaderValue, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use parking_lot::Mutex;
use std::{convert::Infallible, sync::Arc, time::Duration};
use tower::{Layer, ServiceExt, service_fn};

use super::*;

/// What the backend saw, one entry per try: the request body.
type Seen = Arc<Mutex<Vec<Bytes>>>;

/// A backend whose first `fail` tries answer `failure`, later ones `200`.
fn backend(
    fail: usize,
    failure: fn() -> Response,
) -> (
    impl tower::Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + 'static,
    Seen,
) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let service = service_fn(move |request: Request| {
        let record = record.clone();
        async move {
            let bytes = request.into_body().collect().await.unwrap().to_bytes();
            let n = {
                let mut seen = record.lock();
                seen.push(bytes);
                seen.len()
            };
            Ok::<_, Infallible>(if n <= fail {
                failure()
            } else {
                Response::new(body::full("ok"))
            })
        }
    });
    (service, seen)
}

fn status(code: u16) -> Response {
    let mut response = Response::new(body::empty());
    *response.status_mut() = StatusCode::from_u16(code).unwrap();
    response
}

fn config(codes: &[u16], attempts: u32) -> RetryConfig {
    RetryConfig {
        codes: codes
            .iter()
            .map(|c| StatusCode::from_u16(*c).unwrap())
            .collect(),
        attempts,
        backoff: Duration::from_millis(100),
        max_buffered_body: 64,
    }
}

/// (codes, attempts, failure code, tries that fail, expected status, expected tries)
type Case = (&'static [u16], u32, u16, usize, u16, usize);

#[tokio::test(start_paused = true)]
async fn conformance_http_route_retry() {
    let all = &[500, 502, 503, 504][..];
    let cases: [Case; 11] = [
        (&[500], 3, 500, 2, 200, 3),
        (&[500], 3, 500, 4, 500, 4),
        (&[500], 3, 503, 2, 503, 1),
        (all, 2, 500, 1, 200, 2),
        (all, 2, 500, 3, 500, 3),
        (all, 2, 502, 1, 200, 2),
        (all, 2, 502, 3, 502, 3),
        (all, 2, 503, 1, 200, 2),
        (all, 2, 503, 3, 503, 3),
        (all, 2, 504, 1, 200, 2),
        (all, 2, 504, 3, 504, 3),
    ];
    for (codes, attempts, code, succeed_after, want_status, want_tries) in cases {
        let failure: fn() -> Response = match code {
            500 => || status(500),
            502 => || status(502),
            503 => || status(503),
            _ => || status(504),
        };
        let (inner, seen) = backend(succeed_after, failure);
        let service = RetryLayer::new(config(codes, attempts)).layer(inner);
        let response = service.oneshot(Request::new(body::empty())).await.unwrap();
        let case =
            format!("codes {codes:?} attempts {attempts} code {code} succeedAfter {succeed_after}");
        assert_eq!(response.status().as_u16(), want_status, "{case}");
        assert_eq!(seen.lock().len(), want_tries, "{case}");
        let flag = response.extensions().get::<ResponseFlag>().copied();
        if want_status == code && want_tries > 1 {
            assert_eq!(
                flag,
                Some(ResponseFlag::UpstreamRetryLimitExceeded),
                "{case}"
            );
        } else {
            assert_eq!(flag, None, "{case}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn connection_failures_are_retried_without_listed_codes() {
    let failures: [fn() -> Response; 4] = [
        || {
            local_response(
                StatusCode::SERVICE_UNAVAILABLE,
                ResponseFlag::UpstreamConnectionFailure,
            )
        },
        || {
            local_response(
                StatusCode::BAD_GATEWAY,
                ResponseFlag::UpstreamConnectionTermination,
            )
        },
        || {
            local_response(
                StatusCode::SERVICE_UNAVAILABLE,
                ResponseFlag::NoHealthyUpstream,
            )
        },
        || {
            local_response(
                StatusCode::GATEWAY_TIMEOUT,
                ResponseFlag::UpstreamRequestTimeout,
            )
        },
    ];
    for failure in failures {
        let (inner, seen) = backend(1, failure);
        let service = RetryLayer::new(config(&[], 1)).layer(inner);
        let response = service.oneshot(Request::new(body::empty())).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(seen.lock().len(), 2);
    }
}

#[tokio::test(start_paused = true)]
async fn exhausted_connection_failures_keep_their_flag() {
    let (inner, seen) = backend(10, || {
        local_response(
            StatusCode::SERVICE_UNAVAILABLE,
            ResponseFlag::UpstreamConnectionFailure,
        )
    });
    let service = RetryLayer::new(config(&[], 2)).layer(inner);
    let response = service.oneshot(Request::new(body::empty())).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.extensions().get::<ResponseFlag>(),
        Some(&ResponseFlag::UpstreamConnectionFailure)
    );
    assert_eq!(seen.lock().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn other_statuses_and_flags_are_not_retried() {
    for failure in [(|| status(404)) as fn() -> Response, || {
        local_response(StatusCode::TOO_MANY_REQUESTS, ResponseFlag::RateLimited)
    }] {
        let (inner, seen) = backend(1, failure);
        let service = RetryLayer::new(config(&[500], 3)).layer(inner);
        let response = service.oneshot(Request::new(body::empty())).await.unwrap();
        assert_ne!(response.status(), StatusCode::OK);
        assert_eq!(seen.lock().len(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn zero_attempts_means_one_try() {
    let (inner, seen) = backend(1, || status(500));
    let service = RetryLayer::new(config(&[500], 0)).layer(inner);
    let response = service.oneshot(Request::new(body::empty())).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(seen.lock().len(), 1);
}

fn streamed(chunks: &[&str]) -> body::BoxBody {
    let frames: Vec<Result<Frame<Bytes>, BoxError>> = chunks
        .iter()
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c.as_bytes()))))
        .collect();
    body::boxed(StreamBody::new(futures_util::stream::iter(frames)))
}

#[tokio::test(start_paused = true)]
async fn every_try_gets_the_same_body() {
    let (inner, seen) = backend(2, || status(500));
    let service = RetryLayer::new(config(&[500], 3)).layer(inner);
    let response = service
        .oneshot(Request::new(streamed(&["hello ", "retried ", "world"])))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen = seen.lock();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|b| b == "hello retried world"));
}

#[tokio::test(start_paused = true)]
async fn bodies_over_the_limit_are_sent_once_and_whole() {
    let (inner, seen) = backend(1, || status(500));
    let service = RetryLayer::new(config(&[500], 3)).layer(inner);
    let long = "0123456789".repeat(5);
    let response = service
        .oneshot(Request::new(streamed(&[&long, &long])))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let seen = seen.lock();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0], format!("{long}{long}"));
}

#[tokio::test(start_paused = true)]
async fn upgrades_are_never_replayed() {
    let (inner, seen) = backend(1, || status(500));
    let service = RetryLayer::new(config(&[500], 3)).layer(inner);
    let mut request = Request::new(body::empty());
    request
        .headers_mut()
        .insert(http::header::UPGRADE, HeaderValue::from_static("websocket"));
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(seen.lock().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn errors_are_returned_at_once() {
    let calls = Arc::new(Mutex::new(0));
    let counted = calls.clone();
    let inner = service_fn(move |_: Request| {
        *counted.lock() += 1;
        async { Err::<Response, _>("connection broke") }
    });
    let service = RetryLayer::new(config(&[500], 3)).layer(inner);
    let result = service.oneshot(Request::new(body::empty())).await;
    assert_eq!(result.unwrap_err(), "connection broke");
    assert_eq!(*calls.lock(), 1);
}

#[tokio::test(start_paused = true)]
async fn request_head_is_copied_to_every_try() {
    let heads = Arc::new(Mutex::new(Vec::new()));
    let record = heads.clone();
    let inner = service_fn(move |request: Request| {
        record.lock().push((
            request.method().clone(),
            request.uri().clone(),
            request.headers().get("x-test").cloned(),
            request.extensions().get::<u32>().copied(),
        ));
        async { Ok::<_, Infallible>(status(500)) }
    });
    let service = RetryLayer::new(config(&[500], 2)).layer(inner);
    let mut request = Request::new(body::empty());
    *request.method_mut() = http::Method::PUT;
    *request.uri_mut() = "/retry?x=1".parse().unwrap();
    request
        .headers_mut()
        .insert("x-test", HeaderValue::from_static("1"));
    request.extensions_mut().insert(7u32);
    service.oneshot(request).await.unwrap();
    let heads = heads.lock();
    assert_eq!(heads.len(), 3);
    assert!(heads.iter().all(|h| h == &heads[0]));
    assert_eq!(heads[0].1, "/retry?x=1");
    assert_eq!(heads[0].3, Some(7));
}

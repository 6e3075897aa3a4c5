use bytes::Bytes;
use gateway_core::{Request, Response, ResponseFlag, body};
use http::StatusCode;
use http_body_util::BodyExt;
use std::{
    convert::Infallible,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt, service_fn};

use super::*;
use crate::spec::{FieldError, Percent};

/// A backend answering `body` at once, counting its calls.
fn backend(
    calls: Arc<AtomicUsize>,
    body: Bytes,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + Sync
{
    service_fn(move |_: Request| {
        calls.fetch_add(1, Ordering::SeqCst);
        let body = body.clone();
        async move { Ok::<_, Infallible>(Response::new(body::full(body))) }
    })
}

fn config(json: &str) -> FaultConfig {
    serde_json::from_str::<FaultInjectionSpec>(json)
        .unwrap()
        .compile()
        .unwrap()
}

fn service(
    json: &str,
    calls: &Arc<AtomicUsize>,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ 'static {
    FaultLayer::new(config(json)).layer(backend(calls.clone(), Bytes::from_static(b"backend")))
}

fn flag(response: &Response) -> Option<ResponseFlag> {
    response.extensions().get::<ResponseFlag>().copied()
}

async fn text(response: Response) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

#[tokio::test(start_paused = true)]
async fn a_delay_holds_the_request_back_and_flags_di() {
    let calls = Arc::new(AtomicUsize::new(0));
    let service = service(r#"{"delay": {"fixedDelay": "1500ms"}}"#, &calls);
    let started = Instant::now();
    let call = tokio::spawn(service.oneshot(Request::default()));
    tokio::time::sleep(Duration::from_millis(1499)).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "sent before the delay ran out"
    );
    let response = call.await.unwrap().unwrap();
    assert_eq!(started.elapsed(), Duration::from_millis(1500));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(flag(&response), Some(ResponseFlag::DelayInjected));
    assert_eq!(text(response).await, "backend");
}

#[tokio::test(start_paused = true)]
async fn a_delay_keeps_the_flag_the_inner_service_set() {
    let inner = service_fn(|_: Request| async {
        let mut response = Response::new(body::empty());
        *response.status_mut() = StatusCode::GATEWAY_TIMEOUT;
        response
            .extensions_mut()
            .insert(ResponseFlag::UpstreamRequestTimeout);
        Ok::<_, Infallible>(response)
    });
    let service = FaultLayer::new(config(r#"{"delay": {"fixedDelay": "1s"}}"#)).layer(inner);
    let response = service.oneshot(Request::default()).await.unwrap();
    assert_eq!(flag(&response), Some(ResponseFlag::UpstreamRequestTimeout));
}

#[tokio::test]
async fn an_http_abort_answers_without_the_backend() {
    let calls = Arc::new(AtomicUsize::new(0));
    let service = service(r#"{"abort": {"httpStatus": 503}}"#, &calls);
    let response = service.oneshot(Request::default()).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(flag(&response), Some(ResponseFlag::FaultInjected));
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(text(response).await, "fault filter abort");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_grpc_abort_answers_a_grpc_error() {
    let calls = Arc::new(AtomicUsize::new(0));
    let service = service(r#"{"abort": {"grpcStatus": 14}}"#, &calls);
    let response = service.oneshot(Request::default()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(flag(&response), Some(ResponseFlag::FaultInjected));
    assert_eq!(response.headers()["content-type"], "application/grpc");
    assert_eq!(response.headers()["grpc-status"], "14");
    assert_eq!(response.headers()["grpc-message"], "fault filter abort");
    assert!(http_body::Body::is_end_stream(response.body()));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn an_abort_after_a_delay_waits_first() {
    let calls = Arc::new(AtomicUsize::new(0));
    let service = service(
        r#"{"delay": {"fixedDelay": "2s"}, "abort": {"httpStatus": 500}}"#,
        &calls,
    );
    let started = Instant::now();
    let response = service.oneshot(Request::default()).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(flag(&response), Some(ResponseFlag::FaultInjected));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn zero_percent_injects_nothing() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut service = service(
        r#"{"delay": {"fixedDelay": "1s", "percentage": 0},
            "abort": {"httpStatus": 500, "percentage": 0},
            "responseRateLimit": {"kbitsPerSecond": 1, "percentage": 0}}"#,
        &calls,
    );
    let started = Instant::now();
    for _ in 0..100 {
        let response = service
            .ready()
            .await
            .unwrap()
            .call(Request::default())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(flag(&response), None);
    }
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(calls.load(Ordering::SeqCst), 100);
}

#[tokio::test]
async fn a_share_of_requests_is_aborted() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut service = service(
        r#"{"abort": {"httpStatus": 500, "percentage": 30}}"#,
        &calls,
    );
    // The runtime runs on this thread, so the seed fixes every draw.
    fastrand::seed(11);
    let mut aborted = 0;
    for _ in 0..10_000 {
        let response = service
            .ready()
            .await
            .unwrap()
            .call(Request::default())
            .await
            .unwrap();
        if response.status() == StatusCode::INTERNAL_SERVER_ERROR {
            aborted += 1;
        }
    }
    assert!((2_500..3_500).contains(&aborted), "{aborted} of 10000");
    assert_eq!(calls.load(Ordering::SeqCst), 10_000 - aborted);
}

#[tokio::test(start_paused = true)]
async fn max_active_faults_caps_concurrent_faults() {
    let calls = Arc::new(AtomicUsize::new(0));
    let service = service(
        r#"{"delay": {"fixedDelay": "1s"}, "maxActiveFaults": 1}"#,
        &calls,
    );
    let started = Instant::now();
    let first = tokio::spawn(service.clone().oneshot(Request::default()));
    tokio::task::yield_now().await;
    // The first request holds the only fault: the second goes through at once.
    let second = service.clone().oneshot(Request::default()).await.unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(flag(&second), None);
    let first = first.await.unwrap().unwrap();
    assert_eq!(flag(&first), Some(ResponseFlag::DelayInjected));
    // The fault is over: the next request is delayed again.
    let third = service.oneshot(Request::default()).await.unwrap();
    assert_eq!(flag(&third), Some(ResponseFlag::DelayInjected));
    assert_eq!(started.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_throttled_body_arrives_whole_at_the_set_rate() {
    let payload = Bytes::from(vec![7u8; 10 * 1024]);
    let layer = FaultLayer::new(config(
        r#"{"responseRateLimit": {"kbitsPerSecond": 1}, "maxActiveFaults": 1}"#,
    ));
    let service = layer.layer(backend(Arc::default(), payload.clone()));
    let response = service.clone().oneshot(Request::default()).await.unwrap();
    assert_eq!(flag(&response), None);

    // While the first body streams, its fault is active: a second response is not throttled.
    let started = Instant::now();
    let second = service.oneshot(Request::default()).await.unwrap();
    assert_eq!(text(second).await, payload);
    assert_eq!(started.elapsed(), Duration::ZERO);

    let mut body = response.into_body();
    let mut received = Vec::new();
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        assert!(data.len() <= 1024, "a frame of {} bytes", data.len());
        received.extend_from_slice(&data);
    }
    assert_eq!(received, payload);
    // 1024 bytes per second, 51 of them up front: just under ten seconds.
    let elapsed = started.elapsed();
    assert!(
        (Duration::from_millis(9_900)..=Duration::from_millis(10_050)).contains(&elapsed),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn works_as_an_erased_proxy_service() {
    let calls = Arc::new(AtomicUsize::new(0));
    let service = gateway_core::HttpService::new(
        FaultLayer::new(config(r#"{"abort": {"httpStatus": 418}}"#))
            .layer(backend(calls.clone(), Bytes::new())),
    );
    let response = service.call_shared(Request::default()).await.unwrap();
    assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
}

fn compile(json: &str) -> Result<FaultConfig, FieldError> {
    serde_json::from_str::<FaultInjectionSpec>(json)
        .unwrap()
        .compile()
}

#[test]
fn spec_defaults_follow_kgateway() {
    let config = compile(
        r#"{"delay": {"fixedDelay": "100ms"}, "abort": {"grpcStatus": 0, "percentage": 25},
            "responseRateLimit": {"kbitsPerSecond": 512}, "maxActiveFaults": 10}"#,
    )
    .unwrap();
    assert_eq!(
        config,
        FaultConfig {
            delay: Some(FaultDelay {
                fixed_delay: Duration::from_millis(100),
                percentage: Percent::HUNDRED,
            }),
            abort: Some(FaultAbort {
                status: AbortStatus::Grpc(0),
                percentage: Percent::new(25).unwrap(),
            }),
            response_rate_limit: Some(ResponseRateLimit {
                bytes_per_second: 512 * 1024,
                percentage: Percent::HUNDRED,
            }),
            max_active_faults: Some(10),
        }
    );
    // `disable` is not read (the policy compiler reports it as unsupported).
    let spec: FaultInjectionSpec = serde_json::from_str(r#"{"disable": {}}"#).unwrap();
    assert_eq!(spec, FaultInjectionSpec::default());
}

#[test]
fn spec_errors_name_the_field() {
    for (json, field, reason) in [
        (r#"{}"#, "", "at least one of"),
        (r#"{"maxActiveFaults": 3}"#, "", "at least one of"),
        (
            r#"{"delay": {"fixedDelay": "0s"}}"#,
            "delay.fixedDelay",
            "at least 1ms",
        ),
        (
            r#"{"delay": {"fixedDelay": "61m"}}"#,
            "delay.fixedDelay",
            "at most 1h",
        ),
        (r#"{"abort": {}}"#, "abort", "exactly one of"),
        (
            r#"{"abort": {"httpStatus": 503, "grpcStatus": 14}}"#,
            "abort",
            "exactly one of",
        ),
        (
            r#"{"abort": {"httpStatus": 199}}"#,
            "abort.httpStatus",
            "200 to 599",
        ),
        (
            r#"{"abort": {"httpStatus": 600}}"#,
            "abort.httpStatus",
            "200 to 599",
        ),
        (
            r#"{"abort": {"grpcStatus": 17}}"#,
            "abort.grpcStatus",
            "0 to 16",
        ),
        (
            r#"{"abort": {"grpcStatus": -1}}"#,
            "abort.grpcStatus",
            "0 to 16",
        ),
        (
            r#"{"responseRateLimit": {"kbitsPerSecond": 0}}"#,
            "responseRateLimit.kbitsPerSecond",
            "at least 1",
        ),
        (
            r#"{"responseRateLimit": {"kbitsPerSecond": 18446744073709551615}}"#,
            "responseRateLimit.kbitsPerSecond",
            "at most",
        ),
    ] {
        let error = compile(json).unwrap_err();
        assert_eq!(error.field, field, "{json}");
        assert!(error.reason.contains(reason), "{json}: {error}");
    }
    assert!(
        serde_json::from_str::<FaultInjectionSpec>(
            r#"{"abort": {"httpStatus": 500, "percentage": 101}}"#
        )
        .is_err()
    );
}

//! TrafficPolicy benches: the per-request cost of the local rate limit, buffer, fault
//! injection and CSRF layers, each alone in front of a trivial backend.
//!
//! Each bench sends one request through one `gateway_filters` layer in front of a
//! `tower::service_fn` backend that answers at once with an empty `200` (and drops the
//! request, body unread). Requests are built outside the timing, in batches of 64; each
//! iteration is one `oneshot` (service clone, `poll_ready`, `call`, await), including the
//! backend building its response or the layer building its own; responses are dropped
//! outside the timing. The layers are built from kgateway policy JSON through their
//! `Spec::compile`, as the gateway builds them.
//!
//! - `traffic_policy/baseline`: a GET to the backend alone; subtract it from the others.
//! - `traffic_policy/local_rate_limit/admitted`: a bucket that never runs dry (one governor
//!   check per request).
//! - `traffic_policy/local_rate_limit/limited`: an empty bucket: every request is answered
//!   `429 local_rate_limited` by the layer.
//! - `traffic_policy/buffer/no_body`: a GET through a 1Mi buffer (nothing to read).
//! - `traffic_policy/buffer/4k_in_4_frames`: a POST whose 4 KiB body arrives in four
//!   frames, gathered into one buffer and handed on with a `Content-Length`.
//! - `traffic_policy/fault/not_drawn`: delay and abort at 0 % (two percentages looked at,
//!   no fault).
//! - `traffic_policy/fault/abort`: an abort at 100 %: every request is answered `503` by
//!   the layer.
//! - `traffic_policy/csrf/safe_method`: a GET (not checked).
//! - `traffic_policy/csrf/same_origin`: a POST whose `Origin` is the `Host` (checked,
//!   allowed).
//! - `traffic_policy/csrf/refused`: a POST from another origin, not in the two
//!   `additionalOrigins` (checked, answered `403 Invalid origin`).
//!
//! Run with `cargo bench -p tower-gateway --bench traffic_policies`; see `benches/README.md`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "set-up failures in a bench are fatal, as in a test"
)]

use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gateway_core::{Request, Response, body};
use gateway_filters::{
    buffer::{BufferLayer, BufferSpec},
    csrf::{CsrfLayer, CsrfSpec},
    fault::{FaultInjectionSpec, FaultLayer},
    local_rate_limit::{LocalRateLimit, LocalRateLimitLayer, RateLimitSpec},
};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Frame;
use tower::{Layer, Service, ServiceExt, service_fn};

/// The trivial backend: answers at once with an empty `200`.
async fn backend(_request: Request) -> Result<Response, Infallible> {
    Ok(Response::new(body::empty()))
}

/// A GET to `svc.example` with the headers a typical client sends.
fn get() -> Request {
    http::Request::builder()
        .uri("/api/users/42")
        .header("host", "svc.example")
        .header("user-agent", "bench/1.0")
        .header("accept", "application/json")
        .body(body::empty())
        .unwrap()
}

/// A POST to `svc.example` from `origin`, without a body.
fn post_from(origin: &'static str) -> Request {
    http::Request::builder()
        .method(Method::POST)
        .uri("/api/users")
        .header("host", "svc.example")
        .header("user-agent", "bench/1.0")
        .header("origin", origin)
        .body(body::empty())
        .unwrap()
}

/// A body of `n` frames of 1 KiB whose length is not known up front, as a chunked upload's.
struct Frames(usize);

impl hyper::body::Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        static KIB: [u8; 1024] = [b'x'; 1024];
        if self.0 == 0 {
            return Poll::Ready(None);
        }
        self.0 -= 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&KIB)))))
    }
}

/// A POST whose 4 KiB body arrives in four 1 KiB frames.
fn post_4k() -> Request {
    http::Request::builder()
        .method(Method::POST)
        .uri("/api/upload")
        .header("host", "svc.example")
        .body(body::boxed(Frames(4)))
        .unwrap()
}

/// Benches `service` with fresh requests from `request`, one `oneshot` per iteration.
fn bench<S>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    rt: &tokio::runtime::Runtime,
    service: S,
    request: fn() -> Request,
) where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    group.bench_function(name, |b| {
        b.to_async(rt).iter_batched(
            request,
            |request| service.clone().oneshot(request),
            BatchSize::NumIterations(64),
        );
    });
}

/// The local rate limit layer for a kgateway `rateLimit` policy.
fn rate_limit(json: &str) -> LocalRateLimitLayer {
    let spec: RateLimitSpec = serde_json::from_str(json).unwrap();
    let Some(LocalRateLimit::Limit(config)) = spec.compile().unwrap().local else {
        panic!("the bench policy has a bucket")
    };
    LocalRateLimitLayer::new(config)
}

/// Sends one request outside the timing; returns the status and the body text.
fn probe<S>(rt: &tokio::runtime::Runtime, service: &S, request: Request) -> (StatusCode, Bytes)
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    rt.block_on(async {
        let response = service.clone().oneshot(request).await.unwrap();
        let status = response.status();
        (
            status,
            response.into_body().collect().await.unwrap().to_bytes(),
        )
    })
}

fn traffic_policies(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let baseline = service_fn(backend);

    let admitted = rate_limit(
        r#"{"local": {"tokenBucket": {"maxTokens": 2000000000, "tokensPerFill": 2000000000,
            "fillInterval": "50ms"}}}"#,
    )
    .layer(service_fn(backend));
    let limited =
        rate_limit(r#"{"local": {"tokenBucket": {"maxTokens": 1, "fillInterval": "24h"}}}"#)
            .layer(service_fn(backend));

    let buffer_spec: BufferSpec = serde_json::from_str(r#"{"maxRequestSize": "1Mi"}"#).unwrap();
    let buffer = BufferLayer::new(buffer_spec.compile().unwrap()).layer(service_fn(backend));

    let fault = |json: &str| {
        let spec: FaultInjectionSpec = serde_json::from_str(json).unwrap();
        FaultLayer::new(spec.compile().unwrap()).layer(service_fn(backend))
    };
    let not_drawn = fault(
        r#"{"delay": {"fixedDelay": "1s", "percentage": 0},
            "abort": {"httpStatus": 503, "percentage": 0}}"#,
    );
    let abort = fault(r#"{"abort": {"httpStatus": 503}}"#);

    let csrf_spec: CsrfSpec = serde_json::from_str(
        r#"{"percentageEnabled": 100, "additionalOrigins": [
            {"suffix": ".partner.example"}, {"exact": "admin.example", "ignoreCase": true}]}"#,
    )
    .unwrap();
    let csrf = CsrfLayer::new(csrf_spec.compile().unwrap()).layer(service_fn(backend));

    // Outside the timing: the layers do what the benches say they measure.
    assert_eq!(probe(&rt, &admitted, get()).0, StatusCode::OK);
    assert_eq!(
        probe(&rt, &limited, get()).0,
        StatusCode::OK,
        "the one token"
    );
    assert_eq!(
        probe(&rt, &limited, get()),
        (
            StatusCode::TOO_MANY_REQUESTS,
            Bytes::from_static(b"local_rate_limited")
        )
    );
    let seen_length = service_fn(|request: Request| async move {
        let length = request.headers()["content-length"].clone();
        let body = request.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body.len(), 4096);
        let mut response = Response::new(body::empty());
        response.headers_mut().insert("x-length", length);
        Ok::<_, Infallible>(response)
    });
    let response = rt
        .block_on(
            BufferLayer::new(buffer_spec.compile().unwrap())
                .layer(seen_length)
                .oneshot(post_4k()),
        )
        .unwrap();
    assert_eq!(response.headers()["x-length"], "4096");
    assert_eq!(probe(&rt, &not_drawn, get()).0, StatusCode::OK);
    assert_eq!(
        probe(&rt, &abort, get()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Bytes::from_static(b"fault filter abort")
        )
    );
    assert_eq!(probe(&rt, &csrf, get()).0, StatusCode::OK);
    assert_eq!(
        probe(&rt, &csrf, post_from("https://svc.example")).0,
        StatusCode::OK
    );
    assert_eq!(
        probe(&rt, &csrf, post_from("https://evil.example")),
        (StatusCode::FORBIDDEN, Bytes::from_static(b"Invalid origin"))
    );

    let mut group = c.benchmark_group("traffic_policy");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    bench(&mut group, "baseline", &rt, baseline, get);
    bench(&mut group, "local_rate_limit/admitted", &rt, admitted, get);
    bench(&mut group, "local_rate_limit/limited", &rt, limited, get);
    bench(&mut group, "buffer/no_body", &rt, buffer.clone(), get);
    bench(&mut group, "buffer/4k_in_4_frames", &rt, buffer, post_4k);
    bench(&mut group, "fault/not_drawn", &rt, not_drawn, get);
    bench(&mut group, "fault/abort", &rt, abort, get);
    bench(&mut group, "csrf/safe_method", &rt, csrf.clone(), get);
    bench(&mut group, "csrf/same_origin", &rt, csrf.clone(), || {
        post_from("https://svc.example")
    });
    bench(&mut group, "csrf/refused", &rt, csrf, || {
        post_from("https://evil.example")
    });
    group.finish();
}

criterion_group!(benches, traffic_policies);
criterion_main!(benches);

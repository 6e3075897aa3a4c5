//! Benches of the kgateway rewrite policies: the per-request cost of each layer alone.
//!
//! Each bench sends one request through one layer from `gateway_filters` in front of a
//! trivial `tower::service_fn` backend that answers at once (an empty body and two
//! headers) without reading the request body, as in `filters.rs`. Requests are built outside
//! the timing, in batches of 64; each iteration is one `oneshot` (service clone,
//! `poll_ready`, `call`, await), including the backend building its response and dropping
//! the request; responses are dropped outside the timing. Subtract `baseline`.
//!
//! - `transformation/baseline` — the backend alone.
//! - `transformation/headers` — a header-only transformation: the request gets one header
//!   rendered from another and a pseudo-header, one static header and one removal; the
//!   response gets one header rendered from a request header (so the request headers are
//!   kept for it). No body is read; the future is not boxed.
//! - `transformation/json_body` — a JSON body transformation: a 218-byte JSON request body
//!   is read (`parseAs: AsJson`), one header is rendered from a field and the body is
//!   replaced by a template reading five fields (one boxed future per request).
//! - `path_regex/match` — `urlRewrite.pathRegex` rewriting a path with two capture groups
//!   (query kept); `path_regex/miss` — a path the pattern does not match.
//! - `direct_response/answer` — a `DirectResponse` answering 200 with a short body; the
//!   backend is never called.
//!
//! Run with `cargo bench -p tower-gateway --bench transformation`; see `benches/README.md`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "set-up failures in a bench are fatal, as in a test"
)]

use std::{convert::Infallible, time::Duration};

use criterion::{BatchSize, BenchmarkGroup, Criterion, criterion_group, criterion_main};
use gateway_core::{Request, Response, body};
use gateway_filters::{
    direct_response::{DirectResponseLayer, DirectResponseSpec},
    path_regex::{PathRegexLayer, PathRegexSpec},
    transformation::{TransformationLayer, TransformationSpec},
};
use http::{
    HeaderValue, StatusCode,
    header::{CACHE_CONTROL, CONTENT_TYPE},
};
use http_body_util::BodyExt;
use tower::{Layer, Service, ServiceExt, service_fn};

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// The JSON body of `transformation/json_body` requests (218 bytes).
const ORDER: &str = r#"{"order": {"id": 1042, "customer": {"id": "c-77", "name": "Ada Lovelace", "tier": "gold"}, "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}], "total": 129.5, "currency": "EUR", "note": "leave at the door"}}"#;

/// A request with the headers a typical client sends.
fn request(uri: &str) -> Request {
    http::Request::builder()
        .uri(uri)
        .header("host", "svc.example")
        .header("user-agent", "bench/1.0")
        .header("accept", "application/json")
        .header("x-tenant", "tenant-1")
        .header("x-debug", "1")
        .body(body::empty())
        .unwrap()
}

/// A POST carrying [`ORDER`].
fn order() -> Request {
    http::Request::builder()
        .method("POST")
        .uri("/api/orders")
        .header("host", "svc.example")
        .header("user-agent", "bench/1.0")
        .header("content-type", "application/json")
        .header("content-length", ORDER.len())
        .body(body::full(ORDER))
        .unwrap()
}

/// The trivial backend: answers at once with two headers, without reading the body.
async fn backend(_request: Request) -> Result<Response, Infallible> {
    let mut response = http::Response::new(body::empty());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=60"));
    Ok(response)
}

/// Benches `service` with fresh requests from `make`, one `oneshot` per iteration.
fn bench<S>(
    group: &mut Group<'_>,
    name: &str,
    rt: &tokio::runtime::Runtime,
    service: S,
    make: impl Fn() -> Request,
) where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    group.bench_function(name, |b| {
        b.to_async(rt).iter_batched(
            &make,
            |request| service.clone().oneshot(request),
            BatchSize::NumIterations(64),
        );
    });
}

/// An echo backend, to check outside the timing what the layers forward.
async fn echo(request: Request) -> Result<Response, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let mut response = http::Response::new(body::full(body));
    *response.headers_mut() = parts.headers;
    response.headers_mut().insert(
        "x-uri",
        HeaderValue::from_str(&parts.uri.to_string()).unwrap(),
    );
    Ok(response)
}

async fn body_text(response: Response) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn headers_spec() -> TransformationSpec {
    serde_json::from_str(
        r#"{
        "request": {
            "set": [
                {"name": "x-tenant-route", "value": "{{ header('x-tenant') }}:{{ header(':path') }}"},
                {"name": "x-gateway", "value": "tower-gateway"}
            ],
            "remove": ["x-debug"]
        },
        "response": {
            "set": [{"name": "x-served-for", "value": "{{ request_header('x-tenant') }}"}]
        }
    }"#,
    )
    .unwrap()
}

fn json_body_spec() -> TransformationSpec {
    serde_json::from_str(
        r#"{
        "request": {
            "set": [{"name": "x-customer", "value": "{{ order.customer.id }}"}],
            "body": {
                "parseAs": "AsJson",
                "value": "{\"id\": {{ order.id }}, \"customer\": \"{{ order.customer.name }}\", \"tier\": \"{{ order.customer.tier | upper }}\", \"lines\": {{ order['items'] | length }}, \"total\": \"{{ order.total }} {{ order.currency }}\"}"
            }
        }
    }"#,
    )
    .unwrap()
}

fn transformation(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let headers = TransformationLayer::new(headers_spec().compile().unwrap());
    let json_body = TransformationLayer::new(json_body_spec().compile().unwrap());

    // Outside the timing: the layers do what the benches say they measure.
    let response = rt
        .block_on(
            headers
                .layer(service_fn(echo))
                .oneshot(request("/api/users/42")),
        )
        .unwrap();
    assert_eq!(
        response.headers()["x-tenant-route"],
        "tenant-1:/api/users/42"
    );
    assert_eq!(response.headers()["x-served-for"], "tenant-1");
    assert!(!response.headers().contains_key("x-debug"));
    let response = rt
        .block_on(json_body.layer(service_fn(echo)).oneshot(order()))
        .unwrap();
    assert_eq!(response.headers()["x-customer"], "c-77");
    assert_eq!(
        rt.block_on(body_text(response)),
        r#"{"id": 1042, "customer": "Ada Lovelace", "tier": "GOLD", "lines": 2, "total": "129.5 EUR"}"#
    );

    let mut group = c.benchmark_group("transformation");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    bench(&mut group, "baseline", &rt, service_fn(backend), || {
        request("/api/users/42")
    });
    bench(
        &mut group,
        "headers",
        &rt,
        headers.layer(service_fn(backend)),
        || request("/api/users/42"),
    );
    bench(
        &mut group,
        "json_body",
        &rt,
        json_body.layer(service_fn(backend)),
        order,
    );
    group.finish();
}

fn path_regex(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let spec = PathRegexSpec {
        pattern: "^/service/([^/]+)(/.*)$".into(),
        substitution: r"\2/instance/\1".into(),
    };
    let rewrite = PathRegexLayer::new(spec.compile().unwrap());

    let response = rt
        .block_on(
            rewrite
                .layer(service_fn(echo))
                .oneshot(request("/service/users/v1/42?x=1")),
        )
        .unwrap();
    assert_eq!(response.headers()["x-uri"], "/v1/42/instance/users?x=1");

    let mut group = c.benchmark_group("path_regex");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    bench(
        &mut group,
        "match",
        &rt,
        rewrite.layer(service_fn(backend)),
        || request("/service/users/v1/42?x=1"),
    );
    bench(
        &mut group,
        "miss",
        &rt,
        rewrite.layer(service_fn(backend)),
        || request("/api/users/42?x=1"),
    );
    group.finish();
}

fn direct_response(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let spec = DirectResponseSpec {
        status: 200,
        body: Some("ok".into()),
    };
    let answer = DirectResponseLayer::new(spec.compile().unwrap());

    let response = rt
        .block_on(answer.layer(service_fn(echo)).oneshot(request("/healthz")))
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(rt.block_on(body_text(response)), "ok");

    let mut group = c.benchmark_group("direct_response");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    bench(
        &mut group,
        "answer",
        &rt,
        answer.layer(service_fn(backend)),
        || request("/healthz"),
    );
    group.finish();
}

criterion_group!(benches, transformation, path_regex, direct_response);
criterion_main!(benches);

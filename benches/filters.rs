//! Filter benches: the per-request cost of the Gateway API header modifiers
//! (`RequestHeaderModifier`, `ResponseHeaderModifier`), the most common filters.
//!
//! Each bench sends one request through `gateway_filters::header_modifier` layers in front
//! of a trivial `tower::service_fn` backend that answers immediately with a response
//! carrying three headers. The request carries six headers, as a browser's or a client
//! library's would. Requests are built outside the timing, in batches of 64; each iteration
//! is one `oneshot` (service clone, `poll_ready`, `call`, await), including the backend
//! building its response and dropping the request; responses are dropped outside the
//! timing.
//!
//! - `header_modifier/baseline` — the backend alone: subtract it from the others.
//! - `header_modifier/request` — `RequestHeaderModifier` setting two headers (one of them
//!   already present), adding one to an existing name and removing one.
//! - `header_modifier/response` — `ResponseHeaderModifier` setting one, adding one and
//!   removing one response header.
//! - `header_modifier/both` — both layers, as a rule with both filters builds them.
//!
//! Run with `cargo bench -p tower-gateway --bench filters`; see `benches/README.md`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "set-up failures in a bench are fatal, as in a test"
)]

use std::{convert::Infallible, time::Duration};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gateway_core::{Request, Response, body};
use gateway_filters::header_modifier::{
    HeaderModifierConfig, HeaderModifierLayer, HeaderPair, ResponseHeaderModifierLayer,
};
use http::{
    HeaderName, HeaderValue,
    header::{CACHE_CONTROL, CONTENT_TYPE},
};
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

/// A header pair from static strings.
fn pair(name: &'static str, value: &'static str) -> HeaderPair {
    HeaderPair {
        name: HeaderName::from_static(name),
        value: HeaderValue::from_static(value),
    }
}

/// The request changes: set two (one replaces a client value), add one, remove one.
fn request_config() -> HeaderModifierConfig {
    HeaderModifierConfig {
        set: vec![
            pair("x-gateway", "tower-gateway"),
            pair("x-tenant", "rewritten"),
        ],
        add: vec![pair("x-forwarded-tags", "edge")],
        remove: vec![HeaderName::from_static("x-debug")],
    }
}

/// The response changes: set one, add one, remove one.
fn response_config() -> HeaderModifierConfig {
    HeaderModifierConfig {
        set: vec![pair("x-served-by", "bench")],
        add: vec![pair("cache-control", "no-transform")],
        remove: vec![HeaderName::from_static("x-internal")],
    }
}

/// A request with the headers a typical client sends.
fn request() -> Request {
    http::Request::builder()
        .uri("/api/users/42")
        .header("host", "svc.example")
        .header("user-agent", "bench/1.0")
        .header("accept", "application/json")
        .header("x-tenant", "tenant-1")
        .header("x-forwarded-tags", "client")
        .header("x-debug", "1")
        .body(body::empty())
        .unwrap()
}

/// The trivial backend: answers at once with three headers.
async fn backend(_request: Request) -> Result<Response, Infallible> {
    let mut response = http::Response::new(body::empty());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=60"));
    headers.insert(
        HeaderName::from_static("x-internal"),
        HeaderValue::from_static("node-7"),
    );
    Ok(response)
}

/// Benches `service` with fresh requests, one `oneshot` per iteration.
fn bench<S>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    rt: &tokio::runtime::Runtime,
    service: S,
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

fn header_modifier(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let baseline = service_fn(backend);
    let request_only = ServiceBuilder::new()
        .layer(HeaderModifierLayer::new(request_config()))
        .service(service_fn(backend));
    let response_only = ServiceBuilder::new()
        .layer(ResponseHeaderModifierLayer::new(response_config()))
        .service(service_fn(backend));
    let both = ServiceBuilder::new()
        .layer(HeaderModifierLayer::new(request_config()))
        .layer(ResponseHeaderModifierLayer::new(response_config()))
        .service(service_fn(backend));

    // Outside the timing: the layers do what the benches say they measure.
    let response = rt.block_on(both.clone().oneshot(request())).unwrap();
    assert_eq!(response.headers()["x-served-by"], "bench");
    assert!(!response.headers().contains_key("x-internal"));
    let echo = service_fn(|request: Request| async move {
        Ok::<_, Infallible>(http::Response::new(request.headers().clone()))
    });
    let seen = rt
        .block_on(
            HeaderModifierLayer::new(request_config())
                .layer(echo)
                .oneshot(request()),
        )
        .unwrap()
        .into_body();
    assert_eq!(seen["x-tenant"], "rewritten");
    assert_eq!(seen.get_all("x-forwarded-tags").iter().count(), 2);
    assert!(!seen.contains_key("x-debug"));

    let mut group = c.benchmark_group("header_modifier");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    bench(&mut group, "baseline", &rt, baseline);
    bench(&mut group, "request", &rt, request_only);
    bench(&mut group, "response", &rt, response_only);
    bench(&mut group, "both", &rt, both);
    group.finish();
}

criterion_group!(benches, header_modifier);
criterion_main!(benches);

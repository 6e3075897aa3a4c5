//! Tracing bench: the per-request cost of the OpenTelemetry layer
//! (`gateway_filters::otel`, kgateway's listener `tracing`).
//!
//! Each bench sends one request through the layer in front of a `tower::service_fn`
//! backend that answers at once with an empty `200`; requests are built outside the timing
//! in batches of 64. Spans go to a real OTLP/gRPC collector on loopback (a tonic
//! `TraceService` that discards what it receives), exported by the SDK's batch processor on
//! its own thread, off the measured path.
//!
//! - `tracing/baseline`: the backend alone; subtract it from the others.
//! - `tracing/sampled_root`: a request without `traceparent`, traced: span start with the
//!   HTTP attributes, `traceparent` set for the upstream, span end queued for export.
//! - `tracing/sampled_child`: the same with a client `traceparent` parsed as the parent.
//! - `tracing/unsampled`: `randomSampling: 0`: no span, only a not-sampled `traceparent`
//!   for the upstream.
//!
//! Run with `cargo bench -p tower-gateway --bench tracing`; see `benches/README.md`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "set-up failures in a bench are fatal, as in a test"
)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gateway_core::{Request, Response, body};
use gateway_filters::{
    otel::{TracingConfig, TracingLayer},
    spec::Percent,
};
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_server::{TraceService, TraceServiceServer},
};
use std::{convert::Infallible, net::SocketAddr};
use tower::{Layer, Service, ServiceExt, service_fn};

/// A collector that accepts and discards every export.
struct Discard;

#[tonic::async_trait]
impl TraceService for Discard {
    async fn export(
        &self,
        _request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn collector() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = TraceServiceServer::new(Discard);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request| service.clone().oneshot(request));
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

async fn backend(_request: Request) -> Result<Response, Infallible> {
    Ok(Response::new(body::empty()))
}

fn get(traceparent: Option<&'static str>) -> Request {
    let mut request = http::Request::builder()
        .uri("/api/users/42")
        .header("host", "svc.example")
        .header("user-agent", "bench/1.0");
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    request.body(body::empty()).unwrap()
}

fn bench<S>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    rt: &tokio::runtime::Runtime,
    service: &S,
    request: impl Fn() -> Request,
) where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    group.bench_function(name, |b| {
        b.to_async(rt).iter_batched(
            &request,
            |request| service.clone().oneshot(request),
            BatchSize::NumIterations(64),
        );
    });
}

fn tracing(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (sampled, unsampled) = rt.block_on(async {
        let collector = collector().await;
        let config = TracingConfig::new("bench", format!("http://{collector}").parse().unwrap());
        let mut never = config.clone();
        never.random_sampling = Percent::ZERO;
        (
            TracingLayer::new(config).unwrap(),
            TracingLayer::new(never).unwrap(),
        )
    });
    let traced = sampled.layer(service_fn(backend));
    let untraced = unsampled.layer(service_fn(backend));

    // Outside the timing: the upstream sees a sampled parent, or a not-sampled one.
    let seen = |layer: &TracingLayer| {
        let service = layer.layer(service_fn(|request: Request| async move {
            let value = request.headers()["traceparent"]
                .to_str()
                .unwrap()
                .to_owned();
            Ok::<_, Infallible>(Response::new(body::full(value)))
        }));
        rt.block_on(async {
            use http_body_util::BodyExt;
            let response = service.oneshot(get(None)).await.unwrap();
            String::from_utf8(
                response
                    .into_body()
                    .collect()
                    .await
                    .unwrap()
                    .to_bytes()
                    .to_vec(),
            )
            .unwrap()
        })
    };
    assert!(seen(&sampled).ends_with("-01"));
    assert!(seen(&unsampled).ends_with("-00"));

    let mut group = c.benchmark_group("tracing");
    bench(&mut group, "baseline", &rt, &service_fn(backend), || {
        get(None)
    });
    bench(&mut group, "sampled_root", &rt, &traced, || get(None));
    bench(&mut group, "sampled_child", &rt, &traced, || {
        get(Some(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ))
    });
    bench(&mut group, "unsampled", &rt, &untraced, || get(None));
    group.finish();
}

criterion_group!(benches, tracing);
criterion_main!(benches);

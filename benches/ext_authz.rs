//! External authorization benches: the per-request cost of the ext-authz layer
//! (`gateway_filters::ext_authz`) when it asks a real authorization server.
//!
//! The authorization servers run in this process, on a tokio runtime of their own (one
//! worker thread), and listen on `127.0.0.1:0`: a tonic `envoy.service.auth.v3.Authorization`
//! server over HTTP/2, and a hyper HTTP/1.1 server. Both allow every request without
//! changes (`OK`, `200`), except `grpc/denied`. The layer is built from kgateway provider
//! JSON through `ExtAuthProviderSpec::compile` and sits in front of a `tower::service_fn`
//! backend that answers at once with an empty `200`. Requests are built outside the timing,
//! in batches of 64; each iteration is one `oneshot` on a current-thread runtime.
//!
//! So `grpc/*` and `http/*` measure a **whole round trip over loopback**: building the
//! check request (the `CheckRequest` with its attributes, or the HTTP authorization
//! request), sending it on the layer's shared, already-connected client (one tonic channel,
//! one pooled HTTP/1.1 connection), the server's work on its own thread, the wake-ups across
//! threads, and reading the answer; not only the layer's CPU time. They are latencies, and
//! vary with the machine's load more than in-process benches do.
//!
//! - `ext_authz/baseline`: a GET to the backend alone; subtract it from the others.
//! - `ext_authz/unchecked`: `percentageEnabled: 0`: the layer draws no check and calls the
//!   backend (no allocation for the future).
//! - `ext_authz/grpc/allowed`: a GET checked over gRPC and allowed.
//! - `ext_authz/grpc/denied`: a GET checked over gRPC and denied (`403` with a short body
//!   built by the layer; the backend is not called).
//! - `ext_authz/http/allowed`: a GET checked by the HTTP server (`200`) and allowed.
//!
//! Run with `cargo bench -p tower-gateway --bench ext_authz`; see `benches/README.md`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "set-up failures in a bench are fatal, as in a test"
)]

use std::{convert::Infallible, net::SocketAddr, time::Duration};

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gateway_core::{Request, Response, body};
use gateway_filters::ext_authz::{
    ExtAuthConfig, ExtAuthLayer, ExtAuthProviderSpec,
    envoy_types::pb::{
        envoy::{
            service::auth::v3::{
                CheckRequest, CheckResponse, DeniedHttpResponse,
                authorization_server::{Authorization, AuthorizationServer},
                check_response::HttpResponse,
            },
            r#type::v3::HttpStatus,
        },
        google::rpc::Status,
    },
    tonic,
};
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
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
        .header("authorization", "Bearer abc.def.ghi")
        .body(body::empty())
        .unwrap()
}

/// A gRPC authorization server that allows everything, or denies everything.
struct Authz {
    allow: bool,
}

#[tonic::async_trait]
impl Authorization for Authz {
    async fn check(
        &self,
        _request: tonic::Request<CheckRequest>,
    ) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        let response = if self.allow {
            CheckResponse {
                status: Some(Status::default()),
                ..CheckResponse::default()
            }
        } else {
            CheckResponse {
                // PERMISSION_DENIED
                status: Some(Status {
                    code: 7,
                    ..Status::default()
                }),
                http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
                    status: Some(HttpStatus { code: 403 }),
                    body: "denied".to_owned(),
                    ..DeniedHttpResponse::default()
                })),
                ..CheckResponse::default()
            }
        };
        Ok(tonic::Response::new(response))
    }
}

/// Starts the gRPC server on `runtime` (HTTP/2 with hyper: tonic's own server needs its
/// `router` feature).
fn grpc_server(runtime: &tokio::runtime::Runtime, allow: bool) -> SocketAddr {
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = AuthorizationServer::new(Authz { allow });
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                stream.set_nodelay(true).unwrap();
                let service = service.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |request: http::Request<hyper::body::Incoming>| {
                            service.clone().oneshot(request)
                        },
                    );
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        addr
    })
}

/// Starts the HTTP server on `runtime`: `200`, empty body, to everything.
fn http_server(runtime: &tokio::runtime::Runtime) -> SocketAddr {
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                stream.set_nodelay(true).unwrap();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_| async {
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        addr
    })
}

/// The layer for a kgateway provider at `addr`.
fn layer(json: &str, addr: SocketAddr) -> ExtAuthLayer {
    let spec: ExtAuthProviderSpec = serde_json::from_str(json).unwrap();
    ExtAuthLayer::new(ExtAuthConfig::new(spec.compile().unwrap(), vec![addr]))
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
            get,
            |request| service.clone().oneshot(request),
            BatchSize::NumIterations(64),
        );
    });
}

/// Sends one request outside the timing; returns the status and the body text.
fn probe<S>(rt: &tokio::runtime::Runtime, service: &S) -> (StatusCode, Bytes)
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    rt.block_on(async {
        let response = service.clone().oneshot(get()).await.unwrap();
        let status = response.status();
        (
            status,
            response.into_body().collect().await.unwrap().to_bytes(),
        )
    })
}

fn ext_authz(c: &mut Criterion) {
    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let allowing = grpc_server(&servers, true);
    let denying = grpc_server(&servers, false);
    let http = http_server(&servers);
    let grpc_provider = r#"{"grpcService": {"backendRef": {"name": "authz", "port": 9000},
                                            "requestTimeout": "5s"}}"#;
    let baseline = service_fn(backend);
    let unchecked = layer(
        r#"{"grpcService": {"backendRef": {"name": "authz"}}, "percentageEnabled": 0}"#,
        allowing,
    )
    .layer(service_fn(backend));
    let grpc_allowed = layer(grpc_provider, allowing).layer(service_fn(backend));
    let grpc_denied = layer(grpc_provider, denying).layer(service_fn(backend));
    let http_allowed = layer(
        r#"{"httpService": {"backendRef": {"name": "authz", "port": 8080},
                            "requestTimeout": "5s"}}"#,
        http,
    )
    .layer(service_fn(backend));

    // Outside the timing: the layers do what the benches say they measure (and the first
    // check connects the shared clients).
    assert_eq!(probe(&rt, &unchecked).0, StatusCode::OK);
    assert_eq!(probe(&rt, &grpc_allowed).0, StatusCode::OK);
    assert_eq!(
        probe(&rt, &grpc_denied),
        (StatusCode::FORBIDDEN, Bytes::from_static(b"denied"))
    );
    assert_eq!(probe(&rt, &http_allowed).0, StatusCode::OK);

    let mut group = c.benchmark_group("ext_authz");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    bench(&mut group, "baseline", &rt, baseline);
    bench(&mut group, "unchecked", &rt, unchecked);
    bench(&mut group, "grpc/allowed", &rt, grpc_allowed);
    bench(&mut group, "grpc/denied", &rt, grpc_denied);
    bench(&mut group, "http/allowed", &rt, http_allowed);
    group.finish();
}

criterion_group!(benches, ext_authz);
criterion_main!(benches);

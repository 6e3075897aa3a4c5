//! External processing bench: the per-request cost of the `extProc` layer with Envoy's
//! default processing mode (request and response headers sent, bodies not).
//!
//! Each request opens one `ExternalProcessor/Process` stream to a tonic processor running in
//! the same process on 127.0.0.1, over the layer's one HTTP/2 connection, and makes two
//! round trips on it: request headers (answered with a header to add) and response headers
//! (answered with `CONTINUE`), around a `tower::service_fn` backend that answers at once
//! with an empty `200`. So the number is mostly the **loopback gRPC round trip** (both
//! ends' HTTP/2 and protobuf work, the stream's set-up and close, and the scheduling between
//! the gateway's tasks and the processor's), not the layer's own bookkeeping; it is the
//! cost a request pays for a local (sidecar) processor at best. Both ends share the
//! bench's runtime (two worker threads), as a sidecar shares the machine's cores.
//!
//! - `ext_proc/baseline`: the backend alone; subtract it from the others.
//! - `ext_proc/headers_round_trip`: one request through the layer, both header messages
//!   answered.
//! - `ext_proc/skip_all`: a processing mode that sends nothing: the layer stands aside (no
//!   stream is opened).
//!
//! Requests are built outside the timing, in batches of 64; each iteration is one
//! `oneshot` (service clone, `poll_ready`, `call`, await).
//!
//! Run with `cargo bench -p tower-gateway --bench ext_proc`; see `benches/README.md`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "set-up failures in a bench are fatal, as in a test"
)]

use std::{convert::Infallible, net::SocketAddr, pin::Pin, time::Duration};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use envoy_types::pb::envoy::{
    config::core::v3::{HeaderValue, HeaderValueOption},
    service::ext_proc::v3::{
        CommonResponse, HeaderMutation, HeadersResponse, ProcessingRequest, ProcessingResponse,
        external_processor_server::{ExternalProcessor, ExternalProcessorServer},
        processing_request::Request as Part,
        processing_response::Response as Answer,
    },
};
use gateway_core::{Request, Response, body};
use gateway_filters::ext_proc::{
    ExtProcConfig, ExtProcLayer, GrpcServer, HeaderSendMode, ProcessingMode,
};
use http::StatusCode;
use tokio::sync::mpsc;
use tonic::{
    codegen::tokio_stream::{Stream, wrappers::UnboundedReceiverStream},
    transport::{Server, server::TcpIncoming},
};
use tower::{Layer, Service, ServiceExt, service_fn};

/// The trivial backend: answers at once with an empty `200`, echoing whether the
/// processor's header arrived.
async fn backend(request: Request) -> Result<Response, Infallible> {
    let mut response = Response::new(body::empty());
    if let Some(value) = request.headers().get("x-processed") {
        response.headers_mut().insert("x-processed", value.clone());
    }
    Ok(response)
}

/// A GET to `svc.example` with the headers a typical client sends.
fn request() -> Request {
    http::Request::builder()
        .uri("/api/users/42")
        .header("host", "svc.example")
        .header("user-agent", "bench/1.0")
        .header("accept", "application/json")
        .body(body::empty())
        .unwrap()
}

/// A processor adding `x-processed: 1` to requests and passing responses.
#[derive(Clone, Copy)]
struct Processor;

type Answers = Pin<Box<dyn Stream<Item = Result<ProcessingResponse, tonic::Status>> + Send>>;

#[tonic::async_trait]
impl ExternalProcessor for Processor {
    type ProcessStream = Answers;

    async fn process(
        &self,
        request: tonic::Request<tonic::Streaming<ProcessingRequest>>,
    ) -> Result<tonic::Response<Answers>, tonic::Status> {
        let mut inbound = request.into_inner();
        let (answers, receiver) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(message)) = inbound.message().await {
                let answer = match message.request {
                    Some(Part::RequestHeaders(_)) => Answer::RequestHeaders(HeadersResponse {
                        response: Some(CommonResponse {
                            header_mutation: Some(HeaderMutation {
                                set_headers: vec![HeaderValueOption {
                                    header: Some(HeaderValue {
                                        key: "x-processed".to_owned(),
                                        value: String::new(),
                                        raw_value: b"1".to_vec(),
                                    }),
                                    ..HeaderValueOption::default()
                                }],
                                remove_headers: Vec::new(),
                            }),
                            ..CommonResponse::default()
                        }),
                    }),
                    _ => Answer::ResponseHeaders(HeadersResponse::default()),
                };
                let answer = ProcessingResponse {
                    response: Some(answer),
                    ..ProcessingResponse::default()
                };
                if answers.send(Ok(answer)).is_err() {
                    break;
                }
            }
        });
        let answers = UnboundedReceiverStream::new(receiver);
        Ok(tonic::Response::new(Box::pin(answers)))
    }
}

/// Starts the processor on 127.0.0.1 in `rt`.
fn spawn_processor(rt: &tokio::runtime::Runtime) -> SocketAddr {
    let _guard = rt.enter();
    let incoming = TcpIncoming::bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let addr = incoming.local_addr().unwrap();
    rt.spawn(
        Server::builder().serve_with_incoming(ExternalProcessorServer::new(Processor), incoming),
    );
    addr
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

fn ext_proc(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = spawn_processor(&rt);
    let mut config = ExtProcConfig::new(GrpcServer::from_addrs([addr]).unwrap());
    // A loaded machine must not turn the bench into a timeout bench.
    config.message_timeout = Duration::from_secs(5);
    let round_trip = ExtProcLayer::new(config.clone()).layer(service_fn(backend));
    let skip_all = ExtProcLayer::new(config.with_processing_mode(ProcessingMode {
        request_header_mode: HeaderSendMode::Skip,
        response_header_mode: HeaderSendMode::Skip,
        ..ProcessingMode::default()
    }))
    .layer(service_fn(backend));

    // Outside the timing: the processor really answers (its header reaches the backend).
    let response = rt.block_on(round_trip.clone().oneshot(request())).unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-processed"], "1");
    let response = rt.block_on(skip_all.clone().oneshot(request())).unwrap();
    assert!(!response.headers().contains_key("x-processed"));

    let mut group = c.benchmark_group("ext_proc");
    bench(&mut group, "baseline", &rt, service_fn(backend));
    bench(&mut group, "headers_round_trip", &rt, round_trip);
    bench(&mut group, "skip_all", &rt, skip_all);
    group.finish();
}

criterion_group!(benches, ext_proc);
criterion_main!(benches);

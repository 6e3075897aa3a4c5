//! A ListenerPolicy's `tracing` (spans exported to a real OTLP/gRPC collector written here,
//! `traceparent` propagated to the backend) and its connection limits (`maxHeadersCount`,
//! `maxRequestHeadersKb`), through the running gateway.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gateway_core::test_util::spawn_echo_named;
use gateway_routes::fixtures::HTTP_LISTENER;
use http::StatusCode;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    trace::v1::Span,
};
use std::{net::SocketAddr, sync::Arc, time::Duration};
use support::{gateway, route, runtime, service};
use tower::ServiceExt;

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<parking_lot::Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans = request
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans);
        self.spans.lock().extend(spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn collector() -> (SocketAddr, Collector) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let collector = Collector::default();
    let service = TraceServiceServer::new(collector.clone());
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
    (addr, collector)
}

async fn send(addr: SocketAddr, headers: &[(String, String)]) -> http::Response<bytes::Bytes> {
    use http_body_util::{BodyExt, Empty};
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut request = http::Request::get("/orders").header("host", "shop.example");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = sender
        .send_request(request.body(Empty::<bytes::Bytes>::new()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    http::Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_policy_traces_requests_and_limits_headers() {
    let shop = spawn_echo_named("shop").await;
    let (otel, collector) = collector().await;
    let yaml = gateway(HTTP_LISTENER)
        + &service("shop", shop)
        + &service("otel-collector", otel)
        + &route("shop", "shop.example", "/", "shop")
        + "---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: ListenerPolicy
metadata: {name: observability, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  default:
    httpSettings:
      maxHeadersCount: 12
      tracing:
        provider:
          openTelemetry:
            serviceName: shop-gateway
            grpcService: {backendRef: {name: otel-collector, port: 80}}
        attributes:
        - {name: deployment.environment, literal: {value: test}}
";
    let runtime = runtime(&[80], "127.0.0.1:0".parse().unwrap());
    let applied = runtime.apply(&support::snapshot(&yaml));
    assert!(applied.diagnostics.is_empty(), "{:?}", applied.diagnostics);
    assert!(applied.warnings.is_empty(), "{:?}", applied.warnings);
    let addr = runtime
        .sockets()
        .local_addr("127.0.0.1:0".parse().unwrap())
        .unwrap();

    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let answer = send(
        addr,
        &[(
            "traceparent".into(),
            format!("00-{trace}-00f067aa0ba902b7-01"),
        )],
    )
    .await;
    assert_eq!(answer.status(), StatusCode::OK);
    let echo: serde_json::Value = serde_json::from_slice(answer.body()).unwrap();
    let upstream = echo["headers"]["traceparent"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(upstream.starts_with(&format!("00-{trace}-")), "{upstream}");
    assert!(
        !upstream.contains("00f067aa0ba902b7"),
        "the gateway's span is the parent"
    );

    // The batch exporter sends within its schedule: wait for the span to arrive.
    let mut spans = Vec::new();
    for _ in 0..200 {
        spans = collector.spans.lock().clone();
        if !spans.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(spans.len(), 1, "{spans:?}");
    let span = &spans[0];
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(hex(&span.trace_id), trace);
    assert_eq!(hex(&span.parent_span_id), "00f067aa0ba902b7");
    assert!(upstream.contains(&hex(&span.span_id)));
    assert!(span.name.starts_with("GET default/shop"), "{}", span.name);
    assert!(
        span.attributes
            .iter()
            .any(|a| a.key == "deployment.environment")
    );

    // The listener's header count limit: 13 headers (with Host) are refused.
    let many: Vec<(String, String)> = (0..12).map(|i| (format!("x-h{i}"), "v".into())).collect();
    assert_eq!(
        send(addr, &many).await.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    assert_eq!(send(addr, &many[..5]).await.status(), StatusCode::OK);
}

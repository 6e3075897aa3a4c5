//! Tests against a real OTLP/gRPC collector written here (a tonic `TraceService` on
//! loopback that records what it receives).

use gateway_core::extensions::{MatchedRoute, ResourceRef};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value::Value,
    trace::v1::Span as ProtoSpan,
};
use parking_lot::Mutex;
use std::{convert::Infallible, net::SocketAddr, sync::Arc};
use tower::{Layer, ServiceExt, service_fn};

use super::{service::parse_traceparent, *};
use crate::spec::Percent;

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<(String, ProtoSpan)>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.as_ref()?.value.as_ref())
                .map(|v| match v {
                    Value::StringValue(s) => s.clone(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    self.spans.lock().push((service.clone(), span));
                }
            }
        }
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

fn config(collector: SocketAddr) -> TracingConfig {
    TracingConfig::new("edge", format!("http://{collector}").parse().unwrap())
}

/// A traced service whose backend reports the `traceparent` it received and answers
/// `status`.
async fn call(
    layer: &TracingLayer,
    headers: &[(&str, &str)],
    status: StatusCode,
) -> (Response<String>, Option<HeaderValue>) {
    let seen = Arc::new(Mutex::new(None));
    let backend_seen = seen.clone();
    let service = layer.layer(service_fn(move |request: Request<String>| {
        *backend_seen.lock() = request.headers().get("traceparent").cloned();
        let route = MatchedRoute(Arc::new(ResourceRef::new(
            "gateway.networking.k8s.io",
            "HTTPRoute",
            "default",
            "api",
        )));
        if let Some(cell) = request
            .extensions()
            .get::<gateway_core::extensions::MatchedRouteCell>()
        {
            cell.report(&route);
        }
        async move {
            let mut response = Response::new(String::new());
            *response.status_mut() = status;
            Ok::<_, Infallible>(response)
        }
    }));
    let mut request = Request::get("/users/42").header("host", "api.example");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = service
        .oneshot(request.body(String::new()).unwrap())
        .await
        .unwrap();
    let seen = seen.lock().clone();
    (response, seen)
}

fn flush(layer: &TracingLayer) {
    tokio::task::block_in_place(|| layer.force_flush());
}

fn attribute(span: &ProtoSpan, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            Value::StringValue(s) => s.clone(),
            Value::IntValue(i) => i.to_string(),
            other => format!("{other:?}"),
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_exported_as_a_server_span_and_the_upstream_continues_the_trace() {
    let (addr, collector) = collector().await;
    let layer = TracingLayer::new(config(addr)).unwrap();
    let (response, upstream) = call(&layer, &[("user-agent", "curl/8")], StatusCode::OK).await;
    assert_eq!(response.status(), StatusCode::OK);
    flush(&layer);
    let spans = collector.spans.lock().clone();
    assert_eq!(spans.len(), 1, "{spans:?}");
    let (service, span) = &spans[0];
    assert_eq!(service, "edge");
    assert_eq!(span.kind, 2, "SERVER");
    assert_eq!(span.name, "GET default/api");
    assert!(span.parent_span_id.is_empty(), "a root span");
    assert_eq!(attribute(span, "http.request.method").unwrap(), "GET");
    assert_eq!(attribute(span, "url.path").unwrap(), "/users/42");
    assert_eq!(attribute(span, "server.address").unwrap(), "api.example");
    assert_eq!(attribute(span, "user_agent.original").unwrap(), "curl/8");
    assert_eq!(attribute(span, "http.response.status_code").unwrap(), "200");
    // The upstream's parent is this span, sampled.
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", upstream.unwrap());
    let parent = parse_traceparent(&headers).unwrap();
    assert_eq!(parent.trace_id().to_bytes().to_vec(), span.trace_id);
    assert_eq!(parent.span_id().to_bytes().to_vec(), span.span_id);
    assert!(parent.is_sampled());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_traceparent_makes_the_span_its_child_and_5xx_is_an_error() {
    let (addr, collector) = collector().await;
    let layer = TracingLayer::new(config(addr)).unwrap();
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let (_, upstream) = call(
        &layer,
        &[("traceparent", &format!("00-{trace}-{client_span}-01"))],
        StatusCode::BAD_GATEWAY,
    )
    .await;
    flush(&layer);
    let spans = collector.spans.lock().clone();
    let span = &spans[0].1;
    assert_eq!(hex(&span.trace_id), trace);
    assert_eq!(hex(&span.parent_span_id), client_span);
    assert_eq!(span.status.as_ref().unwrap().code, 2, "ERROR");
    let upstream = upstream.unwrap();
    let upstream = upstream.to_str().unwrap();
    assert!(upstream.starts_with(&format!("00-{trace}-{}", hex(&span.span_id))));
    assert!(upstream.ends_with("-01"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsampled_requests_export_nothing_and_still_propagate() {
    let (addr, collector) = collector().await;
    let mut config = config(addr);
    config.random_sampling = Percent::ZERO;
    let layer = TracingLayer::new(config).unwrap();
    let (_, fresh) = call(&layer, &[], StatusCode::OK).await;
    let fresh = fresh.unwrap();
    assert!(fresh.to_str().unwrap().ends_with("-00"), "{fresh:?}");
    // A client's unsampled parent is followed too, in its trace.
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let (_, child) = call(
        &layer,
        &[("traceparent", &format!("00-{trace}-b7ad6b7169203331-00"))],
        StatusCode::OK,
    )
    .await;
    let child = child.unwrap();
    let child = child.to_str().unwrap();
    assert!(child.starts_with(&format!("00-{trace}-")) && child.ends_with("-00"));
    assert!(!child.contains("b7ad6b7169203331"), "a new span id");
    flush(&layer);
    assert!(collector.spans.lock().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_does_not_fail_requests() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let layer = TracingLayer::new(config(addr)).unwrap();
    for _ in 0..3 {
        let (response, upstream) = call(&layer, &[], StatusCode::OK).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(upstream.is_some());
    }
}

#[test]
fn malformed_traceparents_are_ignored() {
    for value in [
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
    ] {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_str(value).unwrap());
        assert!(parse_traceparent(&headers).is_none(), "{value}");
    }
}

#[test]
fn the_spec_compiles_with_named_errors() {
    let spec: TracingSpec = serde_json::from_value(serde_json::json!({
        "provider": {"openTelemetry": {
            "grpcService": {"backendRef": {"name": "otel-collector", "port": 4317}},
            "serviceName": "gw"
        }},
        "randomSampling": 10,
        "attributes": [
            {"name": "env", "literal": {"value": "prod"}},
            {"name": "tenant", "requestHeader": {"name": "x-tenant", "defaultValue": "none"}}
        ]
    }))
    .unwrap();
    let config = spec
        .compile("http://10.0.0.9:4317".parse().unwrap(), "gw.default")
        .unwrap();
    assert_eq!(&*config.service_name, "gw");
    assert_eq!(config.random_sampling.get(), 10);
    assert_eq!(config.attributes.len(), 2);
    let bad: TracingSpec = serde_json::from_value(serde_json::json!({
        "provider": {"openTelemetry": {"grpcService": {"backendRef": {"name": "c"}}}},
        "attributes": [{"name": "x", "literal": {"value": "a"}, "requestHeader": {"name": "y"}}]
    }))
    .unwrap();
    let error = bad
        .compile("http://10.0.0.9:4317".parse().unwrap(), "gw.default")
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("attributes[0]"), "{error}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
